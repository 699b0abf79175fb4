/* cohorts: evaluation of a cohort definition over the facts (see
 * include/cdx/store/registry.h, cdx_registry_cohort_eval).
 *
 * Each fact criterion reads the cohort index (cohort_facts, schema 0013),
 * keyed by kind, code system, code, person: one range per (code system,
 * code or code prefix), or for few candidates one seek per candidate and
 * code, with no join (the index holds only positive facts of eligible
 * documents, each with its person).  Everything else is set arithmetic on
 * ascending person ids in memory.  Inside an "all", each member is
 * evaluated only for the persons the members before it left (the
 * candidates), and a "not" removes from those candidates, so the universe
 * of every person with an eligible document is read only for a "not" or a
 * demographic criterion that stands alone. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/cohort.h"

#include <stdlib.h>
#include <string.h>

#define DAY_UNKNOWN INT32_MIN

/* The documents a cohort may read. */
#define ELIGIBLE "d.status = 'current' AND coalesce(d.confidentiality, 'N') NOT IN ('R', 'V')"
/* A document's person: its ids all belong to one. */
#define DOC_PERSON                                                                                 \
    "(SELECT p.person_id FROM document_patient_ids l JOIN patients p INDEXED BY"                   \
    " patients_person_of ON p.root = l.root AND p.extension = l.extension"                         \
    " WHERE l.document_id = d.id LIMIT 1)"

/* A fact criterion reads the cohort index (schema 0013): only coded,
 * positive facts of eligible documents, each with its person, so no join. */
static const char SQL_FACTS_EXACT[] =
    "SELECT person_id, day, value_num, unit, code FROM cohort_facts"
    " WHERE kind = ?1 AND code_system = ?2 AND code = ?3";
static const char SQL_FACTS_RANGE[] =
    "SELECT person_id, day, value_num, unit, code FROM cohort_facts"
    " WHERE kind = ?1 AND code_system = ?2 AND code >= ?3 AND code < ?4";
/* One person's facts of one exact code: one seek of the index. */
static const char SQL_FACTS_PERSON_CODE[] =
    "SELECT day, value_num, unit, code FROM cohort_facts"
    " WHERE kind = ?2 AND code_system = ?3 AND code = ?4 AND person_id = ?1";
/* Up to this many candidates, a fact criterion reads their facts person
 * by person instead of every fact of its codes. */
#define PER_PERSON_MAX 20000
/* Up to this many (candidate, code) pairs a fact criterion seeks each
 * candidate's facts; beyond, it reads each code's range once and keeps
 * the candidates' rows (a seek costs as much as reading some tens of
 * entries of a range: docs/PERFORMANCE.md, cohort queries). */
#define FACT_SEEK_MAX 2000
static const char SQL_UNIVERSE[] =
    "SELECT DISTINCT " DOC_PERSON " FROM documents d WHERE " ELIGIBLE;
static const char SQL_INSTITUTION_PERSON[] =
    "SELECT 1 FROM patients p"
    " JOIN document_patient_ids l ON l.root = p.root AND l.extension = p.extension"
    " JOIN documents d ON d.id = l.document_id JOIN institutions i ON i.id = d.submitter_id"
    " WHERE p.person_id = ?1 AND i.oid = ?2 AND " ELIGIBLE " LIMIT 1";
static const char SQL_INSTITUTION[] =
    "SELECT DISTINCT " DOC_PERSON " FROM documents d JOIN institutions i ON i.id = d.submitter_id"
    " WHERE i.oid = ?1 AND " ELIGIBLE;

/* Ascending, distinct person ids; with first days when from a fact criterion. */
typedef struct pset {
    int64_t *v;
    int32_t *first; /* NULL, or the first matching day of each */
    size_t n;
} pset_t;

typedef struct hit {
    int64_t person;
    int32_t day;
} hit_t;

typedef struct eval {
    cdx_registry_t *reg;
    int32_t today;
    int64_t skipped;
    pset_t universe;
    int have_universe;
} eval_t;

