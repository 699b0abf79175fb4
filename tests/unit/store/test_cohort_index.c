/* Unit tests of the cohort index (schema 0013, cohort_facts) and of the
 * set arithmetic over it (gateway/store/cohorts.c): a negated fact matches
 * no criterion, a superseded document's facts leave the index, a link and
 * an unlink move a document's facts between persons, and after every
 * change the index holds exactly what its defining view says.  Each case
 * has a registry of its own. */
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
#include "cdx/parsers/cohort.h"
#include "cdx/store/registry.h"
#include "cdx_test_registry.h"

static char dbpath[1200];
static cdx_registry_t *reg;

#define ICD10 "2.16.840.1.113883.6.3"
#define ATC "2.16.840.1.113883.6.73"
#define PROBLEM(code, neg)                                                                         \
    "{\"codeSystem\":\"" ICD10 "\",\"code\":\"" code "\",\"negated\":" neg                         \
    ",\"effectiveTime\":{\"low\":\"20240101\"}}"
#define MED(code) "{\"codeSystem\":\"" ATC "\",\"code\":\"" code "\",\"negated\":false}"
#define E11 "{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\"}}"
#define I10 "{\"condition\": {\"system\": \"ICD-10\", \"code\": \"I10\"}}"
#define A10 "{\"medication\": {\"system\": \"ATC\", \"code\": \"A10BA02\"}}"

/* Stores document id with the patient ids exts[0..n-1] (n <= 2, root
 * 2.25.7.1; the first is the document's patient). */
static void store_ids(const char *id, const char *const *exts, size_t n, const char *replaces,
                      const char *facts)
{
    const char *pids[4] = {"2.25.7.1", exts[0], "2.25.7.1", n > 1 ? exts[1] : NULL};
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, id, id, pids, n);
    rec.version = replaces != NULL ? 2 : 1;
    rec.replaces = replaces;
    rec.confidentiality = "N";
    rec.creation_time = "20240101";
    rec.facts_json = facts;
    cdx_store_outcome_t outcome;
    char uid[33];
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, &outcome), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
}

static void store(const char *id, const char *ext, const char *replaces, const char *facts)
{
    store_ids(id, &ext, 1, replaces, facts);
}

static int64_t raw_count(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The index is exactly its defining view (rows with a person). */
static void index_exact(void)
{
    assert_int_equal(raw_count("SELECT count(*) FROM (SELECT * FROM cohort_facts EXCEPT"
                               " SELECT * FROM cohort_facts_source WHERE person_id IS NOT NULL)"),
                     0);
    assert_int_equal(raw_count("SELECT count(*) FROM (SELECT * FROM cohort_facts_source"
                               " WHERE person_id IS NOT NULL EXCEPT SELECT * FROM cohort_facts)"),
                     0);
}

static int64_t person_of(const char *ext)
{
    int64_t p = 0;
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", ext, &p), 0);
    return p;
}

/* Runs json; checks the persons are exactly those of exts (NULL-terminated). */
static void expect(const char *json, const char *const *exts)
{
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    if (cdx_cohort_parse(json, strlen(json), &def, &err) != 0)
        fail_msg("%s: %s %s", json, err.path, err.detail);
    cdx_cohort_eval_t ev;
    assert_int_equal(cdx_registry_cohort_eval(reg, def, 20000, &ev), 0);
    size_t nwant = 0;
    while (exts[nwant] != NULL)
        nwant++;
    if (ev.n != nwant)
        fail_msg("%s: %zu persons, want %zu", json, ev.n, nwant);
    for (size_t i = 1; i < ev.n; i++)
        assert_true(ev.persons[i - 1] < ev.persons[i]);
    for (size_t i = 0; i < nwant; i++) {
        int64_t p = person_of(exts[i]);
        int found = 0;
        for (size_t k = 0; k < ev.n; k++)
            found |= ev.persons[k] == p;
        if (!found)
            fail_msg("%s: %s missing", json, exts[i]);
    }
    cdx_cohort_eval_free(&ev);
    cdx_cohort_def_free(def);
}

#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_new("cohort_index", dbpath, sizeof dbpath, &reg);
}

static int teardown(void **state)
{
    (void)state;
    return cdx_test_registry_drop(&reg, dbpath);
}

