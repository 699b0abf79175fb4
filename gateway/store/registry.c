/* registry: the SQLite registry and the institutions directory (see include/cdx/store/registry.h). */
#include "cdx/store/registry.h"
#include "cdx/domain/institution.h"
#include "cdx/base/common.h"
#include "cdx/store/testvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

struct cdx_registry {
    sqlite3 *db;
    int skip_check;
    int schema_version;
    int last_sqlite_rc; /* SQLite's code behind the last failure, for more specific messages */
    char errmsg[512];
};

/* ---- Small helpers ---------------------------------------------------------------------- */

/* Writes the current UTC time as RFC 3339 with milliseconds, e.g. 2024-05-01T12:00:00.123Z. */
static void now_rfc3339(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* ---- SQLite plumbing -------------------------------------------------------------------- */

static int map_sqlite(int src)
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

/* Records why a SQLite call failed in reg->errmsg and returns the project's error code. */
static int db_fail(cdx_registry_t *reg, int src, const char *what)
{
    reg->last_sqlite_rc = src;
    cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: %s (sqlite code %d)", what,
            sqlite3_errmsg(reg->db), src);
    return map_sqlite(src);
}

static int exec_sql(cdx_registry_t *reg, const char *sql, const char *what)
{
    int src = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : db_fail(reg, src, what);
}

static int prepare(cdx_registry_t *reg, const char *sql, sqlite3_stmt **st)
{
    int src = sqlite3_prepare_v2(reg->db, sql, -1, st, NULL);
    if (src != SQLITE_OK) {
        *st = NULL;
        return db_fail(reg, src, "preparing a statement");
    }
    return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Steps a statement that must finish without returning rows. */
static int step_done(cdx_registry_t *reg, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        return 0;
    if (src == SQLITE_ROW) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: unexpected result row", what);
        return CDX_EDB;
    }
    return db_fail(reg, src, what);
}

/* Prepares sql, binds n text values (NULL binds SQL NULL) to ?1..?n, runs
 * it to completion and finalizes it: the common shape of a single write. */
static int exec_texts(cdx_registry_t *reg, const char *sql, const char *what,
                      const char *const *values, int n)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        return rc;
    int src = SQLITE_OK;
    for (int i = 0; i < n && src == SQLITE_OK; i++)
        src = bind_text(st, i + 1, values[i]);
    rc = src == SQLITE_OK ? step_done(reg, st, what) : db_fail(reg, src, what);
    sqlite3_finalize(st);
    return rc;
}

/* The same for statements taking an id as ?1 and a text as ?2. */
static int exec_id_text(cdx_registry_t *reg, const char *sql, const char *what, int64_t id,
                        const char *text)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, text);
    rc = src == SQLITE_OK ? step_done(reg, st, what) : db_fail(reg, src, what);
    sqlite3_finalize(st);
    return rc;
}

/* Runs a one-value query; *out is "" when there is no row or the value is NULL. */
static int query_text(cdx_registry_t *reg, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        goto out;
    out[0] = '\0';
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL)
            cdx_strlcpy(out, v, n);
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            rc = db_fail(reg, sqlite3_errcode(reg->db), sql);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, sql);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static int query_int64(cdx_registry_t *reg, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        goto out;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_DONE)
        *out = 0;
    else
        rc = db_fail(reg, src, sql);
out:
    sqlite3_finalize(st);
    return rc;
}

static int tx_begin(cdx_registry_t *reg)
{
    /* IMMEDIATE takes the write lock up front, so a concurrent writer makes us wait (busy_timeout)
     * here instead of failing with SQLITE_BUSY halfway through the transaction. */
    return exec_sql(reg, "BEGIN IMMEDIATE", "starting a transaction");
}

static int tx_commit(cdx_registry_t *reg)
{
    return exec_sql(reg, "COMMIT", "committing");
}

/* Rolls back the transaction this module began, if SQLite has not already ended it. */
static void tx_rollback(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db))
        (void)sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- Migrations ------------------------------------------------------------------------- */

typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

static const char migration_1[] =
    "CREATE TABLE institutions ("
    "  id INTEGER PRIMARY KEY,"
    "  oid TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  roles INTEGER NOT NULL DEFAULT 0 CHECK (roles >= 0),"
    "  endpoint TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE TABLE institution_credentials ("
    "  id INTEGER PRIMARY KEY,"
    "  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('cert', 'spki')),"
    "  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64)"
    ");"
    "CREATE INDEX institution_credentials_by_institution"
    "  ON institution_credentials(institution_id);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  actor_oid TEXT,"
    "  actor_user TEXT,"
    "  purpose TEXT,"
    "  outcome INTEGER NOT NULL,"
    "  patient_key TEXT,"
    "  document_id TEXT,"
    "  detail TEXT,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");";


