/* facts: the extractor's facts as rows ready to store (see include/cdx/domain/facts.h). */
#include "cdx/domain/facts.h"
#include "cdx/base/common.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *json_str(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (!json_is_string(v) && k2 != NULL)
        v = json_object_get(o, k2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *cdx_fact_json(const cdx_fact_row_t *r)
{
    json_t *f = r->data != NULL && r->data[0] != '\0' ? json_loads(r->data, 0, NULL) : NULL;
    if (!json_is_object(f)) {
        json_decref(f);
        f = json_object();
        if (f == NULL)
            return NULL;
    }
    const char *keys[] = {"codeSystem", "code", "value", "unit", "status"};
    const char *vals[] = {r->code_system, r->code, r->value, r->unit, r->status};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++)
        if (vals[i] != NULL && json_object_get(f, keys[i]) == NULL)
            json_object_set_new(f, keys[i], json_string(vals[i]));
    json_t *ot = json_object_get(f, "originalText");
    if (r->display != NULL && json_object_get(f, "displayName") == NULL &&
        !(json_is_string(ot) && strcmp(json_string_value(ot), r->display) == 0))
        json_object_set_new(f, "displayName", json_string(r->display));
    if (r->has_number && json_object_get(f, "number") == NULL)
        json_object_set_new(f, "number", json_real(r->number));
    if (r->time_low != NULL || r->time_high != NULL) {
        json_t *et = json_object_get(f, "effectiveTime");
        if (!json_is_object(et)) {
            et = json_object();
            json_object_set_new(f, "effectiveTime", et);
        }
        if (r->time_low != NULL && json_object_get(et, "low") == NULL)
            json_object_set_new(et, "low", json_string(r->time_low));
        if (r->time_high != NULL && json_object_get(et, "high") == NULL)
            json_object_set_new(et, "high", json_string(r->time_high));
    }
    char *text = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    return text;
}

/* The facts' texts, one after the other, each ending in a NUL. */
typedef struct texts {
    char *data;
    size_t len;
    size_t cap;
} texts_t;

/* Grows t to hold size more bytes and a NUL. */
static int texts_grow(texts_t *t, size_t size)
{
    if (size > SIZE_MAX / 4 - t->len)
        return -1;
    size_t cap = t->cap ? t->cap : 64 * 1024;
    while (cap < t->len + size + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (grown == NULL)
        return -1;
    t->data = grown;
    t->cap = cap;
    return 0;
}

/* Room for size more bytes and a NUL. */
static inline int texts_reserve(texts_t *t, size_t size)
{
    return t->cap - t->len > size ? 0 : texts_grow(t, size);
}

static inline int texts_put(texts_t *t, const char *buffer, size_t size)
{
    if (texts_reserve(t, size) != 0)
        return -1;
    memcpy(t->data + t->len, buffer, size);
    t->len += size;
    return 0;
}

/* A string as jansson writes it with JSON_COMPACT: '"', '\\' and the
 * control characters escaped (\b \f \n \r \t, else \u00XX), everything
 * else as it is (jansson's strings are valid UTF-8, and neither '/' nor
 * non-ASCII characters are escaped without flags asking for it).  Room
 * for the worst case (every byte as \u00XX) is made first, so the runs
 * between escapes are copied without a check each. */
static int put_string(texts_t *t, const char *s, size_t n)
{
    if (n > SIZE_MAX / 8 || texts_reserve(t, 6 * n + 2) != 0)
        return -1;
    char *p = t->data + t->len;
    size_t run = 0;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        memcpy(p, s + run, i - run);
        p += i - run;
        run = i + 1;
        *p++ = '\\';
        switch (ch) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = "0123456789ABCDEF"[ch >> 4];
            *p++ = "0123456789ABCDEF"[ch & 15];
            break;
        }
    }
    memcpy(p, s + run, n - run);
    p += n - run;
    *p++ = '"';
    t->len = (size_t)(p - t->data);
    return 0;
}

/* A real as jansson writes it: "%.17g", ".0" added when that gives
 * neither a dot nor an exponent, the exponent without '+' or leading
 * zeros. */
static int put_real(texts_t *t, double value)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf - 3, "%.17g", value);
    if (n < 0 || (size_t)n >= sizeof buf - 3)
        return -1;
    size_t len = (size_t)n;
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(buf, 'e');
    if (start != NULL) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - buf) + 1);
            len -= (size_t)(end - start);
        }
    }
    return texts_put(t, buf, len);
}