/* "No known diabetes" is a fact of the document but matches no criterion. */
static void test_negated(void **state)
{
    (void)state;
    store("2.25.7.3^1", "N-1", NULL, "{\"problems\":[" PROBLEM("E11.9", "true") "]}");
    store("2.25.7.3^2", "N-2", NULL,
          "{\"problems\":[" PROBLEM("E11.9", "false") "," PROBLEM("I10", "true") "]}");
    index_exact();
    assert_int_equal(raw_count("SELECT count(*) FROM fact_negations"), 2);
    assert_int_equal(raw_count("SELECT count(*) FROM facts WHERE code = 'E11.9'"), 2);
    expect(E11, WANT("N-2"));
    expect(I10, NONE);
    expect("{\"all\": [{\"institution\": \"2.25.7\"}, {\"not\": " E11 "}]}", WANT("N-1"));
}

/* A replacement supersedes its parent: the parent's facts leave, another
 * person's stay. */
static void test_superseded(void **state)
{
    (void)state;
    store("2.25.7.4^0", "S-0", NULL, "{\"problems\":[" PROBLEM("E11.9", "false") "]}");
    store("2.25.7.4^1", "S-1", NULL, "{\"problems\":[" PROBLEM("E11.9", "false") "]}");
    expect("{\"all\": [" E11 ", {\"institution\": \"2.25.7\"}]}", WANT("S-0", "S-1"));
    store("2.25.7.4^2", "S-1", "2.25.7.4^1", "{\"problems\":[" PROBLEM("I10", "false") "]}");
    index_exact();
    expect(E11, WANT("S-0"));
    expect(I10, WANT("S-1"));
}

/* A document naming two patient ids that were two persons: its facts
 * are indexed once, under one person, as the view says, and the
 * facts stored before it stay where the view has them. */
static void test_two_persons_one_document(void **state)
{
    (void)state;
    store("2.25.7.6^0", "T-1", NULL, "{\"problems\":[" PROBLEM("I10", "false") "]}");
    store("2.25.7.6^1", "T-2", NULL, "{\"problems\":[" PROBLEM("I10", "false") "]}");
    int64_t p1 = person_of("T-1"), p2 = person_of("T-2");
    assert_true(p1 != p2);
    const char *exts[2] = {p1 > p2 ? "T-1" : "T-2", p1 > p2 ? "T-2" : "T-1"};
    store_ids("2.25.7.6^2", exts, 2, NULL, "{\"problems\":[" PROBLEM("E11.9", "false") "]}");
    index_exact();
    int64_t p = person_of("T-1");
    assert_true(p == p1 || p == p2);
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cohort_facts WHERE code = 'E11.9' AND person_id = %lld",
             (long long)p);
    assert_int_equal(raw_count(sql), 1);
    assert_int_equal(raw_count("SELECT count(*) FROM cohort_facts WHERE code = 'E11.9'"), 1);
}

/* A link makes two identities one person, an unlink two again: the
 * facts of each document follow. */
static void test_link_moves_facts(void **state)
{
    (void)state;
    static const cdx_audit_event_t link_ev = {.event = "patient.link", .actor_oid = "2.25.9"};
    static const cdx_audit_event_t unlink_ev = {.event = "patient.unlink", .actor_oid = "2.25.9"};
    store("2.25.7.5^1", "L-1", NULL, "{\"problems\":[" PROBLEM("E11.2", "false") "]}");
    store("2.25.7.5^2", "L-2", NULL, "{\"medications\":[" MED("A10BA02") "]}");
    store("2.25.7.5^3", "L-3", NULL, "{\"problems\":[" PROBLEM("I10", "false") "]}");
    const char *both = "{\"all\": [" E11 ", " A10 "]}";
    expect(both, NONE);
    cdx_link_outcome_t out = 0;
    char missing = 0;
    cdx_link_row_t row;
    memset(&row, 0, sizeof row);
    assert_int_equal(cdx_registry_link_admin(reg, "2.25.7.1", "L-1", "2.25.7.1", "L-2", "checked",
                                             "2.25.9", &link_ev, &out, &missing, &row),
                     0);
    assert_int_equal(out, CDX_LINK_DONE);
    index_exact();
    assert_int_equal(person_of("L-1"), person_of("L-2"));
    expect(both, WANT("L-1"));
    expect("{\"any\": [" A10 ", " I10 "]}", WANT("L-1", "L-3"));
    int64_t id = row.id;
    cdx_link_row_cleanup(&row);
    memset(&row, 0, sizeof row);
    assert_int_equal(cdx_registry_unlink(reg, id, "2.25.9", &unlink_ev, &out, &row), 0);
    assert_int_equal(out, CDX_LINK_DONE);
    cdx_link_row_cleanup(&row);
    index_exact();
    expect(both, NONE);
    expect(A10, WANT("L-2"));
}