static const char migration_2[] =
    "ALTER TABLE institutions ADD COLUMN policy INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE documents ("
    "  id INTEGER PRIMARY KEY,"
    "  uid TEXT NOT NULL UNIQUE,"
    "  unique_id TEXT NOT NULL UNIQUE,"
    "  set_id TEXT,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  replaces TEXT,"
    "  status TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'superseded')),"
    "  submitter_id INTEGER NOT NULL REFERENCES institutions(id),"
    "  custodian_oid TEXT,"
    "  author_oid TEXT,"
    "  type_code TEXT,"
    "  type_system TEXT,"
    "  title TEXT,"
    "  creation_time TEXT,"
    "  service_start TEXT,"
    "  service_stop TEXT,"
    "  confidentiality TEXT,"
    "  language TEXT,"
    "  patient_root TEXT,"
    "  patient_ext TEXT,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  normalized_sha256 TEXT,"
    "  mapping_version TEXT,"
    "  meta_json TEXT NOT NULL,"
    "  warnings_json TEXT,"
    "  stored_at TEXT NOT NULL"
    ");"
    "CREATE INDEX documents_by_patient ON documents(patient_root, patient_ext);"
    "CREATE INDEX documents_by_sha256 ON documents(sha256);"
    "CREATE INDEX documents_by_set ON documents(set_id, version);"
    "CREATE TABLE document_content ("
    "  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
    "  original BLOB NOT NULL,"
    "  normalized BLOB"
    ");"
    "CREATE TABLE document_patient_ids ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  root TEXT NOT NULL,"
    "  extension TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (document_id, root, extension)"
    ");"
    "CREATE INDEX document_patient_ids_by_id ON document_patient_ids(root, extension);"
    "CREATE TABLE facts ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  code_system TEXT,"
    "  code TEXT,"
    "  display TEXT,"
    "  value TEXT,"
    "  value_num REAL,"
    "  unit TEXT,"
    "  time_low TEXT,"
    "  time_high TEXT,"
    "  status TEXT,"
    "  data TEXT NOT NULL"
    ");"
    "CREATE INDEX facts_by_document ON facts(document_id);"
    "CREATE INDEX facts_by_code ON facts(kind, code_system, code);"
    "CREATE TABLE state ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");";

static const char migration_3[] =
    "CREATE TABLE institution_id_roots ("
    "  id INTEGER PRIMARY KEY,"
    "  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,"
    "  root TEXT NOT NULL UNIQUE"
    ");"
    "CREATE INDEX institution_id_roots_by_institution ON institution_id_roots(institution_id);"
    "CREATE INDEX documents_by_replaces ON documents(replaces);";

/* Applied in order at open.  Append new migrations with the next version number; never edit
 * one that has shipped, because databases in the field have already recorded it as applied. */
static const migration_t migrations[] = {
    {1, "institutions, credentials and audit", migration_1},
    {2, "documents, content, patient ids, facts, state", migration_2},
    {3, "institution id roots, replacements index", migration_3},
};

/* Applies pending migrations one transaction each, re-reading the version inside every
 * transaction so two processes opening the same new database do not both apply a step. */
static int migrate(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    const int latest = migrations[CDX_ARRAY_SIZE(migrations) - 1].version;
    int rc = 0;
    int began = 0;
    sqlite3_stmt *st = NULL;
    for (;;) {
        rc = tx_begin(reg);
        if (rc != 0)
            goto out;
        began = 1;
        rc = exec_sql(reg,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "  version INTEGER PRIMARY KEY,"
                      "  name TEXT NOT NULL,"
                      "  applied_at TEXT NOT NULL)",
                      "creating schema_migrations");
        if (rc != 0)
            goto out;
        int64_t current = 0;
        rc = query_int64(reg, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
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
        const migration_t *m = NULL;
        for (size_t i = 0; i < CDX_ARRAY_SIZE(migrations); i++) {
            CDX_ASSERT(i == 0 || migrations[i].version > migrations[i - 1].version);
            if (migrations[i].version > current) {
                m = &migrations[i];
                break;
            }
        }
        if (m == NULL) {
            rc = tx_commit(reg);
            if (rc != 0)
                goto out;
            began = 0;
            reg->schema_version = (int)current;
            break;
        }
        char what[160];
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
        rc = exec_sql(reg, m->sql, what);
        if (rc != 0)
            goto out;
        char ts[32];
        now_rfc3339(ts);
        rc = prepare(
            reg, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            &st);
        if (rc != 0)
            goto out;
        int src = sqlite3_bind_int(st, 1, m->version);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, m->name);
        if (src == SQLITE_OK)
            src = bind_text(st, 3, ts);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "recording a migration");
            goto out;
        }
        rc = step_done(reg, st, "recording a migration");
        if (rc != 0)
            goto out;
        sqlite3_finalize(st);
        st = NULL;
        rc = tx_commit(reg);
        if (rc != 0)
            goto out;
        began = 0;
    }
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        if (began)
            tx_rollback(reg);
        /* Reasons set above are more specific than the SQLite message. */
        if (err != NULL && errlen > 0 && err[0] == '\0')
            cdx_errf(err, errlen, "%s: schema migration failed: %s", path, reg->errmsg);
    }
    return rc;
}

/* ---- Open and close --------------------------------------------------------------------- */

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
            cdx_errf(err, errlen, "%s: cannot create the database file: %s", path,
                    strerror(errno));
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
        rc = db_fail(reg, src, "enabling defensive mode");
        goto fail;
    }
    rc = exec_sql(reg, pragmas[0], pragmas[0]);
    if (rc != 0)
        goto fail;
    rc = query_text(reg, "PRAGMA journal_mode = WAL", value, sizeof value);
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
        rc = exec_sql(reg, pragmas[i], pragmas[i]);
        if (rc != 0)
            goto fail;
    }
    /* PRAGMA foreign_keys silently does nothing in some builds; ON DELETE CASCADE relies on it. */
    int64_t fk = 0;
    rc = query_int64(reg, "PRAGMA foreign_keys", &fk);
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
    rc = query_text(reg, "PRAGMA quick_check", value, sizeof value);
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
        rc = map_sqlite(src);
        goto out;
    }
    rc = configure(reg, path, err, errlen);
    if (rc != 0)
        goto out;
    rc = migrate(reg, path, err, errlen);
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
    /* close_v2 defers the close should a statement still be open instead of leaking the db. */
    if (reg->db != NULL)
        (void)sqlite3_close_v2(reg->db);
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

/* ---- Audit chain ------------------------------------------------------------------------ */

#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* A string field as stored: p == NULL is SQL NULL, distinct from "". */
typedef struct span {
    const char *p;
    size_t n;
} span_t;

