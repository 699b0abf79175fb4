/* libFuzzer target: the audit chain verifier on corrupted data.
 *
 * Once per process, a small registry gets a valid audit chain (records
 * with NULL, empty, non-ASCII and long fields, their ATNA fields in the v2
 * hash format) and a signed checkpoint every two records and at its last
 * one.  Each input is read as a
 * list of edit operations on the audit table (set a field to a value of
 * any SQLite type, flip a bit, insert or delete a byte, delete a row,
 * insert a copy of a row, swap two rows' contents, renumber a row),
 * applied through a second connection as an attacker with the file would;
 * then cdx_registry_audit_verify runs and the table is put back.
 *
 * Oracle: the rows as stored (ordered by seq, each column's type and
 * bytes) are compared with the original ones.  Unchanged: the verifier
 * must say intact.  Changed at position i: it must say broken and name a
 * record whose seq is at or before the edited chain's i-th one.  Removing
 * records from the end only (the edited chain is a strict prefix of the
 * original) is found too: the last checkpoint names a record that is
 * gone.  The rows are read as the audit table joined with audit_atna (the
 * ATNA fields and the hash version); an edit of those columns is made in
 * audit_atna. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_sign.h"
#include "cdx/store/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Columns: seq, ts, event, actor_oid, actor_user, purpose, outcome, patient_key, document_id,
 * detail, prev_hash, hash (the audit table), then peer, decision, reason, consent, hash_version
 * (audit_atna, NULL when the record has no row there). */
#define NCOLS    17
#define NAUDIT   12
#define MAX_ROWS 64
#define MAX_OPS  32

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_audit: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const columns[NCOLS] = {"seq",         "ts",      "event",     "actor_oid",
                                           "actor_user",  "purpose", "outcome",   "patient_key",
                                           "document_id", "detail",  "prev_hash", "hash",
                                           "peer",        "decision", "reason",    "consent",
                                           "hash_version"};

/* One stored row, every column as its type and bytes. */
typedef struct cell {
    int type; /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
    int64_t i;
    double f;
    unsigned char *p;
    size_t n;
} cell_t;

typedef struct table {
    size_t nrows;
    cell_t rows[MAX_ROWS][NCOLS];
} table_t;

static struct {
    int ready;
    char dir[256];
    char path[300];
    cdx_registry_t *reg; /* the verifier's connection */
    cdx_audit_key_t *key; /* signs the checkpoints, and verifies them */
    sqlite3 *db;         /* the attacker's */
    table_t original;
} g;

static void cell_free(cell_t *c)
{
    free(c->p);
    memset(c, 0, sizeof *c);
}

static void table_free(table_t *t)
{
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < NCOLS; c++)
            cell_free(&t->rows[r][c]);
    t->nrows = 0;
}

static void cell_read(sqlite3_stmt *st, int col, cell_t *c)
{
    memset(c, 0, sizeof *c);
    c->type = sqlite3_column_type(st, col);
    switch (c->type) {
    case SQLITE_INTEGER:
        c->i = sqlite3_column_int64(st, col);
        break;
    case SQLITE_FLOAT:
        c->f = sqlite3_column_double(st, col);
        break;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        const void *p = c->type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, col)
                                               : sqlite3_column_blob(st, col);
        c->n = (size_t)sqlite3_column_bytes(st, col);
        c->p = malloc(c->n + 1);
        CHECK(c->p != NULL);
        if (c->n > 0)
            memcpy(c->p, p, c->n);
        c->p[c->n] = 0;
        break;
    }
    default:
        break;
    }
}

static int cell_equal(const cell_t *a, const cell_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case SQLITE_INTEGER:
        return a->i == b->i;
    case SQLITE_FLOAT:
        return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    default:
        return 1;
    }
}

