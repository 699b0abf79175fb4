/* persons: the persons of the patient index as GET /v1/patients shows
 * them (see include/cdx/store/registry.h, "Persons"): found by one of
 * their identities or by demographic match keys, with every identity and
 * the demographics summaries those identities carry. */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <stdlib.h>
#include <string.h>

/* At most this many identities and summaries of one person are shown. */
#define PERSON_MAX_IDS 64

void cdx_person_rows_free(cdx_person_row_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        for (size_t j = 0; j < rows[i].nsummaries; j++)
            free(rows[i].summaries[j]);
        free(rows[i].summaries);
        free(rows[i].ids);
    }
    free(rows);
}

/* Fills row with the identities of person, newest first. */
static int person_load(cdx_registry_t *reg, int64_t person, cdx_person_row_t *row)
{
    sqlite3_stmt *st = NULL;
    memset(row, 0, sizeof *row);
    row->id = person;
    row->ids = calloc(PERSON_MAX_IDS, sizeof *row->ids);
    row->summaries = calloc(PERSON_MAX_IDS, sizeof *row->summaries);
    if (row->ids == NULL || row->summaries == NULL)
        return CDX_ENOMEM;
    int rc = cdx_store_stmt_get(reg, STMT_PERSONS_IDENTITIES,
                                "SELECT root, extension, national, institution_oid, summary"
                                " FROM patients WHERE person_id = ?1"
                                " ORDER BY updated_at DESC, id DESC LIMIT ?2",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, person);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 2, PERSON_MAX_IDS);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (row->nids >= PERSON_MAX_IDS)
            break;
        cdx_store_identity_read(st, 0, &row->ids[row->nids++]);
        const unsigned char *summary = sqlite3_column_text(st, 4);
        if (summary == NULL || summary[0] == '\0')
            continue;
        if ((row->summaries[row->nsummaries] = strdup((const char *)summary)) == NULL) {
            rc = CDX_ENOMEM;
            break;
        }
        row->nsummaries++;
    }
    if (rc == 0 && src != SQLITE_OK && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a person");
    cdx_store_stmt_put(st);
    return rc;
}

/* Loads the persons of ids[0..n) into a heap array. */
static int persons_load(cdx_registry_t *reg, const int64_t *ids, size_t n,
                        cdx_person_row_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    cdx_person_row_t *rows = calloc(n, sizeof *rows);
    if (rows == NULL)
        return CDX_ENOMEM;
    int rc = 0;
    size_t i = 0;
    for (; rc == 0 && i < n; i++)
        rc = person_load(reg, ids[i], &rows[i]);
    if (rc != 0) {
        cdx_person_rows_free(rows, i);
        return rc;
    }
    *out = rows;
    *nout = n;
    return 0;
}

int cdx_registry_persons_by_identity(cdx_registry_t *reg, const char *root, const char *ext,
                                     cdx_person_row_t **out, size_t *n)
{
    reg->errmsg[0] = '\0';
    int64_t person = 0;
    *out = NULL;
    *n = 0;
    int rc = cdx_registry_person_of(reg, root, ext, &person);
    if (rc == CDX_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    return persons_load(reg, &person, 1, out, n);
}

int cdx_registry_persons_by_demographics(cdx_registry_t *reg, const char *block_key,
                                         const char *family, const char *given,
                                         const char *birth, const char *sex, size_t limit,
                                         cdx_person_row_t **out, size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    if (limit == 0)
        return 0;
    int64_t *ids = calloc(limit, sizeof *ids);
    if (ids == NULL)
        return CDX_ENOMEM;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_PERSONS_BY_DEMOG,
        "SELECT DISTINCT p.person_id FROM patient_blocks AS k JOIN patients AS p"
        " ON p.id = k.patient_id WHERE k.key = ?1 AND p.family = ?2 AND p.birth = ?3"
        " AND (?4 = '' OR p.given = ?4) AND (?5 = '' OR p.sex = ?5)"
        " ORDER BY p.person_id LIMIT ?6",
        &st);
    size_t count = 0;
    if (rc == 0) {
        int src = cdx_store_bind_text(st, 1, block_key);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, family);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 3, birth);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 4, given != NULL ? given : "");
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 5, sex != NULL ? sex : "");
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 6, (sqlite3_int64)limit);
        while (src == SQLITE_OK && count < limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
            ids[count++] = sqlite3_column_int64(st, 0);
            src = SQLITE_OK;
        }
        if (src != SQLITE_OK && src != SQLITE_DONE)
            rc = cdx_store_fail(reg, src, "finding persons");
        cdx_store_stmt_put(st);
    }
    if (rc == 0)
        rc = persons_load(reg, ids, count, out, n);
    free(ids);
    return rc;
}
