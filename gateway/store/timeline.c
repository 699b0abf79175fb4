/* timeline: the facts of one person's current documents (see
 * include/cdx/store/registry.h, cdx_registry_person_facts).
 *
 * One statement, every step of it on an index: the person's identities
 * (patients_by_person), the documents carrying each
 * (document_patient_ids_by_id), each document once, current ones only
 * (the documents key), their submitter (the institutions key) and facts
 * (facts_by_document). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"

#include <stdlib.h>
#include <string.h>

static const char PERSON_FACTS_SQL[] =
    "SELECT f.id, d.uid, i.oid, i.name, f.kind, f.code_system, f.code, f.display, f.value,"
    " f.value_num, f.unit, f.time_low, f.time_high, f.status, f.data"
    " FROM (SELECT DISTINCT l.document_id AS id FROM patients p"
    "       JOIN document_patient_ids l ON l.root = p.root AND l.extension = p.extension"
    "       WHERE p.person_id = ?1) AS pd"
    " JOIN documents d ON d.id = pd.id AND d.status = 'current'"
    " JOIN institutions i ON i.id = d.submitter_id"
    " JOIN facts f ON f.document_id = d.id"
    " ORDER BY f.id";

static char *col_dup(sqlite3_stmt *st, int col, int *err)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    if (s == NULL)
        return NULL;
    char *r = strdup((const char *)s);
    if (r == NULL)
        *err = CDX_ENOMEM;
    return r;
}

static void read_row(sqlite3_stmt *st, cdx_tl_fact_t *f, int *err)
{
    memset(f, 0, sizeof *f);
    f->id = sqlite3_column_int64(st, 0);
    const unsigned char *uid = sqlite3_column_text(st, 1);
    cdx_strlcpy(f->doc_uid, uid != NULL ? (const char *)uid : "", sizeof f->doc_uid);
    f->institution_oid = col_dup(st, 2, err);
    f->institution_name = col_dup(st, 3, err);
    f->kind = col_dup(st, 4, err);
    f->code_system = col_dup(st, 5, err);
    f->code = col_dup(st, 6, err);
    f->display = col_dup(st, 7, err);
    f->value = col_dup(st, 8, err);
    f->has_number = sqlite3_column_type(st, 9) != SQLITE_NULL;
    f->number = f->has_number ? sqlite3_column_double(st, 9) : 0;
    f->unit = col_dup(st, 10, err);
    f->time_low = col_dup(st, 11, err);
    f->time_high = col_dup(st, 12, err);
    f->status = col_dup(st, 13, err);
    /* The row keeps only what no column holds: the whole fact again. */
    cdx_fact_row_t cols = {.kind = f->kind, .code_system = f->code_system, .code = f->code,
                           .display = f->display, .value = f->value,
                           .has_number = f->has_number, .number = f->number, .unit = f->unit,
                           .time_low = f->time_low, .time_high = f->time_high,
                           .status = f->status,
                           .data = (const char *)sqlite3_column_text(st, 14)};
    f->data = cdx_fact_json(&cols);
    if (f->data == NULL)
        *err = CDX_ENOMEM;
}

int cdx_registry_person_facts(cdx_registry_t *reg, int64_t person_id, cdx_tl_fact_t **out,
                              size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_PERSON_FACTS, PERSON_FACTS_SQL, &st);
    if (rc != 0)
        return rc;
    cdx_tl_fact_t *rows = NULL;
    size_t count = 0, cap = 0;
    int src = sqlite3_bind_int64(st, 1, person_id);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            cdx_tl_fact_t *grown = realloc(rows, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = CDX_ENOMEM;
                break;
            }
            rows = grown;
            cap = ncap;
        }
        read_row(st, &rows[count++], &rc);
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a person's facts");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        cdx_tl_facts_free(rows, count);
        return rc;
    }
    *out = rows;
    *n = count;
    return 0;
}
