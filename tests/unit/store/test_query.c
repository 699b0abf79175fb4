/* Unit tests of the document query (gateway/store/query.c): the person's
 * documents across its identities, filters in UTC, status, and keyset
 * paging that stays stable while documents arrive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

static char dbpath[1200];
static cdx_registry_t *reg;
static int seq;

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_new("query", dbpath, sizeof dbpath, &reg);
}

static int teardown(void **state)
{
    (void)state;
    cdx_registry_close(reg);
    return 0;
}

/* Stores a document of the identities ids (n root, extension pairs);
 * returns its registry id in uid. */
static void store(const char *const *ids, size_t n, const char *created, const char *type,
                  const char *custodian, const char *replaces, char uid[33], char unique[64])
{
    char sha[32];
    snprintf(unique, 64, "2.25.7.2^Q-%d", ++seq);
    snprintf(sha, sizeof sha, "sha-%d", seq);
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, unique, sha, ids, n);
    rec.replaces = replaces;
    rec.custodian_oid = custodian;
    rec.type_code = type;
    rec.type_system = "2.16.840.1.113883.6.1"; /* LOINC: the registry derives the class */
    rec.creation_time = created;
    rec.service_start = strcmp(type, "18842-5") == 0 ? "2025-06-10" : NULL;
    rec.service_stop = strcmp(type, "18842-5") == 0 ? "2025-06-12" : NULL;
    cdx_store_outcome_t outcome;
    assert_int_equal(cdx_registry_store_document(reg, &rec, NULL, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
}

static const char *const A[] = {"2.25.7.1", "A-1"};
static const char *const B[] = {"2.25.8.1", "B-1"};
static const char *const AB[] = {"2.25.8.1", "B-1", "2.25.7.1", "A-1"};
static const char *const OTHER[] = {"2.25.7.1", "Z-9"};

static char u_old[33], u_kst[33], u_est[33], u_dis[33], u_rep[33], u_link[33], u_other[33];
static char x_old[64];

static void fill(void)
{
    char unique[64];
    store(A, 1, "2024-01-05T09:30:00+09:00", "34133-9", "2.25.7", NULL, u_old, x_old);
    store(AB, 2, "2024-03-01T12:00:00+09:00", "11506-3", "2.25.8", NULL, u_link, unique);
    /* 2024-05-31T15:00Z and 2024-06-01T01:00Z: the second is newer in UTC. */
    store(B, 1, "2024-06-01T00:00:00+09:00", "11506-3", "2.25.8", NULL, u_kst, unique);
    store(B, 1, "2024-05-31T20:00:00-05:00", "11506-3", "2.25.8", NULL, u_est, unique);
    store(B, 1, "2025-06-15T10:00:00+09:00", "18842-5", "2.25.8", NULL, u_dis, unique);
    store(A, 1, "2025-07-01", "34133-9", "2.25.7", x_old, u_rep, unique);
    store(OTHER, 1, "2026-01-01", "34133-9", "2.25.7", NULL, u_other, unique);
}

static cdx_doc_query_t query(const char *const *id)
{
    cdx_doc_query_t q;
    memset(&q, 0, sizeof q);
    q.root = id[0];
    q.ext = id[1];
    q.limit = 50;
    return q;
}

/* The uids of a query's page, joined by spaces. */
static void run(const cdx_doc_query_t *q, char *out, size_t outlen, cdx_doc_page_t *keep)
{
    cdx_doc_page_t page;
    assert_int_equal(cdx_registry_find_documents(reg, q, &page), 0);
    out[0] = '\0';
    for (size_t i = 0; i < page.n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", i ? " " : "", page.hits[i].row.uid);
    }
    if (keep != NULL)
        *keep = page;
    else
        cdx_doc_page_cleanup(&page);
}

static void expect(const cdx_doc_query_t *q, int n, ...)
{
    char want[1024] = "", got[1024];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        size_t used = strlen(want);
        snprintf(want + used, sizeof want - used, "%s%s", i ? " " : "", va_arg(ap, const char *));
    }
    va_end(ap);
    run(q, got, sizeof got, NULL);
    assert_string_equal(got, want);
}

static void test_whole_person_newest_first(void **state)
{
    (void)state;
    fill();
    cdx_doc_query_t q = query(A);
    expect(&q, 5, u_rep, u_dis, u_est, u_kst, u_link);
    q = query(B);
    expect(&q, 5, u_rep, u_dis, u_est, u_kst, u_link);
    q = query(OTHER);
    expect(&q, 1, u_other);
    cdx_doc_query_t unknown = query((const char *const[]){"2.25.7.1", "NOBODY"});
    cdx_doc_page_t page;
    assert_int_equal(cdx_registry_find_documents(reg, &unknown, &page), 0);
    assert_int_equal(page.person_found, 0);
    assert_int_equal(page.n, 0);
    cdx_doc_page_cleanup(&page);
}

