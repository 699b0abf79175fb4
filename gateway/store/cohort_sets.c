/* cohort_sets: the cohorts answered, their person sets, the differencing
 * and breakdown guards, the repeat of an earlier answer, and the
 * breakdown of a cohort (see include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/cohort.h"

#include <stdlib.h>
#include <string.h>

static const char SQL_INSTITUTIONS_OF[] =
    "SELECT DISTINCT i.oid FROM patients p"
    " JOIN document_patient_ids l ON l.root = p.root AND l.extension = p.extension"
    " JOIN documents d ON d.id = l.document_id"
    " JOIN institutions i ON i.id = d.submitter_id"
    " WHERE p.person_id = ?1 AND d.status = 'current'"
    " AND coalesce(d.confidentiality, 'N') NOT IN ('R', 'V')";

typedef struct cells {
    cdx_cohort_cell_t *v;
    size_t n, cap;
} cells_t;

static int count(cells_t *c, unsigned dim, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].dim == dim && strcmp(c->v[i].key, key) == 0) {
            c->v[i].count++;
            return 0;
        }
    if (cdx_grow(&c->v, &c->cap, c->n + 1, sizeof *c->v, 16) != 0)
        return CDX_ENOMEM;
    cdx_cohort_cell_t *cell = &c->v[c->n++];
    memset(cell, 0, sizeof *cell);
    cell->dim = dim;
    cdx_strlcpy(cell->key, key, sizeof cell->key);
    cell->count = 1;
    return 0;
}

size_t cdx_cohort_dims_order(unsigned dims, unsigned order[3])
{
    static const unsigned bit[4] = {0, CDX_COHORT_BY_SEX, CDX_COHORT_BY_AGE_BAND,
                                    CDX_COHORT_BY_INSTITUTION};
    size_t n = 0;
    for (unsigned o = dims >> CDX_COHORT_ORDER_SHIFT; n < 3 && (o & 3u) != 0; o >>= 2)
        order[n++] = bit[o & 3u];
    return n;
}

/* The institutions holding an eligible document of person (distinct). */
typedef struct insts {
    char (*oid)[136];
    size_t n, cap;
} insts_t;

static int institutions_of(cdx_registry_t *reg, int64_t person, insts_t *in)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_COHORT_INSTITUTIONS_OF, SQL_INSTITUTIONS_OF, &st);
    if (rc != 0)
        return rc;
    in->n = 0;
    int src = sqlite3_bind_int64(st, 1, person);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (cdx_grow(&in->oid, &in->cap, in->n + 1, sizeof *in->oid, 4) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        const unsigned char *oid = sqlite3_column_text(st, 0);
        cdx_strlcpy(in->oid[in->n++], oid != NULL ? (const char *)oid : "unknown",
                    sizeof in->oid[0]);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading the institutions of a cohort");
    cdx_store_stmt_put(st);
    return rc;
}

/* The cross cells of one person: the values of order[0..norder) joined,
 * once per institution when institution is among them. */
static int count_cross(cells_t *c, const unsigned *order, size_t norder, const char *sex,
                       const char *band, const insts_t *in)
{
    int rc = 0;
    size_t ninst = in->n ? in->n : 1;
    for (size_t k = 0; rc == 0 && k < ninst; k++) {
        char key[sizeof c->v[0].key];
        size_t len = 0;
        for (size_t j = 0; j < norder; j++) {
            const char *v = order[j] == CDX_COHORT_BY_SEX        ? sex
                            : order[j] == CDX_COHORT_BY_AGE_BAND ? band
                            : in->n                              ? in->oid[k]
                                                                 : "unknown";
            int w = snprintf(key + len, sizeof key - len, "%s%s", j ? "|" : "", v);
            if (w < 0 || (size_t)w >= sizeof key - len)
                return CDX_EINVAL;
            len += (size_t)w;
        }
        rc = count(c, CDX_COHORT_BY_CROSS, key);
    }
    return rc;
}

/* Long: one pass over the persons, each counted in every dimension asked
 * and in the cross-tabulation. */
