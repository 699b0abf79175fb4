/* Unit tests of the patient index in the registry (gateway/store/patients.c,
 * gateway/store/patients_match.c): identities and their links by document,
 * national id and demographics; candidates by blocking key; reviews;
 * decisions of a person kept at the level of persons; audit rows; the
 * reindex rebuild and the removal of national ids stored in clear. */
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
#include "cdx/domain/match.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

#define INST CDX_TEST_SUBMITTER
#define L1 "2.25.7.1" /* local id roots of two institutions */
#define L2 "2.25.8.1"
#define NAT "2.25.99"
#define HASH "hmac-sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dbpath[1200];

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_path("patients", dbpath, sizeof dbpath);
}

static cdx_registry_t *open_reg(void)
{
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_test_registry_open(dbpath, &reg), 0);
    return reg;
}

static int64_t query_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* One document's patient: ids and demographics. */
typedef struct pat {
    const char *ids[8]; /* root, extension pairs */
    size_t nids;
    unsigned char national[4];
    const char *family, *given, *birth, *sex, *street, *postal;
} pat_t;

typedef struct doc {
    cdx_doc_record_t rec;
    cdx_demog_t d;
    char blocks[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    cdx_patient_match_t m;
    char id[64], sha[65];
} doc_t;

static const cdx_match_thresholds_t *thresholds = NULL;

/* Stores a document of p; returns the outcome. */
static cdx_store_outcome_t store(cdx_registry_t *reg, const pat_t *p)
{
    static int n = 0;
    doc_t *x = calloc(1, sizeof *x);
    assert_non_null(x);
    n++;
    snprintf(x->id, sizeof x->id, "2.25.7.2^DOC-%d", n);
    snprintf(x->sha, sizeof x->sha, "sha-%d", n);
    const char *given[] = {p->given};
    cdx_demog_input_t in = {.family = p->family, .given = given, .ngiven = p->given ? 1 : 0,
                            .birth = p->birth, .gender = p->sex, .street = p->street,
                            .postal = p->postal};
    cdx_doc_record_t *rec = &x->rec;
    if (cdx_demog_from(&in, &x->d) == 0) {
        x->m.demog = &x->d;
        x->m.nblocks = cdx_demog_block_keys(&x->d, x->blocks);
        x->m.blocks = (const char(*)[64])x->blocks;
        x->m.summary_json = "{\"family\":\"as written\"}";
        x->m.thresholds = thresholds;
        rec->match = &x->m;
    }
    rec->unique_id = x->id;
    rec->version = 1;
    rec->submitter_oid = INST;
    rec->custodian_oid = INST;
    rec->patient_root = p->ids[0];
    rec->patient_ext = p->ids[1];
    rec->patient_ids = p->ids;
    rec->npatient_ids = p->nids;
    rec->patient_national = p->national;
    rec->patient_key = "0123456789abcdef0123456789abcdef";
    rec->sha256 = x->sha;
    rec->original = "<x/>";
    rec->size = 4;
    rec->meta_json = "{}";
    rec->facts_json = "{}";
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = INST, .detail = "t"};
    cdx_store_outcome_t outcome = 0;
    char uid[33];
    int rc = cdx_registry_store_document(reg, rec, &ev, &outcome, uid);
    if (rc != 0)
        fail_msg("store: %d %s", rc, cdx_registry_errmsg(reg));
    free(x);
    return outcome;
}

static int64_t person(cdx_registry_t *reg, const char *root, const char *ext)
{
    int64_t p = 0;
    assert_int_equal(cdx_registry_person_of(reg, root, ext, &p), 0);
    return p;
}

static int64_t links(const char *where)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM patient_links WHERE %s", where);
    return query_int(sql);
}

static int64_t audits(const char *where)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE %s", where);
    return query_int(sql);
}

/* The same person at two institutions, Hangul at one and romanized at the
 * other: linked by rule 'match' with its score and breakdown, one
 * patient.link audit row naming neither name nor id. */
