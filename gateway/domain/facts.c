/* facts: the extractor's facts as rows ready to store (see include/cdx/domain/facts.h). */
#include "cdx/domain/facts.h"
#include "cdx/base/common.h"

#include <jansson.h>
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

/* The fields of fact f that no column holds, as a new object: f less
 * those whose value the row's columns keep exactly (see facts.h for what
 * cdx_fact_json puts back). */
static json_t *extras_of(json_t *f)
{
    json_t *x = json_object();
    if (x == NULL)
        return NULL;
    json_t *dn = json_object_get(f, "displayName"), *ot = json_object_get(f, "originalText");
    /* displayName equal to originalText stays: the column could be either. */
    int keep_dn = !json_is_string(dn) ||
                  (json_is_string(ot) && strcmp(json_string_value(dn), json_string_value(ot)) == 0);
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v)
    {
        int column = (json_is_string(v) &&
                      (strcmp(key, "codeSystem") == 0 || strcmp(key, "code") == 0 ||
                       strcmp(key, "value") == 0 || strcmp(key, "unit") == 0 ||
                       strcmp(key, "status") == 0 ||
                       (strcmp(key, "displayName") == 0 && !keep_dn))) ||
                     (json_is_real(v) && strcmp(key, "number") == 0);
        if (column)
            continue;
        if (strcmp(key, "effectiveTime") == 0 && json_is_object(v)) {
            json_t *et = json_copy(v);
            int moved = 0;
            if (json_is_string(json_object_get(et, "low")) && ++moved)
                json_object_del(et, "low");
            if (json_is_string(json_object_get(et, "high")) && ++moved)
                json_object_del(et, "high");
            if (et != NULL && (!moved || json_object_size(et) > 0))
                json_object_set(x, key, et);
            json_decref(et);
            continue;
        }
        json_object_set(x, key, v);
    }
    return x;
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

static int texts_put(const char *buffer, size_t size, void *arg)
{
    texts_t *t = arg;
    if (size > SIZE_MAX / 2 - t->len)
        return -1;
    if (t->len + size + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64 * 1024;
        while (cap < t->len + size + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (grown == NULL)
            return -1;
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, buffer, size);
    t->len += size;
    return 0;
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
            if (json_dump_callback(f, texts_put, &t, JSON_COMPACT) != 0 ||
                texts_put("", 1, &t) != 0)
                goto out;
            ends[2 * k] = t.len;
            json_t *x = extras_of(f);
            int bad = x == NULL || json_dump_callback(x, texts_put, &t, JSON_COMPACT) != 0 ||
                      texts_put("", 1, &t) != 0;
            json_decref(x);
            if (bad)
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

/* Whether a member name is written by JSON as it is (no escapes). */
static int plain_key(const char *k)
{
    for (; *k != '\0'; k++)
        if (*k == '"' || *k == '\\' || (unsigned char)*k < 0x20)
            return 0;
    return 1;
}

char *cdx_fact_rows_join(struct json_t *facts, const cdx_fact_row_t *rows, size_t n)
{
    /* The rows are facts' members in order, one per array element, each
     * an object (cdx_fact_rows_from_json); anything else is dumped whole. */
    size_t total = 2, k = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(facts, kind, list)
    {
        if (!json_is_array(list) || !plain_key(kind))
            return json_dumps(facts, JSON_COMPACT);
        total += strlen(kind) + 6; /* "kind":[], */
        for (size_t i = 0; i < json_array_size(list); i++, k++) {
            if (k >= n || !json_is_object(json_array_get(list, i)))
                return json_dumps(facts, JSON_COMPACT);
            total += strlen(rows[k].json) + 1;
        }
    }
    if (k != n)
        return json_dumps(facts, JSON_COMPACT);
    char *text = malloc(total);
    if (text == NULL)
        return NULL;
    char *p = text;
    *p++ = '{';
    k = 0;
    json_object_foreach(facts, kind, list)
    {
        if (p != text + 1)
            *p++ = ',';
        size_t len = strlen(kind);
        *p++ = '"';
        memcpy(p, kind, len);
        p += len;
        memcpy(p, "\":[", 3);
        p += 3;
        for (size_t i = 0; i < json_array_size(list); i++, k++) {
            if (i > 0)
                *p++ = ',';
            len = strlen(rows[k].json);
            memcpy(p, rows[k].json, len);
            p += len;
        }
        *p++ = ']';
    }
    *p++ = '}';
    *p = '\0';
    return text;
}

void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n)
{
    /* The texts live in the rows' own allocation. */
    (void)n;
    free(rows);
}