static void pset_free(pset_t *s)
{
    free(s->v);
    free(s->first);
    memset(s, 0, sizeof *s);
}

static int pset_has(const pset_t *s, int64_t person, size_t *at)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid] < person)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at != NULL)
        *at = lo;
    return lo < s->n && s->v[lo] == person;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_hit(const void *a, const void *b)
{
    const hit_t *x = a, *y = b;
    if (x->person != y->person)
        return x->person < y->person ? -1 : 1;
    return x->day < y->day ? -1 : x->day > y->day;
}

/* Sorts and dedupes v[0..n) into s (taking v). */
static void pset_take(pset_t *s, int64_t *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || v[k - 1] != v[i])
            v[k++] = v[i];
    s->v = v;
    s->n = k;
    s->first = NULL;
}

/* Reads the person ids a one-column statement yields into s. */
static int read_ids(eval_t *e, sqlite3_stmt *st, int src, pset_t *s, const char *what)
{
    int64_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue;
        if ((rc = cdx_grow(&v, &cap, n + 1, sizeof *v, 256)) != 0)
            break;
        v[n++] = sqlite3_column_int64(st, 0);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(e->reg, src, what);
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(v);
        return rc;
    }
    pset_take(s, v, n);
    return 0;
}

static int universe(eval_t *e, const pset_t **out)
{
    if (!e->have_universe) {
        sqlite3_stmt *st = NULL;
        int rc = cdx_store_stmt_get(e->reg, STMT_COHORT_UNIVERSE, SQL_UNIVERSE, &st);
        if (rc == 0)
            rc = read_ids(e, st, SQLITE_OK, &e->universe, "reading the persons of a cohort");
        if (rc != 0)
            return rc;
        e->have_universe = 1;
    }
    *out = &e->universe;
    return 0;
}

/* ---- fact criteria ------------------------------------------------------ */

typedef struct leaf {
    const cdx_cohort_fact_t *f;
    const pset_t *cand;   /* NULL: every person */
    const pset_t *anchor; /* the index event's persons and first days, or NULL */
    hit_t *hits;
    size_t n, cap;
} leaf_t;

static int in_window(const leaf_t *l, int64_t person, int32_t day)
{
    const cdx_cohort_fact_t *f = l->f;
    if (f->has_from && (day == DAY_UNKNOWN || day < f->from_day))
        return 0;
    if (f->has_to && (day == DAY_UNKNOWN || day > f->to_day))
        return 0;
    if (l->anchor == NULL)
        return 1;
    size_t at;
    if (day == DAY_UNKNOWN || !pset_has(l->anchor, person, &at))
        return 0;
    int32_t a = l->anchor->first[at];
    if (a == DAY_UNKNOWN)
        return 0;
    return f->anchor_before ? day >= a - f->window_days && day <= a
                            : day >= a && day <= a + f->window_days;
}

/* The value test of a result or vital criterion, in the criterion's unit;
 * the row's value, unit and code are columns base, base + 1, base + 2. */
static int value_matches(eval_t *e, const cdx_cohort_fact_t *f, sqlite3_stmt *st, int base)
{
    if (!f->has_value)
        return 1;
    if (sqlite3_column_type(st, base) == SQLITE_NULL)
        return 0;
    const char *unit = (const char *)sqlite3_column_text(st, base + 1);
    const char *code = (const char *)sqlite3_column_text(st, base + 2);
    double v;
    if (cdx_cohort_convert(code, unit != NULL ? unit : "", f->unit, sqlite3_column_double(st, base),
                           &v) != 0) {
        e->skipped++;
        return 0;
    }
    return cdx_cohort_compare(f->op, v, f->value);
}

/* Keeps the row of st (its date in column base, then value, unit, code)
 * as a hit of person when it passes the criterion's dates and value. */
static int leaf_hit(eval_t *e, leaf_t *l, int64_t person, sqlite3_stmt *st, int base)
{
    int32_t day;
    if (cdx_cohort_day((const char *)sqlite3_column_text(st, base), &day) != 0)
        day = DAY_UNKNOWN;
    if (!in_window(l, person, day) || !value_matches(e, l->f, st, base + 1))
        return 0;
    int rc = cdx_grow(&l->hits, &l->cap, l->n + 1, sizeof *l->hits, 256);
    if (rc == 0)
        l->hits[l->n++] = (hit_t){person, day};
    return rc;
}