static void test_match_links(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    pat_t a = {{L1, "A-1"}, 1, {0}, "최", "유나", "19730214", "F", NULL, "48094"};
    pat_t b = {{L2, "B-1"}, 1, {0}, "Choi", "Yuna", "19730214", "F", NULL, "48094"};
    assert_int_equal(store(reg, &a), CDX_STORE_CREATED);
    assert_int_equal(store(reg, &b), CDX_STORE_CREATED);
    assert_int_equal(person(reg, L1, "A-1"), person(reg, L2, "B-1"));
    assert_int_equal(links("rule = 'match' AND status = 'linked' AND score > 0 AND"
                           " breakdown LIKE '{\"total\":%'"),
                     1);
    assert_int_equal(audits("event = 'patient.link' AND detail LIKE 'rule=match score=%'"), 1);
    assert_int_equal(audits("event = 'patient.link' AND (detail LIKE '%Choi%' OR detail LIKE"
                            " '%B-1%')"),
                     0);
    /* Match keys, summary and blocking keys are stored with the identity. */
    assert_int_equal(query_int("SELECT count(*) FROM patients WHERE extension = 'B-1' AND"
                               " family <> '' AND birth = '19730214' AND sex = 'F' AND"
                               " summary IS NOT NULL"),
                     1);
    assert_true(query_int("SELECT count(*) FROM patient_blocks AS b JOIN patients AS p ON"
                          " p.id = b.patient_id WHERE p.extension = 'B-1'") > 0);
    /* The same again: nothing new, not even a rewrite of the keys. */
    int64_t before = links("1");
    exec_sql("UPDATE patients SET updated_at = 'mark' WHERE extension = 'B-1'");
    store(reg, &b);
    assert_int_equal(links("1"), before);
    assert_int_equal(query_int("SELECT count(*) FROM patients WHERE extension = 'B-1' AND"
                               " updated_at = 'mark'"),
                     1);
    /* A changed address is written, with its blocking keys. */
    b.street = "845 SW Harbor View Ave";
    store(reg, &b);
    assert_int_equal(query_int("SELECT count(*) FROM patients WHERE extension = 'B-1' AND"
                               " updated_at = 'mark'"),
                     0);
    assert_int_equal(person(reg, L1, "A-1"), person(reg, L2, "B-1"));
    cdx_registry_close(reg);
}

/* Twins: same birth date, sex and address, other given names. */
static void test_twins_apart(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    pat_t a = {{L1, "T-1"}, 1, {0}, "김", "서준", "20100505", "M", "월드컵로 12길 34", "03966"};
    pat_t b = {{L1, "T-2"}, 1, {0}, "김", "도윤", "20100505", "M", "월드컵로 12길 34", "03966"};
    store(reg, &a);
    store(reg, &b);
    assert_int_not_equal(person(reg, L1, "T-1"), person(reg, L1, "T-2"));
    assert_int_equal(links("status = 'linked' AND a IN (SELECT id FROM patients WHERE extension"
                           " IN ('T-1', 'T-2')) AND b IN (SELECT id FROM patients WHERE extension"
                           " IN ('T-1', 'T-2'))"),
                     0);
    cdx_registry_close(reg);
}

/* Between the thresholds: a review, audited once. */
static void test_review(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    static const cdx_match_thresholds_t high = {.link = 1000.0, .review = 0.0};
    thresholds = &high;
    pat_t a = {{L1, "R-1"}, 1, {0}, "Park", "Jiho", "19910707", "M", NULL, NULL};
    pat_t b = {{L2, "R-2"}, 1, {0}, "박", "지호", "19910707", "M", NULL, NULL};
    store(reg, &a);
    int64_t before = audits("event = 'patient.review'");
    store(reg, &b);
    assert_int_not_equal(person(reg, L1, "R-1"), person(reg, L2, "R-2"));
    assert_int_equal(links("rule = 'match' AND status = 'review' AND breakdown IS NOT NULL AND"
                           " a = (SELECT id FROM patients WHERE extension = 'R-1') AND"
                           " b = (SELECT id FROM patients WHERE extension = 'R-2')"),
                     1);
    int64_t after = audits("event = 'patient.review'");
    assert_true(after > before);
    /* The pair waits once: another document of R-2 adds no review. */
    store(reg, &b);
    thresholds = NULL;
    assert_int_equal(audits("event = 'patient.review'"), after);
    cdx_registry_close(reg);
}

