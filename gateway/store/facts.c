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
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The facts of a document go in by statements of up to FACTS_PER_STMT
 * rows (a statement's start, end and journal cost as much as the row it
 * inserts): one statement per size in the cache, the rows taken by the
 * largest that fits.  A row is its id, its document and its columns; its
 * data is '' (the fields no column holds go to the document's
 * fact_extras). */
#define FACT_ROW "(?,?,?,?,?,?,?,?,?,?,?,?,'')"
#define FACT_PARAMS 12
#define FACT_ROWS_4 FACT_ROW "," FACT_ROW "," FACT_ROW "," FACT_ROW
#define FACT_ROWS_16 FACT_ROWS_4 "," FACT_ROWS_4 "," FACT_ROWS_4 "," FACT_ROWS_4
#define FACT_ROWS_64 FACT_ROWS_16 "," FACT_ROWS_16 "," FACT_ROWS_16 "," FACT_ROWS_16
#define FACTS_INSERT                                                                               \
    "INSERT INTO facts (id, document_id, kind, code_system, code, display, value, value_num,"     \
    " unit, time_low, time_high, status, data) VALUES "
#define FACTS_PER_STMT 64
static const char SQL_FACTS_1[] = FACTS_INSERT FACT_ROW;
static const char SQL_FACTS_4[] = FACTS_INSERT FACT_ROWS_4;
static const char SQL_FACTS_16[] = FACTS_INSERT FACT_ROWS_16;
static const char SQL_FACTS_64[] = FACTS_INSERT FACT_ROWS_64;

/* The largest statement for at most n (>= 1) rows: its id, text and rows. */
static size_t facts_stmt(size_t n, stmt_id_t *id, const char **sql)
{
    if (n >= FACTS_PER_STMT) {
        *id = STMT_FACT_INSERT_64;
        *sql = SQL_FACTS_64;
        return FACTS_PER_STMT;
    }
    if (n >= 16) {
        *id = STMT_FACT_INSERT_16;
        *sql = SQL_FACTS_16;
        return 16;
    }
    if (n >= 4) {
        *id = STMT_FACT_INSERT_4;
        *sql = SQL_FACTS_4;
        return 4;
    }
    *id = STMT_FACT_INSERT;
    *sql = SQL_FACTS_1;
    return 1;
}

/* Binds text s of len bytes (0: not known, SQLite measures it). */
static int bind_text_len(sqlite3_stmt *st, int idx, const char *s, uint32_t len)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, len > 0 && len <= INT_MAX ? (int)len : -1,
                             SQLITE_STATIC);
}

/* Binds fact f, row id fact_id, to the parameters after at. */
static int bind_fact(sqlite3_stmt *st, int at, int64_t fact_id, int64_t doc_id,
                     const cdx_fact_row_t *f)
{
    const char *texts[8] = {f->code_system, f->code,     f->display,   f->value,
                            f->unit,        f->time_low, f->time_high, f->status};
    int src = sqlite3_bind_int64(st, at + 1, fact_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, at + 2, doc_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, at + 3, f->kind);
    for (int i = 0; src == SQLITE_OK && i < 4; i++)
        src = bind_text_len(st, at + 4 + i, texts[i], f->text_len[i]);
    if (src == SQLITE_OK)
        src = f->has_number ? sqlite3_bind_double(st, at + 8, f->number)
                            : sqlite3_bind_null(st, at + 8);
    for (int i = 4; src == SQLITE_OK && i < 8; i++)
        src = bind_text_len(st, at + 5 + i, texts[i], f->text_len[i]);
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

/* The rows get the ids after the largest one stored, in their order (the
 * order of the fact extras), so that a negated row's id is known. */
static int insert_rows(cdx_registry_t *reg, int64_t doc_id, const cdx_fact_row_t *rows,
                       size_t nrows)
{
    int64_t last = 0;
    int rc = cdx_store_query_int64_cached(reg, STMT_FACT_LAST_ID,
                                          "SELECT coalesce(max(id), 0) FROM facts", &last);
    for (size_t i = 0; rc == 0 && i < nrows;) {
        stmt_id_t id;
        const char *sql;
        size_t n = facts_stmt(nrows - i, &id, &sql);
        sqlite3_stmt *st = NULL;
        rc = cdx_store_stmt_get(reg, id, sql, &st);
        int src = SQLITE_OK;
        for (size_t k = 0; rc == 0 && src == SQLITE_OK && k < n; k++)
            src = bind_fact(st, (int)k * FACT_PARAMS, last + 1 + (int64_t)(i + k), doc_id,
                            &rows[i + k]);
        if (rc == 0)
            rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing facts")
                                  : cdx_store_fail(reg, src, "binding a fact");
        cdx_store_stmt_put(st);
        i += n;
    }
    for (size_t i = 0; rc == 0 && i < nrows; i++)
        if (rows[i].negated)
            rc = put_negation(reg, doc_id, last + 1 + (int64_t)i);
    return rc;
}

/* The document's rows of the cohort index: the facts just inserted (with
 * their negations) as cohort_facts_source gives them, in one statement.
 * This is the only place a new fact enters cohort_facts (schema 0014
 * dropped the per-fact trigger of 0013): every writer of facts comes
 * through cdx_store_facts_insert, so the index equals its view after
 * every write transaction.  The view's person is a subquery on the
 * document that it runs once per fact; here it is run once, first, by
 * the same text with the document given, and every other column comes
 * from the view (which leaves its person out unread).  A document
 * without a person gives no row, as the view's rows without one fail
 * NOT NULL and are ignored. */
static int index_facts(cdx_registry_t *reg, int64_t doc_id)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_FACT_COHORT_INDEX,
        "INSERT OR IGNORE INTO cohort_facts"
        " SELECT s.kind, s.code_system, s.code, who.person_id, s.fact_id, s.document_id,"
        " s.day, s.value_num, s.unit"
        " FROM (SELECT p.person_id AS person_id FROM document_patient_ids l JOIN patients p"
        " ON p.root = l.root AND p.extension = l.extension"
        " WHERE l.document_id = ?1 ORDER BY p.person_id LIMIT 1) AS who"
        " CROSS JOIN cohort_facts_source s WHERE s.document_id = ?1",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "indexing facts for cohorts")
                          : cdx_store_fail(reg, src, "indexing facts for cohorts");
    cdx_store_stmt_put(st);
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
        rc = index_facts(reg, doc_id);
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
