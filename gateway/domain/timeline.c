/* timeline: the merged timeline and its summary (see include/cdx/domain/timeline.h). */
#include "cdx/domain/timeline.h"
#include "cdx/parsers/time_key.h"
#include "cdx/base/common.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/ids.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* At most this many earlier values in one trend: a chart, not an archive. */
#define MAX_TREND 50

void cdx_tl_facts_free(cdx_tl_fact_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        cdx_tl_fact_t *r = &rows[i];
        char *strs[] = {r->institution_oid,
                        r->institution_name,
                        r->kind,
                        r->code_system,
                        r->code,
                        r->display,
                        r->value,
                        r->unit,
                        r->time_low,
                        r->time_high,
                        r->status,
                        r->data};
        for (size_t k = 0; k < CDX_ARRAY_SIZE(strs); k++)
            free(strs[k]);
    }
    free(rows);
}

/* ---- time keys ----------------------------------------------------------- */

/* The same keys as the registry's sort and filter keys and the query
 * parameters: one reading of a time for all of them. */
int cdx_tl_time_key(const char *hl7ts, char key[CDX_TL_KEY_LEN])
{
    return cdx_ts_utc_key(hl7ts, key);
}

unsigned cdx_tl_kind_bit(const char *name)
{
    for (int k = 0; name != NULL && k < CDX_FACT_KINDS; k++)
        if (strcmp(name, cdx_fact_kind_name((cdx_fact_kind_t)k)) == 0)
            return 1u << k;
    return 0;
}

/* ---- the facts a query keeps -------------------------------------------- */

typedef struct item {
    const cdx_tl_fact_t *row; /* the source shown for the merged fact */
    unsigned kind;            /* its bit */
    char key[CDX_TL_KEY_LEN]; /* time key, "" when the fact has no time */
    char digits[16];          /* the time's digits as written, up to seconds */
    int ndigits;
    bool zoned;
    bool negated;
    json_t *data;    /* the row's JSON (owned) */
    json_t *sources; /* of a merged fact (owned); NULL once merged into another */
} item_t;

typedef struct items {
    item_t *v;
    size_t n;
} items_t;

static void items_free(items_t *it)
{
    for (size_t i = 0; it->v != NULL && i < it->n; i++) {
        json_decref(it->v[i].data);
        json_decref(it->v[i].sources);
    }
    free(it->v);
    it->v = NULL;
    it->n = 0;
}

static const char *jget_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, k, json_string(v));
}

static json_t *source_json(const item_t *it)
{
    const cdx_tl_fact_t *r = it->row;
    json_t *s = json_object();
    json_t *inst = json_object();
    if (s == NULL || inst == NULL) {
        json_decref(s);
        json_decref(inst);
        return NULL;
    }
    put_str(s, "document", r->doc_uid);
    put_str(inst, "oid", r->institution_oid);
    put_str(inst, "name", r->institution_name);
    json_object_set_new(s, "institution", inst);
    put_str(s, "section", jget_str(it->data, "section"));
    put_str(s, "sectionCode", jget_str(it->data, "sectionCode"));
    put_str(s, "sectionTitle", jget_str(it->data, "sectionTitle"));
    return s;
}

/* Fills *it from r; false when the query leaves r out. */
static bool item_init(item_t *it, const cdx_tl_fact_t *r, const cdx_tl_query_t *q)
{
    memset(it, 0, sizeof *it);
    it->row = r;
    it->kind = cdx_tl_kind_bit(r->kind);
    if (it->kind == 0 || (q->kinds != 0 && (q->kinds & it->kind) == 0))
        return false;
    const char *t = r->time_low != NULL ? r->time_low : r->time_high;
    if (t != NULL && cdx_tl_time_key(t, it->key) == 0) {
        size_t nd = strspn(t, "0123456789");
        it->ndigits = nd > 14 ? 14 : (int)nd;
        memcpy(it->digits, t, (size_t)it->ndigits);
        it->zoned = strpbrk(t, "+-") != NULL;
    }
    if ((q->from[0] || q->to[0]) && it->key[0] == '\0')
        return false;
    if (q->from[0] && strcmp(it->key, q->from) < 0)
        return false;
    if (q->to[0] && strcmp(it->key, q->to) >= 0)
        return false;
    return true;
}

