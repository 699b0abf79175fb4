/* db: the connection: open, pragmas, close, errors, the statement cache,
 * transactions, savepoints and checkpoints (see include/cdx/store/registry.h
 * and store_internal.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/store/testvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cdx_store_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* ---- Errors ----------------------------------------------------------- */

int cdx_store_map_sqlite(int src)
{
    switch (src & 0xFF) {
    case SQLITE_FULL:
        return CDX_EFULL;
    case SQLITE_NOMEM:
        return CDX_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CDX_EBUSY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return CDX_EIO;
    case SQLITE_CONSTRAINT:
        if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
            return CDX_ECONFLICT;
        return CDX_EDB;
    default:
        return CDX_EDB;
    }
}

/* The message keeps SQLite's code for the operator; callers see only the
 * project's code. */
int cdx_store_fail(cdx_registry_t *reg, int src, const char *what)
{
    reg->last_sqlite_rc = src;
    cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: %s (sqlite code %d)", what,
             sqlite3_errmsg(reg->db), src);
    return cdx_store_map_sqlite(src);
}

int cdx_store_exec(cdx_registry_t *reg, const char *sql, const char *what)
{
    reg->one_off++;
    int src = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : cdx_store_fail(reg, src, what);
}

/* ---- The statement cache ------------------------------------------------ */

/* The cached statement for id, prepared on first use; NULL with *src set
 * when SQLite cannot prepare it.  Writes nothing to reg->errmsg, so that a
 * rollback after a failure keeps the failure's reason. */
static sqlite3_stmt *cached(cdx_registry_t *reg, stmt_id_t id, const char *sql, int *src)
{
    CDX_ASSERT(id >= 0 && id < STMT_MAX);
    /* One id, one text: two texts under one id would run the wrong one. */
    CDX_ASSERT(reg->stmt_sql[id] == NULL || reg->stmt_sql[id] == sql);
    *src = SQLITE_OK;
    if (reg->stmts[id] != NULL) {
        /* Still stepping: a missing cdx_store_stmt_put, or a nested call (a callback
         * of cdx_registry_each_document calling it again on reg). */
        CDX_ASSERT(!sqlite3_stmt_busy(reg->stmts[id]));
        reg->reused++;
        return reg->stmts[id];
    }
    sqlite3_stmt *st = NULL;
    *src = sqlite3_prepare_v3(reg->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (*src != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    reg->prepared++;
    reg->stmts[id] = st;
    reg->stmt_sql[id] = sql;
    return st;
}

int cdx_store_stmt_get(cdx_registry_t *reg, stmt_id_t id, const char *sql, sqlite3_stmt **st)
{
    int src;
    *st = cached(reg, id, sql, &src);
    return *st != NULL ? 0 : cdx_store_fail(reg, src, "preparing a statement");
}

void cdx_store_stmt_put(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    /* reset returns the last step's error, already reported by the caller. */
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

void cdx_store_stmt_cache_clear(cdx_registry_t *reg)
{
    for (int i = 0; i < STMT_MAX; i++) {
        sqlite3_finalize(reg->stmts[i]);
        reg->stmts[i] = NULL;
        reg->stmt_sql[i] = NULL;
    }
}

void cdx_registry_stats(const cdx_registry_t *reg, cdx_registry_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (reg == NULL)
        return;
    out->prepared = reg->prepared;
    out->reused = reg->reused;
    out->one_off = reg->one_off;
    for (int i = 0; i < STMT_MAX; i++) {
        if (reg->stmts[i] == NULL)
            continue;
        out->cached++;
        if (sqlite3_stmt_busy(reg->stmts[i]))
            out->active++;
    }
}

/* ---- Statement helpers -------------------------------------------------- */

int cdx_store_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

int cdx_store_step_done(cdx_registry_t *reg, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        return 0;
    if (src == SQLITE_ROW) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: unexpected result row", what);
        return CDX_EDB;
    }
    return cdx_store_fail(reg, src, what);
}

int cdx_store_exec_texts(cdx_registry_t *reg, stmt_id_t id, const char *sql, const char *what,
                         const char *const *values, int n)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, id, sql, &st);
    if (rc != 0)
        return rc;
    int src = SQLITE_OK;
    for (int i = 0; i < n && src == SQLITE_OK; i++)
        src = cdx_store_bind_text(st, i + 1, values[i]);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, what) : cdx_store_fail(reg, src, what);
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_store_query_text(cdx_registry_t *reg, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    reg->one_off++;
    int src = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
    int rc = src == SQLITE_OK ? 0 : cdx_store_fail(reg, src, "preparing a statement");
    if (rc != 0)
        goto out;
    out[0] = '\0';
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL)
            cdx_strlcpy(out, v, n);
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            rc = cdx_store_fail(reg, sqlite3_errcode(reg->db), sql);
    } else if (src != SQLITE_DONE) {
        rc = cdx_store_fail(reg, src, sql);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Steps st for one integer: *out is 0 when there is no row. */
static int step_int64(cdx_registry_t *reg, sqlite3_stmt *st, const char *what, int64_t *out)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_DONE)
        *out = 0;
    else
        return cdx_store_fail(reg, src, what);
    return 0;
}

