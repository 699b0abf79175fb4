/* query: the documents of a person, filtered and paged (FindDocuments),
 * and the UTC keys the query sorts and filters on (see
 * include/cdx/store/registry.h, "Document query").
 *
 * A document's creation and service times are stored as written (ISO 8601
 * with the document's own offset); creation_key, service_start_key and
 * service_stop_key hold them as "YYYYMMDDHHMMSS" in UTC
 * (cdx/parsers/time_key.h), filled when the document is stored, and by
 * schema step 5 for the documents stored before it through the SQL
 * function cdx_ts_utc_key defined here on every connection.  The class
 * (cdx/domain/doc_class.h) is stored with the keys, and schema step 11
 * fills it for the documents stored before through cdx_doc_class. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/doc_class.h"
#include "cdx/parsers/time_key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cdx_ts_utc_key(text): the key, or NULL for NULL or an unreadable time. */
static void sql_utc_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *s = sqlite3_value_text(argv[0]);
    char key[CDX_TS_KEY_LEN];
    if (s == NULL || cdx_ts_utc_key((const char *)s, key) != 0) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_text(ctx, key, -1, SQLITE_TRANSIENT);
}

/* cdx_doc_class(type_system, type_code): the class, or NULL. */
static void sql_doc_class(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *c = cdx_doc_class_of((const char *)sqlite3_value_text(argv[0]),
                                     (const char *)sqlite3_value_text(argv[1]));
    if (c == NULL)
        sqlite3_result_null(ctx);
    else
        sqlite3_result_text(ctx, c, -1, SQLITE_STATIC);
}

int cdx_store_query_functions(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    const char *name = "cdx_ts_utc_key";
    int src =
        sqlite3_create_function_v2(reg->db, name, 1, flags, NULL, sql_utc_key, NULL, NULL, NULL);
    if (src == SQLITE_OK) {
        name = "cdx_doc_class";
        src = sqlite3_create_function_v2(reg->db, name, 2, flags, NULL, sql_doc_class, NULL, NULL,
                                         NULL);
    }
    if (src == SQLITE_OK)
        return 0;
    cdx_errf(err, errlen, "%s: cannot define %s: %s", path, name, sqlite3_errstr(src));
    return cdx_store_map_sqlite(src);
}

/* Binds the key of time s (NULL when s is NULL or unreadable). */
static int bind_key(sqlite3_stmt *st, int idx, const char *s, const char *def)
{
    char key[CDX_TS_KEY_LEN];
    if (s != NULL && cdx_ts_utc_key(s, key) == 0)
        return sqlite3_bind_text(st, idx, key, -1, SQLITE_TRANSIENT);
    return cdx_store_bind_text(st, idx, def);
}

int cdx_store_document_keys(cdx_registry_t *reg, int64_t doc_id, const cdx_doc_record_t *rec)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_KEYS,
                                "INSERT OR REPLACE INTO document_keys (document_id, creation_key,"
                                " service_start_key, service_stop_key, class_code)"
                                " VALUES (?1, ?2, ?3, ?4, ?5)",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = bind_key(st, 2, rec->creation_time, "");
    if (src == SQLITE_OK)
        src = bind_key(st, 3, rec->service_start, NULL);
    if (src == SQLITE_OK)
        src = bind_key(st, 4, rec->service_stop, NULL);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5,
                                  rec->class_code != NULL
                                      ? rec->class_code
                                      : cdx_doc_class_of(rec->type_system, rec->type_code));
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a document's keys")
                          : cdx_store_fail(reg, src, "binding a document's keys");
    cdx_store_stmt_put(st);
    return rc;
}

/* ---- The query --------------------------------------------------------- */

/* The parameters: ?1 and ?29 the identity's root and extension (its
 * person is found inside the statement, so that the whole answer is one
 * read snapshot even while a link moves identities), ?2 status, ?3 whether types filter, ?4 class,
 * ?5 from, ?6 to, ?7 service_from, ?8 service_to, ?9 institution, ?10 and
 * ?11 the keyset position, ?12 the limit, ?13.. the types. */
#define TYPE_PARAM0 13
#define SQL_FIND                                                                                   \
    "SELECT " CDX_STORE_DOC_COLUMNS ", k.creation_key,"                                            \
    " coalesce(d.custodian_oid, d.author_oid, i.oid), k.class_code"                                \
    " FROM documents AS d JOIN document_keys AS k ON k.document_id = d.id"                         \
    " JOIN institutions AS i ON i.id = d.submitter_id"                                             \
    " WHERE d.id IN (SELECT dp.document_id FROM patients AS p"                                     \
    "  JOIN document_patient_ids AS dp ON dp.root = p.root AND dp.extension = p.extension"         \
    "  WHERE p.person_id = (SELECT person_id FROM patients WHERE root = ?1 AND extension = ?29))"  \
    " AND (?2 IS NULL OR d.status = ?2)"                                                           \
    " AND (?3 = 0 OR d.type_code IN (?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23,"       \
    "  ?24, ?25, ?26, ?27, ?28))"                                                                  \
    " AND (?4 IS NULL OR k.class_code = ?4)"                                                       \
    " AND (?5 IS NULL OR k.creation_key >= ?5)"                                                    \
    " AND (?6 IS NULL OR k.creation_key < ?6)"                                                     \
    " AND (?7 IS NULL OR coalesce(k.service_stop_key, k.service_start_key) >= ?7)"                 \
    " AND (?8 IS NULL OR k.service_start_key < ?8)"                                                \
    " AND (?9 IS NULL OR d.custodian_oid = ?9 OR d.author_oid = ?9)"                               \
    " AND (?10 IS NULL OR k.creation_key < ?10 OR (k.creation_key = ?10 AND d.id < ?11))"          \
    " ORDER BY k.creation_key DESC, d.id DESC LIMIT ?12"