static int opt_cmp(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int opt_casecmp(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcasecmp(a, b);
}

/* Orders facts by what they state (kind, code, value, unit, negation), so
 * that candidates for one merged fact sit side by side; an uncoded fact
 * is known by its display text. */
static int what_cmp(const item_t *a, const item_t *b)
{
    const cdx_tl_fact_t *x = a->row, *y = b->row;
    int c;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if ((c = opt_cmp(x->code_system, y->code_system)) != 0 || (c = opt_cmp(x->code, y->code)))
        return c;
    if (x->code == NULL && (c = opt_casecmp(x->display, y->display)) != 0)
        return c;
    if (x->has_number != y->has_number)
        return x->has_number ? -1 : 1;
    if (x->has_number && x->number != y->number)
        return x->number < y->number ? -1 : 1;
    if (!x->has_number && (c = opt_cmp(x->value, y->value)) != 0)
        return c;
    if ((c = opt_cmp(x->unit, y->unit)) != 0)
        return c;
    return (int)a->negated - (int)b->negated;
}

static int what_qcmp(const void *a, const void *b)
{
    return what_cmp(a, b);
}

/* The same time at the precision both share: the digits as written, or
 * the UTC instants when both give a time of day with an offset. */
static bool same_time(const item_t *a, const item_t *b)
{
    if (a->ndigits == 0 || b->ndigits == 0)
        return a->ndigits == b->ndigits;
    int p = a->ndigits < b->ndigits ? a->ndigits : b->ndigits;
    if (p >= 10 && a->zoned && b->zoned)
        return strncmp(a->key, b->key, (size_t)p) == 0;
    return strncmp(a->digits, b->digits, (size_t)p) == 0;
}

static bool same_source(json_t *a, json_t *b)
{
    const char *keys[] = {"document", "section", "sectionCode", "sectionTitle"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++)
        if (opt_cmp(jget_str(a, keys[i]), jget_str(b, keys[i])) != 0)
            return false;
    return true;
}

/* Moves from's sources into into's (each source once); the more precise
 * time's fact is the one shown. */
static int merge_into(item_t *into, item_t *from)
{
    size_t i;
    json_t *s;
    json_array_foreach(from->sources, i, s)
    {
        bool dup = false;
        size_t j;
        json_t *t;
        json_array_foreach(into->sources, j, t) dup = dup || same_source(s, t);
        if (!dup && json_array_append(into->sources, s) != 0)
            return CDX_ENOMEM;
    }
    json_decref(from->sources);
    from->sources = NULL;
    if (from->ndigits > into->ndigits) {
        const cdx_tl_fact_t *row = into->row;
        json_t *data = into->data;
        into->row = from->row;
        into->data = from->data;
        memcpy(into->key, from->key, sizeof into->key);
        memcpy(into->digits, from->digits, sizeof into->digits);
        into->ndigits = from->ndigits;
        into->zoned = from->zoned;
        from->row = row;
        from->data = data;
    }
    return 0;
}

/* The rows q keeps, parsed, then merged: a fact that another states
 * again (what_cmp equal, same_time) gives it its sources and is shown no
 * more (its sources NULL). */
static int collect(const cdx_tl_fact_t *rows, size_t n, const cdx_tl_query_t *q, items_t *out)
{
    out->v = calloc(n ? n : 1, sizeof *out->v);
    out->n = 0;
    if (out->v == NULL)
        return CDX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &out->v[out->n];
        if (!item_init(it, &rows[i], q))
            continue;
        it->data = rows[i].data ? json_loads(rows[i].data, 0, NULL) : NULL;
        if (!json_is_object(it->data)) {
            json_decref(it->data);
            it->data = json_object();
        }
        it->negated = json_is_true(json_object_get(it->data, "negated"));
        it->sources = json_array();
        out->n++;
        json_t *src = source_json(it);
        if (it->data == NULL || it->sources == NULL || src == NULL ||
            json_array_append_new(it->sources, src) != 0)
            return CDX_ENOMEM;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, what_qcmp);
    for (size_t i = 0; i < out->n; i++) {
        item_t *a = &out->v[i];
        if (a->sources == NULL)
            continue;
        for (size_t j = i + 1; j < out->n && what_cmp(a, &out->v[j]) == 0; j++) {
            item_t *b = &out->v[j];
            if (b->sources != NULL && same_time(a, b) && merge_into(a, b) != 0)
                return CDX_ENOMEM;
        }
    }
    return 0;
}

