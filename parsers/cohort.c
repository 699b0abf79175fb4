/* cohort: the definition parser (see include/cdx/parsers/cohort.h).
 *
 * A definition is one node: a combination ({"all": [...]}, {"any":
 * [...]}, {"not": node}) or a criterion ({"condition": {...}}, {"result":
 * {...}}, {"age": {...}}, {"sex": "F"}, {"institution": "OID"}).  Every
 * object is checked member by member against what its kind allows, so an
 * unknown field is refused by its path, never ignored. */
#include "cdx/parsers/cohort.h"
#include "cdx/base/common.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    cdx_cohort_error_t *err;
    size_t nnodes, nfacts;
    int oom;
} ctx_t;

__attribute__((format(printf, 3, 4))) static int bad(ctx_t *c, const char *path,
                                                     const char *fmt, ...)
{
    cdx_strlcpy(c->err->path, path, sizeof c->err->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->detail, sizeof c->err->detail, fmt, ap);
    va_end(ap);
    return CDX_EINVAL;
}

/* A path into out; one too long for it is cut (paths are bounded by the
 * depth limit, so only a huge member name is). */
__attribute__((format(printf, 3, 4))) static void pathf(char *out, size_t n, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (w < 0)
        out[0] = '\0';
}

static void sub(char *out, size_t n, const char *path, const char *member)
{
    pathf(out, n, "%s.%.64s", path, member);
}

static void node_free(cdx_cohort_node_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->fact.ncodes; i++)
        free(n->fact.codes[i]);
    free(n->fact.codes);
    node_free(n->fact.anchor);
    free(n);
}

void cdx_cohort_def_free(cdx_cohort_def_t *def)
{
    if (def == NULL)
        return;
    node_free(def->root);
    free(def);
}

static cdx_cohort_node_t *node_new(ctx_t *c, const char *path, cdx_cohort_node_kind_t kind)
{
    if (++c->nnodes > CDX_COHORT_MAX_NODES) {
        bad(c, path, "a definition holds at most %d criteria and combinations",
            CDX_COHORT_MAX_NODES);
        return NULL;
    }
    cdx_cohort_node_t *n = calloc(1, sizeof *n);
    if (n == NULL) {
        c->oom = 1;
        bad(c, path, "out of memory");
        return NULL;
    }
    n->kind = kind;
    return n;
}

/* Refuses a member of o that is not one of allowed (NULL-terminated). */
static int only_members(ctx_t *c, json_t *o, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            char p[sizeof c->err->path];
            sub(p, sizeof p, path, key);
            return bad(c, p, "unknown field '%.64s'", key);
        }
    }
    return 0;
}

static int parse_node(ctx_t *c, json_t *v, const char *path, int depth, cdx_cohort_node_t **out);

static int parse_list(ctx_t *c, json_t *v, const char *path, int depth, cdx_cohort_node_t *n)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(c, path, "a non-empty array of criteria is expected");
    if (json_array_size(v) > CDX_COHORT_MAX_WIDTH)
        return bad(c, path, "at most %d members", CDX_COHORT_MAX_WIDTH);
    n->kids = calloc(json_array_size(v), sizeof *n->kids);
    if (n->kids == NULL) {
        c->oom = 1;
        return bad(c, path, "out of memory");
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char p[sizeof c->err->path];
        pathf(p, sizeof p, "%s[%zu]", path, i);
        int rc = parse_node(c, e, p, depth + 1, &n->kids[i]);
        if (rc != 0)
            return rc;
        n->nkids++;
    }
    return 0;
}

static int code_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > CDX_COHORT_MAX_CODE)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int add_code(ctx_t *c, cdx_cohort_fact_t *f, json_t *v, const char *path)
{
    if (!json_is_string(v) || !code_ok(json_string_value(v)))
        return bad(c, path, "a code is a string of 1 to %d printable characters without spaces",
                   CDX_COHORT_MAX_CODE);
    f->codes[f->ncodes] = strdup(json_string_value(v));
    if (f->codes[f->ncodes] == NULL) {
        c->oom = 1;
        return bad(c, path, "out of memory");
    }
    f->ncodes++;
    return 0;
}

