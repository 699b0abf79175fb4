/* facts: the clinical facts of stored documents, one row per fact (see
 * include/cdx/store/registry.h; the rows come from include/cdx/domain/facts.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"

#include <jansson.h>

static int bind_fact(sqlite3_stmt *st, int64_t doc_id, const cdx_fact_row_t *f)
{
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, f->kind);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, f->code_system);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, f->code);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5, f->display);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, f->value);
    if (src == SQLITE_OK)
        src = f->has_number ? sqlite3_bind_double(st, 7, f->number) : sqlite3_bind_null(st, 7);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 8, f->unit);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 9, f->time_low);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 10, f->time_high);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 11, f->status);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 12, f->data ? f->data : "{}");
    return src;
}

static int insert_rows(cdx_registry_t *reg, int64_t doc_id, const cdx_fact_row_t *rows,
                       size_t nrows)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_FACT_INSERT,
        "INSERT INTO facts (document_id, kind, code_system, code, display, value,"
        " value_num, unit, time_low, time_high, status, data)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &st);
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        int src = bind_fact(st, doc_id, &rows[i]);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a fact")
                              : cdx_store_fail(reg, src, "binding a fact");
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* Rows prepared by the pipeline on a worker thread (the writer only
 * binds), or else the extractor's JSON grouping read here (older callers,
 * tests). */
int cdx_store_facts_insert(cdx_registry_t *reg, int64_t doc_id, const char *facts_json,
                           const cdx_fact_row_t *rows, size_t nrows)
{
    json_t *root = NULL;
    cdx_fact_row_t *parsed = NULL;
    int rc = 0;
    if (rows == NULL && facts_json != NULL) {
        json_error_t jerr;
        root = json_loads(facts_json, 0, &jerr);
        if (!json_is_object(root)) {
            json_decref(root);
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "facts: not a JSON object");
            return CDX_EINVAL;
        }
        rc = cdx_fact_rows_from_json(root, &parsed, &nrows);
        if (rc != 0)
            goto out;
        rows = parsed;
    }
    if (rows != NULL && nrows > 0)
        rc = insert_rows(reg, doc_id, rows, nrows);
out:
    cdx_fact_rows_free(parsed, nrows);
    json_decref(root);
    return rc;
}

int cdx_store_facts_delete(cdx_registry_t *reg, int64_t doc_id)
{
    sqlite3_stmt *st = NULL;
    int rc =
        cdx_store_stmt_get(reg, STMT_FACT_DELETE, "DELETE FROM facts WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "removing old facts")
                          : cdx_store_fail(reg, src, "removing old facts");
    cdx_store_stmt_put(st);
    return rc;
}
