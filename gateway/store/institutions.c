/* institutions: the institutions directory: entries with their roles,
 * credentials and id roots, each change with its audit row (see
 * include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/institution.h"

#include <stdlib.h>
#include <string.h>

/* ---- Writing an entry ---------------------------------------------------- */

/* Refuses (CDX_ECONFLICT, naming the owner) a key that an institution
 * other than inst holds.  Checked before any write so that the operator
 * learns which institution holds the key. */
static int check_credentials_free(cdx_registry_t *reg, const cdx_institution_t *inst)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_CRED_OWNER,
                                "SELECT i.oid FROM institution_credentials AS c"
                                " JOIN institutions AS i ON i.id = c.institution_id"
                                " WHERE c.sha256 = ?1 AND i.oid <> ?2",
                                &st);
    for (size_t i = 0; rc == 0 && i < inst->ncreds; i++) {
        int src = cdx_store_bind_text(st, 1, inst->creds[i].sha256);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, inst->oid);
        if (src != SQLITE_OK) {
            rc = cdx_store_fail(reg, src, "binding a credential");
            break;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "credential %s already belongs to institution %s", inst->creds[i].sha256,
                     owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
        } else if (src != SQLITE_DONE) {
            rc = cdx_store_fail(reg, src, "checking credentials");
        }
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* Inserts or updates the entry itself; *id receives its row id. */
static int upsert_entry(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t *id)
{
    char ts[32];
    sqlite3_stmt *st = NULL;
    cdx_store_now(ts);
    int rc = cdx_store_stmt_get(
        reg, STMT_INST_UPSERT,
        "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at,"
        " policy)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
        " ON CONFLICT (oid) DO UPDATE SET name = excluded.name,"
        " roles = excluded.roles, endpoint = excluded.endpoint,"
        " updated_at = excluded.updated_at, policy = excluded.policy"
        " RETURNING id",
        &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, inst->oid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, inst->name);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, (int64_t)inst->roles);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, inst->endpoint);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5, ts);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 6, (int64_t)inst->policy);
    if (src != SQLITE_OK) {
        rc = cdx_store_fail(reg, src, "binding an institution");
        goto out;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = cdx_store_step_done(reg, st, "writing an institution");
    } else if (src == SQLITE_DONE) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "writing an institution: no id returned");
        rc = CDX_EDB;
    } else {
        rc = cdx_store_fail(reg, src, "writing an institution");
    }
out:
    cdx_store_stmt_put(st);
    return rc;
}

/* Runs the cached statement `id` (sql) with ?1 bound to the row id. */
static int delete_by_id(cdx_registry_t *reg, stmt_id_t id, const char *sql, int64_t row,
                        const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, id, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, row);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, what) : cdx_store_fail(reg, src, what);
    cdx_store_stmt_put(st);
    return rc;
}

/* Replaces the credentials of institution `id` with inst's. */
static int replace_credentials(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t id)
{
    int rc = delete_by_id(reg, STMT_CRED_DELETE,
                          "DELETE FROM institution_credentials WHERE institution_id = ?1", id,
                          "removing old credentials");
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = cdx_store_stmt_get(reg, STMT_CRED_INSERT,
                            "INSERT INTO institution_credentials (institution_id, kind, sha256)"
                            " VALUES (?1, ?2, ?3)",
                            &st);
    for (size_t i = 0; rc == 0 && i < inst->ncreds; i++) {
        int src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, inst->creds[i].spki ? "spki" : "cert");
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 3, inst->creds[i].sha256);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "writing a credential")
                              : cdx_store_fail(reg, src, "binding a credential");
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* Refuses an id root another institution holds, so that the id-ownership
 * check at ingest never has two owners to choose from. */