typedef struct audit_row {
    int64_t seq;
    span_t ts, event, actor_oid, actor_user, purpose;
    int64_t outcome;
    span_t patient_key, document_id, detail;
} audit_row_t;

static span_t span_of(const char *s)
{
    span_t sp = {s, s != NULL ? strlen(s) : 0};
    return sp;
}

static void hash_bytes(EVP_MD_CTX *ctx, int *ok, const void *p, size_t n)
{
    if (*ok && n > 0 && EVP_DigestUpdate(ctx, p, n) != 1)
        *ok = 0;
}

static void hash_u64(EVP_MD_CTX *ctx, int *ok, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    hash_bytes(ctx, ok, b, sizeof b);
}

/* A string is a presence byte (0 NULL, 1 present) then, if present, its length as 8 big-endian
 * bytes and its bytes, so no two different field sequences encode the same. */
static void hash_span(EVP_MD_CTX *ctx, int *ok, span_t s)
{
    unsigned char present = s.p != NULL;
    hash_bytes(ctx, ok, &present, 1);
    if (present) {
        hash_u64(ctx, ok, (uint64_t)s.n);
        hash_bytes(ctx, ok, s.p, s.n);
    }
}

/* hash = SHA-256(tag, prev_hash, seq, ts, event, actor_oid, actor_user, purpose, outcome,
 * patient_key, document_id, detail), integers as 8 big-endian bytes, strings as above.  The
 * sequence number is covered so that renumbering rows breaks the chain too. */
static int audit_hash(const char *prev_hash, const audit_row_t *r, char out[65])
{
    static const char tag[] = "cdx.audit.v1";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CDX_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        ok = 0;
    hash_span(ctx, &ok, span_of(tag));
    hash_span(ctx, &ok, span_of(prev_hash));
    hash_u64(ctx, &ok, (uint64_t)r->seq);
    hash_span(ctx, &ok, r->ts);
    hash_span(ctx, &ok, r->event);
    hash_span(ctx, &ok, r->actor_oid);
    hash_span(ctx, &ok, r->actor_user);
    hash_span(ctx, &ok, r->purpose);
    hash_u64(ctx, &ok, (uint64_t)r->outcome);
    hash_span(ctx, &ok, r->patient_key);
    hash_span(ctx, &ok, r->document_id);
    hash_span(ctx, &ok, r->detail);
    if (ok && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
        ok = 0;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return CDX_ECRYPTO;
    cdx_hex(md, 32, out);
    return 0;
}

static int audit_event_ok(const cdx_audit_event_t *ev)
{
    return ev != NULL && ev->event != NULL && ev->event[0] != '\0' &&
           (ev->outcome == 0 || ev->outcome == 4 || ev->outcome == 8 || ev->outcome == 12);
}

/* Appends ev to the chain.  Must run inside a transaction this module began, so that the row
 * read as "previous" is still the last one when the new row is inserted and so that the audit
 * row commits or rolls back together with the change it records. */
static int audit_append(cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    CDX_ASSERT(!sqlite3_get_autocommit(reg->db));
    sqlite3_stmt *st = NULL;
    char prev[65] = AUDIT_ZERO_HASH;
    char hash[65];
    char ts[32];
    audit_row_t row;
    int rc;

    if (!audit_event_ok(ev)) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg,
                "audit: an event name and an outcome of 0, 4, 8 or 12 are required");
        return CDX_EINVAL;
    }
    rc = prepare(reg, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st);
    if (rc != 0)
        goto out;
    int64_t last = 0;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (h == NULL || strlen(h) != 64) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "audit: row %lld has a malformed hash; run the audit verification",
                    (long long)last);
            rc = CDX_EDB;
            goto out;
        }
        memcpy(prev, h, 65);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "reading the last audit row");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (last == INT64_MAX) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: sequence exhausted");
        rc = CDX_ERANGE;
        goto out;
    }

    now_rfc3339(ts);
    row = (audit_row_t){
        .seq = last + 1,
        .ts = span_of(ts),
        .event = span_of(ev->event),
        .actor_oid = span_of(ev->actor_oid),
        .actor_user = span_of(ev->actor_user),
        .purpose = span_of(ev->purpose),
        .outcome = ev->outcome,
        .patient_key = span_of(ev->patient_key),
        .document_id = span_of(ev->document_id),
        .detail = span_of(ev->detail),
    };
    rc = audit_hash(prev, &row, hash);
    if (rc != 0) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s", cdx_strerror(rc));
        goto out;
    }
    rc = prepare(reg,
                 "INSERT INTO audit (seq, ts, event, actor_oid, actor_user, purpose, outcome,"
                 " patient_key, document_id, detail, prev_hash, hash)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, row.seq);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, ts);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, ev->event);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, ev->actor_oid);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, ev->actor_user);
    if (src == SQLITE_OK)
        src = bind_text(st, 6, ev->purpose);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 7, ev->outcome);
    if (src == SQLITE_OK)
        src = bind_text(st, 8, ev->patient_key);
    if (src == SQLITE_OK)
        src = bind_text(st, 9, ev->document_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 10, ev->detail);
    if (src == SQLITE_OK)
        src = bind_text(st, 11, prev);
    if (src == SQLITE_OK)
        src = bind_text(st, 12, hash);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an audit row");
        goto out;
    }
    rc = step_done(reg, st, "writing an audit row");
out:
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_audit(cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (!audit_event_ok(ev)) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg,
                "audit: an event name and an outcome of 0, 4, 8 or 12 are required");
        return CDX_EINVAL;
    }
    /* Inside the caller's transaction (the writer's batch) or one of its own. */
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = audit_append(reg, ev);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