static int leaf_rows(eval_t *e, leaf_t *l, sqlite3_stmt *st)
{
    int src, rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue;
        int64_t person = sqlite3_column_int64(st, 0);
        if (l->cand == NULL || pset_has(l->cand, person, NULL))
            rc = leaf_hit(e, l, person, st, 1);
    }
    if (rc != 0)
        return rc;
    return src == SQLITE_DONE ? 0 : cdx_store_fail(e->reg, src, "reading the facts of a cohort");
}

/* The facts of an exact-code criterion of each candidate: one index
 * range per (person, system, code). */
static int leaf_read_person_codes(eval_t *e, leaf_t *l)
{
    sqlite3_stmt *st = NULL;
    const cdx_cohort_fact_t *f = l->f;
    int rc = cdx_store_stmt_get(e->reg, STMT_COHORT_FACTS_PERSON_CODE, SQL_FACTS_PERSON_CODE, &st);
    for (size_t i = 0; rc == 0 && i < l->cand->n; i++) {
        int64_t person = l->cand->v[i];
        for (size_t s = 0; rc == 0 && s < f->nsystems; s++) {
            for (size_t c = 0; rc == 0 && c < f->ncodes; c++) {
                int src = sqlite3_bind_int64(st, 1, person);
                if (src == SQLITE_OK)
                    src = cdx_store_bind_text(st, 2, f->fact_kind);
                if (src == SQLITE_OK)
                    src = cdx_store_bind_text(st, 3, f->systems[s]);
                if (src == SQLITE_OK)
                    src = cdx_store_bind_text(st, 4, f->codes[c]);
                while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
                    src = SQLITE_OK;
                    rc = leaf_hit(e, l, person, st, 0);
                }
                if (rc == 0 && src != SQLITE_DONE)
                    rc = cdx_store_fail(e->reg, src, "reading the facts of a cohort");
                cdx_store_stmt_put(st);
            }
        }
    }
    return rc;
}

/* One (system, code) read of a fact criterion. */
static int leaf_read(eval_t *e, leaf_t *l, const char *system, const char *code)
{
    const cdx_cohort_fact_t *f = l->f;
    sqlite3_stmt *st = NULL;
    char hi[CDX_COHORT_MAX_CODE + 1];
    int rc = f->prefix ? cdx_store_stmt_get(e->reg, STMT_COHORT_FACTS_RANGE, SQL_FACTS_RANGE, &st)
                       : cdx_store_stmt_get(e->reg, STMT_COHORT_FACTS_EXACT, SQL_FACTS_EXACT, &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, f->fact_kind);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, system);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, code);
    if (src == SQLITE_OK && f->prefix) {
        /* Every code starting with the prefix sorts below the prefix with
         * its last byte raised by one (codes are printable ASCII). */
        cdx_strlcpy(hi, code, sizeof hi);
        hi[strlen(hi) - 1]++;
        src = cdx_store_bind_text(st, 4, hi);
    }
    rc = src == SQLITE_OK ? leaf_rows(e, l, st)
                          : cdx_store_fail(e->reg, src, "reading the facts of a cohort");
    cdx_store_stmt_put(st);
    return rc;
}

/* The persons with at least min_count distinct days of matching facts,
 * with the first such day (hits sorted by person, then day). */
