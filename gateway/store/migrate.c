/* migrate: applies the numbered schema steps (schema/NNNN_name.sql,
 * compiled in as cdx_store_schema_steps) in order at open.
 *
 * The steps are append-only: a new step gets the next number; a step that
 * has shipped is never edited, because databases in the field have already
 * recorded it as applied and would never see the edit. */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <stdio.h>

static const char SQL_MIGRATIONS_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           "  version INTEGER PRIMARY KEY,"
                                           "  name TEXT NOT NULL,"
                                           "  applied_at TEXT NOT NULL)";

/* The first step the database has not recorded, or NULL when it has them all.  Not only the
 * steps newer than its newest: a step numbered below one already applied (written alongside it,
 * and shipped after it) is applied too. */
static int next_step(cdx_registry_t *reg, const cdx_store_schema_step_t **out)
{
    *out = NULL;
    for (size_t i = 0; i < cdx_store_schema_nsteps; i++) {
        CDX_ASSERT(i == 0 ||
                   cdx_store_schema_steps[i].version > cdx_store_schema_steps[i - 1].version);
        char sql[96];
        int64_t recorded = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM schema_migrations WHERE version = %d",
                 cdx_store_schema_steps[i].version);
        int rc = cdx_store_query_int64(reg, sql, &recorded);
        if (rc != 0)
            return rc;
        if (recorded == 0) {
            *out = &cdx_store_schema_steps[i];
            return 0;
        }
    }
    return 0;
}

/* Runs step m and records it in schema_migrations, inside the open
 * transaction.  Run once per database, so outside the statement cache. */
static int apply_step(cdx_registry_t *reg, const cdx_store_schema_step_t *m)
{
    char what[160];
    snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
    int rc = cdx_store_exec(reg, m->sql, what);
    if (rc != 0)
        return rc;
    char ts[32];
    cdx_store_now(ts);
    sqlite3_stmt *st = NULL;
    reg->one_off++;
    int src = sqlite3_prepare_v2(
        reg->db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
        -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 1, m->version);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, m->name);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "recording a migration")
                          : cdx_store_fail(reg, src, "recording a migration");
    sqlite3_finalize(st);
    return rc;
}

/* Applies pending migrations one transaction each, re-reading the version inside every
 * transaction so two processes opening the same new database do not both apply a step. */
int cdx_store_migrate(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    const int latest = cdx_store_schema_steps[cdx_store_schema_nsteps - 1].version;
    int rc = 0;
    int began = 0;
    for (;;) {
        rc = cdx_store_tx_begin(reg);
        if (rc != 0)
            goto out;
        began = 1;
        rc = cdx_store_exec(reg, SQL_MIGRATIONS_TABLE, "creating schema_migrations");
        if (rc != 0)
            goto out;
        int64_t current = 0;
        rc = cdx_store_query_int64(reg, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                                   &current);
        if (rc != 0)
            goto out;
        if (current > latest) {
            cdx_errf(err, errlen,
                     "%s: database schema version %lld is newer than this cdxgw knows (%d); "
                     "use the cdxgw release that wrote it, or a newer one",
                     path, (long long)current, latest);
            rc = CDX_EDB;
            goto out;
        }
        const cdx_store_schema_step_t *m = NULL;
        rc = next_step(reg, &m);
        if (rc == 0 && m != NULL)
            rc = apply_step(reg, m);
        if (rc == 0)
            rc = cdx_store_tx_commit(reg);
        if (rc != 0)
            goto out;
        began = 0;
        if (m == NULL) {
            reg->schema_version = (int)current;
            break;
        }
    }
out:
    if (rc != 0) {
        if (began)
            cdx_store_tx_rollback(reg);
        /* Reasons set above are more specific than the SQLite message. */
        if (err != NULL && errlen > 0 && err[0] == '\0')
            cdx_errf(err, errlen, "%s: schema migration failed: %s", path, reg->errmsg);
    }
    return rc;
}
