/* Unit tests of administrators' links and unlinks in the patient index
 * (gateway/store/links.c) and of the persons read back
 * (gateway/store/persons.c): merges, splits by the remaining linked links,
 * decisions that hold for whole persons, listing and paging, audit rows. */
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
#include "cdx_test_registry.h"
/* The store's internal steps the patient index's other writers call. */
#include "../../../gateway/store/store_internal.h"

static char dbpath[1200];
static int ndocs;

/* Each case has a registry of its own, in a scratch folder removed after it. */
static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_path("links", dbpath, sizeof dbpath);
}

static int teardown(void **state)
{
    (void)state;
    cdx_registry_t *none = NULL;
    return cdx_test_registry_drop(&none, dbpath);
}

/* Opens (the first time: creates) the case's registry. */
static cdx_registry_t *open_reg(void)
{
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_test_registry_open(dbpath, &reg), 0);
    return reg;
}

static void raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

/* Stores one document of institution 2.25.7 whose patient is (root, ext). */
static void store_patient(cdx_registry_t *reg, const char *root, const char *ext)
{
    const char *pids[] = {root, ext};
    char id[64], sha[65];
    ndocs++;
    snprintf(id, sizeof id, "2.25.7.2^L%d", ndocs);
    snprintf(sha, sizeof sha, "sha-%d", ndocs);
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, id, sha, pids, 1);
    rec.normalized = "<n/>";
    rec.normalized_size = 4;
    rec.normalized_sha256 = sha;
    rec.mapping_version = "default-1";
    char uid[33];
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, NULL), 0);
}

static int64_t person(cdx_registry_t *reg, const char *ext)
{
    int64_t p = 0;
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", ext, &p), 0);
    return p;
}

static int64_t audits(cdx_registry_t *reg)
{
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &n), 0);
    return n;
}

static const cdx_audit_event_t link_ev = {.event = "patient.link", .actor_oid = "2.25.1009"};
static const cdx_audit_event_t unlink_ev = {.event = "patient.unlink", .actor_oid = "2.25.1009"};

/* Links 2.25.7.1|x and 2.25.7.1|y; returns the link id. */
static int64_t link(cdx_registry_t *reg, const char *x, const char *y, cdx_link_outcome_t want)
{
    cdx_link_outcome_t out = 0;
    char missing = 0;
    cdx_link_row_t row;
    memset(&row, 0, sizeof row);
    assert_int_equal(cdx_registry_link_admin(reg, "2.25.7.1", x, "2.25.7.1", y, "checked",
                                             "2.25.1009", &link_ev, &out, &missing, &row),
                     0);
    assert_int_equal(out, want);
    int64_t id = row.id;
    if (want == CDX_LINK_DONE || want == CDX_LINK_UNCHANGED) {
        assert_string_equal(row.rule, "admin");
        assert_string_equal(row.status, "linked");
        assert_string_equal(row.reason, "checked");
        assert_string_equal(row.actor, "2.25.1009");
    }
    cdx_link_row_cleanup(&row);
    return id;
}

static void unlink(cdx_registry_t *reg, int64_t id, cdx_link_outcome_t want, const char *status)
{
    cdx_link_outcome_t out = 0;
    cdx_link_row_t row;
    memset(&row, 0, sizeof row);
    assert_int_equal(cdx_registry_unlink(reg, id, "2.25.1009", &unlink_ev, &out, &row), 0);
    assert_int_equal(out, want);
    if (status != NULL)
        assert_string_equal(row.status, status);
    cdx_link_row_cleanup(&row);
}

/* The patient row id of 2.25.7.1|ext. */
static int64_t pid_of(cdx_registry_t *reg, const char *ext)
{
    int64_t pid = 0, per = 0;
    int created = 0;
    assert_int_equal(
        cdx_store_patient_ensure(reg, "2.25.7.1", ext, "2.25.7", 0, &pid, &per, &created), 0);
    assert_int_equal(created, 0);
    return pid;
}