/* Time order: oldest first, facts without a time last; then by kind and
 * code so that the order is stable. */
static int time_cmp(const void *pa, const void *pb)
{
    const item_t *const *a = pa, *const *b = pb;
    int ea = (*a)->key[0] == '\0', eb = (*b)->key[0] == '\0';
    if (ea != eb)
        return ea - eb;
    int c = strcmp((*a)->key, (*b)->key);
    if (c != 0)
        return c;
    c = what_cmp(*a, *b);
    if (c != 0)
        return c;
    return (*a)->row->id < (*b)->row->id ? -1 : (*a)->row->id > (*b)->row->id;
}

/* The merged facts of it, sorted by time (newest first when desc). */
static const item_t **merged(const items_t *it, size_t *m, bool desc)
{
    const item_t **v = calloc(it->n ? it->n : 1, sizeof *v);
    *m = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < it->n; i++)
        if (it->v[i].sources != NULL)
            v[(*m)++] = &it->v[i];
    qsort(v, *m, sizeof *v, time_cmp);
    if (desc) {
        /* Newest first, but still undated last. */
        size_t dated = 0;
        while (dated < *m && v[dated]->key[0] != '\0')
            dated++;
        for (size_t i = 0; i < dated / 2; i++) {
            const item_t *t = v[i];
            v[i] = v[dated - 1 - i];
            v[dated - 1 - i] = t;
        }
    }
    return v;
}

static json_t *fact_json(const item_t *it)
{
    const cdx_tl_fact_t *r = it->row;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    put_str(o, "kind", r->kind);
    put_str(o, "codeSystem", r->code_system);
    put_str(o, "code", r->code);
    put_str(o, "display", r->display);
    put_str(o, "value", r->value);
    if (r->has_number)
        json_object_set_new(o, "number", json_real(r->number));
    put_str(o, "unit", r->unit);
    put_str(o, "unitOriginal", jget_str(it->data, "unitOriginal"));
    put_str(o, "interpretation", jget_str(it->data, "interpretation"));
    put_str(o, "status", r->status);
    json_object_set_new(o, "negated", json_boolean(it->negated));
    json_t *et = json_object();
    put_str(et, "low", r->time_low);
    put_str(et, "high", r->time_high);
    json_object_set_new(o, "effectiveTime", et);
    json_object_set(o, "sources", it->sources);
    return o;
}

json_t *cdx_tl_timeline(const cdx_tl_fact_t *rows, size_t n, const cdx_tl_query_t *q)
{
    items_t it = {0};
    json_t *out = NULL;
    size_t m = 0;
    const item_t **v = NULL;
    if (collect(rows, n, q, &it) != 0 || (v = merged(&it, &m, false)) == NULL)
        goto out;
    json_t *facts = json_array();
    out = json_object();
    if (facts == NULL || out == NULL) {
        json_decref(facts);
        json_decref(out);
        out = NULL;
        goto out;
    }
    json_object_set_new(out, "facts", facts);
    json_object_set_new(out, "count", json_integer((json_int_t)m));
    for (size_t i = 0; i < m; i++) {
        if (json_array_append_new(facts, fact_json(v[i])) != 0) {
            json_decref(out);
            out = NULL;
            goto out;
        }
    }
out:
    free(v);
    items_free(&it);
    return out;
}

/* ---- the summary --------------------------------------------------------- */

static bool status_is(const char *status, const char *const *list, size_t n)
{
    for (size_t i = 0; status != NULL && i < n; i++)
        if (strcasecmp(status, list[i]) == 0)
            return true;
    return false;
}

static const char *const ACTIVE[] = {"active", "55561003", "relapse", "recurrence"};
static const char *const ENDED[] = {"completed", "aborted",  "cancelled", "nullified", "inactive",
                                    "resolved",  "73425007", "413322009", "obsolete"};

/* A problem observation's statusCode is "completed" once recorded: only a
 * status that names the problem's state, or an end, closes it. */
