/* facts: the clinical facts of stored documents, one row per fact (see
 * include/cdx/store/registry.h; the rows come from include/cdx/domain/facts.h).
 *
 * A fact's columns hold what is searched and shown; the rest of the fact
 * (its data: section, location, translations, ...) is stored once per
 * document in fact_extras, all of the document's facts in one zstd frame
 * (a JSON array in the order of the facts' row ids), and each row's data
 * is ''.  Rows stored before keep their whole fact in data.  Readers put a
 * fact back together with cdx_fact_json. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* The fields no column holds go to the document's fact_extras. */
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(st, 12, "", 0, SQLITE_STATIC);
    return src;
}

/* The rows' data as one JSON array in *out (heap), *len bytes. */
static int extras_text(const cdx_fact_row_t *rows, size_t nrows, char **out, size_t *len)
{
    size_t cap = 2;
    for (size_t i = 0; i < nrows; i++)
        cap += (rows[i].data ? strlen(rows[i].data) : 2) + 1;
    char *text = malloc(cap + 1);
    if (text == NULL)
        return CDX_ENOMEM;
    size_t at = 0;
    text[at++] = '[';
    for (size_t i = 0; i < nrows; i++) {
        const char *d = rows[i].data ? rows[i].data : "{}";
        size_t n = strlen(d);
        if (i > 0)
            text[at++] = ',';
        memcpy(text + at, d, n);
        at += n;
    }
    text[at++] = ']';
    *out = text;
    *len = at;
    return 0;
}

int cdx_registry_pack_fact_extras(const cdx_fact_row_t *rows, size_t nrows, void **out,
                                  size_t *outlen)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = extras_text(rows, nrows, &text, &len);
    if (rc == 0)
        rc = cdx_registry_pack(text, len, out, outlen);
    free(text);
    return rc;
}

/* The document's fact_extras row: the rows' data as one JSON array,
 * packed (given: packed by the pipeline already). */
static int put_extras(cdx_registry_t *reg, int64_t doc_id, const cdx_fact_row_t *rows,
                      size_t nrows, const void *given, size_t given_len)
{
    void *packed = NULL;
    size_t plen = given_len;
    int rc = 0;
    if (given == NULL) {
        char *text = NULL;
        size_t len = 0;
        rc = extras_text(rows, nrows, &text, &len);
        if (rc == 0)
            rc = cdx_store_pack(reg, text, len, &packed, &plen);
        free(text);
        given = packed;
    }
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = cdx_store_stmt_get(reg, STMT_FACT_EXTRAS_PUT,
                                "INSERT OR REPLACE INTO fact_extras (document_id, data)"
                                " VALUES (?1, ?2)",
                                &st);
    if (rc == 0) {
        int src = sqlite3_bind_int64(st, 1, doc_id);
        if (src == SQLITE_OK)
            src = sqlite3_bind_blob64(st, 2, given, plen, SQLITE_STATIC);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing fact extras")
                              : cdx_store_fail(reg, src, "binding fact extras");
        cdx_store_stmt_put(st);
    }
    free(packed);
    return rc;
}

int cdx_store_fact_extras(cdx_registry_t *reg, int64_t doc_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_FACT_EXTRAS_GET,
                                "SELECT data FROM fact_extras WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    char *text = NULL;
    size_t len = 0;
    if (src == SQLITE_ROW) {
        char what[64];
        snprintf(what, sizeof what, "fact extras of document %lld", (long long)doc_id);
        rc = cdx_store_unpack(reg, sqlite3_column_blob(st, 0),
                              (size_t)sqlite3_column_bytes(st, 0), -1, what, &text, &len);
    } else if (src != SQLITE_DONE) {
        rc = cdx_store_fail(reg, src, "reading fact extras");
    }
    cdx_store_stmt_put(st);
    if (rc == 0 && text != NULL) {
        *out = json_loadb(text, len, 0, NULL);
        if (!json_is_array(*out)) {
            json_decref(*out);
            *out = NULL;
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "the stored fact extras of document %lld are corrupted (not a JSON array)",
                     (long long)doc_id);
            rc = CDX_EDB;
        }
    }
    free(text);
    return rc;
}

/* A negated fact stays a fact of its document but no cohort's (0013). */
static int put_negation(cdx_registry_t *reg, int64_t doc_id, int64_t fact_id)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_FACT_NEGATION_INSERT,
                                "INSERT INTO fact_negations (fact_id, document_id) VALUES (?1, ?2)",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, fact_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, doc_id);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a fact's negation")
                          : cdx_store_fail(reg, src, "binding a fact's negation");
    cdx_store_stmt_put(st);
    return rc;
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
        if (rc == 0 && rows[i].negated)
            rc = put_negation(reg, doc_id, sqlite3_last_insert_rowid(reg->db));
    }
    return rc;
}

/* Rows prepared by the pipeline on a worker thread (the writer only
 * binds), or else the extractor's JSON grouping read here (older callers,
 * tests). */
int cdx_store_facts_insert(cdx_registry_t *reg, int64_t doc_id, const char *facts_json,
                           const cdx_fact_row_t *rows, size_t nrows, const void *extras_packed,
                           size_t extras_packed_size)
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
    if (rc == 0 && rows != NULL && nrows > 0)
        rc = put_extras(reg, doc_id, rows, nrows, parsed == NULL ? extras_packed : NULL,
                        extras_packed_size);
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
    if (rc != 0)
        return rc;
    rc = cdx_store_stmt_get(reg, STMT_FACT_EXTRAS_DELETE,
                            "DELETE FROM fact_extras WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, doc_id);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "removing old fact extras")
                          : cdx_store_fail(reg, src, "removing old fact extras");
    cdx_store_stmt_put(st);
    return rc;
}