int cdx_registry_cohort_breakdown(cdx_registry_t *reg, const int64_t *persons, size_t n,
                                  unsigned dims, int32_t today, cdx_cohort_cell_t **cells,
                                  size_t *ncells)
{
    reg->errmsg[0] = '\0';
    *cells = NULL;
    *ncells = 0;
    cells_t c = {0};
    insts_t in = {0};
    int32_t *birth = NULL;
    char *sex = NULL;
    unsigned order[3];
    size_t norder = cdx_cohort_dims_order(dims, order);
    if (norder < 2)
        norder = 0;
    int rc = 0;
    if (dims & (CDX_COHORT_BY_SEX | CDX_COHORT_BY_AGE_BAND)) {
        birth = calloc(n ? n : 1, sizeof *birth);
        sex = calloc(n ? n : 1, 1);
        rc = birth == NULL || sex == NULL ? CDX_ENOMEM
                                          : cdx_store_cohort_attrs(reg, persons, n, birth, sex);
    }
    int32_t at;
    cdx_store_civil_ymd(today, &at);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char s[2] = {sex != NULL ? sex[i] : 0, 0};
        const char *band = cdx_cohort_age_band(birth != NULL ? cdx_cohort_age(birth[i], at) : -1);
        if (dims & CDX_COHORT_BY_SEX)
            rc = count(&c, CDX_COHORT_BY_SEX, s[0] ? s : "unknown");
        if (rc == 0 && (dims & CDX_COHORT_BY_AGE_BAND))
            rc = count(&c, CDX_COHORT_BY_AGE_BAND, band);
        in.n = 0;
        if (rc == 0 && (dims & CDX_COHORT_BY_INSTITUTION))
            rc = institutions_of(reg, persons[i], &in);
        for (size_t k = 0; rc == 0 && k < in.n; k++)
            rc = count(&c, CDX_COHORT_BY_INSTITUTION, in.oid[k]);
        if (rc == 0 && norder > 0)
            rc = count_cross(&c, order, norder, s[0] ? s : "unknown", band, &in);
    }
    free(in.oid);
    free(birth);
    free(sex);
    if (rc != 0) {
        free(c.v);
        return rc;
    }
    *cells = c.v;
    *ncells = c.n;
    return 0;
}

/* The persons of stored cohort id, ascending, into *out. */
static int cohort_persons(cdx_registry_t *reg, int64_t id, int64_t **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_COHORT_PERSONS,
        "SELECT person_id FROM cohort_persons WHERE cohort_id = ?1 ORDER BY person_id", &st);
    if (rc != 0)
        return rc;
    int64_t *v = NULL;
    size_t k = 0, cap = 0;
    int src = sqlite3_bind_int64(st, 1, id);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (cdx_grow(&v, &cap, k + 1, sizeof *v, 256) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        v[k++] = sqlite3_column_int64(st, 0);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a cohort's persons");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* An earlier cohort of the institution that could be too close. */
typedef struct near {
    int64_t id;
    char uid[33];
    char breakdown[64];
} near_t;

/* The guards against an earlier cohort of c's institution: the smallest
 * refused difference (0 when none is too close), and the first cohort of
 * the same person set (difference 0, whatever its definition) answered
 * with a breakdown that c may not have (the breakdown guard,
 * cdx_cohort_breakdown_fixed: one set, one breakdown, so that no two
 * views of one table can be subtracted), and the first cohort of the same
 * person set and breakdown, whose answer c repeats (*repeat; its id 0
 * when none).  Only cohorts whose size is within the threshold of c's can be
 * any of these: a symmetric difference is at least the difference of the
 * sizes. */
static int earlier_guards(cdx_registry_t *reg, const cdx_cohort_put_t *c, cdx_cohort_refusal_t *why,
                          near_t *repeat)
{
    memset(repeat, 0, sizeof *repeat);
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_COHORT_NEAR,
                                "SELECT id, uid, breakdown FROM cohorts WHERE institution_oid = ?1"
                                " AND size > ?2 - ?3 AND size < ?2 + ?3 ORDER BY id",
                                &st);
    if (rc != 0)
        return rc;
    near_t *near = NULL;
    size_t nnear = 0, cap = 0;
    int src = cdx_store_bind_text(st, 1, c->institution_oid);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, (int64_t)c->n);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, c->threshold);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (cdx_grow(&near, &cap, nnear + 1, sizeof *near, 16) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        near_t *e = &near[nnear++];
        const unsigned char *uid = sqlite3_column_text(st, 1);
        const unsigned char *bd = sqlite3_column_text(st, 2);
        e->id = sqlite3_column_int64(st, 0);
        cdx_strlcpy(e->uid, uid != NULL ? (const char *)uid : "", sizeof e->uid);
        cdx_strlcpy(e->breakdown, bd != NULL ? (const char *)bd : "", sizeof e->breakdown);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading earlier cohorts");
    cdx_store_stmt_put(st);
    for (size_t i = 0; rc == 0 && i < nnear; i++) {
        int64_t *other = NULL;
        size_t n = 0;
        rc = cohort_persons(reg, near[i].id, &other, &n);
        if (rc != 0)
            break;
        int64_t d = cdx_cohort_symdiff(c->persons, c->n, other, n, c->threshold);
        free(other);
        if (cdx_cohort_too_close(d, c->threshold) && (why->difference == 0 || d < why->difference))
            why->difference = d;
        if (d == 0 && why->earlier_uid[0] == '\0' &&
            cdx_cohort_breakdown_fixed(near[i].breakdown, c->breakdown)) {
            cdx_strlcpy(why->earlier_uid, near[i].uid, sizeof why->earlier_uid);
            cdx_strlcpy(why->earlier_breakdown, near[i].breakdown, sizeof why->earlier_breakdown);
        }
        if (d == 0 && repeat->id == 0 && cdx_cohort_repeats(near[i].breakdown, c->breakdown))
            *repeat = near[i];
    }
    free(near);
    return rc;
}