/* National ids: the identities sharing one are one person, and the links
 * through it say 'national'. */
static void test_national_links(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    pat_t a = {{L1, "N-1", NAT, HASH}, 2, {0, 1}, NULL, NULL, NULL, NULL, NULL, NULL};
    pat_t b = {{NAT, HASH, L2, "N-2"}, 2, {1, 0}, NULL, NULL, NULL, NULL, NULL, NULL};
    store(reg, &a);
    store(reg, &b);
    assert_int_equal(person(reg, L1, "N-1"), person(reg, L2, "N-2"));
    assert_int_equal(person(reg, NAT, HASH), person(reg, L2, "N-2"));
    assert_int_equal(links("rule = 'national' AND status = 'linked'"), 2);
    assert_int_equal(query_int("SELECT national FROM patients WHERE root = '" NAT "'"), 1);
    assert_int_equal(audits("event = 'patient.link' AND detail LIKE 'rule=national link=%'"), 2);
    cdx_registry_close(reg);
}

/* A person's decision holds for the whole persons: neither the document
 * rule nor matching joins two persons between whose identities a
 * 'distinct' decision stands; the blocked document link is audited. */
static void test_decisions_hold(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    pat_t a = {{L1, "D-A"}, 1, {0}, "Lee", "Seoyeon", "19850303", "F", NULL, "04000"};
    pat_t b = {{L2, "D-B"}, 1, {0}, "Jung", "Hyunwoo", "19600101", "M", NULL, "05000"};
    store(reg, &a);
    store(reg, &b);
    assert_int_not_equal(person(reg, L1, "D-A"), person(reg, L2, "D-B"));
    exec_sql("INSERT INTO patient_links (a, b, rule, status, created_at) SELECT"
             " min(x.id, y.id), max(x.id, y.id), 'admin', 'distinct', '2026' FROM patients AS x,"
             " patients AS y WHERE x.extension = 'D-A' AND y.extension = 'D-B'");
    /* D-B gets a second identity D-E by its own document. */
    pat_t be = {{L2, "D-B", L1, "D-E"}, 2, {0}, "Jung", "Hyunwoo", "19600101", "M", NULL,
                "05000"};
    store(reg, &be);
    assert_int_equal(person(reg, L2, "D-B"), person(reg, L1, "D-E"));
    /* A document joining D-A and D-E: blocked at the level of persons. */
    int64_t blocked_before = audits("event = 'patient.link' AND outcome = 4");
    pat_t ae = {{L1, "D-A", L1, "D-E"}, 2, {0}, NULL, NULL, NULL, NULL, NULL, NULL};
    store(reg, &ae);
    assert_int_not_equal(person(reg, L1, "D-A"), person(reg, L1, "D-E"));
    assert_int_equal(audits("event = 'patient.link' AND outcome = 4 AND detail LIKE"
                            " 'rule=document blocked_by=%'"),
                     blocked_before + 1);
    /* A new identity matching D-A by demographics, document-linked to D-B:
     * the match would join the persons, the decision keeps them apart. */
    pat_t c = {{L2, "D-C", L2, "D-B"}, 2, {0}, "Lee", "Seoyeon", "19850303", "F", NULL, "04000"};
    store(reg, &c);
    assert_int_not_equal(person(reg, L1, "D-A"), person(reg, L2, "D-C"));
    assert_int_equal(links("rule = 'match' AND status = 'linked' AND (a = (SELECT id FROM"
                           " patients WHERE extension = 'D-A') OR b = (SELECT id FROM patients"
                           " WHERE extension = 'D-A'))"),
                     0);
    cdx_registry_close(reg);
}

/* Reindex rebuilds a document's entries idempotently, and national ids
 * stored in clear before their root was national leave the index. */