static int check_roots_free(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_ROOT_OWNER,
                                "SELECT i.oid FROM institution_id_roots AS r"
                                " JOIN institutions AS i ON i.id = r.institution_id"
                                " WHERE r.root = ?1 AND r.institution_id <> ?2",
                                &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = cdx_store_bind_text(st, 1, inst->id_roots[i]);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 2, id);
        if (src != SQLITE_OK) {
            rc = cdx_store_fail(reg, src, "binding an id root");
            break;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "id_root %s already belongs to institution %s", inst->id_roots[i],
                     owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
        } else if (src != SQLITE_DONE) {
            rc = cdx_store_fail(reg, src, "checking id roots");
        }
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* Replaces the id roots of institution `id` with inst's. */
static int put_id_roots(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t id)
{
    int rc = check_roots_free(reg, inst, id);
    if (rc == 0)
        rc = delete_by_id(reg, STMT_ROOT_DELETE,
                          "DELETE FROM institution_id_roots WHERE institution_id = ?1", id,
                          "removing old id roots");
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = cdx_store_stmt_get(
        reg, STMT_ROOT_INSERT,
        "INSERT INTO institution_id_roots (institution_id, root) VALUES (?1, ?2)", &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = cdx_store_bind_text(st, 2, inst->id_roots[i]);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "writing an id root")
                              : cdx_store_fail(reg, src, "binding an id root");
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* The audit row of an upsert: what changed, never a key's owner. */
static int audit_upsert(cdx_registry_t *reg, const cdx_institution_t *inst, const char *actor)
{
    char roles[64];
    char detail[256];
    cdx_roles_format(inst->roles, roles, sizeof roles);
    snprintf(detail, sizeof detail, "oid=%s roles=%s creds=%zu id_roots=%zu", inst->oid, roles,
             inst->ncreds, inst->nid_roots);
    cdx_audit_event_t ev = {
        .event = CDX_AUDIT_INSTITUTION_UPSERT,
        .actor_oid = actor,
        .outcome = CDX_AUDIT_SUCCESS,
        .detail = detail,
    };
    return cdx_store_audit_append(reg, &ev);
}

static int put_institution_tx(cdx_registry_t *reg, const cdx_institution_t *inst, const char *actor)
{
    int64_t id = 0;
    int rc = check_credentials_free(reg, inst);
    if (rc == 0)
        rc = upsert_entry(reg, inst, &id);
    if (rc == 0)
        rc = replace_credentials(reg, inst, id);
    if (rc == 0)
        rc = put_id_roots(reg, inst, id);
    if (rc == 0)
        rc = audit_upsert(reg, inst, actor);
    return rc;
}

int cdx_registry_put_institution(cdx_registry_t *reg, const cdx_institution_t *inst,
                                 const char *actor)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (inst == NULL || cdx_institution_check(inst, reg->errmsg, sizeof reg->errmsg) != 0)
        return CDX_EINVAL;
    int rc = cdx_store_tx_begin(reg);
    if (rc != 0)
        return rc;
    rc = put_institution_tx(reg, inst, actor);
    if (rc == 0)
        rc = cdx_store_tx_commit(reg);
    if (rc != 0)
        cdx_store_tx_rollback(reg);
    return rc;
}

int cdx_registry_ensure_institution(cdx_registry_t *reg, const char *oid, const char *name)
{
    if (oid == NULL || oid[0] == '\0') {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "registering an institution: no OID");
        return CDX_EINVAL;
    }
    char ts[32];
    cdx_store_now(ts);
    const char *values[] = {oid, name && name[0] ? name : oid, ts};
    return cdx_store_exec_texts(
        reg, STMT_INST_ENSURE,
        "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at)"
        " VALUES (?1, ?2, 0, '', ?3, ?3) ON CONFLICT (oid) DO NOTHING",
        "registering an institution", values, 3);
}

/* ---- Listing ----------------------------------------------------------- */

static int copy_column(sqlite3_stmt *st, int col, char *dst, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return cdx_strlcpy(dst, v != NULL ? v : "", n);
}