static span_t column_span(sqlite3_stmt *st, int col)
{
    span_t s = {NULL, 0};
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return s;
    s.p = (const char *)sqlite3_column_text(st, col);
    s.n = (size_t)sqlite3_column_bytes(st, col);
    if (s.p == NULL)
        s.p = "";
    return s;
}

/* Whether every column of an audit row has the type audit_append stores: the hash reads text and
 * integers, and a BLOB with the same bytes as a text, or a text such as '4 (amended)' where an
 * integer belongs, would read back the same while not being what was recorded. */
static int stored_types_ok(sqlite3_stmt *st)
{
    for (int col = 1; col <= 11; col++) {
        int type = sqlite3_column_type(st, col);
        int nullable = col >= 3 && col <= 9 && col != 6;
        if (col == 6 ? type != SQLITE_INTEGER
                     : !(type == SQLITE_TEXT || (nullable && type == SQLITE_NULL)))
            return 0;
    }
    return 1;
}

int cdx_registry_audit_verify(cdx_registry_t *reg, int64_t *bad_seq)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (bad_seq != NULL)
        *bad_seq = 0;
    sqlite3_stmt *st = NULL;
    char expected_prev[65] = AUDIT_ZERO_HASH;
    int rc = prepare(reg,
                     "SELECT seq, ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
                     " document_id, detail, prev_hash, hash FROM audit ORDER BY seq",
                     &st);
    if (rc != 0)
        goto out;
    /* One statement reads one consistent snapshot even while others append. */
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "reading the audit trail");
            goto out;
        }
        /* Before any column is read: reading converts a value's type in place. */
        int types_ok = stored_types_ok(st);
        audit_row_t row = {
            .seq = sqlite3_column_int64(st, 0),
            .ts = column_span(st, 1),
            .event = column_span(st, 2),
            .actor_oid = column_span(st, 3),
            .actor_user = column_span(st, 4),
            .purpose = column_span(st, 5),
            .outcome = sqlite3_column_int64(st, 6),
            .patient_key = column_span(st, 7),
            .document_id = column_span(st, 8),
            .detail = column_span(st, 9),
        };
        span_t prev = column_span(st, 10);
        span_t stored = column_span(st, 11);
        char computed[65];
        rc = audit_hash(expected_prev, &row, computed);
        if (rc != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s", cdx_strerror(rc));
            goto out;
        }
        if (!types_ok || prev.p == NULL || prev.n != 64 ||
            memcmp(prev.p, expected_prev, 64) != 0 ||
            stored.p == NULL || stored.n != 64 || memcmp(stored.p, computed, 64) != 0) {
            if (bad_seq != NULL)
                *bad_seq = row.seq;
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "audit: chain broken at seq %lld (row changed, removed or inserted)",
                    (long long)row.seq);
            rc = CDX_ECONFLICT;
            goto out;
        }
        memcpy(expected_prev, computed, 65);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- Institutions ----------------------------------------------------------------------- */

/* Replaces the id roots of institution `id`.  A root another institution holds is refused, so
 * that the id-ownership check at ingest never has two owners to choose from. */
static int put_id_roots(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT i.oid FROM institution_id_roots AS r"
                     " JOIN institutions AS i ON i.id = r.institution_id"
                     " WHERE r.root = ?1 AND r.institution_id <> ?2",
                     &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = bind_text(st, 1, inst->id_roots[i]);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 2, id);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding an id root");
            break;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "id_root %s already belongs to institution %s",
                     inst->id_roots[i], owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
        } else if (src != SQLITE_DONE) {
            rc = db_fail(reg, src, "checking id roots");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "DELETE FROM institution_id_roots WHERE institution_id = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(reg, st, "removing old id roots");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "INSERT INTO institution_id_roots (institution_id, root) VALUES (?1, ?2)",
                 &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->id_roots[i]);
        rc = src == SQLITE_OK ? step_done(reg, st, "writing an id root")
                              : db_fail(reg, src, "binding an id root");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int put_institution_tx(cdx_registry_t *reg, const cdx_institution_t *inst, const char *actor)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    int rc = 0;
    int src;

    /* Checked before any write so that the operator learns which institution holds the key. */
    rc = prepare(reg,
                 "SELECT i.oid FROM institution_credentials AS c"
                 " JOIN institutions AS i ON i.id = c.institution_id"
                 " WHERE c.sha256 = ?1 AND i.oid <> ?2",
                 &st);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < inst->ncreds; i++) {
        src = bind_text(st, 1, inst->creds[i].sha256);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->oid);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding a credential");
            goto out;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "credential %s already belongs to institution %s", inst->creds[i].sha256,
                    owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
            goto out;
        }
        if (src != SQLITE_DONE) {
            rc = db_fail(reg, src, "checking credentials");
            goto out;
        }
        src = sqlite3_reset(st);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "checking credentials");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;

    now_rfc3339(ts);
    rc = prepare(reg,
                 "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at,"
                 " policy)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
                 " ON CONFLICT (oid) DO UPDATE SET name = excluded.name,"
                 " roles = excluded.roles, endpoint = excluded.endpoint,"
                 " updated_at = excluded.updated_at, policy = excluded.policy"
                 " RETURNING id",
                 &st);
    if (rc != 0)
        goto out;
    src = bind_text(st, 1, inst->oid);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, inst->name);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, (int64_t)inst->roles);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, inst->endpoint);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, ts);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 6, (int64_t)inst->policy);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an institution");
        goto out;
    }
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CDX_EDB : db_fail(reg, src, "writing an institution");
        if (src == SQLITE_DONE)
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "writing an institution: no id returned");
        goto out;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    rc = step_done(reg, st, "writing an institution");
    if (rc != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg, "DELETE FROM institution_credentials WHERE institution_id = ?1", &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, id);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an institution id");
        goto out;
    }
    rc = step_done(reg, st, "removing old credentials");
    if (rc != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg,
                 "INSERT INTO institution_credentials (institution_id, kind, sha256)"
                 " VALUES (?1, ?2, ?3)",
                 &st);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < inst->ncreds; i++) {
        src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->creds[i].spki ? "spki" : "cert");
        if (src == SQLITE_OK)
            src = bind_text(st, 3, inst->creds[i].sha256);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding a credential");
            goto out;
        }
        rc = step_done(reg, st, "writing a credential");
        if (rc != 0)
            goto out;
        src = sqlite3_reset(st);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "writing a credential");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = put_id_roots(reg, inst, id);
    if (rc != 0)
        goto out;

    char roles[64];
    char detail[256];
    cdx_roles_format(inst->roles, roles, sizeof roles);
    snprintf(detail, sizeof detail, "oid=%s roles=%s creds=%zu id_roots=%zu", inst->oid, roles,
             inst->ncreds, inst->nid_roots);
    cdx_audit_event_t ev = {
        .event = "institution.upsert",
        .actor_oid = actor,
        .outcome = 0,
        .detail = detail,
    };
    rc = audit_append(reg, &ev);
