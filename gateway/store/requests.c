/* requests: record requests and subscriptions (see "Record requests and
 * subscriptions" in include/cdx/store/registry.h). */
#include "cdx/store/outbox.h"
#include "cdx/store/registry.h"
#include "store_internal.h"

#include "cdx/base/common.h"

#include <stdlib.h>
#include <string.h>

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    cdx_strlcpy(out, v ? v : "", n);
}

/* Binds texts[0..n) to ?1..?n. */
static int bind_texts(sqlite3_stmt *st, const char *const *texts, int n)
{
    int src = SQLITE_OK;
    for (int i = 0; i < n && src == SQLITE_OK; i++)
        src = cdx_store_bind_text(st, i + 1, texts[i]);
    return src;
}

/* ---- record requests ----------------------------------------------------- */

typedef struct put_args {
    const cdx_record_request_t *r;
    const char (*docs)[33];
    size_t ndocs;
    int64_t now_ms;
    const cdx_audit_event_t *audit;
    size_t created;
} put_args_t;

static int add_document(cdx_registry_t *reg, int64_t request_id, const put_args_t *a, size_t i,
                        size_t *created)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_REQUEST_DOC_INSERT,
                                "INSERT OR IGNORE INTO record_request_documents"
                                " (request_id, document_uid) VALUES (?1, ?2)",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, request_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, a->docs[i]);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "adding a requested document")
                          : cdx_store_fail(reg, src, "adding a requested document");
    cdx_store_stmt_put(st);
    int made = 0;
    if (rc == 0)
        rc = cdx_outbox_add(reg, a->docs[i], a->r->institution_oid, "request", a->r->uid,
                            a->r->purpose, a->now_ms, &made);
    *created += made != 0;
    return rc;
}

static int request_put_tx(cdx_registry_t *reg, void *arg)
{
    put_args_t *a = arg;
    const cdx_record_request_t *r = a->r;
    char ts[32];
    cdx_store_now(ts);
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_REQUEST_INSERT,
        "INSERT INTO record_requests (uid, institution_oid, patient_root, patient_ext,"
        " patient_key, types, from_key, to_key, purpose, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &st);
    if (rc != 0)
        return rc;
    const char *vals[] = {r->uid,   r->institution_oid, r->patient_root, r->patient_ext,
                          r->patient_key, r->types, r->from_key, r->to_key,
                          r->purpose, ts};
    int src = bind_texts(st, vals, (int)CDX_ARRAY_SIZE(vals));
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a record request")
                          : cdx_store_fail(reg, src, "storing a record request");
    cdx_store_stmt_put(st);
    int64_t id = sqlite3_last_insert_rowid(reg->db);
    a->created = 0;
    for (size_t i = 0; i < a->ndocs && rc == 0; i++)
        rc = add_document(reg, id, a, i, &a->created);
    return rc != 0 ? rc : cdx_store_audit_append(reg, a->audit);
}

int cdx_registry_request_put(cdx_registry_t *reg, const cdx_record_request_t *r,
                             const char (*docs)[33], size_t ndocs, int64_t now_ms,
                             const cdx_audit_event_t *audit, size_t *created)
{
    reg->errmsg[0] = '\0';
    if (r == NULL || audit == NULL || (ndocs > 0 && docs == NULL) || r->uid[0] == '\0' ||
        r->institution_oid[0] == '\0')
        return CDX_EINVAL;
    put_args_t a = {r, docs, ndocs, now_ms, audit, 0};
    int rc = cdx_store_in_transaction(reg, request_put_tx, &a);
    if (created != NULL)
        *created = rc == 0 ? a.created : 0;
    return rc;
}