static int cell_bind(sqlite3_stmt *st, int idx, const cell_t *c)
{
    switch (c->type) {
    case SQLITE_INTEGER:
        return sqlite3_bind_int64(st, idx, c->i);
    case SQLITE_FLOAT:
        return sqlite3_bind_double(st, idx, c->f);
    case SQLITE_TEXT:
        return sqlite3_bind_text(st, idx, (const char *)c->p, (int)c->n, SQLITE_TRANSIENT);
    case SQLITE_BLOB:
        return sqlite3_bind_blob(st, idx, c->p, (int)c->n, SQLITE_TRANSIENT);
    default:
        return sqlite3_bind_null(st, idx);
    }
}

/* The table as stored, ordered by seq (at most MAX_ROWS rows). */
static void table_read(table_t *t)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(g.db,
                             "SELECT a.seq, ts, event, actor_oid, actor_user, purpose, outcome,"
                             " patient_key, document_id, detail, prev_hash, hash, x.peer,"
                             " x.decision, x.reason, x.consent, x.hash_version"
                             " FROM audit a LEFT JOIN audit_atna x USING (seq) ORDER BY a.seq",
                             -1, &st, NULL) == SQLITE_OK);
    t->nrows = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        CHECK(t->nrows < MAX_ROWS);
        for (int c = 0; c < NCOLS; c++)
            cell_read(st, c, &t->rows[t->nrows][c]);
        t->nrows++;
    }
    CHECK(src == SQLITE_DONE);
    sqlite3_finalize(st);
}

static void exec(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(g.db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fuzz_audit: %s: %s\n", sql, msg ? msg : "?");
        abort();
    }
}