static void test_link_merges_and_refuses(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "A");
    store_patient(reg, "2.25.7.1", "B");
    assert_true(person(reg, "A") != person(reg, "B"));
    int64_t n0 = audits(reg);
    int64_t id = link(reg, "A", "B", CDX_LINK_DONE);
    assert_true(id > 0);
    assert_int_equal(person(reg, "A"), person(reg, "B"));
    assert_int_equal(link(reg, "B", "A", CDX_LINK_UNCHANGED), id);
    link(reg, "A", "A", CDX_LINK_SAME_IDENTITY);
    cdx_link_outcome_t out = 0;
    char missing = 0;
    assert_int_equal(cdx_registry_link_admin(reg, "2.25.7.1", "A", "2.25.7.1", "NOPE", "r", "x",
                                             &link_ev, &out, &missing, NULL),
                     0);
    assert_int_equal(out, CDX_LINK_NOT_FOUND);
    assert_int_equal(missing, 'b');
    /* Every outcome, refusals too, left its audit record. */
    assert_int_equal(audits(reg), n0 + 4);
    assert_int_equal(cdx_registry_audit_verify(reg, &(int64_t){0}), 0);
    cdx_registry_close(reg);
}

static void test_chain_unlink_separates_the_far_end(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "C1");
    store_patient(reg, "2.25.7.1", "C2");
    store_patient(reg, "2.25.7.1", "C3");
    link(reg, "C1", "C2", CDX_LINK_DONE);
    int64_t bc = link(reg, "C2", "C3", CDX_LINK_DONE);
    int64_t p = person(reg, "C1");
    assert_int_equal(person(reg, "C2"), p);
    assert_int_equal(person(reg, "C3"), p);
    /* C2-C3 again through the same person: refused. */
    link(reg, "C1", "C3", CDX_LINK_SAME_PERSON);
    unlink(reg, bc, CDX_LINK_DONE, "unlinked");
    assert_int_equal(person(reg, "C1"), p);
    assert_int_equal(person(reg, "C2"), p);
    assert_true(person(reg, "C3") != p);
    unlink(reg, bc, CDX_LINK_UNCHANGED, "unlinked");
    unlink(reg, 999999, CDX_LINK_NOT_FOUND, NULL);
    int64_t distinct = 0;
    assert_int_equal(cdx_store_persons_apart(reg, person(reg, "C1"), person(reg, "C3"), &distinct),
                     0);
    assert_true(distinct > 0);
    cdx_registry_close(reg);
}

static void test_unlink_keeps_a_person_joined_another_way(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "R1");
    store_patient(reg, "2.25.7.1", "R2");
    store_patient(reg, "2.25.7.1", "R3");
    store_patient(reg, "2.25.7.1", "R4");
    int64_t ab = link(reg, "R1", "R2", CDX_LINK_DONE);
    link(reg, "R2", "R3", CDX_LINK_DONE);
    link(reg, "R3", "R4", CDX_LINK_DONE);
    /* A ring R1-R2-R3-R4-R1: one unlink leaves a path. */
    int64_t p = person(reg, "R1");
    int64_t x = 0;
    char status[16];
    assert_int_equal(cdx_store_link_put(reg, pid_of(reg, "R4"), pid_of(reg, "R1"), "document",
                                        "linked", -1, NULL, NULL, NULL, &x),
                     0);
    assert_int_equal(cdx_store_link_find(reg, pid_of(reg, "R1"), pid_of(reg, "R4"), &x, status), 0);
    assert_string_equal(status, "linked");
    unlink(reg, ab, CDX_LINK_DONE, "unlinked");
    /* No split: R1 still reaches R2 through R4 and R3. */
    assert_int_equal(person(reg, "R1"), p);
    assert_int_equal(person(reg, "R2"), p);
    assert_int_equal(person(reg, "R4"), p);
    cdx_registry_close(reg);
}

static void test_review_decisions_hold_for_persons(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "D1");
    store_patient(reg, "2.25.7.1", "D2");
    store_patient(reg, "2.25.7.1", "D3");
    link(reg, "D1", "D2", CDX_LINK_DONE);
    int64_t review = 0;
    assert_int_equal(cdx_store_link_put(reg, pid_of(reg, "D2"), pid_of(reg, "D3"), "match",
                                        "review", 7.5, "{\"total\":7.5}", NULL, NULL, &review),
                     0);
    cdx_link_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_links_list(reg, "review", 0, 10, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, review);
    assert_true(rows[0].has_score);
    assert_string_equal(rows[0].breakdown, "{\"total\":7.5}");
    cdx_link_rows_free(rows, n);
    unlink(reg, review, CDX_LINK_DONE, "distinct");
    /* The decision was made on D2-D3; it holds for D1 (D2's person) too. */
    int64_t distinct = 0;
    assert_int_equal(cdx_store_persons_apart(reg, person(reg, "D1"), person(reg, "D3"), &distinct),
                     0);
    assert_true(distinct > 0);
    assert_int_equal(cdx_store_persons_apart(reg, person(reg, "D3"), person(reg, "D1"), &distinct),
                     0);
    assert_true(distinct > 0);
    assert_int_equal(cdx_store_persons_apart(reg, person(reg, "D1"), person(reg, "D1"), &distinct),
                     0);
    assert_true(distinct == 0);
    /* An administrator overrides it. */
    link(reg, "D2", "D3", CDX_LINK_DONE);
    assert_int_equal(person(reg, "D3"), person(reg, "D1"));
    cdx_registry_close(reg);
}