static int leaf_collect(leaf_t *l, pset_t *out)
{
    if (l->n > 1)
        qsort(l->hits, l->n, sizeof *l->hits, cmp_hit);
    size_t cap = l->n ? l->n : 1;
    out->v = malloc(cap * sizeof *out->v);
    out->first = malloc(cap * sizeof *out->first);
    out->n = 0;
    if (out->v == NULL || out->first == NULL) {
        pset_free(out);
        return CDX_ENOMEM;
    }
    for (size_t i = 0; i < l->n;) {
        size_t j = i;
        unsigned days = 0;
        for (; j < l->n && l->hits[j].person == l->hits[i].person; j++)
            if (j == i || l->hits[j].day != l->hits[j - 1].day)
                days++;
        if (days >= l->f->min_count) {
            out->v[out->n] = l->hits[i].person;
            /* Sorted ascending with the unknown day (INT32_MIN) first: the
             * first known day, if any, is the index day. */
            int32_t first = l->hits[i].day;
            for (size_t k = i; k < j && first == DAY_UNKNOWN; k++)
                first = l->hits[k].day;
            out->first[out->n++] = first;
        }
        i = j;
    }
    return 0;
}

static int eval_fact(eval_t *e, const cdx_cohort_fact_t *f, const pset_t *cand, pset_t *out)
{
    pset_t anchor = {0};
    leaf_t l = {.f = f, .cand = cand};
    int rc = 0;
    if (f->anchor != NULL) {
        rc = eval_fact(e, &f->anchor->fact, cand, &anchor);
        l.anchor = &anchor;
    }
    /* Few candidates: a seek per (candidate, code); else each code's range
     * once, kept for the candidates (a prefix is always a range). */
    int per_person = cand != NULL && !f->prefix &&
                     cand->n * f->nsystems * f->ncodes <= FACT_SEEK_MAX;
    if (rc == 0 && per_person)
        rc = leaf_read_person_codes(e, &l);
    for (size_t s = 0; rc == 0 && !per_person && s < f->nsystems; s++)
        for (size_t c = 0; rc == 0 && c < f->ncodes; c++)
            rc = leaf_read(e, &l, f->systems[s], f->codes[c]);
    if (rc == 0)
        rc = leaf_collect(&l, out);
    free(l.hits);
    pset_free(&anchor);
    return rc;
}

/* ---- demographic criteria ------------------------------------------------ */

/* The persons of cand whose birth date or sex pass n. */
static int eval_attrs(eval_t *e, const cdx_cohort_node_t *n, const pset_t *cand, pset_t *out)
{
    size_t m = cand->n ? cand->n : 1;
    int64_t *v = malloc(m * sizeof *v);
    int32_t *birth = calloc(m, sizeof *birth);
    char *sex = calloc(m, 1);
    int rc = v == NULL || birth == NULL || sex == NULL ? CDX_ENOMEM : 0;
    if (rc == 0)
        rc = cdx_store_cohort_attrs(e->reg, cand->v, cand->n, birth, sex);
    size_t k = 0;
    int32_t at;
    cdx_store_civil_ymd(n->at_day >= 0 ? n->at_day : e->today, &at);
    for (size_t i = 0; rc == 0 && i < cand->n; i++) {
        int age = cdx_cohort_age(birth[i], at);
        int pass = n->kind == CDX_COHORT_SEX ? sex[i] == n->sex
                                             : age >= 0 && (!n->has_min || age >= n->age_min) &&
                                                   (!n->has_max || age <= n->age_max);
        if (pass)
            v[k++] = cand->v[i];
    }
    free(birth);
    free(sex);
    if (rc != 0) {
        free(v);
        return rc;
    }
    pset_take(out, v, k);
    return 0;
}

/* The candidates with a document of institution oid, read person by person. */
static int institution_persons(eval_t *e, const char *oid, const pset_t *cand, pset_t *out)
{
    sqlite3_stmt *st = NULL;
    int64_t *v = malloc((cand->n ? cand->n : 1) * sizeof *v);
    int rc = v == NULL ? CDX_ENOMEM
                       : cdx_store_stmt_get(e->reg, STMT_COHORT_INSTITUTION_PERSON,
                                            SQL_INSTITUTION_PERSON, &st);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < cand->n; i++) {
        int src = sqlite3_bind_int64(st, 1, cand->v[i]);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, oid);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src == SQLITE_ROW)
            v[k++] = cand->v[i];
        else if (src != SQLITE_DONE)
            rc = cdx_store_fail(e->reg, src, "reading the persons of a cohort");
        cdx_store_stmt_put(st);
    }
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = (pset_t){.v = v, .n = k};
    return 0;
}

