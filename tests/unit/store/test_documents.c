/* Unit tests of document storage in the registry (gateway/store/documents.c) and
 * of the writer thread's group commit (gateway/store/writer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <uv.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx/store/writer.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

static char dbpath[1200];

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_path("docs", dbpath, sizeof dbpath);
}

static cdx_registry_t *open_reg(void)
{
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_test_registry_open(dbpath, &reg), 0);
    return reg;
}

static void record(cdx_doc_record_t *rec, const char *id, const char *bytes, const char *sha,
                   const char *replaces)
{
    static const char *const pids[] = {"2.25.7.1", "P-1", "2.25.9", "X"};
    memset(rec, 0, sizeof *rec);
    rec->unique_id = id;
    rec->version = replaces ? 2 : 1;
    rec->replaces = replaces;
    rec->submitter_oid = "2.25.7";
    rec->custodian_oid = "2.25.7";
    rec->patient_root = "2.25.7.1";
    rec->patient_ext = "P-1";
    rec->patient_ids = pids;
    rec->npatient_ids = 2;
    rec->sha256 = sha;
    rec->original = bytes;
    rec->size = strlen(bytes);
    rec->normalized = "<n/>";
    rec->normalized_size = 4;
    rec->normalized_sha256 = "nn";
    rec->mapping_version = "default-1";
    rec->meta_json = "{\"title\":\"t\"}";
    rec->facts_json = "{\"problems\":[{\"codeSystem\":\"2.16.840.1.113883.6.3\",\"code\":\"E11\","
                      "\"displayName\":\"Diabetes\",\"effectiveTime\":{\"low\":\"2020\"}}],"
                      "\"results\":[{\"code\":\"2345-7\",\"number\":5.4,\"unit\":\"mmol/L\"}]}";
}

static void test_store_and_read(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    cdx_doc_record_t rec;
    cdx_store_outcome_t outcome;
    char uid[33], uid2[33];
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = "2.25.7", .outcome = 0};
    record(&rec, "2.25.7.2^A", "<a/>", "sha-a", NULL);
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
    cdx_registry_doc_uid("2.25.7.2^A", uid2);
    assert_string_equal(uid, uid2);
    /* The same bytes again: identical, nothing new. */
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_IDENTICAL);
    /* Other bytes under the same id: a conflict, and the original stays. */
    record(&rec, "2.25.7.2^A", "<b/>", "sha-b", NULL);
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CONFLICT);
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_FACTS, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_PATIENT_IDS, &n), 0);
    assert_int_equal(n, 2);
    /* Three ingests, three audit rows (plus the institution's). */
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &n), 0);
    assert_int_equal(n, 4);

    cdx_doc_row_t row;
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_ORIGINAL, &row), 0);
    assert_int_equal(row.content_len, 4);
    assert_memory_equal(row.content, "<a/>", 4);
    assert_string_equal(row.status, "current");
    assert_string_equal(row.submitter_oid, "2.25.7");
    cdx_doc_row_cleanup(&row);
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_NORMALIZED, &row), 0);
    assert_memory_equal(row.content, "<n/>", 4);
    cdx_doc_row_cleanup(&row);
    assert_int_equal(cdx_registry_get_document(reg, "00000000000000000000000000000000",
                                               CDX_DOC_META_ONLY, &row),
                     CDX_ENOTFOUND);
    int found = 0;
    assert_int_equal(cdx_registry_has_sha256(reg, "sha-a", &found), 0);
    assert_true(found);
    assert_int_equal(cdx_registry_has_sha256(reg, "sha-b", &found), 0);
    assert_false(found);

    /* A replacement supersedes its parent, which stays retrievable. */
    record(&rec, "2.25.7.2^B", "<c/>", "sha-c", "2.25.7.2^A");
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid2), 0);
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_META_ONLY, &row), 0);
    assert_string_equal(row.status, "superseded");
    cdx_doc_row_cleanup(&row);
    /* A replacement that arrives before its parent supersedes it at once. */
    record(&rec, "2.25.7.2^D", "<d/>", "sha-d", "2.25.7.2^C");
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid2), 0);
    record(&rec, "2.25.7.2^C", "<e/>", "sha-e", NULL);
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_META_ONLY, &row), 0);
    assert_string_equal(row.status, "superseded");
    cdx_doc_row_cleanup(&row);

    /* An unknown submitter is refused and nothing is written. */
    record(&rec, "2.25.7.2^Z", "<z/>", "sha-z", NULL);
    rec.submitter_oid = "2.25.404";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), CDX_ENOTFOUND);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, 4);

    int64_t bad = 0;
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);
    cdx_registry_close(reg);
}

