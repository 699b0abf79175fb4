/* audit_check: verifying the audit trail: the hash chain from its first
 * row, then every signed checkpoint against the chain and the public key
 * (see include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_sign.h"

#include <string.h>

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
 * where an integer belongs, would read back the same while not being what was recorded.
 * Columns: 1 ts ... 9 detail, 10 prev_hash, 11 hash, 12-15 peer .. consent, 16 hash_version
 * (all NULL when the record has no ATNA row: a version 1 record). */
static int stored_types_ok(sqlite3_stmt *st)
{
    int has_atna = sqlite3_column_int(st, 17);
    for (int col = 1; col <= 16; col++) {
        int type = sqlite3_column_type(st, col);
        int nullable = (col >= 3 && col <= 9 && col != 6) || (col >= 12 && col <= 15);
        int integer = col == 6 || col == 16;
        if (col == 16 && !has_atna)
            continue;
        if (integer ? type != SQLITE_INTEGER
                    : !(type == SQLITE_TEXT || (nullable && type == SQLITE_NULL)))
            return 0;
    }
    return 1;
}

static void broken(cdx_audit_check_t *out, int64_t seq, const char *why)
{
    out->bad_seq = seq;
    cdx_strlcpy(out->reason, why, sizeof out->reason);
}

/* A row of the chain fits its version: known, never older than a row
 * before it (a rewritten row cannot fall back to the format that covers
 * fewer fields), and a v1 row carries none of the later fields. */
static int version_ok(const audit_row_t *row, int64_t newest)
{
    if (row->version != 1 && row->version != 2)
        return 0;
    if (row->version < newest)
        return 0;
    return row->version != 1 || (row->peer.p == NULL && row->decision.p == NULL &&
                                 row->reason.p == NULL && row->consent.p == NULL);
}

/* Long: one pass over the whole chain, reading each column with its type check first; split it
 * and the row's reading would be two places to keep in step with the columns. */
static int check_chain(cdx_registry_t *reg, cdx_audit_check_t *out)
{
    sqlite3_stmt *st = NULL;
    char expected_prev[65] = CDX_AUDIT_ZERO_HASH;
    int64_t newest = 1;
    int rc = cdx_store_stmt_get(
        reg, STMT_AUDIT_ALL,
        "SELECT a.seq, ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
        " document_id, detail, prev_hash, hash, x.peer, x.decision, x.reason, x.consent,"
        " x.hash_version, x.seq IS NOT NULL"
        " FROM audit a LEFT JOIN audit_atna x USING (seq) ORDER BY seq",
        &st);
    if (rc != 0)
        return rc;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "reading the audit trail");
            break;
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
            .peer = column_span(st, 12),
            .decision = column_span(st, 13),
            .reason = column_span(st, 14),
            .consent = column_span(st, 15),
            .version = sqlite3_column_int(st, 17) ? sqlite3_column_int64(st, 16) : 1,
        };
        span_t prev = column_span(st, 10);
        span_t stored = column_span(st, 11);
        out->last_seq = row.seq;
        if (!types_ok || !version_ok(&row, newest)) {
            broken(out, row.seq, "a column has another type or format than the one written");
            break;
        }
        newest = row.version;
        char computed[65];
        rc = cdx_store_audit_hash(expected_prev, &row, computed);
        if (rc != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s",
                     cdx_strerror(rc));
            break;
        }
        if (prev.p == NULL || prev.n != 64 || memcmp(prev.p, expected_prev, 64) != 0 ||
            stored.p == NULL || stored.n != 64 || memcmp(stored.p, computed, 64) != 0) {
            broken(out, row.seq, "row changed, removed or inserted");
            break;
        }
        memcpy(expected_prev, computed, 65);
        out->records++;
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* What is wrong with one checkpoint (NULL: nothing), given the hash of the
 * record it names (NULL when that record is gone). */
static const char *checkpoint_fault(sqlite3_stmt *st, const cdx_audit_key_t *key,
                                    int64_t *unsigned_count)
{
    for (int col = 1; col <= 4; col++)
        if (sqlite3_column_type(st, col) != SQLITE_TEXT)
            return "the checkpoint is malformed";
    int64_t seq = sqlite3_column_int64(st, 0);
    const char *hash = (const char *)sqlite3_column_text(st, 1);
    const char *ts = (const char *)sqlite3_column_text(st, 2);
    const char *key_id = (const char *)sqlite3_column_text(st, 3);
    const char *sig = (const char *)sqlite3_column_text(st, 4);
    const char *row_hash = (const char *)sqlite3_column_text(st, 5);
    if (row_hash == NULL)
        return "the record a checkpoint signed is gone";
    if (strcmp(row_hash, hash) != 0)
        return "the chain differs from the one a checkpoint signed";
    if (key == NULL) {
        (*unsigned_count)++;
        return NULL;
    }
    if (strcmp(key_id, cdx_audit_key_id(key)) != 0)
        return "a checkpoint was signed by another key";
    if (cdx_audit_checkpoint_verify(key, seq, hash, ts, sig) != 0)
        return "a checkpoint's signature does not verify";
    return NULL;
}

static int check_checkpoints(cdx_registry_t *reg, const cdx_audit_key_t *key,
                             cdx_audit_check_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_AUDIT_CHECKPOINTS,
                                "SELECT c.seq, c.hash, c.ts, c.key_id, c.signature, a.hash"
                                " FROM audit_checkpoints c LEFT JOIN audit a ON a.seq = c.seq"
                                " ORDER BY c.seq",
                                &st);
    if (rc != 0)
        return rc;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "reading the audit checkpoints");
            break;
        }
        int64_t seq = sqlite3_column_int64(st, 0);
        if (out->reason[0] != '\0' && seq >= out->bad_seq)
            break; /* the chain broke before this one */
        const char *fault = checkpoint_fault(st, key, &out->unsigned_checkpoints);
        if (fault != NULL) {
            /* A cut tail: the first record missing is the one after the last left. */
            int cut = sqlite3_column_type(st, 5) == SQLITE_NULL && seq > out->last_seq;
            broken(out, cut ? out->last_seq + 1 : seq, fault);
            break;
        }
        out->checkpoints++;
        out->last_checkpoint = seq;
    }
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_audit_check(cdx_registry_t *reg, const cdx_audit_key_t *key,
                             cdx_audit_check_t *out)
{
    if (reg == NULL || out == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    memset(out, 0, sizeof *out);
    /* One read transaction: the chain and the checkpoints from one snapshot. */
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? cdx_store_exec(reg, "BEGIN", "starting the audit verification") : 0;
    if (rc != 0)
        return rc;
    rc = check_chain(reg, out);
    if (rc == 0)
        rc = check_checkpoints(reg, key, out);
    if (own)
        cdx_store_tx_rollback(reg);
    if (rc == 0 && out->reason[0] != '\0') {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: broken at seq %lld: %s",
                 (long long)out->bad_seq, out->reason);
        rc = CDX_ECONFLICT;
    }
    return rc;
}

int cdx_registry_audit_verify(cdx_registry_t *reg, int64_t *bad_seq)
{
    cdx_audit_check_t check;
    int rc = cdx_registry_audit_check(reg, NULL, &check);
    if (bad_seq != NULL)
        *bad_seq = rc == CDX_ECONFLICT ? check.bad_seq : 0;
    return rc;
}
