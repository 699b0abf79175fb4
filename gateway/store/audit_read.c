/* audit_read: reading the audit trail back, record by record, for the
 * administrators' query, the export and a patient's access log (see
 * include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"

#include <string.h>

#define AUDIT_COLUMNS                                                                              \
    "SELECT a.seq, a.ts, a.event, a.actor_oid, a.actor_user, a.purpose, a.outcome,"                \
    " a.patient_key, a.document_id, a.detail, x.peer, x.decision, x.reason, x.consent,"            \
    " coalesce(x.hash_version, 1), a.hash FROM audit a LEFT JOIN audit_atna x USING (seq)"

/* The filters shared by both statements: ?1 after seq, ?2 from, ?3 before, ?4 event, ?5
 * break-glass only, ?6 the events of reads (a JSON array) or NULL, ?7 successes only, ?8 limit;
 * ?9 the patient keys (a JSON array) in the statement by patient; ?10 the outcome of a success;
 * ?11 institutions only. */
#define AUDIT_WHERE                                                                                \
    " a.seq > ?1 AND (?2 IS NULL OR a.ts >= ?2) AND (?3 IS NULL OR a.ts < ?3)"                     \
    " AND (?4 IS NULL OR a.event = ?4)"                                                            \
    " AND (?5 = 0 OR a.purpose = 'ETREAT' OR x.decision = 'breakglass')"                           \
    " AND (?6 IS NULL OR a.event IN (SELECT value FROM json_each(?6)))"                            \
    " AND (?7 = 0 OR ?10 = a.outcome)"                                                             \
    " AND (?11 = 0 OR (a.actor_oid IS NOT NULL AND a.actor_oid NOT LIKE 'local:%'))"

static const char *text_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL
                                                       : (const char *)sqlite3_column_text(st, col);
}

static void read_record(sqlite3_stmt *st, cdx_audit_record_t *r)
{
    r->seq = sqlite3_column_int64(st, 0);
    r->ts = text_or_null(st, 1);
    r->event = text_or_null(st, 2);
    r->actor_oid = text_or_null(st, 3);
    r->actor_user = text_or_null(st, 4);
    r->purpose = text_or_null(st, 5);
    r->outcome = sqlite3_column_int(st, 6);
    r->patient_key = text_or_null(st, 7);
    r->document_id = text_or_null(st, 8);
    r->detail = text_or_null(st, 9);
    r->peer = text_or_null(st, 10);
    r->decision = text_or_null(st, 11);
    r->reason = text_or_null(st, 12);
    r->consent = text_or_null(st, 13);
    r->version = sqlite3_column_int(st, 14);
    r->hash = text_or_null(st, 15);
}

int cdx_registry_audit_each(cdx_registry_t *reg, const cdx_audit_filter_t *f,
                            int (*fn)(void *arg, const cdx_audit_record_t *rec), void *arg)
{
    if (reg == NULL || f == NULL || fn == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    sqlite3_stmt *st = NULL;
    int by_patient = f->patient_keys_json != NULL;
    int rc = by_patient
                 ? cdx_store_stmt_get(reg, STMT_AUDIT_ACCESS_LOG,
                                      AUDIT_COLUMNS " WHERE a.patient_key IN"
                                                    " (SELECT value FROM json_each(?9))"
                                                    " AND" AUDIT_WHERE " ORDER BY a.seq LIMIT ?8",
                                      &st)
                 : cdx_store_stmt_get(reg, STMT_AUDIT_PAGE,
                                      AUDIT_COLUMNS " WHERE" AUDIT_WHERE " ORDER BY a.seq LIMIT ?8",
                                      &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, f->after_seq);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, f->from);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, f->before);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, f->event);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 5, f->breakglass != 0);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, f->events_json);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 7, f->successes_only != 0);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 8, f->limit > 0 ? (sqlite3_int64)f->limit : -1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 10, CDX_AUDIT_SUCCESS);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 11, f->institutions_only != 0);
    if (src == SQLITE_OK && by_patient)
        src = cdx_store_bind_text(st, 9, f->patient_keys_json);
    if (src != SQLITE_OK) {
        rc = cdx_store_fail(reg, src, "binding an audit read");
        goto out;
    }
    for (;;) {
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = cdx_store_fail(reg, src, "reading the audit trail");
            break;
        }
        cdx_audit_record_t rec;
        read_record(st, &rec);
        rc = fn(arg, &rec);
        if (rc != 0)
            break;
    }
out:
    cdx_store_stmt_put(st);
    return rc;
}