/* A reindex replaces a document's facts: the index follows, and a
 * negation the new extraction records takes the fact out. */
static void test_reindex(void **state)
{
    (void)state;
    store("2.25.7.6^1", "R-1", NULL, "{\"problems\":[" PROBLEM("E11.5", "false") "]}");
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11.5\"}}", WANT("R-1"));
    int64_t id = raw_count("SELECT id FROM documents WHERE unique_id = '2.25.7.6^1'");
    assert_int_equal(cdx_registry_update_normalized(reg, id, "0", "<x/>", 4, "test", "{}",
                                                    "{\"problems\":[" PROBLEM("E11.5", "true") ","
                                                    PROBLEM("E11.6", "false") "]}",
                                                    NULL, 0),
                     0);
    index_exact();
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11.5\"}}", NONE);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11.6\"}}", WANT("R-1"));
}

/* ---- The rows path: many facts per document ------------------------------ */

/* More facts than the largest insert statement holds, so that every
 * statement size runs: coded ones, uncoded ones and negated ones. */
#define MANY 150
static char many_codes[MANY][16];
static cdx_fact_row_t many_rows[MANY];

/* The rows of one document; fact k is negated when k % neg_every == 0
 * (neg_every 0: none), uncoded when k % 7 == 3, of code PREFIX.k. */
static void make_rows(const char *prefix, int neg_every)
{
    memset(many_rows, 0, sizeof many_rows);
    for (int k = 0; k < MANY; k++) {
        snprintf(many_codes[k], sizeof many_codes[k], "%s.%d", prefix, k);
        cdx_fact_row_t *f = &many_rows[k];
        f->kind = k % 2 ? "results" : "problems";
        f->code_system = k % 7 == 3 ? NULL : ICD10;
        f->code = k % 7 == 3 ? NULL : many_codes[k];
        f->display = "a fact";
        f->has_number = k % 2;
        f->number = k;
        f->unit = k % 2 ? "mg/dL" : NULL;
        f->time_low = k % 3 ? "20240301" : NULL;
        f->negated = neg_every > 0 && k % neg_every == 0;
        f->data = "{}";
    }
}

static void store_rows(const char *id, const char *ext, const char *replaces, const char *conf)
{
    const char *ids[2] = {"2.25.7.1", ext};
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, id, id, ids, 1);
    rec.version = replaces != NULL ? 2 : 1;
    rec.replaces = replaces;
    rec.confidentiality = conf;
    rec.creation_time = "20240101";
    rec.fact_rows = many_rows;
    rec.nfact_rows = MANY;
    cdx_store_outcome_t outcome;
    char uid[33];
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, &outcome), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
}

static int64_t doc_id_of(const char *unique_id)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT id FROM documents WHERE unique_id = '%s'", unique_id);
    return raw_count(sql);
}

/* The document's facts are the rows in their order (ids ascending), its
 * negations exactly the negated rows, and its index rows the coded,
 * not negated ones (want_indexed: whether the document is indexed). */
static void rows_stored(const char *unique_id, int want_indexed)
{
    int64_t id = doc_id_of(unique_id);
    char sql[400];
    int64_t coded = 0, negated = 0;
    for (int k = 0; k < MANY; k++) {
        negated += many_rows[k].negated;
        coded += many_rows[k].code != NULL && !many_rows[k].negated;
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM facts WHERE document_id = %lld", (long long)id);
    assert_int_equal(raw_count(sql), MANY);
    /* Row k of the document is its k-th fact by id (what fact_extras needs). */
    for (int k = 0; k < MANY; k += 37) {
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(code, '') = '%s' AND value_num IS %s FROM facts"
                 " WHERE document_id = %lld ORDER BY id LIMIT 1 OFFSET %d",
                 many_rows[k].code ? many_rows[k].code : "", many_rows[k].has_number ? "NOT NULL"
                                                                                     : "NULL",
                 (long long)id, k);
        assert_int_equal(raw_count(sql), 1);
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM fact_negations n JOIN facts f ON f.id = n.fact_id"
             " WHERE f.document_id = %lld AND n.document_id = %lld",
             (long long)id, (long long)id);
    assert_int_equal(raw_count(sql), negated);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cohort_facts WHERE document_id = %lld",
             (long long)id);
    assert_int_equal(raw_count(sql), want_indexed ? coded : 0);
    index_exact();
}