int cdx_store_query_int64(cdx_registry_t *reg, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    reg->one_off++;
    int src = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
    int rc = src == SQLITE_OK ? step_int64(reg, st, sql, out)
                              : cdx_store_fail(reg, src, "preparing a statement");
    sqlite3_finalize(st);
    return rc;
}

int cdx_store_query_int64_cached(cdx_registry_t *reg, stmt_id_t id, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, id, sql, &st);
    if (rc == 0)
        rc = step_int64(reg, st, sql, out);
    cdx_store_stmt_put(st);
    return rc;
}

/* ---- Transactions and savepoints ---------------------------------------- */

static const char SQL_RELEASE[] = "RELEASE change";

/* Runs a cached statement without rows (BEGIN, COMMIT, SAVEPOINT ...). */
static int run(cdx_registry_t *reg, stmt_id_t id, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, id, sql, &st);
    if (rc == 0)
        rc = cdx_store_step_done(reg, st, what);
    cdx_store_stmt_put(st);
    return rc;
}

/* The same for the undo paths: nothing is reported, so that reg->errmsg
 * keeps the reason of the failure being undone. */
static void run_quietly(cdx_registry_t *reg, stmt_id_t id, const char *sql)
{
    int src;
    sqlite3_stmt *st = cached(reg, id, sql, &src);
    if (st == NULL) {
        reg->one_off++;
        (void)sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
        return;
    }
    (void)sqlite3_step(st);
    cdx_store_stmt_put(st);
}

int cdx_store_tx_begin(cdx_registry_t *reg)
{
    /* IMMEDIATE takes the write lock up front, so a concurrent writer makes us wait (busy_timeout)
     * here instead of failing with SQLITE_BUSY halfway through the transaction. */
    return run(reg, STMT_BEGIN, "BEGIN IMMEDIATE", "starting a transaction");
}

int cdx_store_tx_commit(cdx_registry_t *reg)
{
    return run(reg, STMT_COMMIT, "COMMIT", "committing");
}

void cdx_store_tx_rollback(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db))
        run_quietly(reg, STMT_ROLLBACK, "ROLLBACK");
}

int cdx_store_in_transaction(cdx_registry_t *reg, int (*fn)(cdx_registry_t *reg, void *arg),
                             void *arg)
{
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? cdx_store_tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = fn(reg, arg);
    if (own) {
        if (rc == 0)
            rc = cdx_store_tx_commit(reg);
        if (rc != 0)
            cdx_store_tx_rollback(reg);
    }
    return rc;
}

int cdx_registry_begin(cdx_registry_t *reg)
{
    return cdx_store_tx_begin(reg);
}

int cdx_registry_commit(cdx_registry_t *reg)
{
    return cdx_store_tx_commit(reg);
}

void cdx_registry_rollback(cdx_registry_t *reg)
{
    cdx_store_tx_rollback(reg);
}

int cdx_registry_savepoint(cdx_registry_t *reg)
{
    return run(reg, STMT_SAVEPOINT, "SAVEPOINT change", "opening a savepoint");
}

int cdx_registry_release(cdx_registry_t *reg)
{
    return run(reg, STMT_RELEASE, SQL_RELEASE, "releasing a savepoint");
}

void cdx_registry_rollback_savepoint(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db)) {
        run_quietly(reg, STMT_ROLLBACK_TO, "ROLLBACK TO change");
        run_quietly(reg, STMT_RELEASE, SQL_RELEASE);
    }
}