static int eval_institution(eval_t *e, const char *oid, const pset_t *cand, pset_t *out)
{
    if (cand->n <= PER_PERSON_MAX)
        return institution_persons(e, oid, cand, out);
    sqlite3_stmt *st = NULL;
    pset_t all = {0};
    int rc = cdx_store_stmt_get(e->reg, STMT_COHORT_INSTITUTION, SQL_INSTITUTION, &st);
    if (rc == 0)
        rc = read_ids(e, st, cdx_store_bind_text(st, 1, oid), &all,
                      "reading the persons of a cohort");
    if (rc != 0)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < all.n; i++)
        if (pset_has(cand, all.v[i], NULL))
            all.v[k++] = all.v[i];
    all.n = k;
    *out = all;
    return 0;
}

/* ---- combinations -------------------------------------------------------- */

static int eval_node(eval_t *e, const cdx_cohort_node_t *n, const pset_t *cand, pset_t *out);

/* base minus sub, into out. */
static int pset_minus(const pset_t *base, const pset_t *sub, pset_t *out)
{
    int64_t *v = malloc((base->n ? base->n : 1) * sizeof *v);
    if (v == NULL)
        return CDX_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < base->n; i++)
        if (!pset_has(sub, base->v[i], NULL))
            v[k++] = base->v[i];
    out->v = v;
    out->n = k;
    out->first = NULL;
    return 0;
}

/* The order the members of an "all" narrow the candidates in: a code
 * criterion first (a diagnosis or a drug is rarer than a common test),
 * then value and window criteria (read person by person once the
 * candidates are few), demographics, combinations; "not" members last. */
static int rank(const cdx_cohort_node_t *n)
{
    switch (n->kind) {
    case CDX_COHORT_FACT:
        return n->fact.has_value || n->fact.anchor != NULL ? 1 : 0;
    case CDX_COHORT_NOT:
        return 4;
    case CDX_COHORT_ALL:
    case CDX_COHORT_ANY:
        return 3;
    default:
        return 2;
    }
}

static int eval_all(eval_t *e, const cdx_cohort_node_t *n, const pset_t *cand, pset_t *out)
{
    pset_t cur = {0};
    int have = 0, rc = 0;
    for (int r = 0; r <= 4 && rc == 0; r++) {
        for (size_t i = 0; i < n->nkids && rc == 0; i++) {
            const cdx_cohort_node_t *k = n->kids[i];
            if (rank(k) != r)
                continue;
            if (have && cur.n == 0)
                break;
            const pset_t *within = have ? &cur : cand;
            pset_t next = {0};
            if (r == 4) {
                const pset_t *base = within;
                if (base == NULL && (rc = universe(e, &base)) != 0)
                    break;
                pset_t sub = {0};
                rc = eval_node(e, k->kids[0], base, &sub);
                if (rc == 0)
                    rc = pset_minus(base, &sub, &next);
                pset_free(&sub);
            } else {
                rc = eval_node(e, k, within, &next);
            }
            if (rc == 0) {
                pset_free(&cur);
                cur = next;
                cur.first = NULL;
                free(next.first);
                have = 1;
            }
        }
    }
    if (rc != 0) {
        pset_free(&cur);
        return rc;
    }
    *out = cur;
    return 0;
}

static int eval_any(eval_t *e, const cdx_cohort_node_t *n, const pset_t *cand, pset_t *out)
{
    int64_t *v = NULL;
    size_t total = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < n->nkids && rc == 0; i++) {
        pset_t part = {0};
        rc = eval_node(e, n->kids[i], cand, &part);
        if (rc == 0 && part.n > 0 &&
            (rc = cdx_grow(&v, &cap, total + part.n, sizeof *v, 256)) == 0) {
            memcpy(v + total, part.v, part.n * sizeof *v);
            total += part.n;
        }
        pset_free(&part);
    }
    if (rc != 0) {
        free(v);
        return rc;
    }
    if (v == NULL && (v = malloc(sizeof *v)) == NULL)
        return CDX_ENOMEM;
    pset_take(out, v, total);
    return 0;
}