out:
    sqlite3_finalize(st);
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
    int rc = tx_begin(reg);
    if (rc != 0)
        return rc;
    rc = put_institution_tx(reg, inst, actor);
    if (rc == 0)
        rc = tx_commit(reg);
    if (rc != 0)
        tx_rollback(reg);
    return rc;
}

static int copy_column(sqlite3_stmt *st, int col, char *dst, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return cdx_strlcpy(dst, v != NULL ? v : "", n);
}

/* Adds the id roots to items (sorted by OID, as listed). */
static int list_id_roots(cdx_registry_t *reg, cdx_institution_t *items, size_t count)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT i.oid, r.root FROM institution_id_roots AS r"
                     " JOIN institutions AS i ON i.id = r.institution_id ORDER BY i.oid, r.id",
                     &st);
    size_t k = 0;
    while (rc == 0) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "listing id roots");
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
    sqlite3_finalize(st);
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
    int rc = prepare(reg,
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
            rc = db_fail(reg, src, "listing institutions");
            goto out;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        if (count == 0 || id != last_id) {
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                cdx_institution_t *grown = realloc(items, ncap * sizeof *items);
                if (grown == NULL) {
                    rc = CDX_ENOMEM;
                    goto out;
                }
                items = grown;
                cap = ncap;
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
    sqlite3_finalize(st);
    st = NULL;
    rc = list_id_roots(reg, items, count);
    if (rc != 0)
        goto out;
    *out = items;
    *n = count;
    items = NULL;
out:
    sqlite3_finalize(st);
    free(items);
    return rc;
}

/* ---- Transactions for the writer ----------------------------------------------------------- */

int cdx_registry_begin(cdx_registry_t *reg)
{
    return tx_begin(reg);
}

int cdx_registry_commit(cdx_registry_t *reg)
{
    return tx_commit(reg);
}

void cdx_registry_rollback(cdx_registry_t *reg)
{
    tx_rollback(reg);
}

int cdx_registry_savepoint(cdx_registry_t *reg)
{
    return exec_sql(reg, "SAVEPOINT change", "opening a savepoint");
}

int cdx_registry_release(cdx_registry_t *reg)
{
    return exec_sql(reg, "RELEASE change", "releasing a savepoint");
}

void cdx_registry_rollback_savepoint(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db)) {
        (void)sqlite3_exec(reg->db, "ROLLBACK TO change", NULL, NULL, NULL);
        (void)sqlite3_exec(reg->db, "RELEASE change", NULL, NULL, NULL);
    }
}

int cdx_registry_manual_checkpoints(cdx_registry_t *reg)
{
    return exec_sql(reg, "PRAGMA wal_autocheckpoint = 0", "turning automatic checkpoints off");
}

int cdx_registry_checkpoint(cdx_registry_t *reg)
{
    int src = sqlite3_wal_checkpoint_v2(reg->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return src == SQLITE_OK || src == SQLITE_BUSY ? 0 : db_fail(reg, src, "checkpointing");
}

int cdx_registry_last_sqlite_code(const cdx_registry_t *reg)
{
    return reg->last_sqlite_rc;
}

int cdx_registry_ensure_institution(cdx_registry_t *reg, const char *oid, const char *name)
{
    if (oid == NULL || oid[0] == '\0') {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "registering an institution: no OID");
        return CDX_EINVAL;
    }
    char ts[32];
    now_rfc3339(ts);
    const char *values[] = {oid, name && name[0] ? name : oid, ts};
    return exec_texts(reg,
                      "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at)"
                      " VALUES (?1, ?2, 0, '', ?3, ?3) ON CONFLICT (oid) DO NOTHING",
                      "registering an institution", values, 3);
}

/* ---- Documents --------------------------------------------------------------------------- */

void cdx_registry_doc_uid(const char *unique_id, char out[33])
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(unique_id, strlen(unique_id), md, &len, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof md);
    cdx_hex(md, 16, out);
}

static int bind_all_text(sqlite3_stmt *st, const char *const *values, int n)
{
    for (int i = 0; i < n; i++) {
        int src = bind_text(st, i + 1, values[i]);
        if (src != SQLITE_OK)
            return src;
    }
    return SQLITE_OK;
}


