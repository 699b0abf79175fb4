/* consents: a person's consent decisions, what the access decision reads
 * of a person, and break-glass time boxes (see include/cdx/store/registry.h,
 * "Consents"). */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct put_args {
    const char *root, *ext;
    const cdx_consent_t *c;
    const char *source;
    const char *document_uid;
    const char *actor;
    const cdx_audit_event_t *audit;
    int64_t *consent_id;
} put_args_t;

static int insert_consent(cdx_registry_t *reg, const put_args_t *a, int64_t patient_id)
{
    char inst[CDX_CONSENT_SCOPE_TEXT], types[CDX_CONSENT_SCOPE_TEXT], ts[32];
    if (cdx_consent_scope_text(a->c, 0, inst, sizeof inst) != 0 ||
        cdx_consent_scope_text(a->c, 1, types, sizeof types) != 0)
        return CDX_ERANGE;
    cdx_store_now(ts);
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_CONSENT_INSERT,
        "INSERT INTO consents (patient_id, decision, scope_institutions, scope_types, research,"
        " expires, expires_key, source, document_id, actor, recorded_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT id FROM documents WHERE uid = ?9), ?10,"
        " ?11)",
        &st);
    if (rc != 0)
        return rc;
    const char *research = a->c->research < 0 ? NULL : (a->c->research ? "permit" : "deny");
    int src = sqlite3_bind_int64(st, 1, patient_id);
    const char *texts[] = {a->c->permit ? "permit" : "deny",
                           inst,
                           types,
                           research,
                           a->c->expires[0] ? a->c->expires : NULL,
                           a->c->expires_key[0] ? a->c->expires_key : NULL,
                           a->source};
    for (int i = 0; src == SQLITE_OK && i < (int)CDX_ARRAY_SIZE(texts); i++)
        src = cdx_store_bind_text(st, 2 + i, texts[i]);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 9, a->document_uid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 10, a->actor);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 11, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "recording a consent")
                          : cdx_store_fail(reg, src, "binding a consent");
    cdx_store_stmt_put(st);
    if (rc == 0)
        *a->consent_id = sqlite3_last_insert_rowid(reg->db);
    return rc;
}

static int put_tx(cdx_registry_t *reg, void *arg)
{
    put_args_t *a = arg;
    int64_t patient_id = 0;
    int64_t person_id = 0;
    int rc = cdx_store_patient_find(reg, a->root, a->ext, &patient_id, &person_id, NULL);
    if (rc == 0)
        rc = insert_consent(reg, a, patient_id);
    if (rc != 0)
        return rc;
    cdx_audit_event_t ev = *a->audit;
    char detail[160];
    if (ev.detail == NULL) {
        snprintf(detail, sizeof detail, "consent=%lld decision=%s source=%s scope=%zu/%zu",
                 (long long)*a->consent_id, a->c->permit ? "permit" : "deny", a->source,
                 a->c->ninstitutions, a->c->ntypes);
        ev.detail = detail;
    }
    char ref[48];
    snprintf(ref, sizeof ref, "consent:%lld", (long long)*a->consent_id);
    ev.consent = ref;
    return cdx_store_audit_append(reg, &ev);
}

int cdx_registry_put_consent(cdx_registry_t *reg, const char *root, const char *ext,
                             const cdx_consent_t *c, const char *source,
                             const char *document_uid, const char *actor,
                             const cdx_audit_event_t *audit, int64_t *consent_id)
{
    reg->errmsg[0] = '\0';
    if (root == NULL || c == NULL || source == NULL || actor == NULL || audit == NULL ||
        consent_id == NULL)
        return CDX_EINVAL;
    put_args_t a = {root, ext, c, source, document_uid, actor, audit, consent_id};
    return cdx_store_in_transaction(reg, put_tx, &a);
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    cdx_strlcpy(out, v != NULL ? (const char *)v : "", n);
}

/* Columns 0-6 of a consent row into c. */
static int read_consent(sqlite3_stmt *st, cdx_consent_t *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    const unsigned char *d = sqlite3_column_text(st, 1);
    c->permit = d != NULL && strcmp((const char *)d, "permit") == 0;
    int rc = cdx_consent_scope_parse((const char *)sqlite3_column_text(st, 2), 0, c);
    if (rc == 0)
        rc = cdx_consent_scope_parse((const char *)sqlite3_column_text(st, 3), 1, c);
    const unsigned char *r = sqlite3_column_text(st, 4);
    c->research = r == NULL ? -1 : strcmp((const char *)r, "permit") == 0;
    text_col(st, 5, c->expires, sizeof c->expires);
    text_col(st, 6, c->expires_key, sizeof c->expires_key);
    return rc;
}

#define CONSENT_COLUMNS                                                                            \
    "c.id, c.decision, c.scope_institutions, c.scope_types, c.research, c.expires,"                \
    " c.expires_key, p.root, p.extension, p.national, c.source,"                                   \
    " (SELECT uid FROM documents WHERE id = c.document_id), c.actor, c.recorded_at"

static void read_history(sqlite3_stmt *st, cdx_consent_row_t *row)
{
    text_col(st, 7, row->identity.root, sizeof row->identity.root);
    row->identity.national = sqlite3_column_int(st, 9);
    if (!row->identity.national)
        text_col(st, 8, row->identity.ext, sizeof row->identity.ext);
    text_col(st, 10, row->source, sizeof row->source);
    text_col(st, 11, row->document_uid, sizeof row->document_uid);
    text_col(st, 12, row->actor, sizeof row->actor);
    text_col(st, 13, row->recorded_at, sizeof row->recorded_at);
}