static int put_value(texts_t *t, json_t *v, int depth);

/* An object member "key":value, with a comma before all but the first. */
static int put_member(texts_t *t, const char *key, json_t *v, int *first, int depth)
{
    if (!*first && texts_put(t, ",", 1) != 0)
        return -1;
    *first = 0;
    if (put_string(t, key, strlen(key)) != 0 || texts_put(t, ":", 1) != 0)
        return -1;
    return put_value(t, v, depth);
}

/* What json_dump_callback(v, ..., JSON_COMPACT) writes, without its
 * allocations (a loop check table per call, an entry per object). */
static int put_value(texts_t *t, json_t *v, int depth)
{
    if (depth > 64)
        return -1; /* the extractor's facts nest a few levels; no cycles */
    char buf[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int first = 1;
        const char *key;
        json_t *m;
        if (texts_put(t, "{", 1) != 0)
            return -1;
        json_object_foreach(v, key, m)
        {
            if (put_member(t, key, m, &first, depth + 1) != 0)
                return -1;
        }
        return texts_put(t, "}", 1);
    }
    case JSON_ARRAY:
        if (texts_put(t, "[", 1) != 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i > 0 && texts_put(t, ",", 1) != 0) ||
                put_value(t, json_array_get(v, i), depth + 1) != 0)
                return -1;
        return texts_put(t, "]", 1);
    case JSON_STRING:
        return put_string(t, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return texts_put(t, buf, strlen(buf));
    case JSON_REAL:
        return put_real(t, json_real_value(v));
    case JSON_TRUE:
        return texts_put(t, "true", 4);
    case JSON_FALSE:
        return texts_put(t, "false", 5);
    case JSON_NULL:
        return texts_put(t, "null", 4);
    }
    return -1;
}

/* Whether member key of fact f goes to a column: codeSystem, code, value,
 * unit and status when strings, displayName when a string other than
 * originalText (keep_dn when it is equal to it, or no string), number
 * when a real; the rest of a fact is its extras (see facts.h). */
static int is_column(const char *key, json_t *v, int keep_dn)
{
    return (json_is_string(v) &&
            (strcmp(key, "codeSystem") == 0 || strcmp(key, "code") == 0 ||
             strcmp(key, "value") == 0 || strcmp(key, "unit") == 0 ||
             strcmp(key, "status") == 0 || (strcmp(key, "displayName") == 0 && !keep_dn))) ||
           (json_is_real(v) && strcmp(key, "number") == 0);
}

/* The text of a fact's extras, written from f without building them as
 * an object: f's members in f's order less those of the columns, and an
 * effectiveTime whose string low and high go to the columns written
 * without them (left out when nothing else is in it). */
static int put_extras(texts_t *t, json_t *f)
{
    json_t *dn = json_object_get(f, "displayName"), *ot = json_object_get(f, "originalText");
    int keep_dn = !json_is_string(dn) ||
                  (json_is_string(ot) && strcmp(json_string_value(dn), json_string_value(ot)) == 0);
    int first = 1;
    const char *key;
    json_t *v;
    if (texts_put(t, "{", 1) != 0)
        return -1;
    json_object_foreach(f, key, v)
    {
        if (is_column(key, v, keep_dn))
            continue;
        if (strcmp(key, "effectiveTime") == 0 && json_is_object(v)) {
            int low = json_is_string(json_object_get(v, "low"));
            int high = json_is_string(json_object_get(v, "high"));
            size_t left = json_object_size(v) - (size_t)low - (size_t)high;
            if ((low || high) && left == 0)
                continue;
            if (!first && texts_put(t, ",", 1) != 0)
                return -1;
            first = 0;
            if (put_string(t, key, strlen(key)) != 0 || texts_put(t, ":{", 2) != 0)
                return -1;
            int inner = 1;
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if ((low && strcmp(k2, "low") == 0) || (high && strcmp(k2, "high") == 0))
                    continue;
                if (put_member(t, k2, v2, &inner, 1) != 0)
                    return -1;
            }
            if (texts_put(t, "}", 1) != 0)
                return -1;
            continue;
        }
        if (put_member(t, key, v, &first, 1) != 0)
            return -1;
    }
    return texts_put(t, "}", 1);
}