static int bind_fact(sqlite3_stmt *st, int64_t doc_id, const cdx_fact_row_t *f)
{
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, f->kind);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, f->code_system);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, f->code);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, f->display);
    if (src == SQLITE_OK)
        src = bind_text(st, 6, f->value);
    if (src == SQLITE_OK)
        src = f->has_number ? sqlite3_bind_double(st, 7, f->number) : sqlite3_bind_null(st, 7);
    if (src == SQLITE_OK)
        src = bind_text(st, 8, f->unit);
    if (src == SQLITE_OK)
        src = bind_text(st, 9, f->time_low);
    if (src == SQLITE_OK)
        src = bind_text(st, 10, f->time_high);
    if (src == SQLITE_OK)
        src = bind_text(st, 11, f->status);
    if (src == SQLITE_OK)
        src = bind_text(st, 12, f->data ? f->data : "{}");
    return src;
}

/* Inserts the facts of a document: rows prepared by the pipeline on a
 * worker thread (the writer only binds), or else the extractor's JSON
 * grouping read here (older callers, tests). */
static int insert_facts(cdx_registry_t *reg, int64_t doc_id, const char *facts_json,
                        const cdx_fact_row_t *rows, size_t nrows)
{
    json_t *root = NULL;
    cdx_fact_row_t *parsed = NULL;
    sqlite3_stmt *st = NULL;
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
    if (rows == NULL || nrows == 0)
        goto out;
    rc = prepare(reg,
                 "INSERT INTO facts (document_id, kind, code_system, code, display, value,"
                 " value_num, unit, time_low, time_high, status, data)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 &st);
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        int src = bind_fact(st, doc_id, &rows[i]);
        rc = src == SQLITE_OK ? step_done(reg, st, "storing a fact")
                              : db_fail(reg, src, "binding a fact");
        sqlite3_reset(st);
    }
out:
    sqlite3_finalize(st);
    cdx_fact_rows_free(parsed, nrows);
    json_decref(root);
    return rc;
}

static const char *json_str(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (!json_is_string(v) && k2 != NULL)
        v = json_object_get(o, k2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cdx_fact_rows_from_json(json_t *facts, cdx_fact_row_t **out, size_t *n)
{
    size_t total = 0;
    const char *kind;
    json_t *list;
    *out = NULL;
    *n = 0;
    json_object_foreach(facts, kind, list)
    {
        if (json_is_array(list))
            total += json_array_size(list);
    }
    if (total == 0)
        return 0;
    cdx_fact_row_t *rows = calloc(total, sizeof *rows);
    if (rows == NULL)
        return CDX_ENOMEM;
    size_t k = 0;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, f)
        {
            if (!json_is_object(f) || k >= total)
                continue;
            cdx_fact_row_t *r = &rows[k];
            r->data = json_dumps(f, JSON_COMPACT);
            if (r->data == NULL) {
                cdx_fact_rows_free(rows, k);
                return CDX_ENOMEM;
            }
            json_t *num = json_object_get(f, "number");
            json_t *et = json_object_get(f, "effectiveTime");
            r->kind = kind;
            r->code_system = json_str(f, "codeSystem", NULL);
            r->code = json_str(f, "code", NULL);
            r->display = json_str(f, "displayName", "originalText");
            r->value = json_str(f, "value", NULL);
            r->has_number = json_is_number(num);
            r->number = r->has_number ? json_number_value(num) : 0;
            r->unit = json_str(f, "unit", NULL);
            r->time_low = json_is_object(et) ? json_str(et, "low", NULL) : NULL;
            r->time_high = json_is_object(et) ? json_str(et, "high", NULL) : NULL;
            r->status = json_str(f, "status", NULL);
            k++;
        }
    }
    *out = rows;
    *n = k;
    return 0;
}

void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free((char *)rows[i].data);
    free(rows);
}

/* Whether rec may replace its parent: the parent is not stored yet, or it
 * was submitted by rec's submitter, or its custodian is rec's submitter. */
static int replacement_allowed(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                               int64_t submitter, int *allowed)
{
    sqlite3_stmt *st = NULL;
    *allowed = 1;
    int rc = prepare(reg,
                     "SELECT submitter_id = ?2 OR coalesce(custodian_oid = ?3, 0)"
                     " FROM documents WHERE unique_id = ?1",
                     &st);
    if (rc != 0)
        return rc;
    int src = bind_text(st, 1, rec->replaces);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, submitter);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, rec->submitter_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *allowed = sqlite3_column_int(st, 0) != 0;
    else if (src != SQLITE_DONE)
        rc = db_fail(reg, src, "checking the replaced document");
    sqlite3_finalize(st);
    return rc;
}

/* Marks document doc_id (unique id unique_id, submitted by submitter,
 * custodian custodian_oid) superseded when a replacement of it is stored
 * already from its submitter or its custodian. */
static int supersede_if_replaced(cdx_registry_t *reg, int64_t doc_id, const char *unique_id,
                                 int64_t submitter, const char *custodian_oid)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "UPDATE documents SET status = 'superseded' WHERE id = ?1 AND EXISTS"
                     " (SELECT 1 FROM documents AS r WHERE r.replaces = ?2 AND r.id <> ?1"
                     "  AND (r.submitter_id = ?3 OR r.submitter_id IN"
                     "   (SELECT id FROM institutions WHERE oid = ?4)))",
                     &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, unique_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, submitter);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, custodian_oid);
    rc = src == SQLITE_OK ? step_done(reg, st, "checking replacements")
                          : db_fail(reg, src, "checking replacements");
    sqlite3_finalize(st);
    return rc;
}