static void put_inst(cdx_registry_t *reg, const char *oid)
{
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    snprintf(inst.oid, sizeof inst.oid, "%s", oid);
    snprintf(inst.name, sizeof inst.name, "Institution %s", oid);
    inst.roles = CDX_ROLE_SUBMIT;
    assert_int_equal(cdx_registry_put_institution(reg, &inst, "test"), 0);
}

static void expect_status(cdx_registry_t *reg, const char *unique_id, const char *status)
{
    char uid[33];
    cdx_doc_row_t row;
    cdx_registry_doc_uid(unique_id, uid);
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_META_ONLY, &row), 0);
    if (strcmp(row.status, status) != 0)
        fail_msg("%s is %s, expected %s", unique_id, row.status, status);
    cdx_doc_row_cleanup(&row);
}

/* The last audit row as "event|outcome|detail". */
static void last_audit(char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT event || '|' || outcome || '|' || detail FROM"
                                        " audit ORDER BY seq DESC LIMIT 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A replacement (RPLC) must come from the parent's submitter or its
 * custodian; a stranger's is refused with nothing changed and a security
 * alert, and a stranger's replacement stored before the parent does not
 * supersede the parent when it arrives. */
static void test_replacement_ownership(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg(); /* 2.25.7 */
    put_inst(reg, "2.25.8");
    put_inst(reg, "2.25.9");
    cdx_doc_record_t rec;
    cdx_store_outcome_t outcome;
    char uid[33], audit[256];
    int64_t docs = 0, rows = 0, n = 0;
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = "x", .detail = "d=1"};

    record(&rec, "2.25.7.2^P", "<p/>", "sha-p", NULL);
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);

    /* 2.25.8 replacing 2.25.7's document: refused, nothing changed. */
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &docs), 0);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &rows), 0);
    record(&rec, "2.25.8.2^R", "<r/>", "sha-r", "2.25.7.2^P");
    rec.submitter_oid = rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_FORBIDDEN);
    expect_status(reg, "2.25.7.2^P", "current");
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, docs);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &n), 0);
    assert_int_equal(n, rows + 1);
    last_audit(audit, sizeof audit);
    assert_string_equal(audit, "security.alert|8|code=REPLACEMENT_FORBIDDEN d=1");

    /* The parent's custodian may replace it even when another institution
     * (its author organization) submitted it. */
    record(&rec, "2.25.9.2^Q", "<q/>", "sha-q", NULL);
    rec.submitter_oid = "2.25.9";
    rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    record(&rec, "2.25.8.2^Q2", "<q2/>", "sha-q2", "2.25.9.2^Q");
    rec.submitter_oid = rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
    expect_status(reg, "2.25.9.2^Q", "superseded");

    /* A stranger's replacement that arrives first is stored (its parent
     * is unknown), but the parent, when its owner sends it, stays current. */
    record(&rec, "2.25.8.2^S2", "<s2/>", "sha-s2", "2.25.7.2^S");
    rec.submitter_oid = rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
    record(&rec, "2.25.7.2^S", "<s/>", "sha-s", NULL);
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
    expect_status(reg, "2.25.7.2^S", "current");

    /* The custodian's early replacement does supersede the parent an author
     * organization sends later. */
    record(&rec, "2.25.8.2^T2", "<t2/>", "sha-t2", "2.25.9.2^T");
    rec.submitter_oid = rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    record(&rec, "2.25.9.2^T", "<t/>", "sha-t", NULL);
    rec.submitter_oid = "2.25.9";
    rec.custodian_oid = "2.25.8";
    assert_int_equal(cdx_registry_store_document(reg, &rec, &ev, &outcome, uid), 0);
    expect_status(reg, "2.25.9.2^T", "superseded");

    /* An institution is never registered without an OID. */
    assert_int_equal(cdx_registry_ensure_institution(reg, "", "Nameless"), CDX_EINVAL);
    assert_int_equal(cdx_registry_ensure_institution(reg, NULL, "Nameless"), CDX_EINVAL);

    int64_t bad = 0;
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);
    cdx_registry_close(reg);
}

