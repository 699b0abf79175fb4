/* documents: stored documents: their rows, content and patient ids, the
 * replacement (RPLC) rules, reads and reindex updates (see
 * include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void cdx_registry_doc_uid(const char *unique_id, char out[33])
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(unique_id, strlen(unique_id), md, &len, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof md);
    cdx_hex(md, 16, out);
}

/* ---- Storing: the steps of one document -------------------------------- */

/* One store_document call: its inputs and what the steps learn on the way. */
typedef struct doc_store {
    const cdx_doc_record_t *rec;
    const cdx_audit_event_t *audit;
    cdx_store_outcome_t *result; /* what became of the document */
    char *uid;
    int64_t submitter; /* row id of rec->submitter_oid */
    int64_t doc_id;    /* row id of the new document */
    int done;          /* the outcome is decided: no more steps */
} doc_store_t;

/* Appends the call's audit row as ev (a variant of it) with prefix before
 * the caller's detail, when the caller asked for one. */
static int audit_variant(cdx_registry_t *reg, const doc_store_t *ds, cdx_audit_event_t ev,
                         const char *prefix)
{
    if (ds->audit == NULL)
        return 0;
    char detail[256];
    snprintf(detail, sizeof detail, "%s %s", prefix, ds->audit->detail ? ds->audit->detail : "");
    ev.detail = detail;
    return cdx_store_audit_append(reg, &ev);
}

/* Idempotency: the same id with the same bytes is the same document; the
 * same id with other bytes is a conflict.  Either decides the outcome. */
static int find_existing(cdx_registry_t *reg, doc_store_t *ds)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_SHA_BY_UNIQUE_ID,
                                "SELECT sha256 FROM documents WHERE unique_id = ?1", &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, ds->rec->unique_id);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(st, 0);
        *ds->result = sha != NULL && strcmp(sha, ds->rec->sha256) == 0 ? CDX_STORE_IDENTICAL
                                                                       : CDX_STORE_CONFLICT;
        ds->done = 1;
    } else if (src != SQLITE_DONE) {
        rc = cdx_store_fail(reg, src, "looking a document up");
    }
    cdx_store_stmt_put(st);
    if (rc != 0 || !ds->done || ds->audit == NULL)
        return rc;
    /* A conflict is a refused import; a repeat is recorded as such. */
    cdx_audit_event_t ev = *ds->audit;
    if (*ds->result == CDX_STORE_CONFLICT) {
        ev.event = CDX_AUDIT_DOCUMENT_CONFLICT;
        ev.outcome = CDX_AUDIT_MINOR_FAILURE;
    }
    return audit_variant(
        reg, ds, ev, *ds->result == CDX_STORE_CONFLICT ? "result=conflict" : "result=identical");
}

/* The submitter must be registered. */
static int find_submitter(cdx_registry_t *reg, doc_store_t *ds)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_INST_ID_BY_OID,
                                "SELECT id FROM institutions WHERE oid = ?1", &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, ds->rec->submitter_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        ds->submitter = sqlite3_column_int64(st, 0);
    } else if (src == SQLITE_DONE) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "submitter %s is not registered",
                 ds->rec->submitter_oid);
        rc = CDX_ENOTFOUND;
    } else {
        rc = cdx_store_fail(reg, src, "finding the submitter");
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* Whether rec may replace its parent: the parent is not stored yet, or it
 * was submitted by rec's submitter, or its custodian is rec's submitter. */
static int replacement_allowed(cdx_registry_t *reg, const doc_store_t *ds, int *allowed)
{
    sqlite3_stmt *st = NULL;
    *allowed = 1;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_REPLACEABLE,
                                "SELECT submitter_id = ?2 OR coalesce(custodian_oid = ?3, 0)"
                                " FROM documents WHERE unique_id = ?1",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, ds->rec->replaces);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, ds->submitter);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, ds->rec->submitter_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *allowed = sqlite3_column_int(st, 0) != 0;
    else if (src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "checking the replaced document");
    cdx_store_stmt_put(st);
    return rc;
}

/* A replacement of another institution's document stores nothing and is
 * recorded as a security alert instead. */