static int parse_codes(ctx_t *c, json_t *o, const char *path, cdx_cohort_fact_t *f)
{
    json_t *code = json_object_get(o, "code"), *codes = json_object_get(o, "codes");
    char p[sizeof c->err->path];
    if ((code == NULL) == (codes == NULL))
        return bad(c, path, "give either code or codes");
    if (codes != NULL) {
        sub(p, sizeof p, path, "codes");
        if (!json_is_array(codes) || json_array_size(codes) == 0)
            return bad(c, p, "a non-empty array of codes is expected");
        if (json_array_size(codes) > CDX_COHORT_MAX_CODES)
            return bad(c, p, "at most %d codes", CDX_COHORT_MAX_CODES);
    }
    size_t n = codes != NULL ? json_array_size(codes) : 1;
    f->codes = calloc(n, sizeof *f->codes);
    if (f->codes == NULL) {
        c->oom = 1;
        return bad(c, path, "out of memory");
    }
    if (code != NULL) {
        sub(p, sizeof p, path, "code");
        return add_code(c, f, code, p);
    }
    size_t i;
    json_t *e;
    json_array_foreach(codes, i, e)
    {
        pathf(p, sizeof p, "%s.codes[%zu]", path, i);
        int rc = add_code(c, f, e, p);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_day(ctx_t *c, json_t *o, const char *member, const char *path, int *has,
                     int32_t *day)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return 0;
    char p[sizeof c->err->path];
    sub(p, sizeof p, path, member);
    if (!json_is_string(v) || cdx_cohort_day(json_string_value(v), day) != 0)
        return bad(c, p, "a date is written YYYY-MM-DD");
    *has = 1;
    return 0;
}

static int parse_int(ctx_t *c, json_t *o, const char *member, const char *path, long lo, long hi,
                     int *has, long *out)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return 0;
    char p[sizeof c->err->path];
    sub(p, sizeof p, path, member);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(c, p, "an integer from %ld to %ld is expected", lo, hi);
    *has = 1;
    *out = (long)json_integer_value(v);
    return 0;
}

static const struct op_name {
    const char *name;
    cdx_cohort_op_t op;
} op_names[] = {
    {"<", CDX_COHORT_LT},  {"<=", CDX_COHORT_LE}, {"=", CDX_COHORT_EQ},
    {">=", CDX_COHORT_GE}, {">", CDX_COHORT_GT},
};

static int parse_value(ctx_t *c, json_t *o, const char *path, cdx_cohort_fact_t *f)
{
    json_t *op = json_object_get(o, "op"), *value = json_object_get(o, "value"),
           *unit = json_object_get(o, "unit");
    char p[sizeof c->err->path];
    if (op == NULL && value == NULL && unit == NULL)
        return 0;
    if (op == NULL || value == NULL)
        return bad(c, path, "a value criterion gives op, value and unit together");
    sub(p, sizeof p, path, "op");
    const char *s = json_is_string(op) ? json_string_value(op) : "";
    int found = 0;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(op_names) && !found; i++)
        if (strcmp(op_names[i].name, s) == 0) {
            f->op = op_names[i].op;
            found = 1;
        }
    if (!found)
        return bad(c, p, "op is one of <, <=, =, >=, >");
    sub(p, sizeof p, path, "value");
    if (!json_is_number(value) || !isfinite(json_number_value(value)))
        return bad(c, p, "value is a number");
    f->value = json_number_value(value);
    sub(p, sizeof p, path, "unit");
    if (unit == NULL)
        return bad(c, path, "a value criterion gives op, value and unit together");
    if (!json_is_string(unit) || (f->unit = cdx_cohort_unit(json_string_value(unit))) == NULL)
        return bad(c, p, "unknown unit (UCUM units such as mg/dL, mmol/L, %%, mmol/mol, mm[Hg])");
    f->has_value = 1;
    return 0;
}

