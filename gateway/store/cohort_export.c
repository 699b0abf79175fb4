/* cohort_export: the reads of a research export (see
 * include/cdx/store/registry.h, cdx_registry_export_cohort).
 *
 * The cohort's persons as they were counted, less those who opted out of
 * research since; each person's facts person by person, over every
 * identity of the person, from current documents whose confidentiality
 * is neither R nor V: the same documents a cohort reads. */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <stdlib.h>
#include <string.h>

static const char SQL_COHORT[] =
    "SELECT id, institution_oid, definition_sha256, size FROM cohorts"
    " WHERE uid = ?1 AND (?2 IS NULL OR institution_oid = ?2)";
static const char SQL_PERSONS[] =
    "SELECT person_id FROM cohort_persons WHERE cohort_id = ?1 ORDER BY person_id";
/* The same fact in several documents (a problem list repeated in each
 * summary) leaves once.  A negated fact ("no known allergy", "not given")
 * does not leave: a reader of the export would take it as present. */
static const char SQL_FACTS[] =
    "SELECT DISTINCT f.kind, f.code_system, f.code,"
    " coalesce(f.time_low, f.time_high, d.service_start, d.creation_time) AS day,"
    " CASE WHEN f.time_low IS NOT NULL THEN f.time_high END, f.value_num, f.unit"
    " FROM (SELECT DISTINCT l.document_id AS id FROM patients p"
    "       JOIN document_patient_ids l ON l.root = p.root AND l.extension = p.extension"
    "       WHERE p.person_id = ?1) AS pd"
    " JOIN documents d ON d.id = pd.id JOIN facts f ON f.document_id = d.id"
    " WHERE d.status = 'current' AND coalesce(d.confidentiality, 'N') NOT IN ('R', 'V')"
    "   AND NOT EXISTS (SELECT 1 FROM fact_negations n WHERE n.fact_id = f.id)"
    " ORDER BY day, f.kind, f.code_system, f.code";

void cdx_export_cohort_free(cdx_export_cohort_t *c)
{
    if (c == NULL)
        return;
    free(c->persons);
    c->persons = NULL;
    c->n = 0;
}

static int read_persons(cdx_registry_t *reg, int64_t id, cdx_export_cohort_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_EXPORT_PERSONS, SQL_PERSONS, &st);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    int src = sqlite3_bind_int64(st, 1, id);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (cdx_grow(&c->persons, &cap, c->n + 1, sizeof *c->persons, 256) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        c->persons[c->n++] = sqlite3_column_int64(st, 0);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a cohort's persons");
    cdx_store_stmt_put(st);
    return rc;
}

/* Removes the persons in out[0..nout) (ascending) from c's persons. */
static void remove_opted_out(cdx_export_cohort_t *c, const int64_t *out, size_t nout)
{
    size_t k = 0, j = 0;
    for (size_t i = 0; i < c->n; i++) {
        while (j < nout && out[j] < c->persons[i])
            j++;
        if (j < nout && out[j] == c->persons[i]) {
            c->opted_out++;
            continue;
        }
        c->persons[k++] = c->persons[i];
    }
    c->n = k;
}

int cdx_registry_export_cohort(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                               cdx_export_cohort_t *out)
{
    memset(out, 0, sizeof *out);
    reg->errmsg[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_EXPORT_COHORT, SQL_COHORT, &st);
    if (rc != 0)
        return rc;
    int64_t id = 0;
    int src = cdx_store_bind_text(st, 1, uid);
    if (src == SQLITE_OK)
        src = institution_oid != NULL ? cdx_store_bind_text(st, 2, institution_oid)
                                      : sqlite3_bind_null(st, 2);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *owner = sqlite3_column_text(st, 1);
        const unsigned char *sha = sqlite3_column_text(st, 2);
        id = sqlite3_column_int64(st, 0);
        cdx_strlcpy(out->owner, owner != NULL ? (const char *)owner : "", sizeof out->owner);
        cdx_strlcpy(out->sha256, sha != NULL ? (const char *)sha : "", sizeof out->sha256);
        out->size = sqlite3_column_int64(st, 3);
    } else {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : cdx_store_fail(reg, src, "reading a cohort");
    }
    cdx_store_stmt_put(st);
    if (rc == 0)
        rc = read_persons(reg, id, out);
    int64_t *opted = NULL;
    size_t nopted = 0;
    if (rc == 0)
        rc = cdx_store_research_opted_out(reg, &opted, &nopted);
    if (rc == 0)
        remove_opted_out(out, opted, nopted);
    free(opted);
    if (rc != 0)
        cdx_export_cohort_free(out);
    return rc;
}

int cdx_registry_export_attrs(cdx_registry_t *reg, const int64_t *persons, size_t n,
                              int32_t *birth, char *sex)
{
    for (size_t i = 0; i < n; i++) {
        birth[i] = 0;
        sex[i] = 0;
    }
    return n > 0 ? cdx_store_cohort_attrs(reg, persons, n, birth, sex) : 0;
}

static const char *text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

int cdx_registry_export_facts(cdx_registry_t *reg, int64_t person,
                              int (*fn)(void *arg, const cdx_export_fact_row_t *f), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_EXPORT_FACTS, SQL_FACTS, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, person);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        cdx_export_fact_row_t f = {
            .kind = text(st, 0),
            .system = text(st, 1),
            .code = text(st, 2),
            .date = text(st, 3),
            .end = text(st, 4),
            .has_value = sqlite3_column_type(st, 5) != SQLITE_NULL,
            .value = sqlite3_column_double(st, 5),
            .unit = text(st, 6),
        };
        rc = fn(arg, &f);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a person's facts for an export");
    cdx_store_stmt_put(st);
    return rc;
}