static int check_replacement(cdx_registry_t *reg, doc_store_t *ds)
{
    if (ds->rec->replaces != NULL) {
        int allowed = 1;
        int rc = replacement_allowed(reg, ds, &allowed);
        if (rc != 0)
            return rc;
        cdx_store_outcome_t *outcome = ds->result;
        if (!allowed) {
            *outcome = CDX_STORE_FORBIDDEN;
            ds->done = 1;
            cdx_audit_event_t ev = ds->audit != NULL ? *ds->audit : (cdx_audit_event_t){0};
            ev.event = CDX_AUDIT_SECURITY_ALERT;
            ev.outcome = CDX_AUDIT_SERIOUS_FAILURE;
            return audit_variant(reg, ds, ev, "code=REPLACEMENT_FORBIDDEN");
        }
    }
    return 0;
}

static int bind_all_text(sqlite3_stmt *st, const char *const *values, int n)
{
    for (int i = 0; i < n; i++) {
        int src = cdx_store_bind_text(st, i + 1, values[i]);
        if (src != SQLITE_OK)
            return src;
    }
    return SQLITE_OK;
}

/* Binds the document row's values to the insert. */
static int bind_document(sqlite3_stmt *st, const doc_store_t *ds, const char *ts)
{
    const cdx_doc_record_t *rec = ds->rec;
    const char *texts[] = {ds->uid,
                           rec->unique_id,
                           rec->set_id,
                           rec->replaces,
                           rec->custodian_oid,
                           rec->author_oid,
                           rec->type_code,
                           rec->type_system,
                           rec->title,
                           rec->creation_time,
                           rec->service_start,
                           rec->service_stop,
                           rec->confidentiality,
                           rec->language,
                           rec->patient_root,
                           rec->patient_ext,
                           rec->sha256,
                           rec->normalized_sha256,
                           rec->mapping_version,
                           rec->meta_json ? rec->meta_json : "{}",
                           rec->warnings_json,
                           ts};
    int src = bind_all_text(st, texts, (int)CDX_ARRAY_SIZE(texts));
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 23, rec->version > 0 ? rec->version : 1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 24, ds->submitter);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 25, (int64_t)rec->size);
    return src;
}