static int store_document_tx(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                             const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                             char uid[33])
{
    sqlite3_stmt *st = NULL;
    int rc;
    int src;
    char ts[32];
    cdx_registry_doc_uid(rec->unique_id, uid);

    /* Idempotency: the same id with the same bytes is the same document. */
    rc = prepare(reg, "SELECT sha256 FROM documents WHERE unique_id = ?1", &st);
    if (rc != 0)
        goto out;
    src = bind_text(st, 1, rec->unique_id);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding a document id");
        goto out;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(st, 0);
        *outcome = sha != NULL && strcmp(sha, rec->sha256) == 0 ? CDX_STORE_IDENTICAL
                                                                : CDX_STORE_CONFLICT;
        sqlite3_finalize(st);
        st = NULL;
        if (audit != NULL) {
            /* A conflict is a refused import; a repeat is recorded as such. */
            cdx_audit_event_t ev = *audit;
            char detail[256];
            snprintf(detail, sizeof detail, "%s %s", *outcome == CDX_STORE_CONFLICT ?
                     "result=conflict" : "result=identical", audit->detail ? audit->detail : "");
            ev.detail = detail;
            if (*outcome == CDX_STORE_CONFLICT) {
                ev.event = "document.conflict";
                ev.outcome = 4;
            }
            rc = audit_append(reg, &ev);
        }
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "looking a document up");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg, "SELECT id FROM institutions WHERE oid = ?1", &st);
    if (rc != 0)
        goto out;
    bind_text(st, 1, rec->submitter_oid);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : db_fail(reg, src, "finding the submitter");
        if (src == SQLITE_DONE)
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "submitter %s is not registered",
                    rec->submitter_oid);
        goto out;
    }
    int64_t submitter = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    if (rec->replaces != NULL) {
        int allowed = 1;
        rc = replacement_allowed(reg, rec, submitter, &allowed);
        if (rc != 0)
            goto out;
        if (!allowed) {
            *outcome = CDX_STORE_FORBIDDEN;
            if (audit != NULL) {
                cdx_audit_event_t ev = *audit;
                char detail[256];
                snprintf(detail, sizeof detail, "code=REPLACEMENT_FORBIDDEN %s",
                         audit->detail ? audit->detail : "");
                ev.event = "security.alert";
                ev.outcome = 8;
                ev.detail = detail;
                rc = audit_append(reg, &ev);
            }
            goto out;
        }
    }

    now_rfc3339(ts);
    rc = prepare(reg,
                 "INSERT INTO documents (uid, unique_id, set_id, replaces, custodian_oid,"
                 " author_oid, type_code, type_system, title, creation_time, service_start,"
                 " service_stop, confidentiality, language, patient_root, patient_ext, sha256,"
                 " normalized_sha256, mapping_version, meta_json, warnings_json, stored_at,"
                 " version, submitter_id, size)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                 " ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) RETURNING id",
                 &st);
    if (rc != 0)
        goto out;
    const char *texts[] = {uid,
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
    src = bind_all_text(st, texts, (int)CDX_ARRAY_SIZE(texts));
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 23, rec->version > 0 ? rec->version : 1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 24, submitter);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 25, (int64_t)rec->size);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding a document");
        goto out;
    }
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = db_fail(reg, src, "storing a document");
        goto out;
    }
    int64_t doc_id = sqlite3_column_int64(st, 0);
    rc = step_done(reg, st, "storing a document");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        goto out;

    rc = prepare(reg,
                 "INSERT INTO document_content (document_id, original, normalized)"
                 " VALUES (?1, ?2, ?3)",
                 &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob64(st, 2, rec->original ? rec->original : "", rec->size,
                                  SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = rec->normalized ? sqlite3_bind_blob64(st, 3, rec->normalized, rec->normalized_size,
                                                    SQLITE_STATIC)
                              : sqlite3_bind_null(st, 3);
    rc = src == SQLITE_OK ? step_done(reg, st, "storing document content")
                          : db_fail(reg, src, "binding document content");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        goto out;

    if (rec->npatient_ids > 0) {
        rc = prepare(reg,
                     "INSERT OR IGNORE INTO document_patient_ids (document_id, root, extension)"
                     " VALUES (?1, ?2, ?3)",
                     &st);
        for (size_t i = 0; rc == 0 && i < rec->npatient_ids; i++) {
            const char *root = rec->patient_ids[2 * i];
            const char *ext = rec->patient_ids[2 * i + 1];
            if (root == NULL)
                continue;
            src = sqlite3_bind_int64(st, 1, doc_id);
            if (src == SQLITE_OK)
                src = bind_text(st, 2, root);
            if (src == SQLITE_OK)
                src = bind_text(st, 3, ext ? ext : "");
            rc = src == SQLITE_OK ? step_done(reg, st, "storing a patient id")
                                  : db_fail(reg, src, "binding a patient id");
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != 0)
            goto out;
    }

    rc = insert_facts(reg, doc_id, rec->facts_json, rec->fact_rows, rec->nfact_rows);
    if (rc != 0)
        goto out;

    /* A replacement supersedes its parent (checked above to be one of
     * its submitter's), which stays retrievable; a document whose
     * replacement arrived first is superseded at once, but only by a
     * replacement its submitter or its custodian sent. */
    if (rec->replaces != NULL)
        rc = exec_id_text(reg,
                          "UPDATE documents SET status = 'superseded' WHERE unique_id = ?2"
                          " AND id <> ?1",
                          "superseding a document", doc_id, rec->replaces);
    if (rc == 0)
        rc = supersede_if_replaced(reg, doc_id, rec->unique_id, submitter, rec->custodian_oid);
    if (rc != 0)
        goto out;

    if (audit != NULL) {
        rc = audit_append(reg, audit);
        if (rc != 0)
            goto out;
    }
    *outcome = CDX_STORE_CREATED;
out:
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_store_document(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                                const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                                char doc_uid[33])
{
    reg->errmsg[0] = '\0';
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = store_document_tx(reg, rec, audit, outcome, doc_uid);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

static char *column_dup(sqlite3_stmt *st, int col)
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
    free(row->content);
    memset(row, 0, sizeof *row);
}

#define DOC_COLUMNS                                                                                \
    "d.id, d.uid, d.unique_id, d.status, d.sha256, d.normalized_sha256, d.mapping_version,"       \
    " d.meta_json, i.oid, d.patient_root, d.patient_ext"

static int read_row(sqlite3_stmt *st, cdx_doc_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    const char *uid = (const char *)sqlite3_column_text(st, 1);
    cdx_strlcpy(row->uid, uid ? uid : "", sizeof row->uid);
    row->unique_id = column_dup(st, 2);
    row->status = column_dup(st, 3);
    row->sha256 = column_dup(st, 4);
    row->normalized_sha256 = column_dup(st, 5);
    row->mapping_version = column_dup(st, 6);
    row->meta_json = column_dup(st, 7);
    row->submitter_oid = column_dup(st, 8);
    row->patient_root = column_dup(st, 9);
    row->patient_ext = column_dup(st, 10);
    if (row->unique_id == NULL || row->sha256 == NULL || row->meta_json == NULL) {
        cdx_doc_row_cleanup(row);
        return CDX_ENOMEM;
    }
    return 0;
}

static int read_blob(sqlite3_stmt *st, int col, cdx_doc_row_t *row)
{
    const void *blob = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (blob == NULL && sqlite3_column_type(st, col) == SQLITE_NULL)
        return CDX_ENOTFOUND;
    row->content = malloc((size_t)n + 1);
    if (row->content == NULL)
        return CDX_ENOMEM;
    if (n > 0)
        memcpy(row->content, blob, (size_t)n);
    row->content[n] = '\0';
    row->content_len = (size_t)n;
    return 0;
}

int cdx_registry_get_document(cdx_registry_t *reg, const char *uid, int what, cdx_doc_row_t *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int rc = prepare(reg,
                     "SELECT " DOC_COLUMNS ", c.original, c.normalized FROM documents AS d"
                     " JOIN institutions AS i ON i.id = d.submitter_id"
                     " JOIN document_content AS c ON c.document_id = d.id WHERE d.uid = ?1",
                     &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, uid);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = CDX_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = db_fail(reg, src, "reading a document");
    } else {
        rc = read_row(st, out);
        if (rc == 0 && what == CDX_DOC_ORIGINAL)
            rc = read_blob(st, 11, out);
        else if (rc == 0 && what == CDX_DOC_NORMALIZED)
            rc = read_blob(st, 12, out);
        if (rc != 0)
            cdx_doc_row_cleanup(out);
    }
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_has_sha256(cdx_registry_t *reg, const char *sha256, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, "SELECT 1 FROM documents WHERE sha256 = ?1 LIMIT 1", &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, sha256);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *found = 1;
    else if (src == SQLITE_DONE)
        *found = 0;
    else
        rc = db_fail(reg, src, "looking a hash up");
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_each_document(cdx_registry_t *reg, int64_t after_id, size_t limit,
                               int (*fn)(const cdx_doc_row_t *row, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT " DOC_COLUMNS ", c.original FROM documents AS d"
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
            rc = db_fail(reg, src, "reading documents");
            break;
        }
        cdx_doc_row_t row;
        rc = read_row(st, &row);
        if (rc == 0)
            rc = read_blob(st, 11, &row);
        if (rc == 0)
            rc = fn(&row, arg);
        cdx_doc_row_cleanup(&row);
        if (rc != 0)
            break;
    }
    sqlite3_finalize(st);
    return rc;
}

static int update_normalized_tx(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                const void *normalized, size_t normalized_size,
                                const char *mapping_version, const char *meta_json,
                                const char *facts_json, const cdx_fact_row_t *rows, size_t nrows)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "UPDATE documents SET normalized_sha256 = ?2, mapping_version = ?3,"
                     " meta_json = ?4 WHERE id = ?1",
                     &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, normalized_sha256);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, mapping_version);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, meta_json ? meta_json : "{}");
    rc = src == SQLITE_OK ? step_done(reg, st, "updating a document")
                          : db_fail(reg, src, "binding a document");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "UPDATE document_content SET normalized = ?2 WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = normalized ? sqlite3_bind_blob64(st, 2, normalized, normalized_size, SQLITE_STATIC)
                         : sqlite3_bind_null(st, 2);
    rc = src == SQLITE_OK ? step_done(reg, st, "updating document content")
                          : db_fail(reg, src, "binding document content");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "DELETE FROM facts WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(reg, st, "removing old facts");
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    return insert_facts(reg, id, facts_json, rows, nrows);
}