/* Long: one pass counting, one serializing every fact into one buffer, one
 * allocation holding the rows and their texts (each fact's JSON was a
 * json_dumps of its own, growing its buffer from 16 bytes). */
int cdx_fact_rows_from_json(json_t *facts, cdx_fact_row_t **out, size_t *n)
{
    size_t total = 0;
    const char *kind;
    json_t *list;
    *out = NULL;
    *n = 0;
    json_object_foreach(facts, kind, list)
    {
        if (json_is_array(list))
            total += json_array_size(list);
    }
    if (total == 0)
        return 0;
    /* Two texts a fact: the whole fact, then its extras. */
    size_t *ends = malloc(2 * total * sizeof *ends);
    texts_t t = {0};
    size_t k = 0;
    int rc = CDX_ENOMEM;
    if (ends == NULL)
        goto out;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, f)
        {
            if (!json_is_object(f) || k >= total)
                continue;
            if (put_value(&t, f, 0) != 0 || texts_put(&t, "", 1) != 0)
                goto out;
            ends[2 * k] = t.len;
            if (put_extras(&t, f) != 0 || texts_put(&t, "", 1) != 0)
                goto out;
            ends[2 * k + 1] = t.len;
            k++;
        }
    }
    cdx_fact_row_t *rows = calloc(1, k * sizeof *rows + t.len);
    if (rows == NULL)
        goto out;
    char *text = (char *)(rows + k);
    memcpy(text, t.data, t.len);
    size_t j = 0;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, f)
        {
            if (!json_is_object(f) || j >= k)
                continue;
            cdx_fact_row_t *r = &rows[j];
            r->json = text + (j > 0 ? ends[2 * j - 1] : 0);
            r->data = text + ends[2 * j];
            json_t *num = json_object_get(f, "number");
            json_t *et = json_object_get(f, "effectiveTime");
            r->kind = kind;
            r->code_system = json_str(f, "codeSystem", NULL);
            r->code = json_str(f, "code", NULL);
            r->display = json_str(f, "displayName", "originalText");
            r->value = json_str(f, "value", NULL);
            r->has_number = json_is_number(num);
            r->number = r->has_number ? json_number_value(num) : 0;
            r->unit = json_str(f, "unit", NULL);
            r->time_low = json_is_object(et) ? json_str(et, "low", NULL) : NULL;
            r->time_high = json_is_object(et) ? json_str(et, "high", NULL) : NULL;
            r->status = json_str(f, "status", NULL);
            r->negated = json_is_true(json_object_get(f, "negated"));
            j++;
        }
    }
    *out = rows;
    *n = k;
    rc = 0;
out:
    free(ends);
    free(t.data);
    return rc;
}

/* The start of a member, "key": (a comma before all but the first); key
 * is plain (no escapes). */
static inline int put_key(texts_t *t, const char *key, int *first)
{
    size_t n = strlen(key);
    if (texts_reserve(t, n + 4) != 0)
        return -1;
    char *p = t->data + t->len;
    if (!*first)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, key, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    t->len = (size_t)(p - t->data);
    *first = 0;
    return 0;
}

/* A member "key":"s", left out when s is NULL. */
static int put_text_member(texts_t *t, const char *key, const char *s, int *first)
{
    if (s == NULL)
        return 0;
    return put_key(t, key, first) != 0 ? -1 : put_string(t, s, strlen(s));
}

/* Whether the fact's JSON has a number: jansson refuses a NaN or an
 * infinity (json_real gives NULL), and the fact then had none. */
static int fact_has_number(const cdx_fact_t *f)
{
    return f->has_number && isfinite(f->number);
}

/* Whether displayName is a column: it is there and is not originalText. */
static int display_is_column(const cdx_fact_t *f)
{
    return f->display_name != NULL &&
           !(f->original_text != NULL && strcmp(f->display_name, f->original_text) == 0);
}

/* A fact as cdx_extract_facts_json writes it, member for member in its
 * order (whole), or only the members no column holds (its data, what
 * put_extras keeps of that object). */