/* SQLite's WAL hook: after each commit on the connection, the frames now
 * in the WAL. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((cdx_registry_t *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

int cdx_registry_manual_checkpoints(cdx_registry_t *reg)
{
    /* The pragma removes SQLite's own hook; ours replaces it and only counts. */
    int rc = cdx_store_exec(reg, "PRAGMA wal_autocheckpoint = 0",
                            "turning automatic checkpoints off");
    if (rc == 0)
        (void)sqlite3_wal_hook(reg->db, on_wal_commit, reg);
    return rc;
}

int64_t cdx_registry_wal_frames(const cdx_registry_t *reg)
{
    return reg->wal_frames;
}

int cdx_registry_open_sibling(cdx_registry_t *reg, cdx_registry_t **out, char *err, size_t errlen)
{
    const char *path = sqlite3_db_filename(reg->db, "main");
    if (path == NULL || path[0] == '\0') {
        cdx_errf(err, errlen, "registry: a temporary database has no other connection");
        return CDX_EINVAL;
    }
    return cdx_registry_open_reader(path, out, err, errlen);
}

int cdx_registry_checkpoint(cdx_registry_t *reg)
{
    int src = sqlite3_wal_checkpoint_v2(reg->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return src == SQLITE_OK || src == SQLITE_BUSY ? 0 : cdx_store_fail(reg, src, "checkpointing");
}

/* ---- Open and close ------------------------------------------------------ */
/* Creates the parent folder (0700) and the database file (0600) before SQLite does, so the
 * file never exists with the process umask's wider permissions.  SQLite gives the -wal and
 * -shm files the same mode as the database. */
static int prepare_file(const char *path, char *err, size_t errlen)
{
    int rc = 0;
    int fd = -1;
    char *copy = strdup(path);
    if (copy == NULL) {
        rc = CDX_ENOMEM;
        cdx_errf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const char *dir = dirname(copy);
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0) {
        rc = cdx_mkdirs(dir, 0700);
        if (rc != 0) {
            cdx_errf(err, errlen, "%s: cannot create folder %s: %s", path, dir, cdx_strerror(rc));
            rc = CDX_EIO;
            goto out;
        }
    }
    /* Never open() and close() an existing database file here: closing
     * any descriptor of a file drops every POSIX lock this process holds
     * on it, including those of SQLite connections already open (the
     * writer, when a reader is opened), and another process could then
     * checkpoint and remove the WAL under our feet.  Only a missing file
     * is created, and an existing one is inspected and chmod-ed by path. */
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            cdx_errf(err, errlen, "%s: %s", path, strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            cdx_errf(err, errlen, "%s: cannot create the database file: %s", path, strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
        if (fd >= 0) {
            close(fd);
            fd = -1;
        }
        if (stat(path, &st) != 0) {
            cdx_errf(err, errlen, "%s: %s", path, strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        cdx_errf(err, errlen, "%s: not a regular file", path);
        rc = CDX_EIO;
        goto out;
    }
    /* The registry holds keyed patient hashes and the audit trail: only the owner may read it,
     * also when an older installation created it with wider permissions. */
    if ((st.st_mode & 07777) != 0600 && chmod(path, 0600) != 0) {
        cdx_errf(err, errlen, "%s: cannot set mode 0600: %s", path, strerror(errno));
        rc = CDX_EIO;
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int configure(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    /* busy_timeout comes first so that switching to WAL waits for another process's lock. */
    static const char *const pragmas[] = {
        "PRAGMA busy_timeout = 5000",  "PRAGMA synchronous = FULL",   "PRAGMA foreign_keys = ON",
        "PRAGMA trusted_schema = OFF", "PRAGMA cell_size_check = ON", "PRAGMA secure_delete = ON",
        "PRAGMA temp_store = MEMORY",
    };
    int rc = 0;
    char value[256];

    int src = sqlite3_db_config(reg->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if (src != SQLITE_OK) {
        rc = cdx_store_fail(reg, src, "enabling defensive mode");
        goto fail;
    }
    rc = cdx_store_exec(reg, pragmas[0], pragmas[0]);
    if (rc != 0)
        goto fail;
    rc = cdx_store_query_text(reg, "PRAGMA journal_mode = WAL", value, sizeof value);
    if (rc != 0)
        goto fail;
    if (strcmp(value, "wal") != 0) {
        cdx_errf(err, errlen,
                 "%s: journal_mode is '%s', not 'wal' (WAL needs a local file system with shared "
                 "memory; is the data folder on a network file system?)",
                 path, value);
        return CDX_EDB;
    }
    for (size_t i = 1; i < CDX_ARRAY_SIZE(pragmas); i++) {
        rc = cdx_store_exec(reg, pragmas[i], pragmas[i]);
        if (rc != 0)
            goto fail;
    }
    /* PRAGMA foreign_keys silently does nothing in some builds; ON DELETE CASCADE relies on it. */
    int64_t fk = 0;
    rc = cdx_store_query_int64(reg, "PRAGMA foreign_keys", &fk);
    if (rc != 0)
        goto fail;
    if (fk != 1) {
        cdx_errf(err, errlen, "%s: this SQLite does not enforce foreign keys", path);
        return CDX_EDB;
    }
    /* quick_check reads the whole file; once per process and path is
     * enough (the readers opened after the writer skip it). */
    if (reg->skip_check)
        return 0;
    rc = cdx_store_query_text(reg, "PRAGMA quick_check", value, sizeof value);
    if (rc != 0)
        goto fail;
    if (strcmp(value, "ok") != 0) {
        cdx_errf(err, errlen, "%s: database is damaged (quick_check: %s); restore it from a backup",
                 path, value);
        return CDX_EDB;
    }
    return 0;
fail:
    if ((reg->last_sqlite_rc & 0xFF) == SQLITE_NOTADB)
        cdx_errf(err, errlen, "%s: not a SQLite database (wrong path, or a damaged file?)", path);
    else
        cdx_errf(err, errlen, "%s: %s", path, reg->errmsg);
    return rc;
}

static int registry_open(const char *path, int skip_check, cdx_registry_t **out, char *err,
                         size_t errlen);

int cdx_registry_open(const char *path, cdx_registry_t **out, char *err, size_t errlen)
{
    return registry_open(path, 0, out, err, errlen);
}

int cdx_registry_open_reader(const char *path, cdx_registry_t **out, char *err, size_t errlen)
{
    return registry_open(path, 1, out, err, errlen);
}

static int registry_open(const char *path, int skip_check, cdx_registry_t **out, char *err,
                         size_t errlen)
{
    int rc = 0;
    cdx_registry_t *reg = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || path[0] == '\0' || out == NULL) {
        cdx_errf(err, errlen, "registry: no database path given");
        return CDX_EINVAL;
    }
    *out = NULL;
    reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        cdx_errf(err, errlen, "%s: out of memory", path);
        return CDX_ENOMEM;
    }
    reg->skip_check = skip_check;
    rc = prepare_file(path, err, errlen);
    if (rc != 0)
        goto out;
    int src = sqlite3_open_v2(path, &reg->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                  SQLITE_OPEN_EXRESCODE,
                              cdx_testvfs_name()); /* NULL (the default VFS) but in tests */
    if (src != SQLITE_OK) {
        cdx_errf(err, errlen, "%s: cannot open database: %s", path,
                 reg->db != NULL ? sqlite3_errmsg(reg->db) : sqlite3_errstr(src));
        rc = cdx_store_map_sqlite(src);
        goto out;
    }
    rc = configure(reg, path, err, errlen);
    if (rc == 0)
        rc = cdx_store_query_functions(reg, path, err, errlen);
    if (rc != 0)
        goto out;
    rc = cdx_store_migrate(reg, path, err, errlen);
    if (rc != 0)
        goto out;
    reg->errmsg[0] = '\0';
    *out = reg;
    reg = NULL;
out:
    cdx_registry_close(reg);
    return rc;
}

void cdx_registry_close(cdx_registry_t *reg)
{
    if (reg == NULL)
        return;
    /* The cached statements go first: a connection with statements left
     * would only be closed later (close_v2), when the last one goes. */
    cdx_store_stmt_cache_clear(reg);
    if (reg->db != NULL)
        (void)sqlite3_close_v2(reg->db);
    cdx_store_content_free(reg);
    free(reg);
}

int cdx_registry_schema_version(cdx_registry_t *reg)
{
    return reg != NULL ? reg->schema_version : 0;
}

const char *cdx_registry_errmsg(const cdx_registry_t *reg)
{
    return reg != NULL ? reg->errmsg : "no registry";
}