int cdx_registry_update_normalized(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                   const void *normalized, size_t normalized_size,
                                   const char *mapping_version, const char *meta_json,
                                   const char *facts_json, const cdx_fact_row_t *rows,
                                   size_t nrows)
{
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = update_normalized_tx(reg, id, normalized_sha256, normalized, normalized_size,
                              mapping_version, meta_json, facts_json, rows, nrows);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

int cdx_registry_count(cdx_registry_t *reg, const char *table, int64_t *n)
{
    static const char *const allowed[] = {"documents", "facts", "audit", "institutions",
                                          "document_patient_ids"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(allowed); i++) {
        if (strcmp(table, allowed[i]) == 0) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", allowed[i]);
            return query_int64(reg, sql, n);
        }
    }
    return CDX_EINVAL;
}

int cdx_registry_state_get(cdx_registry_t *reg, const char *key, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = prepare(reg, "SELECT value FROM state WHERE key = ?1", &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, key);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        cdx_strlcpy(out, v ? v : "", n);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "reading state");
    }
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_state_set(cdx_registry_t *reg, const char *key, const char *value)
{
    char ts[32];
    now_rfc3339(ts);
    const char *values[] = {key, value, ts};
    return exec_texts(reg,
                      "INSERT INTO state (key, value, updated_at) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at",
                      "writing state", values, 3);
}
