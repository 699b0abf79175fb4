/* outbox: the durable queue of deliveries (see include/cdx/store/outbox.h). */
#include "cdx/store/outbox.h"
#include "store_internal.h"

#include "cdx/base/common.h"

#include <string.h>

#define DELIVERY_COLUMNS                                                                           \
    "id, document_uid, destination, state, reason, reason_id, attempts, in_flight,"                \
    " next_attempt_ms, created_ms, created_at, updated_at, coalesce(last_error, ''),"              \
    " coalesce(receipt_status, 0), coalesce(receipt_sha256, ''), coalesce(receipt_summary, ''),"   \
    " coalesce(latency_ms, -1), coalesce(purpose, '')"

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    cdx_strlcpy(out, v ? v : "", n);
}

static void read_row(sqlite3_stmt *st, cdx_delivery_t *d)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, d->document_uid, sizeof d->document_uid);
    copy_col(st, 2, d->destination, sizeof d->destination);
    copy_col(st, 3, d->state, sizeof d->state);
    copy_col(st, 4, d->reason, sizeof d->reason);
    copy_col(st, 5, d->reason_id, sizeof d->reason_id);
    d->attempts = sqlite3_column_int(st, 6);
    d->in_flight = sqlite3_column_int(st, 7);
    d->next_attempt_ms = sqlite3_column_int64(st, 8);
    d->created_ms = sqlite3_column_int64(st, 9);
    copy_col(st, 10, d->created_at, sizeof d->created_at);
    copy_col(st, 11, d->updated_at, sizeof d->updated_at);
    copy_col(st, 12, d->last_error, sizeof d->last_error);
    d->receipt_status = sqlite3_column_int(st, 13);
    copy_col(st, 14, d->receipt_sha256, sizeof d->receipt_sha256);
    copy_col(st, 15, d->receipt_summary, sizeof d->receipt_summary);
    d->latency_ms = sqlite3_column_int64(st, 16);
    copy_col(st, 17, d->purpose, sizeof d->purpose);
}

/* Steps st to the end, reading up to max rows into out. */
static int read_rows(cdx_registry_t *reg, sqlite3_stmt *st, cdx_delivery_t *out, size_t max,
                     size_t *n, const char *what)
{
    int src;
    *n = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max)
            read_row(st, &out[(*n)++]);
    }
    return src == SQLITE_DONE ? 0 : cdx_store_fail(reg, src, what);
}

int cdx_outbox_add(cdx_registry_t *reg, const char *doc_uid, const char *destination,
                   const char *reason, const char *reason_id, const char *purpose, int64_t now_ms,
                   int *created)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    cdx_store_now(ts);
    *created = 0;
    int rc = cdx_store_stmt_get(
        reg, STMT_OUTBOX_ADD,
        "INSERT INTO deliveries (document_uid, destination, reason, reason_id, next_attempt_ms,"
        " created_ms, created_at, updated_at, purpose) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6, ?7)"
        " ON CONFLICT (document_uid, destination) DO NOTHING",
        &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, doc_uid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, destination);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, reason);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, reason_id ? reason_id : "");
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 5, now_ms);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, ts);
    if (src == SQLITE_OK) /* "" is none: NULL, as rows from before the column */
        src = cdx_store_bind_text(st, 7, purpose != NULL && purpose[0] ? purpose : NULL);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "adding a delivery")
                          : cdx_store_fail(reg, src, "adding a delivery");
    if (rc == 0)
        *created = sqlite3_changes(reg->db) > 0;
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_due_destinations(cdx_registry_t *reg, int64_t now_ms, char (*out)[128],
                                size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_DESTS,
                                "SELECT DISTINCT destination FROM deliveries"
                                " WHERE state = 'pending' AND (in_flight = 1 OR next_attempt_ms <= ?1)"
                                " ORDER BY destination",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, now_ms);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max)
            copy_col(st, 0, out[(*n)++], 128);
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE && src != SQLITE_OK)
        rc = cdx_store_fail(reg, src, "reading due destinations");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_next_due(cdx_registry_t *reg, int64_t *ms)
{
    return cdx_store_query_int64_cached(
        reg, STMT_OUTBOX_NEXT,
        "SELECT coalesce(min(next_attempt_ms), -1) FROM deliveries WHERE state = 'pending'", ms);
}