/* The decisions of a person newest first, into rows (history) or
 * consents (the access decision's form); one of them is NULL. */
static int list_consents(cdx_registry_t *reg, int64_t person_id, cdx_consent_row_t *rows,
                         cdx_consent_t *consents, size_t max, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_CONSENT_LIST,
                                "SELECT " CONSENT_COLUMNS " FROM patients AS p"
                                " JOIN consents AS c ON c.patient_id = p.id"
                                " WHERE p.person_id = ?1 ORDER BY c.id DESC LIMIT ?2",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, person_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, (int64_t)max);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        if (rows != NULL) {
            memset(&rows[*n], 0, sizeof rows[*n]);
            rc = read_consent(st, &rows[*n].c);
            read_history(st, &rows[*n]);
        } else {
            rc = read_consent(st, &consents[*n]);
        }
        if (rc != 0)
            break;
        (*n)++;
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW && src != SQLITE_OK)
        rc = cdx_store_fail(reg, src, "reading consents");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_person_consents(cdx_registry_t *reg, int64_t person_id, cdx_consent_row_t *rows,
                                 size_t max, size_t *n)
{
    reg->errmsg[0] = '\0';
    return list_consents(reg, person_id, rows, NULL, max, n);
}

static int care_relationship(cdx_registry_t *reg, int64_t person_id, const char *inst, int *care)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_CONSENT_CARE,
        "SELECT 1 FROM patients AS p"
        " JOIN document_patient_ids AS dp ON dp.root = p.root AND dp.extension = p.extension"
        " JOIN documents AS d ON d.id = dp.document_id"
        " WHERE p.person_id = ?1"
        " AND d.submitter_id = (SELECT id FROM institutions WHERE oid = ?2) LIMIT 1",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, person_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, inst);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *care = src == SQLITE_ROW;
    else
        rc = cdx_store_fail(reg, src, "reading a care relationship");
    cdx_store_stmt_put(st);
    return rc;
}

static int breakglass_get(cdx_registry_t *reg, int64_t person_id, const char *inst,
                          const char *now_key, int *open)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_BREAKGLASS_GET,
                                "SELECT 1 FROM breakglass WHERE institution_oid = ?1 AND"
                                " person_id = ?2 AND until_key > ?3",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, inst);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, person_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, now_key);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *open = src == SQLITE_ROW;
    else
        rc = cdx_store_fail(reg, src, "reading a break-glass time box");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_access_person(cdx_registry_t *reg, int64_t person_id,
                               const char *institution_oid, const char *now_key,
                               cdx_consent_t *consents, size_t max, size_t *nconsents, int *care,
                               int *breakglass_open)
{
    reg->errmsg[0] = '\0';
    *care = 0;
    *breakglass_open = 0;
    int rc = list_consents(reg, person_id, NULL, consents, max, nconsents);
    if (rc == 0)
        rc = care_relationship(reg, person_id, institution_oid, care);
    if (rc == 0)
        rc = breakglass_get(reg, person_id, institution_oid, now_key, breakglass_open);
    return rc;
}

typedef struct glass_args {
    const char *inst;
    int64_t person_id;
    const char *until_key;
} glass_args_t;

static int glass_tx(cdx_registry_t *reg, void *arg)
{
    const glass_args_t *a = arg;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_BREAKGLASS_PUT,
                                "INSERT INTO breakglass (institution_oid, person_id, until_key)"
                                " VALUES (?1, ?2, ?3) ON CONFLICT (institution_oid, person_id)"
                                " DO UPDATE SET until_key = max(until_key, excluded.until_key)",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, a->inst);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, a->person_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, a->until_key);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "opening a break-glass time box")
                          : cdx_store_fail(reg, src, "binding a break-glass time box");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_breakglass_open(cdx_registry_t *reg, const char *institution_oid,
                                 int64_t person_id, const char *until_key)
{
    reg->errmsg[0] = '\0';
    if (institution_oid == NULL || until_key == NULL)
        return CDX_EINVAL;
    glass_args_t a = {institution_oid, person_id, until_key};
    return cdx_store_in_transaction(reg, glass_tx, &a);
}

int cdx_registry_person_documents(cdx_registry_t *reg, int64_t person_id, cdx_doc_access_t **out,
                                  size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_DOC_ACCESS_LIST,
        "SELECT d.uid, i.oid, d.author_oid, d.custodian_oid, d.type_code, d.confidentiality"
        " FROM documents AS d JOIN institutions AS i ON i.id = d.submitter_id"
        " WHERE d.status = 'current' AND d.id IN (SELECT dp.document_id FROM patients AS p"
        "  JOIN document_patient_ids AS dp ON dp.root = p.root AND dp.extension = p.extension"
        "  WHERE p.person_id = ?1) ORDER BY d.id",
        &st);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    int src = sqlite3_bind_int64(st, 1, person_id);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cdx_grow(out, &cap, *n + 1, sizeof **out, 16) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        cdx_doc_access_t *a = &(*out)[(*n)++];
        text_col(st, 0, a->uid, sizeof a->uid);
        text_col(st, 1, a->submitter_oid, sizeof a->submitter_oid);
        text_col(st, 2, a->author_oid, sizeof a->author_oid);
        text_col(st, 3, a->custodian_oid, sizeof a->custodian_oid);
        text_col(st, 4, a->type_code, sizeof a->type_code);
        text_col(st, 5, a->confidentiality, sizeof a->confidentiality);
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a person's documents");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