/* Inserts the document row; ds->doc_id receives its id. */
static int insert_document(cdx_registry_t *reg, doc_store_t *ds)
{
    char ts[32];
    sqlite3_stmt *st = NULL;
    cdx_store_now(ts);
    int rc = cdx_store_stmt_get(
        reg, STMT_DOC_INSERT,
        "INSERT INTO documents (uid, unique_id, set_id, replaces, custodian_oid,"
        " author_oid, type_code, type_system, title, creation_time, service_start,"
        " service_stop, confidentiality, language, patient_root, patient_ext, sha256,"
        " normalized_sha256, mapping_version, meta_json, warnings_json, stored_at,"
        " version, submitter_id, size)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
        " ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) RETURNING id",
        &st);
    if (rc != 0)
        return rc;
    int src = bind_document(st, ds, ts);
    if (src != SQLITE_OK) {
        rc = cdx_store_fail(reg, src, "binding a document");
    } else if ((src = sqlite3_step(st)) != SQLITE_ROW) {
        rc = cdx_store_fail(reg, src, "storing a document");
    } else {
        ds->doc_id = sqlite3_column_int64(st, 0);
        rc = cdx_store_step_done(reg, st, "storing a document");
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* The stored form of one column: the frame the pipeline packed on its
 * thread when it did, else one packed here into *owned. */
static int packed_form(cdx_registry_t *reg, const void *bytes, size_t n, const void *given,
                       size_t given_len, void **owned, const void **out, size_t *outlen)
{
    *owned = NULL;
    if (given != NULL) {
        *out = given;
        *outlen = given_len;
        return 0;
    }
    int rc = cdx_store_pack(reg, bytes, n, owned, outlen);
    *out = *owned;
    return rc;
}

static int insert_content(cdx_registry_t *reg, const doc_store_t *ds)
{
    const cdx_doc_record_t *rec = ds->rec;
    void *own_o = NULL, *own_n = NULL;
    const void *orig = NULL, *norm = NULL;
    size_t orig_len = 0, norm_len = 0;
    int rc = packed_form(reg, rec->original, rec->size, rec->original_packed,
                         rec->original_packed_size, &own_o, &orig, &orig_len);
    if (rc == 0 && rec->normalized != NULL)
        rc = packed_form(reg, rec->normalized, rec->normalized_size, rec->normalized_packed,
                         rec->normalized_packed_size, &own_n, &norm, &norm_len);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = cdx_store_stmt_get(reg, STMT_CONTENT_INSERT,
                                "INSERT INTO document_content (document_id, original, normalized)"
                                " VALUES (?1, ?2, ?3)",
                                &st);
    if (rc != 0)
        goto out;
    int src = sqlite3_bind_int64(st, 1, ds->doc_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob64(st, 2, orig, orig_len, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = norm != NULL ? sqlite3_bind_blob64(st, 3, norm, norm_len, SQLITE_STATIC)
                           : sqlite3_bind_null(st, 3);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing document content")
                          : cdx_store_fail(reg, src, "binding document content");
    cdx_store_stmt_put(st);
out:
    free(own_o);
    free(own_n);
    return rc;
}

int cdx_store_doc_patient_ids_insert(cdx_registry_t *reg, int64_t doc_id,
                                     const cdx_doc_record_t *rec)
{
    if (rec->npatient_ids == 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_PATIENT_ID_INSERT,
        "INSERT OR IGNORE INTO document_patient_ids (document_id, root, extension)"
        " VALUES (?1, ?2, ?3)",
        &st);
    for (size_t i = 0; rc == 0 && i < rec->npatient_ids; i++) {
        const char *root = rec->patient_ids[2 * i];
        const char *ext = rec->patient_ids[2 * i + 1];
        if (root == NULL)
            continue;
        int src = sqlite3_bind_int64(st, 1, doc_id);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, root);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 3, ext ? ext : "");
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a patient id")
                              : cdx_store_fail(reg, src, "binding a patient id");
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* A replacement supersedes its parent (checked above to be one of its
 * submitter's), which stays retrievable; a document whose replacement
 * arrived first is superseded at once, but only by a replacement its
 * submitter or its custodian sent. */
static int supersede(cdx_registry_t *reg, const doc_store_t *ds)
{
    const cdx_doc_record_t *rec = ds->rec;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    int src;
    if (rec->replaces != NULL) {
        rc = cdx_store_stmt_get(reg, STMT_DOC_SUPERSEDE_PARENT,
                                "UPDATE documents SET status = 'superseded' WHERE unique_id = ?2"
                                " AND id <> ?1",
                                &st);
        if (rc != 0)
            return rc;
        src = sqlite3_bind_int64(st, 1, ds->doc_id);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, rec->replaces);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "superseding a document")
                              : cdx_store_fail(reg, src, "superseding a document");
        cdx_store_stmt_put(st);
        if (rc != 0)
            return rc;
    }
    rc = cdx_store_stmt_get(reg, STMT_DOC_SUPERSEDE_SELF,
                            "UPDATE documents SET status = 'superseded' WHERE id = ?1 AND EXISTS"
                            " (SELECT 1 FROM documents AS r WHERE r.replaces = ?2 AND r.id <> ?1"
                            "  AND (r.submitter_id = ?3 OR r.submitter_id IN"
                            "   (SELECT id FROM institutions WHERE oid = ?4)))",
                            &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, ds->doc_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, rec->unique_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, ds->submitter);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, rec->custodian_oid);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "checking replacements")
                          : cdx_store_fail(reg, src, "checking replacements");
    cdx_store_stmt_put(st);
    return rc;
}

static int store_document_tx(cdx_registry_t *reg, void *arg)
{
    doc_store_t *ds = arg;
    const cdx_doc_record_t *rec = ds->rec;
    cdx_registry_doc_uid(rec->unique_id, ds->uid);
    int rc = find_existing(reg, ds);
    if (rc == 0 && !ds->done)
        rc = find_submitter(reg, ds);
    if (rc == 0 && !ds->done)
        rc = check_replacement(reg, ds);
    if (rc != 0 || ds->done)
        return rc;
    rc = insert_document(reg, ds);
    if (rc == 0)
        rc = cdx_store_document_keys(reg, ds->doc_id, rec);
    if (rc == 0)
        rc = insert_content(reg, ds);
    if (rc == 0)
        rc = cdx_store_doc_patient_ids_insert(reg, ds->doc_id, rec);
    cdx_store_pindex_t px = {.rec = rec, .doc_uid = ds->uid,
                             .actor = ds->audit != NULL ? ds->audit->actor_oid : NULL};
    if (rc == 0)
        rc = cdx_store_patients_attach(reg, &px);
    if (rc == 0)
        rc = cdx_store_patients_match(reg, &px);
    if (rc == 0)
        rc = cdx_store_facts_insert(reg, ds->doc_id, rec->facts_json, rec->fact_rows,
                                    rec->nfact_rows, rec->fact_extras_packed,
                                    rec->fact_extras_packed_size);
    if (rc == 0)
        rc = supersede(reg, ds);
    if (rc == 0 && ds->audit != NULL)
        rc = cdx_store_audit_append(reg, ds->audit);
    if (rc == 0)
        *ds->result = CDX_STORE_CREATED;
    return rc;
}

int cdx_registry_store_document(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                                const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                                char doc_uid[33])
{
    reg->errmsg[0] = '\0';
    doc_store_t ds = {.rec = rec, .audit = audit, .result = outcome, .uid = doc_uid};
    return cdx_store_in_transaction(reg, store_document_tx, &ds);
}

/* ---- Reading ---------------------------------------------------------- */

char *cdx_store_column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    return v ? strdup((const char *)v) : NULL;
}