static int insert_persons(cdx_registry_t *reg, int64_t id, const int64_t *persons, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_COHORT_PERSON_INSERT,
                                "INSERT INTO cohort_persons (cohort_id, person_id) VALUES (?1, ?2)",
                                &st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 2, persons[i]);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a cohort's persons")
                              : cdx_store_fail(reg, src, "storing a cohort's persons");
        cdx_store_stmt_put(st);
    }
    return rc;
}

int cdx_registry_cohort_put(cdx_registry_t *reg, const cdx_cohort_put_t *c,
                            cdx_cohort_refusal_t *why)
{
    reg->errmsg[0] = '\0';
    memset(why, 0, sizeof *why);
    near_t repeat;
    int rc = earlier_guards(reg, c, why, &repeat);
    if (rc != 0)
        return rc;
    if (why->difference != 0)
        return CDX_ECONFLICT;
    if (why->earlier_uid[0] != '\0')
        return CDX_ECONFLICT;
    cdx_strlcpy(why->repeats, repeat.uid, sizeof why->repeats);
    char ts[32];
    cdx_store_now(ts);
    sqlite3_stmt *st = NULL;
    /* A repeat keeps the earlier cohort's answer (?8, its row): only the
     * fields naming this cohort change, and "repeats" names that one. */
    rc = cdx_store_stmt_get(
        reg, STMT_COHORT_INSERT,
        "INSERT INTO cohorts (uid, institution_oid, definition_sha256, size, answer, created_at,"
        " breakdown) VALUES (?1, ?2, ?3, ?4, coalesce((SELECT json_set(e.answer, '$.id', ?1,"
        " '$.definition_sha256', ?3, '$.repeats', e.uid) FROM cohorts e WHERE e.id = ?8), ?5),"
        " ?6, ?7)",
        &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, c->uid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, c->institution_oid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, c->definition_sha256);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, (int64_t)c->n);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5, c->answer);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, ts);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 7, c->breakdown != NULL ? c->breakdown : "");
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 8, repeat.id);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a cohort")
                          : cdx_store_fail(reg, src, "storing a cohort");
    cdx_store_stmt_put(st);
    if (rc == 0)
        rc = insert_persons(reg, sqlite3_last_insert_rowid(reg->db), c->persons, c->n);
    return rc;
}

int cdx_registry_cohort_get(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                            char **answer)
{
    reg->errmsg[0] = '\0';
    *answer = NULL;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_COHORT_GET, "SELECT answer FROM cohorts WHERE uid = ?1 AND institution_oid = ?2",
        &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, uid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, institution_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text(st, 0);
        *answer = strdup(a != NULL ? (const char *)a : "{}");
        rc = *answer == NULL ? CDX_ENOMEM : 0;
    } else {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : cdx_store_fail(reg, src, "reading a cohort");
    }
    cdx_store_stmt_put(st);
    return rc;
}