static const char *const PROBLEM_ENDED[] = {"resolved", "inactive",  "73425007", "413322009",
                                            "aborted",  "cancelled", "nullified"};

static bool problem_active(const item_t *it)
{
    const char *st = it->row->status;
    if (status_is(st, ACTIVE, CDX_ARRAY_SIZE(ACTIVE)))
        return true;
    return !status_is(st, PROBLEM_ENDED, CDX_ARRAY_SIZE(PROBLEM_ENDED)) &&
           it->row->time_high == NULL;
}

static bool medication_current(const item_t *it, const cdx_tl_query_t *q)
{
    if (status_is(it->row->status, ENDED, CDX_ARRAY_SIZE(ENDED)))
        return false;
    char high[CDX_TL_KEY_LEN];
    if (it->row->time_high == NULL || q->now[0] == '\0' ||
        cdx_tl_time_key(it->row->time_high, high) != 0)
        return true;
    return strcmp(high, q->now) >= 0;
}

static bool allergy_current(const item_t *it)
{
    return !status_is(it->row->status, ENDED, CDX_ARRAY_SIZE(ENDED));
}

/* One trend per code of kind (results or vital signs) in v, which is
 * newest first: the first fact of a code is its latest value. */
static int add_trends(json_t *list, const item_t **v, size_t m, unsigned kind)
{
    bool *done = calloc(m ? m : 1, sizeof *done);
    if (done == NULL)
        return CDX_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < m && rc == 0; i++) {
        const cdx_tl_fact_t *r = v[i]->row;
        if (done[i] || v[i]->kind != kind || v[i]->negated || r->code == NULL)
            continue;
        json_t *t = json_object(), *prev = json_array();
        if (t == NULL || prev == NULL || json_array_append_new(list, t) != 0) {
            json_decref(prev);
            rc = CDX_ENOMEM;
            break;
        }
        put_str(t, "codeSystem", r->code_system);
        put_str(t, "code", r->code);
        put_str(t, "display", r->display);
        json_object_set_new(t, "latest", fact_json(v[i]));
        json_object_set_new(t, "previous", prev);
        size_t count = 0;
        for (size_t j = i + 1; j < m; j++) {
            const cdx_tl_fact_t *s = v[j]->row;
            if (done[j] || v[j]->kind != kind || v[j]->negated ||
                opt_cmp(s->code_system, r->code_system) != 0 || opt_cmp(s->code, r->code) != 0)
                continue;
            done[j] = true;
            if (count++ < MAX_TREND && json_array_append_new(prev, fact_json(v[j])) != 0)
                rc = CDX_ENOMEM;
        }
    }
    free(done);
    return rc;
}

json_t *cdx_tl_summary(const cdx_tl_fact_t *rows, size_t n, const cdx_tl_query_t *q)
{
    items_t it = {0};
    size_t m = 0;
    const item_t **v = NULL;
    json_t *out = NULL;
    if (collect(rows, n, q, &it) != 0 || (v = merged(&it, &m, true)) == NULL)
        goto out;
    json_t *lists[5];
    static const char *const names[5] = {"active_problems", "current_medications", "allergies",
                                         "results", "vital_signs"};
    out = json_object();
    bool ok = out != NULL;
    for (size_t k = 0; k < 5; k++) {
        lists[k] = json_array();
        ok = ok && lists[k] != NULL && json_object_set_new(out, names[k], lists[k]) == 0;
    }
    for (size_t i = 0; ok && i < m; i++) {
        const item_t *f = v[i];
        int list = -1;
        if (f->negated)
            continue;
        if (f->kind == cdx_tl_kind_bit("problems") && problem_active(f))
            list = 0;
        else if (f->kind == cdx_tl_kind_bit("medications") && medication_current(f, q))
            list = 1;
        else if (f->kind == cdx_tl_kind_bit("allergies") && allergy_current(f))
            list = 2;
        if (list >= 0)
            ok = json_array_append_new(lists[list], fact_json(f)) == 0;
    }
    ok = ok && add_trends(lists[3], v, m, cdx_tl_kind_bit("results")) == 0 &&
         add_trends(lists[4], v, m, cdx_tl_kind_bit("vital_signs")) == 0;
    if (!ok) {
        json_decref(out);
        out = NULL;
    }
out:
    free(v);
    items_free(&it);
    return out;
}
