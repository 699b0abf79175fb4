/* audit: the audit trail as a hash chain: appending a record inside the
 * change it records, and verifying the chain from its first row (see
 * include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/audit_sign.h"

#include <string.h>

#include <openssl/evp.h>


/* A string field as stored: p == NULL is SQL NULL, distinct from "". */
span_t cdx_store_span(const char *s)
{
    span_t sp = {s, s != NULL ? strlen(s) : 0};
    return sp;
}
#define span_of cdx_store_span

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

/* v1: hash = SHA-256("cdx.audit.v1", prev_hash, seq, ts, event, actor_oid, actor_user,
 * purpose, outcome, patient_key, document_id, detail), integers as 8 big-endian bytes, strings as
 * above.  The sequence number is covered so that renumbering rows breaks the chain too.
 * v2: hash = SHA-256("cdx.audit.v2", the same fields, then peer, decision, reason, consent and
 * the version itself): a row's version cannot be changed without its hash changing, and a v1 row
 * carries none of the v2 fields (cdx_store_audit_verify refuses one that does). */
int cdx_store_audit_hash(const char *prev_hash, const audit_row_t *r, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = 1;
    if (r->version != 1 && r->version != 2)
        return CDX_EINVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CDX_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        ok = 0;
    hash_span(ctx, &ok, span_of(r->version == 1 ? "cdx.audit.v1" : "cdx.audit.v2"));
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
    if (r->version == 2) {
        hash_span(ctx, &ok, r->peer);
        hash_span(ctx, &ok, r->decision);
        hash_span(ctx, &ok, r->reason);
        hash_span(ctx, &ok, r->consent);
        hash_u64(ctx, &ok, (uint64_t)r->version);
    }
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
    memcpy(prev, CDX_AUDIT_ZERO_HASH, 65);
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

/* Inserts row (with ev's integer outcome) linked to prev with hash, and its ATNA fields. */
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
    const char *texts[] = {ts,          ev->event,       ev->actor_oid, ev->actor_user,
                           ev->purpose, NULL,            ev->patient_key, ev->document_id,
                           ev->detail,  prev,            hash};
    for (int i = 0; i < 11 && src == SQLITE_OK; i++)
        src = i == 5 ? sqlite3_bind_int64(st, 7, ev->outcome)
                     : cdx_store_bind_text(st, i + 2, texts[i]);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "writing an audit row")
                          : cdx_store_fail(reg, src, "binding an audit row");
    cdx_store_stmt_put(st);
    if (rc != 0)
        return rc;
    rc = cdx_store_stmt_get(reg, STMT_AUDIT_ATNA_INSERT,
                            "INSERT INTO audit_atna (seq, hash_version, peer, decision, reason,"
                            " consent) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, row->seq);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, row->version);
    const char *atna[] = {ev->peer, ev->decision, ev->reason, ev->consent};
    for (int i = 0; i < 4 && src == SQLITE_OK; i++)
        src = cdx_store_bind_text(st, i + 3, atna[i]);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "writing an audit row's ATNA fields")
                          : cdx_store_fail(reg, src, "binding an audit row's ATNA fields");
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
        .version = CDX_AUDIT_HASH_VERSION,
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
        .peer = span_of(ev->peer),
        .decision = span_of(ev->decision),
        .reason = span_of(ev->reason),
        .consent = span_of(ev->consent),
    };
    rc = cdx_store_audit_hash(prev, &row, hash);
    if (rc != 0) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s", cdx_strerror(rc));
        return rc;
    }
    rc = audit_insert(reg, &row, ev, ts, prev, hash);
    /* Every audit_checkpoint_records records, the writer signs where the chain stands. */
    if (rc == 0 && reg->audit_key != NULL && reg->audit_every > 0 &&
        row.seq % reg->audit_every == 0)
        rc = cdx_store_audit_checkpoint_at(reg, row.seq, hash);
    return rc;
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

/* ---- signed checkpoints ----------------------------------------------- */

int cdx_store_audit_checkpoint_at(cdx_registry_t *reg, int64_t seq, const char *hash)
{
    char ts[32], sig[CDX_AUDIT_SIG_HEX];
    cdx_store_now(ts);
    int rc = cdx_audit_checkpoint_sign(reg->audit_key, seq, hash, ts, sig);
    if (rc != 0) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: signing the checkpoint failed: %s",
                 cdx_strerror(rc));
        return rc;
    }
    const char *values[] = {NULL, hash, ts, cdx_audit_key_id(reg->audit_key), sig};
    char seqtext[24];
    snprintf(seqtext, sizeof seqtext, "%lld", (long long)seq);
    values[0] = seqtext;
    return cdx_store_exec_texts(reg, STMT_AUDIT_CHECKPOINT_INSERT,
                                "INSERT OR IGNORE INTO audit_checkpoints"
                                " (seq, hash, ts, key_id, signature)"
                                " VALUES (CAST(?1 AS INTEGER), ?2, ?3, ?4, ?5)",
                                "writing an audit checkpoint", values, 5);
}

int cdx_registry_set_audit_key(cdx_registry_t *reg, const cdx_audit_key_t *key, int64_t every)
{
    if (reg == NULL || (key != NULL && !cdx_audit_key_can_sign(key)) || every < 0)
        return CDX_EINVAL;
    reg->audit_key = key;
    reg->audit_every = every;
    return 0;
}

static int checkpoint_last(cdx_registry_t *reg, void *arg)
{
    int64_t *seq = arg;
    char hash[65];
    int rc = audit_last(reg, seq, hash);
    if (rc != 0 || *seq == 0)
        return rc;
    return cdx_store_audit_checkpoint_at(reg, *seq, hash);
}

int cdx_registry_audit_checkpoint(cdx_registry_t *reg, int64_t *seq)
{
    if (reg == NULL || reg->audit_key == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    int64_t at = 0;
    int rc = cdx_store_in_transaction(reg, checkpoint_last, &at);
    if (rc == 0 && seq != NULL)
        *seq = at;
    return rc;
}