/* Writes rows into the (emptied) audit table; 0 or the failing code. */
static int insert_rows(cell_t (*rows)[NCOLS], size_t n)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(g.db,
                             "INSERT INTO audit (seq, ts, event, actor_oid, actor_user, purpose,"
                             " outcome, patient_key, document_id, detail, prev_hash, hash)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_stmt *atna = NULL;
    CHECK(sqlite3_prepare_v2(g.db,
                             "INSERT INTO audit_atna (seq, peer, decision, reason, consent,"
                             " hash_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                             -1, &atna, NULL) == SQLITE_OK);
    int rc = SQLITE_OK;
    for (size_t r = 0; r < n && rc == SQLITE_OK; r++) {
        for (int c = 0; c < NAUDIT && rc == SQLITE_OK; c++)
            rc = cell_bind(st, c + 1, &rows[r][c]);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        /* The ATNA row, when the record had one (its version is never NULL). */
        if (rc == SQLITE_OK && rows[r][NCOLS - 1].type != SQLITE_NULL) {
            rc = cell_bind(atna, 1, &rows[r][0]);
            for (int c = NAUDIT; c < NCOLS && rc == SQLITE_OK; c++)
                rc = cell_bind(atna, c - NAUDIT + 2, &rows[r][c]);
            if (rc == SQLITE_OK) {
                rc = sqlite3_step(atna);
                rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
            }
            sqlite3_reset(atna);
            sqlite3_clear_bindings(atna);
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(atna);
    return rc;
}

static void restore(void)
{
    exec("BEGIN IMMEDIATE");
    exec("DELETE FROM audit");
    exec("DELETE FROM audit_atna");
    CHECK(insert_rows(g.original.rows, g.original.nrows) == SQLITE_OK);
    exec("COMMIT");
}

static void teardown(void)
{
    char p[320];
    table_free(&g.original);
    sqlite3_close(g.db);
    cdx_registry_close(g.reg);
    cdx_audit_key_free(g.key);
    snprintf(p, sizeof p, "%s/audit.key", g.dir);
    unlink(p);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(suffixes); i++) {
        snprintf(p, sizeof p, "%s%s", g.path, suffixes[i]);
        unlink(p);
    }
    rmdir(g.dir);
}

static void setup(void)
{
    cdx_log_set_level(CDX_LOG_ERROR);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(g.dir, sizeof g.dir, "%s/cdx-fuzz-audit-XXXXXX", base ? base : "/tmp");
    CHECK(mkdtemp(g.dir) != NULL);
    snprintf(g.path, sizeof g.path, "%s/registry.db", g.dir);
    char err[512], keypath[300];
    snprintf(keypath, sizeof keypath, "%s/audit.key", g.dir);
    if (cdx_registry_open(g.path, &g.reg, err, sizeof err) != 0 ||
        cdx_audit_key_load(keypath, 1, &g.key, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_audit: %s\n", err);
        abort();
    }
    CHECK(cdx_registry_set_audit_key(g.reg, g.key, 2) == 0);
    /* A chain with each kind of field: NULLs, empty strings, UTF-8, a
     * long detail, every outcome. */
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    cdx_strlcpy(inst.oid, "2.25.83570720227913622468059417429842681918", sizeof inst.oid);
    cdx_strlcpy(inst.name, "Hanbit University Hospital", sizeof inst.name);
    inst.roles = CDX_ROLE_SUBMIT | CDX_ROLE_QUERY;
    CHECK(cdx_registry_put_institution(g.reg, &inst, "local:fuzz") == 0);
    char long_detail[300];
    memset(long_detail, 'x', sizeof long_detail - 1);
    long_detail[sizeof long_detail - 1] = '\0';
    const cdx_audit_event_t events[] = {
        {.event = "document.ingest",
         .actor_oid = inst.oid,
         .purpose = "TREAT",
         .outcome = 0,
         .patient_key = "0123456789abcdef0123456789abcdef",
         .document_id = "fedcba9876543210fedcba9876543210",
         .detail = "sha256=00ff size=10",
         .peer = "192.0.2.7"},
        {.event = "document.reject",
         .actor_oid = inst.oid,
         .actor_user = "",
         .outcome = 4,
         .detail = "code=XML_MALFORMED status=400"},
        {.event = "security.alert",
         .actor_oid = inst.oid,
         .actor_user = "\xea\xb9\x80 user",
         .purpose = "",
         .outcome = 8,
         .detail = long_detail},
        {.event = "document.read",
         .actor_oid = inst.oid,
         .purpose = "TREAT",
         .outcome = 0,
         .patient_key = "0123456789abcdef0123456789abcdef",
         .document_id = "fedcba9876543210fedcba9876543210",
         .detail = "form=original",
         .peer = "2001:db8::7",
         .decision = "breakglass",
         .reason = "",
         .consent = "consent:\xea\xb9\x80"},
        {.event = "x", .outcome = 12},
        {.event = "document.conflict",
         .actor_oid = inst.oid,
         .purpose = "TREAT",
         .outcome = 4,
         .document_id = "fedcba9876543210fedcba9876543210",
         .detail = "result=conflict"},
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(events); i++)
        CHECK(cdx_registry_audit(g.reg, &events[i]) == 0);
    int64_t last = 0;
    CHECK(cdx_registry_audit_checkpoint(g.reg, &last) == 0 && last > 0);
    cdx_audit_check_t check;
    CHECK(cdx_registry_audit_check(g.reg, g.key, &check) == 0);
    CHECK(check.checkpoints >= 2 && check.last_checkpoint == last);

    CHECK(sqlite3_open_v2(g.path, &g.db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(g.db, 5000);
    table_read(&g.original);
    CHECK(g.original.nrows >= 2);
    atexit(teardown);
    g.ready = 1;
}

/* ---- the edit language ------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader_t;

static unsigned byte(reader_t *r)
{
    if (r->left == 0)
        return 0;
    r->left--;
    return *r->p++;
}

static int64_t int64_of(reader_t *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(r);
    return (int64_t)v;
}

/* The seq of the k-th row (mod the row count), or 0 when the table is empty. */
static int64_t nth_seq(unsigned k)
{
    sqlite3_stmt *st = NULL;
    int64_t seq = 0, n = 0;
    CHECK(sqlite3_prepare_v2(g.db, "SELECT count(*) FROM audit", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n == 0)
        return 0;
    CHECK(sqlite3_prepare_v2(g.db, "SELECT seq FROM audit ORDER BY seq LIMIT 1 OFFSET ?1", -1, &st,
                             NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, (int64_t)(k % (uint64_t)n));
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return seq;
}

static void read_cell(int64_t seq, int col, cell_t *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE seq = ?1", columns[col],
             col < NAUDIT ? "audit" : "audit_atna");
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(g.db, sql, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    memset(out, 0, sizeof *out);
    out->type = SQLITE_NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        cell_read(st, 0, out);
    sqlite3_finalize(st);
}

/* UPDATE audit (or audit_atna) SET col = value WHERE seq = seq.  Constraint failures (NOT NULL,
 * a duplicate seq) leave the row as it was; a record without an ATNA row keeps having none. */
static void write_cell(int64_t seq, int col, const cell_t *value)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE %s SET %s = ?1 WHERE seq = ?2",
             col < NAUDIT ? "audit" : "audit_atna", columns[col]);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(g.db, sql, -1, &st, NULL) == SQLITE_OK);
    cell_bind(st, 1, value);
    sqlite3_bind_int64(st, 2, seq);
    (void)sqlite3_step(st);
    sqlite3_finalize(st);
}

static void run_sql_seq(const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(g.db, sql, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    (void)sqlite3_step(st);
    sqlite3_finalize(st);
}

/* A small seq near the real ones most of the time, any 64-bit one else. */
static int64_t seq_of(reader_t *r)
{
    unsigned k = byte(r);
    if (k < 0xF0)
        return (int64_t)(k % 16) - 2;
    return int64_of(r);
}

static void apply_op(reader_t *r)
{
    unsigned op = byte(r) % 8;
    int64_t seq = nth_seq(byte(r));
    if (seq == 0 && op != 4)
        return;
    int col = (int)(byte(r) % NCOLS);
    cell_t c;
    switch (op) {
    case 0: { /* set a field to a value of any type */
        memset(&c, 0, sizeof c);
        switch (byte(r) % 5) {
        case 0:
            c.type = SQLITE_NULL;
            break;
        case 1:
            c.type = SQLITE_INTEGER;
            c.i = (int64_t)(int8_t)byte(r);
            break;
        case 2:
            c.type = SQLITE_FLOAT;
            c.f = (double)(int8_t)byte(r) / 4.0;
            break;
        default:
            c.type = byte(r) % 2 ? SQLITE_TEXT : SQLITE_BLOB;
            c.n = byte(r) % 80;
            c.p = malloc(c.n + 1);
            CHECK(c.p != NULL);
            for (size_t i = 0; i < c.n; i++)
                c.p[i] = (unsigned char)byte(r);
            c.p[c.n] = 0;
            break;
        }
        write_cell(seq, col, &c);
        cell_free(&c);
        break;
    }
    case 1:   /* flip one bit of a field (its bytes, or its integer) */
    case 2:   /* insert a byte into a field */
    case 3: { /* delete a byte from a field */
        read_cell(seq, col, &c);
        unsigned pos = byte(r), bit = byte(r);
        if (c.type == SQLITE_INTEGER && op == 1) {
            c.i ^= (int64_t)1 << (bit % 63);
        } else if ((c.type == SQLITE_TEXT || c.type == SQLITE_BLOB) && op == 1 && c.n > 0) {
            c.p[pos % c.n] ^= (unsigned char)(1u << (bit % 8));
        } else if ((c.type == SQLITE_TEXT || c.type == SQLITE_BLOB) && op == 2) {
            unsigned char *p = realloc(c.p, c.n + 2);
            CHECK(p != NULL);
            c.p = p;
            size_t at = pos % (c.n + 1);
            memmove(c.p + at + 1, c.p + at, c.n - at);
            c.p[at] = (unsigned char)bit;
            c.p[++c.n] = 0;
        } else if ((c.type == SQLITE_TEXT || c.type == SQLITE_BLOB) && op == 3 && c.n > 0) {
            size_t at = pos % c.n;
            memmove(c.p + at, c.p + at + 1, c.n - at - 1);
            c.p[--c.n] = 0;
        }
        write_cell(seq, col, &c);
        cell_free(&c);
        break;
    }
    case 4: /* insert a copy of a row under another seq */
        run_sql_seq("INSERT INTO audit (seq, ts, event, actor_oid, actor_user, purpose, outcome,"
                    " patient_key, document_id, detail, prev_hash, hash)"
                    " SELECT ?2, ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
                    " document_id, detail, prev_hash, hash FROM audit WHERE seq = ?1",
                    seq, seq_of(r));
        break;
    case 5: /* delete a row */
        run_sql_seq("DELETE FROM audit WHERE seq = ?1", seq, 0);
        break;
    case 6: { /* swap one field between two rows */
        int64_t other = nth_seq(byte(r));
        cell_t d;
        read_cell(seq, col, &c);
        read_cell(other, col, &d);
        if (col == 0) {
            /* Swapping seqs is renumbering both rows: via a free seq. */
            run_sql_seq("UPDATE audit SET seq = -9223372036854775807 WHERE seq = ?1", seq, 0);
            run_sql_seq("UPDATE audit SET seq = ?1 WHERE seq = ?2", seq, other);
            run_sql_seq("UPDATE audit SET seq = ?1 WHERE seq = -9223372036854775807", other, 0);
        } else {
            write_cell(seq, col, &d);
            write_cell(other, col, &c);
        }
        cell_free(&c);
        cell_free(&d);
        break;
    }
    default: /* renumber a row */
        run_sql_seq("UPDATE audit SET seq = ?2 WHERE seq = ?1", seq, seq_of(r));
        break;
    }
}

/* ---- the oracle --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.ready)
        setup();
    reader_t r = {data, size};
    exec("BEGIN IMMEDIATE");
    for (int i = 0; i < MAX_OPS && r.left > 0; i++)
        apply_op(&r);
    exec("COMMIT");

    static table_t edited;
    table_read(&edited);
    size_t first = 0; /* the first position where the chains differ */
    const table_t *o = &g.original;
    while (first < o->nrows && first < edited.nrows) {
        int same = 1;
        for (int c = 0; c < NCOLS && same; c++)
            same = cell_equal(&o->rows[first][c], &edited.rows[first][c]);
        if (!same)
            break;
        first++;
    }
    int unchanged = first == o->nrows && first == edited.nrows;

    cdx_audit_check_t check;
    int rc = cdx_registry_audit_check(g.reg, g.key, &check);
    int64_t bad = rc == CDX_ECONFLICT ? check.bad_seq : -1;
    if (unchanged) {
        if (rc != 0)
            fprintf(stderr, "fuzz_audit: an intact chain reported broken at seq %lld: %s\n",
                    (long long)bad, cdx_registry_errmsg(g.reg));
        CHECK(rc == 0);
    } else {
        /* A cut tail: the first record missing is the original's next one. */
        const cell_t *at = first < edited.nrows ? &edited.rows[first][0] : &o->rows[first][0];
        int64_t limit = at->type == SQLITE_INTEGER ? at->i : 0;
        if (rc != CDX_ECONFLICT || bad > limit)
            fprintf(stderr,
                    "fuzz_audit: chain edited at row %zu (seq %lld): verify returned %d, bad seq "
                    "%lld: %s\n",
                    first, (long long)limit, rc, (long long)bad, cdx_registry_errmsg(g.reg));
        CHECK(rc == CDX_ECONFLICT);
        CHECK(bad <= limit);
    }
    table_free(&edited);
    restore();
    return 0;
}