static int count_row(const cdx_doc_row_t *row, void *arg)
{
    (*(int *)arg)++;
    assert_non_null(row->content);
    return 0;
}

static void test_reindex_support(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    int seen = 0;
    assert_int_equal(cdx_registry_each_document(reg, 0, 100, count_row, &seen), 0);
    assert_int_equal(seen, 4);
    seen = 0;
    assert_int_equal(cdx_registry_each_document(reg, 0, 2, count_row, &seen), 0);
    assert_int_equal(seen, 2);
    assert_int_equal(cdx_registry_update_normalized(reg, 1, "n2", "<m/>", 4, "default-2", "{}",
                                                    "{\"problems\":[]}", NULL, 0),
                     0);
    int64_t nf = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_FACTS, &nf), 0);
    /* Rows given directly are bound as they are. */
    cdx_fact_row_t rows[2] = {{.kind = "results", .code = "2345-7", .has_number = 1,
                               .number = 5.5, .data = "{}"},
                              {.kind = "problems", .code = "E11", .data = "{}"}};
    assert_int_equal(cdx_registry_update_normalized(reg, 1, "n3", "<m/>", 4, "default-3", "{}",
                                                    NULL, rows, 2),
                     0);
    int64_t nf2 = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_FACTS, &nf2), 0);
    assert_int_equal(nf2, nf + 2);
    char uid[33];
    cdx_registry_doc_uid("2.25.7.2^A", uid);
    cdx_doc_row_t row;
    assert_int_equal(cdx_registry_get_document(reg, uid, CDX_DOC_NORMALIZED, &row), 0);
    assert_string_equal(row.mapping_version, "default-3");
    assert_memory_equal(row.content, "<m/>", 4);
    cdx_doc_row_cleanup(&row);
    char value[32];
    assert_int_equal(cdx_registry_state_get(reg, "k", value, sizeof value), 0);
    assert_string_equal(value, "");
    assert_int_equal(cdx_registry_state_set(reg, "k", "42"), 0);
    assert_int_equal(cdx_registry_state_get(reg, "k", value, sizeof value), 0);
    assert_string_equal(value, "42");
    cdx_registry_close(reg);
}

/* ---- writer ---- */

typedef struct wtest {
    cdx_write_req_t req;
    int n;
    int fail;
    int status;
    int *done_count;
} wtest_t;

static int w_apply(cdx_registry_t *reg, void *arg)
{
    wtest_t *t = arg;
    if (t->fail)
        return CDX_EINVAL;
    char state_key[32];
    snprintf(state_key, sizeof state_key, "w%d", t->n);
    return cdx_registry_state_set(reg, state_key, "x");
}

static void w_done(cdx_write_req_t *req, int status)
{
    wtest_t *t = req->arg;
    t->status = status;
    (*t->done_count)++;
}

static void test_writer(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cdx_registry_t *reg = open_reg();
    cdx_writer_t *w = NULL;
    assert_int_equal(cdx_writer_start(&loop, reg, 64, &w), 0);
    wtest_t tests[50];
    int done = 0;
    for (int i = 0; i < 50; i++) {
        tests[i] = (wtest_t){.n = i, .fail = i == 7, .done_count = &done};
        tests[i].req.apply = w_apply;
        tests[i].req.done = w_done;
        tests[i].req.arg = &tests[i];
        assert_int_equal(cdx_writer_submit(w, &tests[i].req), 0);
    }
    while (done < 50)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 50; i++)
        assert_int_equal(tests[i].status, i == 7 ? CDX_EINVAL : 0);
    unsigned long long batches = 0, changes = 0;
    cdx_writer_stats(w, &batches, &changes);
    assert_int_equal(changes, 50);
    assert_true(batches >= 1 && batches <= 50);
    assert_int_equal(cdx_writer_pending(w), 0);
    /* The failing change was rolled back alone. */
    char value[8];
    assert_int_equal(cdx_registry_state_get(reg, "w6", value, sizeof value), 0);
    assert_string_equal(value, "x");
    assert_int_equal(cdx_registry_state_get(reg, "w7", value, sizeof value), 0);
    assert_string_equal(value, "");
    cdx_registry_t *back = cdx_writer_stop(w);
    assert_ptr_equal(back, reg);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cdx_registry_close(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_and_read),
        cmocka_unit_test(test_reindex_support),
        cmocka_unit_test(test_replacement_ownership),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