/* The documents of request id with their deliveries to oid. */
static int request_docs(cdx_registry_t *reg, int64_t id, const char *oid, cdx_request_doc_t **docs,
                        size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_REQUEST_DOCS,
        "SELECT r.document_uid, coalesce(d.state, ''), coalesce(d.reason, ''),"
        " coalesce(d.attempts, 0), coalesce(d.updated_at, ''), coalesce(d.last_error, '')"
        " FROM record_request_documents r LEFT JOIN deliveries d"
        " ON d.document_uid = r.document_uid AND d.destination = ?2"
        " WHERE r.request_id = ?1 ORDER BY r.document_uid",
        &st);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, oid);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cdx_grow(docs, &cap, *n + 1, sizeof **docs, 16) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        cdx_request_doc_t *d = &(*docs)[(*n)++];
        memset(d, 0, sizeof *d);
        copy_col(st, 0, d->document_uid, sizeof d->document_uid);
        copy_col(st, 1, d->state, sizeof d->state);
        copy_col(st, 2, d->reason, sizeof d->reason);
        d->attempts = sqlite3_column_int(st, 3);
        copy_col(st, 4, d->updated_at, sizeof d->updated_at);
        copy_col(st, 5, d->last_error, sizeof d->last_error);
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a request's documents");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_request_get(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                             cdx_record_request_t *out, cdx_request_doc_t **docs, size_t *n)
{
    reg->errmsg[0] = '\0';
    memset(out, 0, sizeof *out);
    *docs = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    /* The owner is part of the key: another institution's request is not found. */
    int rc = cdx_store_stmt_get(
        reg, STMT_REQUEST_GET,
        "SELECT id, uid, institution_oid, patient_root, patient_ext, patient_key, types,"
        " from_key, to_key, purpose, created_at FROM record_requests"
        " WHERE uid = ?1 AND institution_oid = ?2",
        &st);
    if (rc != 0)
        return rc;
    const char *vals[] = {uid, institution_oid};
    int src = bind_texts(st, vals, 2);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    int64_t id = 0;
    if (src == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        copy_col(st, 1, out->uid, sizeof out->uid);
        copy_col(st, 2, out->institution_oid, sizeof out->institution_oid);
        copy_col(st, 3, out->patient_root, sizeof out->patient_root);
        copy_col(st, 4, out->patient_ext, sizeof out->patient_ext);
        copy_col(st, 5, out->patient_key, sizeof out->patient_key);
        copy_col(st, 6, out->types, sizeof out->types);
        copy_col(st, 7, out->from_key, sizeof out->from_key);
        copy_col(st, 8, out->to_key, sizeof out->to_key);
        copy_col(st, 9, out->purpose, sizeof out->purpose);
        copy_col(st, 10, out->created_at, sizeof out->created_at);
    } else {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : cdx_store_fail(reg, src, "reading a request");
    }
    cdx_store_stmt_put(st);
    if (rc == 0)
        rc = request_docs(reg, id, institution_oid, docs, n);
    if (rc != 0) {
        free(*docs);
        *docs = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- subscriptions ------------------------------------------------------- */

typedef struct sub_put {
    const cdx_subscription_t *s;
    int64_t max;
    const cdx_audit_event_t *audit;
} sub_put_t;

static int sub_put_tx(cdx_registry_t *reg, void *arg)
{
    sub_put_t *a = arg;
    sqlite3_stmt *st = NULL;
    int64_t count = 0;
    int rc = cdx_store_stmt_get(reg, STMT_SUB_COUNT,
                                "SELECT count(*) FROM subscriptions WHERE institution_oid = ?1",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, a->s->institution_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        count = sqlite3_column_int64(st, 0);
    else
        rc = cdx_store_fail(reg, src, "counting subscriptions");
    cdx_store_stmt_put(st);
    if (rc != 0)
        return rc;
    if (count >= a->max)
        return CDX_ERANGE;
    char ts[32];
    cdx_store_now(ts);
    const cdx_subscription_t *s = a->s;
    const char *vals[] = {s->uid,         s->institution_oid, s->patient_root, s->patient_ext,
                          s->patient_key, s->types,           s->purpose,      ts};
    rc = cdx_store_exec_texts(reg, STMT_SUB_INSERT,
                              "INSERT INTO subscriptions (uid, institution_oid, patient_root,"
                              " patient_ext, patient_key, types, purpose, created_at)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                              "storing a subscription", vals, (int)CDX_ARRAY_SIZE(vals));
    return rc != 0 ? rc : cdx_store_audit_append(reg, a->audit);
}

int cdx_registry_subscription_put(cdx_registry_t *reg, const cdx_subscription_t *s, int64_t max,
                                  const cdx_audit_event_t *audit)
{
    reg->errmsg[0] = '\0';
    if (s == NULL || audit == NULL || s->uid[0] == '\0' || s->institution_oid[0] == '\0')
        return CDX_EINVAL;
    sub_put_t a = {s, max, audit};
    return cdx_store_in_transaction(reg, sub_put_tx, &a);
}

typedef struct sub_del {
    const char *uid, *oid;
    const cdx_audit_event_t *audit;
} sub_del_t;

static int sub_delete_tx(cdx_registry_t *reg, void *arg)
{
    sub_del_t *a = arg;
    const char *vals[] = {a->uid, a->oid};
    /* The owner is part of the key: another institution's is not found. */
    int rc = cdx_store_exec_texts(reg, STMT_SUB_DELETE,
                                  "DELETE FROM subscriptions WHERE uid = ?1 AND institution_oid = ?2",
                                  "ending a subscription", vals, 2);
    if (rc != 0)
        return rc;
    if (sqlite3_changes(reg->db) == 0)
        return CDX_ENOTFOUND;
    return cdx_store_audit_append(reg, a->audit);
}

int cdx_registry_subscription_delete(cdx_registry_t *reg, const char *uid,
                                     const char *institution_oid, const cdx_audit_event_t *audit)
{
    reg->errmsg[0] = '\0';
    if (uid == NULL || institution_oid == NULL || audit == NULL)
        return CDX_EINVAL;
    sub_del_t a = {uid, institution_oid, audit};
    return cdx_store_in_transaction(reg, sub_delete_tx, &a);
}

#define SUB_COLUMNS                                                                                \
    "s.uid, s.institution_oid, s.patient_root, s.patient_ext, s.patient_key, s.types,"            \
    " s.purpose, s.created_at"

/* Steps st to the end, reading every row into a heap array. */
static int read_subs(cdx_registry_t *reg, sqlite3_stmt *st, int src, cdx_subscription_t **out,
                     size_t *n)
{
    size_t cap = 0;
    int rc = 0;
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cdx_grow(out, &cap, *n + 1, sizeof **out, 8) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        cdx_subscription_t *s = &(*out)[(*n)++];
        memset(s, 0, sizeof *s);
        copy_col(st, 0, s->uid, sizeof s->uid);
        copy_col(st, 1, s->institution_oid, sizeof s->institution_oid);
        copy_col(st, 2, s->patient_root, sizeof s->patient_root);
        copy_col(st, 3, s->patient_ext, sizeof s->patient_ext);
        copy_col(st, 4, s->patient_key, sizeof s->patient_key);
        copy_col(st, 5, s->types, sizeof s->types);
        copy_col(st, 6, s->purpose, sizeof s->purpose);
        copy_col(st, 7, s->created_at, sizeof s->created_at);
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading subscriptions");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cdx_registry_subscriptions_list(cdx_registry_t *reg, const char *institution_oid,
                                    cdx_subscription_t **out, size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_SUB_LIST,
                                "SELECT " SUB_COLUMNS " FROM subscriptions s"
                                " WHERE s.institution_oid = ?1 ORDER BY s.id",
                                &st);
    if (rc != 0)
        return rc;
    return read_subs(reg, st, cdx_store_bind_text(st, 1, institution_oid), out, n);
}

int cdx_registry_subscriptions_of_person(cdx_registry_t *reg, int64_t person_id,
                                         cdx_subscription_t **out, size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    /* Each identity of the person by index, then its subscriptions by index. */
    int rc = cdx_store_stmt_get(reg, STMT_SUB_OF_PERSON,
                                "SELECT " SUB_COLUMNS " FROM patients p JOIN subscriptions s"
                                " ON s.patient_root = p.root AND s.patient_ext = p.extension"
                                " WHERE p.person_id = ?1 ORDER BY s.id",
                                &st);
    if (rc != 0)
        return rc;
    return read_subs(reg, st, sqlite3_bind_int64(st, 1, person_id), out, n);
}