static int put_fact(texts_t *t, const cdx_fact_t *f, int whole)
{
    const struct {
        const char *key, *s;
        int column;
    } head[] = {
        {"section", cdx_fact_kind_name(f->section), 0},
        {"sectionCode", f->section_code, 0},
        {"sectionTitle", f->section_title, 0},
        {"location", f->location, 0},
        {"codeSystem", f->code_system, 1},
        {"code", f->code, 1},
        {"displayName", f->display_name, display_is_column(f)},
        {"originalText", f->original_text, 0},
        {"nullFlavor", f->null_flavor, 0},
        {"valueType", f->value_type, 0},
        {"value", f->value, 1},
    };
    int first = 1;
    if (texts_put(t, "{", 1) != 0)
        return -1;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(head); i++)
        if ((whole || !head[i].column) && put_text_member(t, head[i].key, head[i].s, &first) != 0)
            return -1;
    if (whole && fact_has_number(f) &&
        (put_key(t, "number", &first) != 0 || put_real(t, f->number) != 0))
        return -1;
    if ((whole && put_text_member(t, "unit", f->unit, &first) != 0) ||
        put_text_member(t, "unitOriginal", f->unit_original, &first) != 0)
        return -1;
    if (f->ref_low != NULL || f->ref_high != NULL || f->ref_text != NULL) {
        int inner = 1;
        if (put_key(t, "referenceRange", &first) != 0 || texts_put(t, "{", 1) != 0 ||
            put_text_member(t, "low", f->ref_low, &inner) != 0 ||
            put_text_member(t, "high", f->ref_high, &inner) != 0 ||
            put_text_member(t, "text", f->ref_text, &inner) != 0 || texts_put(t, "}", 1) != 0)
            return -1;
    }
    if (put_text_member(t, "interpretation", f->interpretation, &first) != 0)
        return -1;
    if (whole && (f->time_low != NULL || f->time_high != NULL)) {
        int inner = 1;
        if (put_key(t, "effectiveTime", &first) != 0 || texts_put(t, "{", 1) != 0 ||
            put_text_member(t, "low", f->time_low, &inner) != 0 ||
            put_text_member(t, "high", f->time_high, &inner) != 0 || texts_put(t, "}", 1) != 0)
            return -1;
    }
    if ((whole && put_text_member(t, "status", f->status, &first) != 0) ||
        put_key(t, "negated", &first) != 0 ||
        texts_put(t, f->negated ? "true" : "false", f->negated ? 4 : 5) != 0 ||
        put_key(t, "extras", &first) != 0)
        return -1;
    /* The extras as the extractor built them; the full extraction's text
     * of them is the same object written the same way. */
    if (f->extras_obj != NULL) {
        if (put_value(t, (json_t *)f->extras_obj, 1) != 0)
            return -1;
    } else if (f->extras != NULL) {
        if (texts_put(t, f->extras, strlen(f->extras)) != 0)
            return -1;
    } else if (texts_put(t, "{}", 2) != 0) {
        return -1;
    }
    return texts_put(t, "}", 1);
}

/* The columns of a fact's row, in the order their texts follow the
 * fact's two texts in the rows' block. */
#define ROW_COLUMNS 8
_Static_assert(ROW_COLUMNS == sizeof((cdx_fact_row_t *)0)->text_len /
                                  sizeof((cdx_fact_row_t *)0)->text_len[0],
               "a row carries the length of each column's text");

static void column_texts(const cdx_fact_t *f, const char *src[ROW_COLUMNS])
{
    src[0] = f->code_system;
    src[1] = f->code;
    src[2] = f->display_name != NULL ? f->display_name : f->original_text;
    src[3] = f->value;
    src[4] = f->unit;
    src[5] = f->time_low;
    src[6] = f->time_high;
    src[7] = f->status;
}

/* Points r's texts into the block at *p, where put_row wrote them. */
static void point_row(cdx_fact_row_t *r, const cdx_fact_t *f, const char **p)
{
    const char *src[ROW_COLUMNS];
    const char **dst[ROW_COLUMNS] = {&r->code_system, &r->code,      &r->display,   &r->value,
                                     &r->unit,        &r->time_low,  &r->time_high, &r->status};
    column_texts(f, src);
    r->json = *p;
    *p += strlen(*p) + 1;
    r->data = *p;
    *p += strlen(*p) + 1;
    for (size_t i = 0; i < ROW_COLUMNS; i++) {
        if (src[i] == NULL)
            continue;
        size_t len = strlen(src[i]);
        *dst[i] = *p;
        *p += len + 1;
        r->text_len[i] = len <= UINT32_MAX ? (uint32_t)len : 0;
    }
    r->kind = cdx_fact_kind_name(f->kind);
    r->has_number = fact_has_number(f);
    r->number = r->has_number ? f->number : 0;
    r->negated = f->negated != 0;
}

