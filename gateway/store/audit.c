/* audit: the audit trail as a hash chain: appending a record inside the
 * change it records, and verifying the chain from its first row (see
 * include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"

#include <string.h>

#include <openssl/evp.h>

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
           cdx_audit_outcome_valid(ev->outcome);
}

/* Reads the sequence number and hash of the last row (0 and the zero
 * hash when the trail is empty). */
static int audit_last(cdx_registry_t *reg, int64_t *last, char prev[65])
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_AUDIT_LAST,
                                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st);
    if (rc != 0)
        return rc;
    *last = 0;
    memcpy(prev, AUDIT_ZERO_HASH, 65);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *last = sqlite3_column_int64(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (h == NULL || strlen(h) != 64) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "audit: row %lld has a malformed hash; run the audit verification",
                     (long long)*last);
            rc = CDX_EDB;
        } else {
            memcpy(prev, h, 65);
        }
    } else if (src != SQLITE_DONE) {
        rc = cdx_store_fail(reg, src, "reading the last audit row");
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* Inserts row (with ev's integer outcome) linked to prev with hash. */
static int audit_insert(cdx_registry_t *reg, const audit_row_t *row, const cdx_audit_event_t *ev,
                        const char *ts, const char *prev, const char *hash)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_AUDIT_INSERT,
        "INSERT INTO audit (seq, ts, event, actor_oid, actor_user, purpose, outcome,"
        " patient_key, document_id, detail, prev_hash, hash)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, row->seq);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, ts);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, ev->event);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, ev->actor_oid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5, ev->actor_user);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, ev->purpose);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 7, ev->outcome);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 8, ev->patient_key);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 9, ev->document_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 10, ev->detail);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 11, prev);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 12, hash);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "writing an audit row")
                          : cdx_store_fail(reg, src, "binding an audit row");
    cdx_store_stmt_put(st);
    return rc;
}

/* Appends ev to the chain.  Must run inside a transaction this module began, so that the row
 * read as "previous" is still the last one when the new row is inserted and so that the audit
 * row commits or rolls back together with the change it records. */
int cdx_store_audit_append(cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    CDX_ASSERT(!sqlite3_get_autocommit(reg->db));
    char prev[65];
    char hash[65];
    char ts[32];
    int64_t last = 0;

    if (!audit_event_ok(ev)) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg,
                 "audit: an event name and an outcome of 0, 4, 8 or 12 are required");
        return CDX_EINVAL;
    }
    int rc = audit_last(reg, &last, prev);
    if (rc != 0)
        return rc;
    if (last == INT64_MAX) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: sequence exhausted");
        return CDX_ERANGE;
    }
    cdx_store_now(ts);
    audit_row_t row = {
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
        return rc;
    }
    return audit_insert(reg, &row, ev, ts, prev, hash);
}

static int audit_one(cdx_registry_t *reg, void *ev)
{
    return cdx_store_audit_append(reg, ev);
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
    return cdx_store_in_transaction(reg, audit_one, (void *)ev);
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

/* Whether every column of an audit row has the type cdx_store_audit_append stores: the hash reads
 * text and integers, and a BLOB with the same bytes as a text, or a text such as '4 (amended)'
 * where an integer belongs, would read back the same while not being what was recorded. */
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
    int rc = cdx_store_stmt_get(
        reg, STMT_AUDIT_ALL,
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
            rc = cdx_store_fail(reg, src, "reading the audit trail");
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
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s",
                     cdx_strerror(rc));
            goto out;
        }
        if (!types_ok || prev.p == NULL || prev.n != 64 || memcmp(prev.p, expected_prev, 64) != 0 ||
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
    cdx_store_stmt_put(st);
    return rc;
}