static int eval_node(eval_t *e, const cdx_cohort_node_t *n, const pset_t *cand, pset_t *out)
{
    const pset_t *base = cand;
    switch (n->kind) {
    case CDX_COHORT_ALL:
        return eval_all(e, n, cand, out);
    case CDX_COHORT_ANY:
        return eval_any(e, n, cand, out);
    case CDX_COHORT_FACT: {
        int rc = eval_fact(e, &n->fact, cand, out);
        free(out->first);
        out->first = NULL;
        return rc;
    }
    case CDX_COHORT_NOT:
    case CDX_COHORT_AGE:
    case CDX_COHORT_SEX:
    case CDX_COHORT_INSTITUTION:
        break;
    }
    if (base == NULL) {
        int rc = universe(e, &base);
        if (rc != 0)
            return rc;
    }
    if (n->kind == CDX_COHORT_INSTITUTION)
        return eval_institution(e, n->oid, base, out);
    if (n->kind == CDX_COHORT_AGE || n->kind == CDX_COHORT_SEX)
        return eval_attrs(e, n, base, out);
    pset_t sub = {0};
    int rc = eval_node(e, n->kids[0], base, &sub);
    if (rc == 0)
        rc = pset_minus(base, &sub, out);
    pset_free(&sub);
    return rc;
}

/* The one place persons who opted out of research leave a cohort: every
 * evaluation passes through here last, inside its read snapshot. */
static int research_exclude_opted_out(cdx_registry_t *reg, pset_t *s)
{
    int64_t *out = NULL;
    size_t n = 0;
    int rc = cdx_store_research_opted_out(reg, &out, &n);
    if (rc != 0 || n == 0)
        return rc;
    pset_t optout = {.v = out, .n = n};
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (pset_has(&optout, s->v[i], NULL))
            continue;
        if (s->first != NULL)
            s->first[k] = s->first[i];
        s->v[k++] = s->v[i];
    }
    s->n = k;
    free(out);
    return 0;
}

int cdx_registry_cohort_eval(cdx_registry_t *reg, const cdx_cohort_def_t *def, int32_t today,
                             cdx_cohort_eval_t *out)
{
    reg->errmsg[0] = '\0';
    memset(out, 0, sizeof *out);
    eval_t e = {.reg = reg, .today = today};
    pset_t s = {0};
    /* One read transaction: every read of the evaluation sees one snapshot
     * of the registry (and the pager keeps its cache between them). */
    int own = sqlite3_get_autocommit(reg->db);
    sqlite3_stmt *st = NULL;
    /* A cohort reads pages all over the registry: mapped, they are read
     * without a system call each (a no-op where mmap is unavailable). */
    int rc = cdx_store_stmt_get(reg, STMT_COHORT_MMAP, "PRAGMA mmap_size = 1073741824", &st);
    if (rc == 0) {
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        cdx_store_stmt_put(st);
    }
    rc = own && rc == 0 ? cdx_store_stmt_get(reg, STMT_COHORT_BEGIN, "BEGIN", &st) : rc;
    if (rc == 0 && own) {
        rc = cdx_store_step_done(reg, st, "starting a cohort's read");
        cdx_store_stmt_put(st);
    }
    if (rc != 0)
        return rc;
    rc = eval_node(&e, def->root, NULL, &s);
    if (rc == 0)
        rc = research_exclude_opted_out(reg, &s);
    if (own && rc == 0)
        rc = cdx_store_tx_commit(reg);
    else if (own)
        cdx_store_tx_rollback(reg);
    pset_free(&e.universe);
    if (rc != 0) {
        pset_free(&s);
        return rc;
    }
    free(s.first);
    out->persons = s.v;
    out->n = s.n;
    out->skipped = e.skipped;
    return 0;
}

void cdx_cohort_eval_free(cdx_cohort_eval_t *e)
{
    if (e == NULL)
        return;
    free(e->persons);
    memset(e, 0, sizeof *e);
}
