/* state: key-value state for resumable commands, and the counts shown in
 * summaries (see include/cdx/store/registry.h). */
#include "store_internal.h"

#include "cdx/base/common.h"

int cdx_registry_state_get(cdx_registry_t *reg, const char *key, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = cdx_store_stmt_get(reg, STMT_STATE_GET, "SELECT value FROM state WHERE key = ?1", &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, key);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        cdx_strlcpy(out, v ? v : "", n);
    } else if (src != SQLITE_DONE) {
        rc = cdx_store_fail(reg, src, "reading state");
    }
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_state_set(cdx_registry_t *reg, const char *key, const char *value)
{
    char ts[32];
    cdx_store_now(ts);
    const char *values[] = {key, value, ts};
    return cdx_store_exec_texts(reg, STMT_STATE_SET,
                                "INSERT INTO state (key, value, updated_at) VALUES (?1, ?2, ?3)"
                                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                                " updated_at = excluded.updated_at",
                                "writing state", values, 3);
}

int cdx_registry_count(cdx_registry_t *reg, cdx_registry_countable_t what, int64_t *n)
{
    switch (what) {
    case CDX_COUNT_DOCUMENTS:
        return cdx_store_query_int64_cached(reg, STMT_COUNT_DOCUMENTS,
                                            "SELECT count(*) FROM documents", n);
    case CDX_COUNT_FACTS:
        return cdx_store_query_int64_cached(reg, STMT_COUNT_FACTS, "SELECT count(*) FROM facts", n);
    case CDX_COUNT_AUDIT:
        return cdx_store_query_int64_cached(reg, STMT_COUNT_AUDIT, "SELECT count(*) FROM audit", n);
    case CDX_COUNT_INSTITUTIONS:
        return cdx_store_query_int64_cached(reg, STMT_COUNT_INSTITUTIONS,
                                            "SELECT count(*) FROM institutions", n);
    case CDX_COUNT_PATIENT_IDS:
        return cdx_store_query_int64_cached(reg, STMT_COUNT_PATIENT_IDS,
                                            "SELECT count(*) FROM document_patient_ids", n);
    }
    return CDX_EINVAL;
}