int cdx_outbox_due(cdx_registry_t *reg, const char *destination, int64_t now_ms,
                   cdx_delivery_t *out, size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_DUE,
                                "SELECT " DELIVERY_COLUMNS " FROM deliveries"
                                " WHERE state = 'pending' AND destination = ?1"
                                " AND (in_flight = 1 OR next_attempt_ms <= ?2)"
                                " ORDER BY in_flight DESC, id LIMIT ?3",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, destination);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, now_ms);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, (int64_t)max);
    rc = src == SQLITE_OK ? read_rows(reg, st, out, max, n, "reading due deliveries")
                          : cdx_store_fail(reg, src, "reading due deliveries");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_started(cdx_registry_t *reg, int64_t id)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    cdx_store_now(ts);
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_STARTED,
                                "UPDATE deliveries SET attempts = attempts + 1, in_flight = 1,"
                                " updated_at = ?2 WHERE id = ?1 AND state = 'pending'",
                                &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "starting a delivery")
                          : cdx_store_fail(reg, src, "starting a delivery");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_finish(cdx_registry_t *reg, const cdx_outbox_outcome_t *o,
                      const cdx_audit_event_t *audit, int *changed)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    cdx_store_now(ts);
    *changed = 0;
    int delivered = strcmp(o->state, "delivered") == 0;
    int rc = cdx_store_stmt_get(
        reg, STMT_OUTBOX_FINISH,
        "UPDATE deliveries SET state = ?2, in_flight = 0, next_attempt_ms = ?3, last_error = ?4,"
        " receipt_status = ?5, receipt_sha256 = ?6, receipt_summary = ?7, latency_ms = ?8,"
        " updated_at = ?9 WHERE id = ?1 AND state = 'pending'",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, o->id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, o->state);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, o->next_ms);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, o->error);
    if (src == SQLITE_OK)
        src = delivered ? sqlite3_bind_int(st, 5, o->receipt_status) : sqlite3_bind_null(st, 5);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, delivered ? o->receipt_sha256 : NULL);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 7, delivered ? o->receipt_summary : NULL);
    if (src == SQLITE_OK)
        src = delivered ? sqlite3_bind_int64(st, 8, o->latency_ms) : sqlite3_bind_null(st, 8);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 9, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "finishing a delivery")
                          : cdx_store_fail(reg, src, "finishing a delivery");
    cdx_store_stmt_put(st);
    if (rc == 0)
        *changed = sqlite3_changes(reg->db) > 0;
    if (rc == 0 && *changed && audit != NULL)
        rc = cdx_registry_audit(reg, audit);
    return rc;
}

int cdx_outbox_get(cdx_registry_t *reg, int64_t id, cdx_delivery_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_GET,
                                "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE id = ?1", &st);
    if (rc != 0)
        return rc;
    size_t n = 0;
    int src = sqlite3_bind_int64(st, 1, id);
    rc = src == SQLITE_OK ? read_rows(reg, st, out, 1, &n, "reading a delivery")
                          : cdx_store_fail(reg, src, "reading a delivery");
    cdx_store_stmt_put(st);
    return rc == 0 && n == 0 ? CDX_ENOTFOUND : rc;
}

int cdx_outbox_list(cdx_registry_t *reg, const char *state, const char *destination,
                    int64_t before, cdx_delivery_t *out, size_t max, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_LIST,
                                "SELECT " DELIVERY_COLUMNS " FROM deliveries"
                                " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR destination = ?2)"
                                " AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, state);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, destination);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, before);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 4, (int64_t)max);
    rc = src == SQLITE_OK ? read_rows(reg, st, out, max, n, "listing deliveries")
                          : cdx_store_fail(reg, src, "listing deliveries");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_retry(cdx_registry_t *reg, int64_t id, int64_t now_ms,
                     const cdx_audit_event_t *audit, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    cdx_store_now(ts);
    *count = 0;
    int rc = id > 0 ? cdx_store_stmt_get(reg, STMT_OUTBOX_RETRY_ONE,
                                         "UPDATE deliveries SET state = 'pending', attempts = 0,"
                                         " in_flight = 0, next_attempt_ms = ?2, created_ms = ?2,"
                                         " updated_at = ?3 WHERE id = ?1 AND state != 'delivered'",
                                         &st)
                    : cdx_store_stmt_get(reg, STMT_OUTBOX_RETRY_DEAD,
                                         "UPDATE deliveries SET state = 'pending', attempts = 0,"
                                         " in_flight = 0, next_attempt_ms = ?2, created_ms = ?2,"
                                         " updated_at = ?3 WHERE ?1 = 0 AND state = 'dead'",
                                         &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, now_ms);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "retrying deliveries")
                          : cdx_store_fail(reg, src, "retrying deliveries");
    cdx_store_stmt_put(st);
    if (rc == 0)
        *count = sqlite3_changes(reg->db);
    if (rc == 0 && audit != NULL)
        rc = cdx_registry_audit(reg, audit);
    return rc;
}

int cdx_outbox_counts(cdx_registry_t *reg,
                      void (*fn)(void *arg, const char *destination, const char *state,
                                 int64_t count),
                      void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_COUNTS,
                                "SELECT destination, state, count(*) FROM deliveries"
                                " GROUP BY destination, state ORDER BY destination, state",
                                &st);
    if (rc != 0)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2));
    if (src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "counting deliveries");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_set_relay(cdx_registry_t *reg, const char *doc_uid, const char *relay_oid)
{
    char ts[32];
    cdx_store_now(ts);
    const char *values[] = {doc_uid, relay_oid, ts};
    return cdx_store_exec_texts(reg, STMT_OUTBOX_RELAY_SET,
                                "INSERT INTO document_relays (document_id, relay_oid, relayed_at)"
                                " SELECT id, ?2, ?3 FROM documents WHERE uid = ?1"
                                " ON CONFLICT (document_id) DO NOTHING",
                                "recording a relay", values, 3);
}

int cdx_outbox_relay_of(cdx_registry_t *reg, const char *doc_uid, char out[128])
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_RELAY_GET,
                                "SELECT r.relay_oid FROM document_relays r JOIN documents d"
                                " ON d.id = r.document_id WHERE d.uid = ?1",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, doc_uid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        copy_col(st, 0, out, 128);
    else if (src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a relay");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_outbox_destination_known(cdx_registry_t *reg, const char *oid, int *known)
{
    sqlite3_stmt *st = NULL;
    *known = 0;
    int rc = cdx_store_stmt_get(reg, STMT_OUTBOX_KNOWN,
                                "SELECT 1 FROM institutions WHERE oid = ?1"
                                " AND (roles != 0 OR endpoint != '')",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *known = 1;
    else if (src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "looking up a destination");
    cdx_store_stmt_put(st);
    return rc;
}