/* Adds the id roots to items (sorted by OID, as listed). */
static int list_id_roots(cdx_registry_t *reg, cdx_institution_t *items, size_t count)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_ROOT_LIST,
        "SELECT i.oid, r.root FROM institution_id_roots AS r"
        " JOIN institutions AS i ON i.id = r.institution_id ORDER BY i.oid, r.id",
        &st);
    size_t k = 0;
    while (rc == 0) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "listing id roots");
            break;
        }
        const char *oid = (const char *)sqlite3_column_text(st, 0);
        while (oid != NULL && k < count && strcmp(items[k].oid, oid) < 0)
            k++;
        if (oid == NULL || k == count || strcmp(items[k].oid, oid) != 0)
            continue; /* registered after the institutions were read */
        cdx_institution_t *inst = &items[k];
        if (inst->nid_roots >= CDX_INST_MAX_ID_ROOTS ||
            copy_column(st, 1, inst->id_roots[inst->nid_roots], sizeof inst->id_roots[0]) != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "institution %s has too many or malformed id roots", inst->oid);
            rc = CDX_EDB;
            break;
        }
        inst->nid_roots++;
    }
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_list_institutions(cdx_registry_t *reg, cdx_institution_t **out, size_t *n)
{
    if (reg == NULL || out == NULL || n == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    cdx_institution_t *items = NULL;
    size_t count = 0, cap = 0;
    int64_t last_id = 0;
    sqlite3_stmt *st = NULL;
    /* One joined statement, so institutions and credentials come from one snapshot. */
    int rc = cdx_store_stmt_get(
        reg, STMT_INST_LIST,
        "SELECT i.id, i.oid, i.name, i.roles, i.endpoint, c.kind, c.sha256, i.policy"
        " FROM institutions AS i"
        " LEFT JOIN institution_credentials AS c ON c.institution_id = i.id"
        " ORDER BY i.oid, c.id",
        &st);
    if (rc != 0)
        goto out;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "listing institutions");
            goto out;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        if (count == 0 || id != last_id) {
            if (cdx_grow(&items, &cap, count + 1, sizeof *items, 16) != 0) {
                rc = CDX_ENOMEM;
                goto out;
            }
            cdx_institution_t *inst = &items[count++];
            memset(inst, 0, sizeof *inst);
            last_id = id;
            int64_t roles = sqlite3_column_int64(st, 3);
            if (copy_column(st, 1, inst->oid, sizeof inst->oid) != 0 ||
                copy_column(st, 2, inst->name, sizeof inst->name) != 0 ||
                copy_column(st, 4, inst->endpoint, sizeof inst->endpoint) != 0 || roles < 0 ||
                roles > (int64_t)CDX_ROLE_ALL) {
                cdx_errf(reg->errmsg, sizeof reg->errmsg,
                         "institution id %lld has a field out of range", (long long)id);
                rc = CDX_EDB;
                goto out;
            }
            inst->roles = (unsigned)roles;
            inst->policy = (unsigned)sqlite3_column_int64(st, 7);
        }
        if (sqlite3_column_type(st, 6) == SQLITE_NULL)
            continue;
        cdx_institution_t *inst = &items[count - 1];
        const char *kind = (const char *)sqlite3_column_text(st, 5);
        if (inst->ncreds >= CDX_INST_MAX_CREDS || kind == NULL ||
            copy_column(st, 6, inst->creds[inst->ncreds].sha256, 65) != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "institution %s has too many or malformed credentials", inst->oid);
            rc = CDX_EDB;
            goto out;
        }
        inst->creds[inst->ncreds].spki = strcmp(kind, "spki") == 0;
        inst->ncreds++;
    }
    cdx_store_stmt_put(st);
    st = NULL;
    rc = list_id_roots(reg, items, count);
    if (rc != 0)
        goto out;
    *out = items;
    *n = count;
    items = NULL;
out:
    cdx_store_stmt_put(st);
    free(items);
    return rc;
}