static int parse_fact_criterion(ctx_t *c, json_t *v, const char *path, int depth,
                                cdx_cohort_node_t **out);

static int parse_window(ctx_t *c, json_t *o, const char *path, int depth, cdx_cohort_fact_t *f)
{
    json_t *w = json_object_get(o, "window");
    if (w == NULL)
        return 0;
    char p[sizeof c->err->path], q[sizeof c->err->path];
    sub(p, sizeof p, path, "window");
    if (!json_is_object(w))
        return bad(c, p,
                   "a window is an object: {\"after\" or \"before\": criterion, \"days\": N}");
    static const char *const allowed[] = {"after", "before", "days", NULL};
    int rc = only_members(c, w, p, allowed);
    if (rc != 0)
        return rc;
    json_t *after = json_object_get(w, "after"), *before = json_object_get(w, "before");
    if ((after == NULL) == (before == NULL))
        return bad(c, p, "a window gives either after or before");
    int has = 0;
    long days = 0;
    rc = parse_int(c, w, "days", p, 0, 36600, &has, &days);
    if (rc != 0)
        return rc;
    if (!has)
        return bad(c, p, "a window gives days");
    f->window_days = (int32_t)days;
    f->anchor_before = before != NULL;
    sub(q, sizeof q, p, before != NULL ? "before" : "after");
    return parse_fact_criterion(c, before != NULL ? before : after, q, depth + 1, &f->anchor);
}

static const struct fact_name {
    const char *name;
    cdx_cohort_fact_kind_t kind;
    const char *fact_kind;
    int values; /* may carry op, value, unit */
} fact_names[] = {
    {"condition", CDX_COHORT_CONDITION, "problems", 0},
    {"procedure", CDX_COHORT_PROCEDURE, "procedures", 0},
    {"medication", CDX_COHORT_MEDICATION, "medications", 0},
    {"immunization", CDX_COHORT_IMMUNIZATION, "immunizations", 0},
    {"result", CDX_COHORT_RESULT, "results", 1},
    {"vital", CDX_COHORT_VITAL, "vital_signs", 1},
};

static const struct fact_name *fact_name_of(const char *name)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(fact_names); i++)
        if (strcmp(fact_names[i].name, name) == 0)
            return &fact_names[i];
    return NULL;
}

/* Long: one check per member of a fact criterion, each naming its path. */
static int parse_fact(ctx_t *c, const struct fact_name *fn, json_t *o, const char *path, int depth,
                      cdx_cohort_node_t *n)
{
    static const char *const plain[] = {"system", "code",   "codes",     "match", "from",
                                        "to",     "window", "min_count", NULL};
    static const char *const valued[] = {"system", "code",      "codes", "match", "from", "to",
                                         "window", "min_count", "op",    "value", "unit", NULL};
    cdx_cohort_fact_t *f = &n->fact;
    char p[sizeof c->err->path];
    if (!json_is_object(o))
        return bad(c, path, "a %s criterion is an object", fn->name);
    int rc = only_members(c, o, path, fn->values ? valued : plain);
    if (rc != 0)
        return rc;
    c->nfacts++;
    f->kind = fn->kind;
    f->fact_kind = fn->fact_kind;
    f->min_count = 1;
    json_t *system = json_object_get(o, "system");
    sub(p, sizeof p, path, "system");
    if (system == NULL)
        return bad(c, path, "a %s criterion names its code system", fn->name);
    if (!json_is_string(system) ||
        (f->nsystems = cdx_cohort_system(json_string_value(system), f->systems)) == 0)
        return bad(c, p,
                   "unknown code system (ICD-10, KCD, SNOMED CT, LOINC, RxNorm, ATC, EDI, KD, "
                   "CVX, or one of their OIDs)");
    if ((rc = parse_codes(c, o, path, f)) != 0)
        return rc;
    json_t *match = json_object_get(o, "match");
    if (match != NULL) {
        sub(p, sizeof p, path, "match");
        const char *m = json_is_string(match) ? json_string_value(match) : "";
        if (strcmp(m, "prefix") == 0)
            f->prefix = 1;
        else if (strcmp(m, "exact") != 0)
            return bad(c, p, "match is \"exact\" or \"prefix\"");
    }
    if ((rc = parse_value(c, o, path, f)) != 0)
        return rc;
    if ((rc = parse_day(c, o, "from", path, &f->has_from, &f->from_day)) != 0 ||
        (rc = parse_day(c, o, "to", path, &f->has_to, &f->to_day)) != 0)
        return rc;
    if (f->has_from && f->has_to && f->from_day > f->to_day) {
        sub(p, sizeof p, path, "to");
        return bad(c, p, "to is before from");
    }
    int has = 0;
    long count = 1;
    if ((rc = parse_int(c, o, "min_count", path, 1, 1000, &has, &count)) != 0)
        return rc;
    f->min_count = (unsigned)count;
    return parse_window(c, o, path, depth, f);
}