/* A fact's texts, each ending in a NUL: its JSON, its data, and the
 * columns it has. */
static int put_row(texts_t *t, const cdx_fact_t *f)
{
    const char *src[ROW_COLUMNS];
    column_texts(f, src);
    if (put_fact(t, f, 1) != 0 || texts_put(t, "", 1) != 0 || put_fact(t, f, 0) != 0 ||
        texts_put(t, "", 1) != 0)
        return -1;
    for (size_t i = 0; i < ROW_COLUMNS; i++)
        if (src[i] != NULL && texts_put(t, src[i], strlen(src[i]) + 1) != 0)
            return -1;
    return 0;
}

/* Texts of a fact a block is first sized for (a generated 100 KB
 * document's facts take about 1.9 KB each, json 1.0, data 0.8); it
 * doubles when short. */
#define ROW_TEXT_GUESS 2560

int cdx_fact_rows_from_extract(const cdx_extract_t *x, cdx_fact_row_t **out, size_t *n)
{
    size_t k = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < x->nfacts; i++)
        k += (unsigned)x->facts[i].kind < CDX_FACT_KINDS;
    if (k == 0)
        return 0;
    /* The rows first, then their texts, in one block that grows until the
     * texts are written; the rows point into it only then. */
    size_t head = k * sizeof(cdx_fact_row_t);
    texts_t t = {.len = head, .cap = head + k * ROW_TEXT_GUESS};
    if (k > (SIZE_MAX / 2) / (sizeof(cdx_fact_row_t) + ROW_TEXT_GUESS) ||
        (t.data = malloc(t.cap)) == NULL)
        return CDX_ENOMEM;
    for (int kind = 0; kind < CDX_FACT_KINDS; kind++)
        for (size_t i = 0; i < x->nfacts; i++)
            if ((int)x->facts[i].kind == kind && put_row(&t, &x->facts[i]) != 0) {
                free(t.data);
                return CDX_ENOMEM;
            }
    /* The slack handed back, since the block lives until the writer has
     * stored the rows; before the rows point into it, as it may move. */
    char *fitted = realloc(t.data, t.len);
    if (fitted != NULL)
        t.data = fitted;
    cdx_fact_row_t *rows = (cdx_fact_row_t *)(void *)t.data;
    const char *p = t.data + head;
    size_t j = 0;
    memset(rows, 0, head);
    for (int kind = 0; kind < CDX_FACT_KINDS; kind++)
        for (size_t i = 0; i < x->nfacts; i++)
            if ((int)x->facts[i].kind == kind)
                point_row(&rows[j++], &x->facts[i], &p);
    *out = rows;
    *n = k;
    return 0;
}

char *cdx_fact_rows_join(const cdx_fact_row_t *rows, size_t n)
{
    size_t total = 2;
    for (int k = 0; k < CDX_FACT_KINDS; k++)
        total += strlen(cdx_fact_kind_name((cdx_fact_kind_t)k)) + 6; /* "kind":[], */
    for (size_t i = 0; i < n; i++) {
        if (rows[i].json == NULL)
            return NULL;
        total += strlen(rows[i].json) + 1;
    }
    char *text = malloc(total);
    if (text == NULL)
        return NULL;
    char *p = text;
    size_t i = 0;
    *p++ = '{';
    for (int k = 0; k < CDX_FACT_KINDS; k++) {
        const char *kind = cdx_fact_kind_name((cdx_fact_kind_t)k);
        size_t len = strlen(kind);
        if (k > 0)
            *p++ = ',';
        *p++ = '"';
        memcpy(p, kind, len);
        p += len;
        memcpy(p, "\":[", 3);
        p += 3;
        for (size_t first = i; i < n && strcmp(rows[i].kind, kind) == 0; i++) {
            if (i > first)
                *p++ = ',';
            len = strlen(rows[i].json);
            memcpy(p, rows[i].json, len);
            p += len;
        }
        *p++ = ']';
    }
    *p++ = '}';
    *p = '\0';
    if (i != n) {
        /* Rows out of the kinds' order, or of no kind: not the extractor's. */
        free(text);
        return NULL;
    }
    return text;
}

void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n)
{
    /* The texts live in the rows' own allocation. */
    (void)n;
    free(rows);
}