static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static int bind_query(sqlite3_stmt *st, const cdx_doc_query_t *q)
{
    static const char *const statuses[] = {"current", "superseded", NULL};
    int src = cdx_store_bind_text(st, 1, q->root);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 29, q->ext);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, statuses[q->status]);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 3, q->ntypes > 0);
    const char *texts[] = {nonempty(q->class_code),
                           nonempty(q->from),
                           nonempty(q->to),
                           nonempty(q->service_from),
                           nonempty(q->service_to),
                           nonempty(q->institution),
                           q->after_key};
    for (int i = 0; src == SQLITE_OK && i < (int)CDX_ARRAY_SIZE(texts); i++)
        src = cdx_store_bind_text(st, 4 + i, texts[i]);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 11, q->after_id);
    /* One more than asked: whether more remain. */
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 12, (int64_t)q->limit + 1);
    for (size_t i = 0; src == SQLITE_OK && i < q->ntypes; i++)
        src = cdx_store_bind_text(st, TYPE_PARAM0 + (int)i, q->types[i]);
    return src;
}

static void hit_cleanup(cdx_doc_hit_t *h)
{
    cdx_doc_row_cleanup(&h->row);
    free(h->institution);
    h->institution = NULL;
}

/* The document row, then the hit's own columns after it. */
static int read_hit(sqlite3_stmt *st, cdx_doc_hit_t *h)
{
    memset(h, 0, sizeof *h);
    int rc = cdx_store_doc_row_read(st, &h->row);
    if (rc != 0)
        return rc;
    const int col = CDX_STORE_DOC_NCOLUMNS;
    const char *key = (const char *)sqlite3_column_text(st, col);
    cdx_strlcpy(h->creation_key, key ? key : "", sizeof h->creation_key);
    h->institution = cdx_store_column_dup(st, col + 1);
    const char *cls = (const char *)sqlite3_column_text(st, col + 2);
    cdx_strlcpy(h->class_code, cls ? cls : "", sizeof h->class_code);
    if (h->institution == NULL) {
        hit_cleanup(h);
        return CDX_ENOMEM;
    }
    return 0;
}

static int query_valid(const cdx_doc_query_t *q)
{
    if (q == NULL || q->root == NULL || q->ext == NULL || q->limit < 1 ||
        q->limit > CDX_QUERY_MAX_LIMIT || q->ntypes > CDX_QUERY_MAX_TYPES ||
        (unsigned)q->status > CDX_QUERY_ALL)
        return 0;
    for (size_t i = 0; i < q->ntypes; i++)
        if (q->types[i] == NULL)
            return 0;
    return 1;
}

int cdx_registry_find_documents(cdx_registry_t *reg, const cdx_doc_query_t *q, cdx_doc_page_t *out)
{
    memset(out, 0, sizeof *out);
    reg->errmsg[0] = '\0';
    if (!query_valid(q))
        return CDX_EINVAL;
    out->hits = calloc(q->limit + 1, sizeof *out->hits);
    if (out->hits == NULL)
        return CDX_ENOMEM;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_QUERY_DOCS, SQL_FIND, &st);
    if (rc != 0)
        goto out;
    int src = bind_query(st, q);
    if (src != SQLITE_OK) {
        rc = cdx_store_fail(reg, src, "binding a document query");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == q->limit) {
            out->more = 1;
            break;
        }
        rc = read_hit(st, &out->hits[out->n]);
        if (rc != 0)
            goto out;
        out->n++;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "querying documents");
    cdx_store_stmt_put(st);
    st = NULL;
    /* No row: a person with none that match, or an identity the index
     * lacks. */
    out->person_found = out->n > 0;
    if (rc == 0 && out->n == 0) {
        int64_t person = 0;
        rc = cdx_registry_person_of(reg, q->root, q->ext, &person);
        out->person_found = rc == 0;
        if (rc == CDX_ENOTFOUND)
            rc = 0;
    }
out:
    cdx_store_stmt_put(st);
    if (rc != 0)
        cdx_doc_page_cleanup(out);
    return rc;
}

void cdx_doc_page_cleanup(cdx_doc_page_t *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->n; i++)
        hit_cleanup(&page->hits[i]);
    free(page->hits);
    memset(page, 0, sizeof *page);
}