static void test_filters(void **state)
{
    (void)state;
    cdx_doc_query_t q = query(A);
    q.types[0] = "18842-5";
    q.types[1] = "34133-9";
    q.ntypes = 2;
    expect(&q, 2, u_rep, u_dis);
    q = query(A);
    q.class_code = "discharge";
    expect(&q, 1, u_dis);
    q = query(A);
    q.from = "20240601000000";
    q.to = "20240602000000";
    expect(&q, 1, u_est);
    q.from = "20240531150000";
    q.to = "20240531150001";
    expect(&q, 1, u_kst);
    q = query(A);
    q.service_from = "20250611000000";
    expect(&q, 1, u_dis);
    q.service_from = NULL;
    q.service_to = "20250610000000";
    expect(&q, 0);
    q = query(A);
    q.institution = "2.25.7";
    expect(&q, 1, u_rep);
    q.status = CDX_QUERY_ALL;
    expect(&q, 2, u_rep, u_old);
    q.status = CDX_QUERY_SUPERSEDED;
    q.institution = NULL;
    expect(&q, 1, u_old);
    q = query(A);
    q.limit = 0;
    cdx_doc_page_t page;
    assert_int_equal(cdx_registry_find_documents(reg, &q, &page), CDX_EINVAL);
    q.limit = CDX_QUERY_MAX_LIMIT + 1;
    assert_int_equal(cdx_registry_find_documents(reg, &q, &page), CDX_EINVAL);
}

/* limit 1 walks every document once, in order, while others arrive: a
 * newer one before the walk's position and an older one after it. */
static void test_paging_stable(void **state)
{
    (void)state;
    cdx_doc_query_t q = query(B);
    q.status = CDX_QUERY_ALL;
    char all[1024] = "";
    run(&q, all, sizeof all, NULL);
    q.limit = 2;
    char walked[1024] = "", key[16] = "", unique[64], late_new[33], late_old[33];
    int64_t after = 0;
    int pages = 0;
    for (;;) {
        cdx_doc_page_t page;
        char got[512];
        q.after_key = key[0] ? key : NULL;
        q.after_id = after;
        run(&q, got, sizeof got, &page);
        if (walked[0] != '\0' && got[0] != '\0')
            strcat(walked, " ");
        assert_true(strlen(walked) + strlen(got) < sizeof walked);
        strcat(walked, got);
        int more = page.more;
        if (page.n > 0) {
            cdx_strlcpy(key, page.hits[page.n - 1].creation_key, sizeof key);
            after = page.hits[page.n - 1].row.id;
        }
        cdx_doc_page_cleanup(&page);
        if (++pages == 1) {
            store(B, 1, "2027-01-01", "34133-9", "2.25.8", NULL, late_new, unique);
            store(B, 1, "2020-01-01", "34133-9", "2.25.8", NULL, late_old, unique);
        }
        if (!more)
            break;
    }
    /* Every document once, in order; the older arrival at the end. */
    char want[1200];
    cdx_strlcpy(want, all, sizeof want);
    strcat(want, " ");
    strcat(want, late_old);
    assert_string_equal(walked, want);
    assert_null(strstr(walked, late_new));
}

static void raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* A registry from before schema step 5 (its documents without keys) gets
 * them from the step, the same as documents stored since. */
static void test_keys_of_older_documents(void **state)
{
    (void)state;
    cdx_doc_query_t q = query(A);
    q.status = CDX_QUERY_ALL;
    char before[1024], after[1024];
    run(&q, before, sizeof before, NULL);
    cdx_registry_close(reg);
    reg = NULL;
    /* Steps 5 and 11 unrecorded, their table gone: the open applies them
     * again (every step the database has not recorded), in order. */
    raw_exec("DROP TABLE document_keys;"
             " DELETE FROM schema_migrations WHERE version = 5 OR version = 11");
    char err[512];
    assert_int_equal(cdx_registry_open(dbpath, &reg, err, sizeof err), 0);
    assert_int_equal(cdx_registry_schema_version(reg), 16);
    run(&q, after, sizeof after, NULL);
    assert_string_equal(after, before);
    q.from = "20240601000000";
    q.to = "20240602000000";
    expect(&q, 1, u_est);
    /* Step 6 gave the older documents their class. */
    cdx_doc_query_t c = query(A);
    c.class_code = "discharge";
    expect(&c, 1, u_dis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_person_newest_first),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_paging_stable),
        cmocka_unit_test(test_keys_of_older_documents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