/* After each kind of write of many facts (an ingest, a restricted
 * document, a replacement, a replacement arriving before its parent, a
 * reindex, a reindex recording negations) the index is exactly its view. */
static void test_index_after_every_write(void **state)
{
    (void)state;
    make_rows("W01", 0);
    store_rows("2.25.7.8^1", "W-1", NULL, "N");
    rows_stored("2.25.7.8^1", 1);
    make_rows("W02", 5);
    store_rows("2.25.7.8^2", "W-2", NULL, "N");
    rows_stored("2.25.7.8^2", 1);
    make_rows("W03", 0);
    store_rows("2.25.7.8^3", "W-3", NULL, "R");
    rows_stored("2.25.7.8^3", 0);
    /* A replacement: the parent leaves the index, the replacement enters. */
    make_rows("W04", 4);
    store_rows("2.25.7.8^4", "W-1", "2.25.7.8^1", "N");
    rows_stored("2.25.7.8^4", 1);
    assert_int_equal(raw_count("SELECT count(*) FROM cohort_facts c JOIN documents d"
                               " ON d.id = c.document_id WHERE d.unique_id = '2.25.7.8^1'"),
                     0);
    /* A replacement before its parent: the parent is superseded at once. */
    make_rows("W05", 0);
    store_rows("2.25.7.8^6", "W-5", "2.25.7.8^5", "N");
    rows_stored("2.25.7.8^6", 1);
    make_rows("W06", 0);
    store_rows("2.25.7.8^5", "W-5", NULL, "N");
    rows_stored("2.25.7.8^5", 0);
    /* A reindex replaces the facts; then one that negates some of them. */
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W02.2\"}}", WANT("W-2"));
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W02.10\"}}", NONE);
    int64_t id = doc_id_of("2.25.7.8^2");
    make_rows("W07", 0);
    assert_int_equal(cdx_registry_update_normalized(reg, id, "0", "<x/>", 4, "test", "{}", NULL,
                                                    many_rows, MANY),
                     0);
    rows_stored("2.25.7.8^2", 1);
    make_rows("W07", 3);
    assert_int_equal(cdx_registry_update_normalized(reg, id, "0", "<x/>", 4, "test", "{}", NULL,
                                                    many_rows, MANY),
                     0);
    rows_stored("2.25.7.8^2", 1);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W07.4\"}}", WANT("W-2"));
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W07.12\"}}", NONE);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W07.6\"}}", NONE);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"W02.2\"}}", NONE);
}

/* all / any / not over sorted person sets, in either order of members:
 * N-1 knows no diabetes, N-2 has diabetes and no hypertension, S-1
 * hypertension, L-1 diabetes, L-2 metformin. */
static void test_set_algebra(void **state)
{
    (void)state;
    store("2.25.7.7^1", "N-1", NULL, "{\"problems\":[" PROBLEM("E11.9", "true") "]}");
    store("2.25.7.7^2", "N-2", NULL,
          "{\"problems\":[" PROBLEM("E11.9", "false") "," PROBLEM("I10", "true") "]}");
    store("2.25.7.7^3", "S-1", NULL, "{\"problems\":[" PROBLEM("I10", "false") "]}");
    store("2.25.7.7^4", "L-1", NULL, "{\"problems\":[" PROBLEM("E11.2", "false") "]}");
    store("2.25.7.7^5", "L-2", NULL, "{\"medications\":[" MED("A10BA02") "]}");
    index_exact();
    expect("{\"any\": [" E11 ", " I10 ", " A10 "]}", WANT("N-2", "S-1", "L-1", "L-2"));
    expect("{\"all\": [{\"any\": [" E11 ", " I10 "]}, {\"not\": " I10 "}]}", WANT("N-2", "L-1"));
    expect("{\"all\": [{\"not\": " I10 "}, {\"any\": [" I10 ", " E11 "]}]}", WANT("N-2", "L-1"));
    expect("{\"all\": [" E11 ", " I10 "]}", NONE);
    expect("{\"not\": {\"any\": [" E11 ", " I10 ", " A10 "]}}", WANT("N-1"));
    expect("{\"all\": [{\"not\": " E11 "}, {\"not\": " I10 "}, {\"not\": " A10 "}]}",
           WANT("N-1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_negated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_superseded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_moves_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_persons_one_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_algebra, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reindex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_after_every_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