/* A criterion that is a fact criterion ({"condition": {...}} and the
 * like): the index event of a window. */
static int parse_fact_criterion(ctx_t *c, json_t *v, const char *path, int depth,
                                cdx_cohort_node_t **out)
{
    if (depth > CDX_COHORT_MAX_DEPTH)
        return bad(c, path, "nested deeper than %d levels", CDX_COHORT_MAX_DEPTH);
    const char *key = NULL;
    json_t *inner = NULL;
    if (json_is_object(v) && json_object_size(v) == 1) {
        void *it = json_object_iter(v);
        key = json_object_iter_key(it);
        inner = json_object_iter_value(it);
    }
    const struct fact_name *fn = key != NULL ? fact_name_of(key) : NULL;
    if (fn == NULL)
        return bad(c, path,
                   "the index event is one condition, procedure, medication, "
                   "immunization, result or vital criterion");
    cdx_cohort_node_t *n = node_new(c, path, CDX_COHORT_FACT);
    if (n == NULL)
        return CDX_EINVAL;
    char p[sizeof c->err->path];
    sub(p, sizeof p, path, key);
    int rc = parse_fact(c, fn, inner, p, depth, n);
    if (rc != 0) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_age(ctx_t *c, json_t *o, const char *path, cdx_cohort_node_t *n)
{
    static const char *const allowed[] = {"min", "max", "at", NULL};
    if (!json_is_object(o))
        return bad(c, path, "an age criterion is an object: {\"min\", \"max\", \"at\"}");
    int rc = only_members(c, o, path, allowed);
    long v = 0;
    if (rc == 0 && (rc = parse_int(c, o, "min", path, 0, 150, &n->has_min, &v)) == 0)
        n->age_min = (int)v;
    if (rc == 0 && (rc = parse_int(c, o, "max", path, 0, 150, &n->has_max, &v)) == 0)
        n->age_max = (int)v;
    if (rc != 0)
        return rc;
    if (!n->has_min && !n->has_max)
        return bad(c, path, "an age criterion gives min, max or both");
    if (n->has_min && n->has_max && n->age_min > n->age_max) {
        char p[sizeof c->err->path];
        sub(p, sizeof p, path, "max");
        return bad(c, p, "max is below min");
    }
    int has_at = 0;
    n->at_day = -1;
    return parse_day(c, o, "at", path, &has_at, &n->at_day);
}

static int oid_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= 128 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    return 1;
}