static void test_reindex(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    pat_t a = {{L1, "X-1", NAT, "7302142917364"}, 2, {0}, "Han", "Soomin", "19990909", "F",
               NULL, NULL};
    store(reg, &a);
    assert_int_equal(query_int("SELECT count(*) FROM patients WHERE extension ="
                               " '7302142917364'"),
                     1);
    assert_int_equal(cdx_registry_forget_clear_ids(reg, NAT), 0);
    assert_int_equal(query_int("SELECT count(*) FROM patients WHERE extension ="
                               " '7302142917364'"),
                     0);
    assert_int_equal(query_int("SELECT count(*) FROM document_patient_ids WHERE extension ="
                               " '7302142917364'"),
                     0);
    /* The document's rebuild with the hashed form. */
    int64_t doc_id = query_int("SELECT d.id FROM documents AS d JOIN document_patient_ids AS i"
                               " ON i.document_id = d.id WHERE i.extension = 'X-1'");
    static const char *const ids[] = {L1, "X-1", NAT, HASH};
    static const unsigned char nat[] = {0, 1};
    cdx_doc_record_t rec = {.unique_id = "2.25.7.2^REINDEX", .submitter_oid = INST,
                            .patient_root = L1, .patient_ext = "X-1", .patient_ids = ids,
                            .npatient_ids = 2, .patient_national = nat};
    assert_int_equal(cdx_registry_reindex_patients(reg, doc_id, &rec, "local:reindex"), 0);
    assert_int_equal(person(reg, L1, "X-1"), person(reg, NAT, HASH));
    int64_t nlinks = links("1"), naudit = audits("1"), npat = query_int("SELECT count(*) FROM"
                                                                        " patients");
    assert_int_equal(cdx_registry_reindex_patients(reg, doc_id, &rec, "local:reindex"), 0);
    assert_int_equal(links("1"), nlinks);
    assert_int_equal(audits("1"), naudit);
    assert_int_equal(query_int("SELECT count(*) FROM patients"), npat);
    assert_int_equal(audits("actor_oid = 'local:reindex' AND event = 'patient.link'"), 1);
    cdx_registry_close(reg);
}

static void query_plan(const char *sql, char *plan, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char explain[2048];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
    plan[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        strncat(plan, (const char *)sqlite3_column_text(st, 3), n - strlen(plan) - 2);
        strcat(plan, ";");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Candidates are found through the blocking-key index, not a scan; the
 * decisions between two persons are found from the first person's
 * identities, not from every decision of the registry (the statements as
 * patients_match.c and patients.c run them). */
static void test_lookups_use_indexes(void **state)
{
    (void)state;
    char plan[2048];
    query_plan("SELECT DISTINCT p.id FROM patient_blocks AS b JOIN patients AS p ON"
               " p.id = b.patient_id WHERE b.key IN ('a', 'b') AND p.person_id <> 1 AND"
               " p.national = 0 LIMIT 200",
               plan, sizeof plan);
    if (strstr(plan, "SCAN b") != NULL || strstr(plan, "SCAN p") != NULL)
        fail_msg("the candidate query scans: %s", plan);
    query_plan("SELECT l.id FROM patients AS p1 CROSS JOIN patient_links AS l ON l.a = p1.id"
               " CROSS JOIN patients AS p2 ON p2.id = l.b WHERE p1.person_id = 1 AND"
               " p2.person_id = 2 AND l.status IN ('distinct', 'unlinked')",
               plan, sizeof plan);
    if (strstr(plan, "SCAN") != NULL || strstr(plan, "patient_links_by_status") != NULL ||
        strstr(plan, "SEARCH p1 USING COVERING INDEX patients_by_person") != plan)
        fail_msg("the decision lookup does not start from the person: %s", plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_links),       cmocka_unit_test(test_twins_apart),
        cmocka_unit_test(test_review),            cmocka_unit_test(test_national_links),
        cmocka_unit_test(test_decisions_hold),    cmocka_unit_test(test_reindex),
        cmocka_unit_test(test_lookups_use_indexes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
