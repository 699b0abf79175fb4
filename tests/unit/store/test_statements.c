/* Unit tests of the registry's statement cache (gateway/store/db.c): each
 * statement is prepared once per connection and reused by every later
 * call, and is reset after each use, also when a step fails or a reader
 * stops early, so that the cached statement stays usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

#include <stdio.h>
#include <string.h>

static char tmpdir[1024];
static int db_counter;

static int group_setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "statements");
}

static int group_teardown(void **state)
{
    (void)state;
    return cdx_test_remove_dir(tmpdir);
}

static cdx_registry_t *open_reg(void)
{
    char path[1200];
    cdx_registry_t *reg = NULL;
    snprintf(path, sizeof path, "%s/db%d/registry.db", tmpdir, ++db_counter);
    assert_int_equal(cdx_test_registry_open(path, &reg), 0);
    return reg;
}

static cdx_registry_stats_t stats(const cdx_registry_t *reg)
{
    cdx_registry_stats_t s;
    cdx_registry_stats(reg, &s);
    return s;
}

/* Stores document n (a new one each time) with facts, patient ids and an
 * audit record: every statement of the ingest path. */
static int store(cdx_registry_t *reg, int n, const char *submitter)
{
    static const char *const pids[] = {"2.25.7.1", "P-1"};
    char id[64], sha[65], uid[33];
    snprintf(id, sizeof id, "2.25.7.2^doc-%d", n);
    snprintf(sha, sizeof sha, "%064d", n);
    cdx_doc_record_t rec = {
        .unique_id = id, .version = 1, .submitter_oid = submitter, .custodian_oid = "2.25.7",
        .patient_root = "2.25.7.1", .patient_ext = "P-1", .patient_ids = pids,
        .npatient_ids = 1, .sha256 = sha, .original = "<a/>", .size = 4, .meta_json = "{}",
        .facts_json = "{\"problems\":[{\"code\":\"E11\"}],\"results\":[{\"code\":\"2345-7\"}]}"};
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = submitter, .outcome = 0};
    cdx_store_outcome_t outcome;
    int rc = cdx_registry_store_document(reg, &rec, &ev, &outcome, uid);
    if (rc == 0 && outcome != CDX_STORE_CREATED)
        rc = CDX_EDB;
    return rc;
}

/* After the first document, storing more prepares nothing: every
 * statement comes from the cache, and none is left stepping. */
static void test_prepared_once(void **state)
{
    (void)state;
    enum { N = 50 };
    cdx_registry_t *reg = open_reg();
    assert_int_equal(store(reg, 0, "2.25.7"), 0);
    cdx_registry_stats_t warm = stats(reg);
    assert_true(warm.prepared > 0);
    assert_int_equal(warm.cached, warm.prepared);
    assert_int_equal(warm.active, 0);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(store(reg, i, "2.25.7"), 0);
        assert_int_equal(stats(reg).active, 0);
    }
    cdx_registry_stats_t after = stats(reg);
    assert_int_equal(after.prepared, warm.prepared);
    assert_int_equal(after.one_off, warm.one_off);
    /* At least a begin, a commit, the document, its content and its audit
     * record per document, each a reuse. */
    assert_true(after.reused - warm.reused >= 5u * N);
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, N + 1);
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_FACTS, &n), 0);
    assert_int_equal(n, 2 * (N + 1));
    cdx_registry_close(reg);
}

/* A step that fails (a constraint) leaves its statement reset and usable:
 * the next call succeeds with it, without preparing it again. */
static void test_failing_step(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    char value[32];
    assert_int_equal(cdx_registry_state_set(reg, "k", NULL), CDX_EDB); /* value is NOT NULL */
    assert_true(strstr(cdx_registry_errmsg(reg), "writing state") != NULL);
    cdx_registry_stats_t failed = stats(reg);
    assert_int_equal(failed.active, 0);
    assert_int_equal(cdx_registry_state_set(reg, "k", "v1"), 0);
    assert_int_equal(cdx_registry_state_set(reg, "k", "v2"), 0);
    assert_int_equal(cdx_registry_state_get(reg, "k", value, sizeof value), 0);
    assert_string_equal(value, "v2");
    cdx_registry_stats_t ok = stats(reg);
    assert_int_equal(ok.prepared, failed.prepared + 1); /* only the read */
    assert_int_equal(ok.active, 0);

    /* A document refused halfway (its submitter is not registered) rolls
     * back and leaves the statements of the ingest path usable. */
    assert_int_equal(store(reg, 1, "2.25.7"), 0);
    cdx_registry_stats_t warm = stats(reg);
    assert_int_equal(store(reg, 2, "2.25.99"), CDX_ENOTFOUND);
    assert_int_equal(stats(reg).active, 0);
    assert_int_equal(stats(reg).prepared, warm.prepared + 1); /* the ROLLBACK, once */
    assert_int_equal(store(reg, 3, "2.25.7"), 0);
    warm = stats(reg);
    assert_int_equal(store(reg, 4, "2.25.99"), CDX_ENOTFOUND);
    assert_int_equal(store(reg, 5, "2.25.7"), 0);
    cdx_registry_stats_t after = stats(reg);
    assert_int_equal(after.prepared, warm.prepared);
    assert_int_equal(after.active, 0);
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, 3);
    cdx_registry_close(reg);
}

static int stop_after_one(const cdx_doc_row_t *row, void *arg)
{
    (void)row;
    (*(int *)arg)++;
    return 1;
}

static int count_rows(const cdx_doc_row_t *row, void *arg)
{
    (void)row;
    (*(int *)arg)++;
    return 0;
}

/* A reader that stops in the middle of its rows leaves the statement
 * reset: the next walk starts from its own first row. */
static void test_early_stop(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    for (int i = 0; i < 5; i++)
        assert_int_equal(store(reg, i, "2.25.7"), 0);
    int seen = 0;
    assert_int_equal(cdx_registry_each_document(reg, 0, 100, stop_after_one, &seen), 1);
    assert_int_equal(seen, 1);
    assert_int_equal(stats(reg).active, 0);
    cdx_registry_stats_t before = stats(reg);
    seen = 0;
    assert_int_equal(cdx_registry_each_document(reg, 0, 100, count_rows, &seen), 0);
    assert_int_equal(seen, 5);
    assert_int_equal(stats(reg).prepared, before.prepared);
    assert_int_equal(stats(reg).active, 0);
    cdx_registry_close(reg);
}

/* Each connection has its own cache; a new connection starts empty. */
static void test_per_connection(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    assert_int_equal(store(reg, 0, "2.25.7"), 0);
    cdx_registry_stats_t s = stats(reg);
    assert_true(s.cached > 0);
    cdx_registry_close(reg);
    cdx_registry_stats(NULL, &s);
    assert_int_equal(s.prepared, 0);
    assert_int_equal(s.cached, 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepared_once),
        cmocka_unit_test(test_failing_step),
        cmocka_unit_test(test_early_stop),
        cmocka_unit_test(test_per_connection),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