/* Long: one branch per kind of node, each with its own refusal. */
static int parse_node(ctx_t *c, json_t *v, const char *path, int depth, cdx_cohort_node_t **out)
{
    if (depth > CDX_COHORT_MAX_DEPTH)
        return bad(c, path, "nested deeper than %d levels", CDX_COHORT_MAX_DEPTH);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return bad(c, path,
                   "a criterion is an object with exactly one member: all, any, not, "
                   "condition, procedure, medication, immunization, result, vital, "
                   "age, sex or institution");
    void *it = json_object_iter(v);
    const char *key = json_object_iter_key(it);
    json_t *inner = json_object_iter_value(it);
    char p[sizeof c->err->path];
    sub(p, sizeof p, path, key);
    const struct fact_name *fn = fact_name_of(key);
    cdx_cohort_node_kind_t kind;
    if (fn != NULL)
        kind = CDX_COHORT_FACT;
    else if (strcmp(key, "all") == 0)
        kind = CDX_COHORT_ALL;
    else if (strcmp(key, "any") == 0)
        kind = CDX_COHORT_ANY;
    else if (strcmp(key, "not") == 0)
        kind = CDX_COHORT_NOT;
    else if (strcmp(key, "age") == 0)
        kind = CDX_COHORT_AGE;
    else if (strcmp(key, "sex") == 0)
        kind = CDX_COHORT_SEX;
    else if (strcmp(key, "institution") == 0)
        kind = CDX_COHORT_INSTITUTION;
    else
        return bad(c, p, "unknown field '%.64s'", key);
    cdx_cohort_node_t *n = node_new(c, p, kind);
    if (n == NULL)
        return CDX_EINVAL;
    int rc = 0;
    switch (kind) {
    case CDX_COHORT_ALL:
    case CDX_COHORT_ANY:
        rc = parse_list(c, inner, p, depth, n);
        break;
    case CDX_COHORT_NOT:
        n->kids = calloc(1, sizeof *n->kids);
        if (n->kids == NULL) {
            c->oom = 1;
            rc = bad(c, p, "out of memory");
        } else if ((rc = parse_node(c, inner, p, depth + 1, &n->kids[0])) == 0) {
            n->nkids = 1;
        }
        break;
    case CDX_COHORT_FACT:
        rc = parse_fact(c, fn, inner, p, depth, n);
        break;
    case CDX_COHORT_AGE:
        rc = parse_age(c, inner, p, n);
        break;
    case CDX_COHORT_SEX: {
        const char *s = json_is_string(inner) ? json_string_value(inner) : "";
        if ((s[0] != 'M' && s[0] != 'F') || s[1] != '\0')
            rc = bad(c, p, "sex is \"M\" or \"F\"");
        n->sex = s[0];
        break;
    }
    case CDX_COHORT_INSTITUTION:
        if (!json_is_string(inner) || !oid_ok(json_string_value(inner)))
            rc = bad(c, p, "an institution is named by its OID");
        else
            cdx_strlcpy(n->oid, json_string_value(inner), sizeof n->oid);
        break;
    }
    if (rc != 0) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int cdx_cohort_parse(const char *json, size_t len, cdx_cohort_def_t **out, cdx_cohort_error_t *err)
{
    ctx_t c = {.err = err};
    err->path[0] = '\0';
    err->detail[0] = '\0';
    if (len > CDX_COHORT_MAX_BYTES)
        return bad(&c, "$", "a definition is at most %u bytes", CDX_COHORT_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return bad(&c, "$", "not JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    cdx_cohort_def_t *def = calloc(1, sizeof *def);
    int rc = def == NULL ? CDX_ENOMEM : parse_node(&c, root, "$", 1, &def->root);
    json_decref(root);
    if (rc != 0 || c.oom) {
        cdx_cohort_def_free(def);
        return c.oom || def == NULL ? CDX_ENOMEM : rc;
    }
    def->nnodes = c.nnodes;
    def->nfacts = c.nfacts;
    *out = def;
    return 0;
}