void cdx_doc_row_cleanup(cdx_doc_row_t *row)
{
    free(row->unique_id);
    free(row->status);
    free(row->sha256);
    free(row->normalized_sha256);
    free(row->mapping_version);
    free(row->meta_json);
    free(row->submitter_oid);
    free(row->patient_root);
    free(row->patient_ext);
    free(row->author_oid);
    free(row->custodian_oid);
    free(row->type_code);
    free(row->confidentiality);
    free(row->content);
    memset(row, 0, sizeof *row);
}

int cdx_store_doc_row_read(sqlite3_stmt *st, cdx_doc_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    const char *uid = (const char *)sqlite3_column_text(st, 1);
    cdx_strlcpy(row->uid, uid ? uid : "", sizeof row->uid);
    row->unique_id = cdx_store_column_dup(st, 2);
    row->status = cdx_store_column_dup(st, 3);
    row->sha256 = cdx_store_column_dup(st, 4);
    row->normalized_sha256 = cdx_store_column_dup(st, 5);
    row->mapping_version = cdx_store_column_dup(st, 6);
    row->meta_json = cdx_store_column_dup(st, 7);
    row->submitter_oid = cdx_store_column_dup(st, 8);
    row->patient_root = cdx_store_column_dup(st, 9);
    row->patient_ext = cdx_store_column_dup(st, 10);
    row->author_oid = cdx_store_column_dup(st, 11);
    row->custodian_oid = cdx_store_column_dup(st, 12);
    row->type_code = cdx_store_column_dup(st, 13);
    row->confidentiality = cdx_store_column_dup(st, 14);
    if (row->unique_id == NULL || row->sha256 == NULL || row->meta_json == NULL) {
        cdx_doc_row_cleanup(row);
        return CDX_ENOMEM;
    }
    return 0;
}

/* Column col of st as row->content; expected: the length the original
 * unpacks to, -1 for the normalized form (its frame says). */
static int read_blob(cdx_registry_t *reg, sqlite3_stmt *st, int col, int64_t expected,
                     cdx_doc_row_t *row)
{
    const void *blob = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (blob == NULL && sqlite3_column_type(st, col) == SQLITE_NULL)
        return CDX_ENOTFOUND;
    char what[96];
    snprintf(what, sizeof what, "%s form of document %s",
             expected >= 0 ? "original" : "normalized", row->uid);
    return cdx_store_unpack(reg, blob, (size_t)n, expected, what, &row->content,
                            &row->content_len);
}