static void test_list_pages_newest_first(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "L1");
    store_patient(reg, "2.25.7.1", "L2");
    store_patient(reg, "2.25.7.1", "L3");
    int64_t first = link(reg, "L1", "L2", CDX_LINK_DONE);
    int64_t second = link(reg, "L2", "L3", CDX_LINK_DONE);
    cdx_link_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_links_list(reg, NULL, 0, 1, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_true(rows[0].id >= second);
    int64_t top = rows[0].id;
    cdx_link_rows_free(rows, n);
    assert_int_equal(cdx_registry_links_list(reg, "linked", second + 1, 2, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, second);
    assert_int_equal(rows[1].id, first);
    assert_string_equal(rows[0].a.ext, "L2");
    assert_string_equal(rows[0].b.ext, "L3");
    assert_string_equal(rows[0].a.institution, "2.25.7");
    cdx_link_rows_free(rows, n);
    assert_int_equal(cdx_registry_links_list(reg, "distinct", top + 1, 5, &rows, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i].status, "distinct");
    cdx_link_rows_free(rows, n);
    cdx_registry_close(reg);
}

static void test_persons_read_back(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    store_patient(reg, "2.25.7.1", "P1");
    store_patient(reg, "2.25.7.1", "P2");
    link(reg, "P1", "P2", CDX_LINK_DONE);
    cdx_registry_close(reg);
    /* What demographic matching stores: match keys, a summary, a block
     * key; and a national identity in the same person. */
    raw_exec("UPDATE patients SET family = 'KIM', given = 'MINJUN', birth = '19800101',"
             " sex = 'M', summary = '{\"family\":\"Kim\"}' WHERE extension = 'P2';"
             "INSERT INTO patient_blocks (key, patient_id) SELECT 'f:KIM:198001', id FROM"
             " patients WHERE extension = 'P2';"
             "INSERT INTO patients (root, extension, person_id, national, created_at,"
             " updated_at) SELECT '2.25.99', 'hmac-sha256:abcd', person_id, 1, 'x', 'x' FROM"
             " patients WHERE extension = 'P1';");
    reg = open_reg();
    cdx_person_row_t *persons = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_persons_by_identity(reg, "2.25.7.1", "P1", &persons, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(persons[0].nids, 3);
    int national = 0;
    for (size_t i = 0; i < persons[0].nids; i++) {
        if (persons[0].ids[i].national) {
            national++;
            assert_string_equal(persons[0].ids[i].ext, "");
            assert_string_equal(persons[0].ids[i].root, "2.25.99");
        }
    }
    assert_int_equal(national, 1);
    assert_int_equal(persons[0].nsummaries, 1);
    assert_string_equal(persons[0].summaries[0], "{\"family\":\"Kim\"}");
    cdx_person_rows_free(persons, n);
    assert_int_equal(cdx_registry_persons_by_identity(reg, "2.25.7.1", "NONE", &persons, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cdx_registry_persons_by_demographics(reg, "f:KIM:198001", "KIM", "",
                                                          "19800101", "", 10, &persons, &n),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(persons[0].nids, 3);
    cdx_person_rows_free(persons, n);
    assert_int_equal(cdx_registry_persons_by_demographics(reg, "f:KIM:198001", "KIM", "SEOYEON",
                                                          "19800101", "", 10, &persons, &n),
                     0);
    assert_int_equal(n, 0);
    cdx_person_rows_free(persons, n);
    cdx_registry_close(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_link_merges_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_unlink_separates_the_far_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_keeps_a_person_joined_another_way, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_review_decisions_hold_for_persons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persons_read_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