int cdx_registry_get_document(cdx_registry_t *reg, const char *uid, int what, cdx_doc_row_t *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int rc =
        cdx_store_stmt_get(reg, STMT_DOC_GET,
                           "SELECT " CDX_STORE_DOC_COLUMNS ", c.original, c.normalized, d.size"
                           " FROM documents AS d"
                           " JOIN institutions AS i ON i.id = d.submitter_id"
                           " JOIN document_content AS c ON c.document_id = d.id WHERE d.uid = ?1",
                           &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, uid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = CDX_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = cdx_store_fail(reg, src, "reading a document");
    } else {
        rc = cdx_store_doc_row_read(st, out);
        if (rc == 0 && what == CDX_DOC_ORIGINAL)
            rc = read_blob(reg, st, 15, sqlite3_column_int64(st, 17), out);
        else if (rc == 0 && what == CDX_DOC_NORMALIZED)
            rc = read_blob(reg, st, 16, -1, out);
        if (rc != 0)
            cdx_doc_row_cleanup(out);
    }
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_has_sha256(cdx_registry_t *reg, const char *sha256, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_HAS_SHA,
                                "SELECT 1 FROM documents WHERE sha256 = ?1 LIMIT 1", &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, sha256);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *found = 1;
    else if (src == SQLITE_DONE)
        *found = 0;
    else
        rc = cdx_store_fail(reg, src, "looking a hash up");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_each_document(cdx_registry_t *reg, int64_t after_id, size_t limit,
                               int (*fn)(const cdx_doc_row_t *row, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_EACH,
                                "SELECT " CDX_STORE_DOC_COLUMNS ", c.original, d.size FROM documents AS d"
                                " JOIN institutions AS i ON i.id = d.submitter_id"
                                " JOIN document_content AS c ON c.document_id = d.id"
                                " WHERE d.id > ?1 ORDER BY d.id LIMIT ?2",
                                &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "reading documents");
            break;
        }
        cdx_doc_row_t row;
        rc = cdx_store_doc_row_read(st, &row);
        if (rc == 0)
            rc = read_blob(reg, st, 15, sqlite3_column_int64(st, 16), &row);
        if (rc == 0)
            rc = fn(&row, arg);
        cdx_doc_row_cleanup(&row);
        if (rc != 0)
            break;
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* The arguments of one update_normalized call. */
typedef struct doc_update {
    int64_t id;
    const char *normalized_sha256;
    const void *normalized;
    size_t normalized_size;
    const char *mapping_version;
    const char *meta_json;
    const char *facts_json;
    const cdx_fact_row_t *rows;
    size_t nrows;
} doc_update_t;

static int update_row(cdx_registry_t *reg, const doc_update_t *u)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_DOC_UPDATE_NORMALIZED,
                                "UPDATE documents SET normalized_sha256 = ?2, mapping_version = ?3,"
                                " meta_json = ?4 WHERE id = ?1",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, u->id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, u->normalized_sha256);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, u->mapping_version);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, u->meta_json ? u->meta_json : "{}");
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "updating a document")
                          : cdx_store_fail(reg, src, "binding a document");
    cdx_store_stmt_put(st);
    return rc;
}

static int update_content(cdx_registry_t *reg, const doc_update_t *u)
{
    void *packed = NULL;
    size_t packed_len = 0;
    int rc = u->normalized != NULL
                 ? cdx_store_pack(reg, u->normalized, u->normalized_size, &packed, &packed_len)
                 : 0;
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = cdx_store_stmt_get(reg, STMT_CONTENT_UPDATE_NORMALIZED,
                                "UPDATE document_content SET normalized = ?2 WHERE document_id = ?1",
                                &st);
    if (rc != 0) {
        free(packed);
        return rc;
    }
    int src = sqlite3_bind_int64(st, 1, u->id);
    if (src == SQLITE_OK)
        src = packed != NULL ? sqlite3_bind_blob64(st, 2, packed, packed_len, SQLITE_STATIC)
                             : sqlite3_bind_null(st, 2);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "updating document content")
                          : cdx_store_fail(reg, src, "binding document content");
    cdx_store_stmt_put(st);
    free(packed);
    return rc;
}

static int update_normalized_tx(cdx_registry_t *reg, void *arg)
{
    const doc_update_t *u = arg;
    int rc = update_row(reg, u);
    if (rc == 0)
        rc = update_content(reg, u);
    if (rc == 0)
        rc = cdx_store_facts_delete(reg, u->id);
    if (rc == 0)
        rc = cdx_store_facts_insert(reg, u->id, u->facts_json, u->rows, u->nrows, NULL, 0);
    return rc;
}

int cdx_registry_update_normalized(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                   const void *normalized, size_t normalized_size,
                                   const char *mapping_version, const char *meta_json,
                                   const char *facts_json, const cdx_fact_row_t *rows, size_t nrows)
{
    doc_update_t u = {
        .id = id,
        .normalized_sha256 = normalized_sha256,
        .normalized = normalized,
        .normalized_size = normalized_size,
        .mapping_version = mapping_version,
        .meta_json = meta_json,
        .facts_json = facts_json,
        .rows = rows,
        .nrows = nrows,
    };
    return cdx_store_in_transaction(reg, update_normalized_tx, &u);
}
