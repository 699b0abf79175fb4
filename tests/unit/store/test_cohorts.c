/* Unit tests of cohort evaluation and cohort sets in the registry
 * (gateway/store/cohorts.c, cohort_sets.c) and of the disclosure rules
 * (gateway/domain/cohort.c): every criterion kind over a small registry
 * whose answers are known, restricted documents left out, unit
 * conversion and skipped values, windows and counts, the breakdown, the
 * differencing guard, the breakdown guard, the repeat of an earlier
 * answer and the owner check. */
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
#include "cdx/domain/cohort.h"
#include "cdx/domain/consent.h"
#include "cdx/parsers/cohort.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

static char dbpath[1200];
static cdx_registry_t *reg;
static int64_t person[7]; /* person[i] of patient P-i */

#define ICD10 "2.16.840.1.113883.6.3"
#define KCD   "1.2.410.100110.40.2.3.2"
#define ATC   "2.16.840.1.113883.6.73"

static void store(const char *id, const char *ext, const char *conf, const char *facts)
{
    const char *pids[2] = {"2.25.7.1", ext};
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, id, id, pids, 1);
    rec.confidentiality = conf;
    rec.creation_time = "20240101";
    rec.facts_json = facts;
    char uid[33];
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, NULL), 0);
}

#define PROBLEM(sys, code, day)                                                                    \
    "{\"codeSystem\":\"" sys "\",\"code\":\"" code "\",\"effectiveTime\":{\"low\":\"" day "\"}}"
#define RESULT(code, num, unit, day)                                                               \
    "{\"codeSystem\":\"2.16.840.1.113883.6.1\",\"code\":\"" code "\",\"number\":" num              \
    ",\"unit\":\"" unit "\",\"effectiveTime\":{\"low\":\"" day "\"}}"
#define MED(code, day)                                                                             \
    "{\"codeSystem\":\"" ATC "\",\"code\":\"" code "\",\"effectiveTime\":{\"low\":\"" day "\"}}"

static void demog(const char *ext, const char *birth, const char *sex)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE patients SET birth = '%s', sex = '%s' WHERE extension = '%s'",
             birth, sex, ext);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int setup(void **state)
{
    (void)state;
    char dir[1024], err[512];
    if (cdx_test_scratch_dir(dir, sizeof dir, "cohorts") != 0)
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/registry.db", dir);
    if (cdx_registry_open(dbpath, &reg, err, sizeof err) != 0)
        return -1;
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    strcpy(inst.oid, "2.25.7");
    strcpy(inst.name, "Test Clinic");
    inst.roles = CDX_ROLE_SUBMIT;
    if (cdx_registry_put_institution(reg, &inst, "test") != 0)
        return -1;
    store("2.25.7.2^1", "P-1", "N",
          "{\"problems\":[" PROBLEM(ICD10, "E11.9", "20240101") "],\"results\":[" RESULT(
              "2345-7", "7.5", "mmol/L", "20240201") "],\"medications\":[" MED("A10BA02",
                                                                               "20240301") "]}");
    store("2.25.7.2^2", "P-2", "N",
          "{\"problems\":[" PROBLEM(KCD, "E11.9", "20230101") "],\"results\":[" RESULT(
              "2345-7", "110", "mg/dL", "20230105") "]}");
    store("2.25.7.2^3", "P-3", NULL,
          "{\"problems\":[" PROBLEM(ICD10, "I10", "20230101") "],\"results\":[" RESULT(
              "2345-7", "150", "mg/dL", "20230105") "]}");
    store("2.25.7.2^4", "P-4", "R", "{\"problems\":[" PROBLEM(ICD10, "E11.9", "20230101") "]}");
    store("2.25.7.2^5", "P-5", "N",
          "{\"problems\":[" PROBLEM(ICD10, "E11.9", "20230101") "," PROBLEM(
              ICD10, "E11.9", "20230201") "],\"medications\":[" MED("A10BA02", "20230901") "]}");
    store("2.25.7.2^6", "P-6", "N",
          "{\"results\":[" RESULT("2345-7", "9", "furlong", "20230105") "]}");
    demog("P-1", "19600101", "F");
    demog("P-2", "19900101", "M");
    demog("P-3", "19500101", "M");
    for (int i = 1; i <= 6; i++) {
        char ext[8];
        snprintf(ext, sizeof ext, "P-%d", i);
        if (cdx_registry_person_of(reg, "2.25.7.1", ext, &person[i]) != 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdx_registry_close(reg);
    return 0;
}

/* Runs json; checks the persons (P numbers, 0-terminated) and skipped. */
static void expect(const char *json, const int *want, int64_t skipped)
{
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    if (cdx_cohort_parse(json, strlen(json), &def, &err) != 0)
        fail_msg("%s: %s %s", json, err.path, err.detail);
    int32_t today;
    assert_int_equal(cdx_cohort_day("2024-06-01", &today), 0);
    cdx_cohort_eval_t ev;
    assert_int_equal(cdx_registry_cohort_eval(reg, def, today, &ev), 0);
    size_t nwant = 0;
    while (want[nwant] != 0)
        nwant++;
    if (ev.n != nwant)
        fail_msg("%s: %zu persons, want %zu", json, ev.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        int found = 0;
        for (size_t k = 0; k < ev.n; k++)
            found |= ev.persons[k] == person[want[i]];
        if (!found)
            fail_msg("%s: P-%d missing", json, want[i]);
    }
    if (ev.skipped != skipped)
        fail_msg("%s: skipped %lld, want %lld", json, (long long)ev.skipped, (long long)skipped);
    cdx_cohort_eval_free(&ev);
    cdx_cohort_def_free(def);
}

#define E11_PREFIX                                                                                 \
    "{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\"}}"

static void test_codes(void **state)
{
    (void)state;
    /* KCD-coded P-2 is found by ICD-10; the restricted document of P-4 is not read. */
    expect(E11_PREFIX, (int[]){1, 2, 5, 0}, 0);
    expect("{\"condition\": {\"system\": \"KCD\", \"code\": \"E11\", \"match\": \"prefix\"}}",
           (int[]){1, 2, 5, 0}, 0);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\"}}", (int[]){0}, 0);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"codes\": [\"I10\", \"E11.9\"]}}",
           (int[]){1, 2, 3, 5, 0}, 0);
    expect("{\"condition\": {\"system\": \"SNOMED CT\", \"code\": \"E11.9\"}}", (int[]){0}, 0);
    expect("{\"medication\": {\"system\": \"ATC\", \"code\": \"A10\", \"match\": \"prefix\"}}",
           (int[]){1, 5, 0}, 0);
}

static void test_values(void **state)
{
    (void)state;
    /* 7.5 mmol/L passes; 110 mg/dL (6.1) does not; 150 mg/dL (8.3) does;
     * the value in an unknown unit is skipped and counted. */
    expect("{\"result\": {\"system\": \"LOINC\", \"code\": \"2345-7\", \"op\": \">=\", \"value\": "
           "7.0, \"unit\": \"mmol/L\"}}",
           (int[]){1, 3, 0}, 1);
    expect("{\"result\": {\"system\": \"LOINC\", \"code\": \"2345-7\", \"op\": \"<\", \"value\": "
           "126, \"unit\": \"mg/dL\"}}",
           (int[]){2, 0}, 1);
    /* Without a value every result of the code counts. */
    expect("{\"result\": {\"system\": \"LOINC\", \"code\": \"2345-7\"}}", (int[]){1, 2, 3, 6, 0},
           0);
}

static void test_times(void **state)
{
    (void)state;
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\", "
           "\"min_count\": 2}}",
           (int[]){5, 0}, 0);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\", "
           "\"from\": \"2024-01-01\"}}",
           (int[]){1, 0}, 0);
    expect("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\", "
           "\"to\": \"2023-12-31\"}}",
           (int[]){2, 5, 0}, 0);
    /* Metformin within 90 days after the first E11: P-1 (60 days), not P-5 (243). */
    expect("{\"medication\": {\"system\": \"ATC\", \"code\": \"A10\", \"match\": \"prefix\", "
           "\"window\": {\"after\": " E11_PREFIX ", \"days\": 90}}}",
           (int[]){1, 0}, 0);
    expect("{\"medication\": {\"system\": \"ATC\", \"code\": \"A10\", \"match\": \"prefix\", "
           "\"window\": {\"after\": " E11_PREFIX ", \"days\": 300}}}",
           (int[]){1, 5, 0}, 0);
    expect("{\"medication\": {\"system\": \"ATC\", \"code\": \"A10\", \"match\": \"prefix\", "
           "\"window\": {\"before\": " E11_PREFIX ", \"days\": 300}}}",
           (int[]){0}, 0);
}

static void test_combinations(void **state)
{
    (void)state;
    expect("{\"age\": {\"min\": 60}}", (int[]){1, 3, 0}, 0);
    expect("{\"age\": {\"max\": 40, \"at\": \"2030-01-01\"}}", (int[]){2, 0}, 0);
    expect("{\"sex\": \"M\"}", (int[]){2, 3, 0}, 0);
    expect("{\"all\": [" E11_PREFIX ", {\"not\": {\"sex\": \"M\"}}]}", (int[]){1, 5, 0}, 0);
    expect("{\"all\": [{\"not\": {\"sex\": \"M\"}}, " E11_PREFIX "]}", (int[]){1, 5, 0}, 0);
    expect("{\"any\": [{\"sex\": \"F\"}, {\"institution\": \"2.25.7\"}]}",
           (int[]){1, 2, 3, 5, 6, 0}, 0);
    expect("{\"not\": {\"institution\": \"2.25.7\"}}", (int[]){0}, 0);
    expect("{\"not\": {\"sex\": \"M\"}}", (int[]){1, 5, 6, 0}, 0);
    expect("{\"all\": [" E11_PREFIX ", {\"age\": {\"min\": 18, \"max\": 40}}]}", (int[]){2, 0}, 0);
}

static void test_breakdown(void **state)
{
    (void)state;
    int64_t set[3] = {person[1], person[3], person[5]};
    if (set[1] < set[0] || set[2] < set[1])
        skip();
    int32_t today;
    assert_int_equal(cdx_cohort_day("2024-06-01", &today), 0);
    cdx_cohort_cell_t *cells = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_cohort_breakdown(reg, set, 3,
                                                   CDX_COHORT_BY_SEX | CDX_COHORT_BY_AGE_BAND |
                                                       CDX_COHORT_BY_INSTITUTION,
                                                   today, &cells, &n),
                     0);
    int f = 0, m = 0, unknown = 0, sixties = 0, inst = 0;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].dim == CDX_COHORT_BY_SEX && strcmp(cells[i].key, "F") == 0)
            f = (int)cells[i].count;
        if (cells[i].dim == CDX_COHORT_BY_SEX && strcmp(cells[i].key, "M") == 0)
            m = (int)cells[i].count;
        if (cells[i].dim == CDX_COHORT_BY_SEX && strcmp(cells[i].key, "unknown") == 0)
            unknown = (int)cells[i].count;
        if (cells[i].dim == CDX_COHORT_BY_AGE_BAND && strcmp(cells[i].key, "60-69") == 0)
            sixties = (int)cells[i].count;
        if (cells[i].dim == CDX_COHORT_BY_INSTITUTION && strcmp(cells[i].key, "2.25.7") == 0)
            inst = (int)cells[i].count;
    }
    assert_int_equal(f, 1);
    assert_int_equal(m, 1);
    assert_int_equal(unknown, 1);
    assert_int_equal(sixties, 1);
    assert_int_equal(inst, 3);
    free(cells);
}

static int put_answer(const char *uid, const char *inst, int64_t from, int64_t to,
                      const char *breakdown, const char *sha256, const char *answer,
                      cdx_cohort_refusal_t *why)
{
    int64_t v[64];
    size_t n = 0;
    for (int64_t p = from; p <= to; p++)
        v[n++] = 1000 + p;
    cdx_cohort_put_t c = {.uid = uid,
                          .institution_oid = inst,
                          .definition_sha256 = sha256,
                          .persons = v,
                          .n = n,
                          .answer = answer,
                          .threshold = 11,
                          .breakdown = breakdown};
    assert_int_equal(cdx_registry_begin(reg), 0);
    int rc = cdx_registry_cohort_put(reg, &c, why);
    if (rc == 0)
        assert_int_equal(cdx_registry_commit(reg), 0);
    else
        cdx_registry_rollback(reg);
    return rc;
}

static int put_with(const char *uid, const char *inst, int64_t from, int64_t to,
                    const char *breakdown, cdx_cohort_refusal_t *why)
{
    return put_answer(uid, inst, from, to, breakdown, "00", "{\"size\":1}", why);
}

static int put(const char *uid, const char *inst, int64_t from, int64_t to, int64_t *diff)
{
    cdx_cohort_refusal_t why;
    int rc = put_with(uid, inst, from, to, NULL, &why);
    *diff = why.difference;
    return rc;
}

static void test_differencing(void **state)
{
    (void)state;
    int64_t diff = 0;
    assert_int_equal(put("a0", "2.25.99", 1, 20, &diff), 0);
    /* One person more: refused, naming the difference. */
    assert_int_equal(put("a1", "2.25.99", 1, 21, &diff), CDX_ECONFLICT);
    assert_int_equal(diff, 1);
    /* Eleven swapped persons (same size): a difference of 11 + 11. */
    assert_int_equal(put("a2", "2.25.99", 12, 31, &diff), 0);
    /* The same set again is no difference. */
    assert_int_equal(put("a3", "2.25.99", 1, 20, &diff), 0);
    /* Ten more: refused (10 < 11); eleven more: allowed. */
    assert_int_equal(put("a4", "2.25.99", 1, 30, &diff), CDX_ECONFLICT);
    assert_int_equal(diff, 10);
    assert_int_equal(put("a5", "2.25.99", 1, 36, &diff), 0);
    /* Another institution's cohorts do not count. */
    assert_int_equal(put("b1", "2.25.98", 1, 21, &diff), 0);
    /* The owner reads its cohort; another institution does not find it. */
    char *answer = NULL;
    assert_int_equal(cdx_registry_cohort_get(reg, "a0", "2.25.99", &answer), 0);
    assert_string_equal(answer, "{\"size\":1}");
    free(answer);
    assert_int_equal(cdx_registry_cohort_get(reg, "a0", "2.25.98", &answer), CDX_ENOTFOUND);
    assert_null(answer);
    assert_int_equal(cdx_registry_cohort_get(reg, "a1", "2.25.99", &answer), CDX_ENOTFOUND);
}

/* One person set, one breakdown: the breakdown guard compares person
 * sets (the definition plays no part), the size alone fixes nothing and
 * is always answered, and the order of the dimensions counts. */
static void test_breakdown_fixed(void **state)
{
    (void)state;
    cdx_cohort_refusal_t why;
    const char *inst = "2.25.97";
    assert_int_equal(put_with("f0", inst, 1, 20, "", &why), 0);
    assert_int_equal(put_with("f1", inst, 1, 20, "sex", &why), 0);
    assert_int_equal(put_with("f2", inst, 1, 20, "sex,age_band", &why), CDX_ECONFLICT);
    assert_int_equal(why.difference, 0);
    assert_string_equal(why.earlier_uid, "f1");
    assert_string_equal(why.earlier_breakdown, "sex");
    assert_int_equal(put_with("f3", inst, 1, 20, "age_band", &why), CDX_ECONFLICT);
    assert_string_equal(why.earlier_uid, "f1");
    /* The same breakdown again, and the size alone, are answered. */
    assert_int_equal(put_with("f4", inst, 1, 20, "sex", &why), 0);
    assert_string_equal(why.earlier_uid, "");
    assert_int_equal(put_with("f5", inst, 1, 20, NULL, &why), 0);
    /* Another set (twenty more persons) gets its own first breakdown. */
    assert_int_equal(put_with("g0", inst, 1, 40, "sex,age_band", &why), 0);
    assert_int_equal(put_with("g1", inst, 1, 40, "age_band,sex", &why), CDX_ECONFLICT);
    assert_string_equal(why.earlier_uid, "g0");
    assert_string_equal(why.earlier_breakdown, "sex,age_band");
    /* Too close to an earlier set is the differencing guard's refusal. */
    assert_int_equal(put_with("g2", inst, 1, 21, "age_band", &why), CDX_ECONFLICT);
    assert_int_equal(why.difference, 1);
    /* Another institution's cohorts do not count. */
    assert_int_equal(put_with("h0", "2.25.96", 1, 20, "age_band", &why), 0);
    char *answer = NULL;
    assert_int_equal(cdx_registry_cohort_get(reg, "f2", inst, &answer), CDX_ENOTFOUND);
    assert_null(answer);
}

/* The same person set asked again with the same breakdown is answered
 * with the first answer kept (whatever a count today would say): only its
 * id and definition hash are the new cohort's, and "repeats" names the
 * first.  Another breakdown (here the size alone after a breakdown),
 * another set or another institution is counted afresh. */
static void test_repeat(void **state)
{
    (void)state;
    cdx_cohort_refusal_t why;
    const char *inst = "2.25.95";
    char *answer = NULL;
    assert_int_equal(put_answer("r0", inst, 1, 20, "age_band", "aa",
                                "{\"breakdown\":{\"age_band\":{\"60-69\":20}},"
                                "\"definition_sha256\":\"aa\",\"id\":\"r0\",\"size\":20}",
                                &why),
                     0);
    assert_string_equal(why.repeats, "");
    /* A birthday later: counted again, the same persons would fall in two bands. */
    const char *today = "{\"breakdown\":{\"age_band\":{\"60-69\":\"suppressed\","
                        "\"70-79\":\"suppressed\"}},\"definition_sha256\":\"bb\","
                        "\"id\":\"r1\",\"size\":20}";
    assert_int_equal(put_answer("r1", inst, 1, 20, "age_band", "bb", today, &why), 0);
    assert_string_equal(why.repeats, "r0");
    assert_int_equal(cdx_registry_cohort_get(reg, "r1", inst, &answer), 0);
    assert_string_equal(answer, "{\"breakdown\":{\"age_band\":{\"60-69\":20}},"
                                "\"definition_sha256\":\"bb\",\"id\":\"r1\",\"size\":20,"
                                "\"repeats\":\"r0\"}");
    free(answer);
    /* A third time names the first answer again, not the repeat. */
    assert_int_equal(put_answer("r2", inst, 1, 20, "age_band", "cc", today, &why), 0);
    assert_string_equal(why.repeats, "r0");
    assert_int_equal(cdx_registry_cohort_get(reg, "r2", inst, &answer), 0);
    assert_non_null(strstr(answer, "\"60-69\":20}"));
    assert_non_null(strstr(answer, "\"id\":\"r2\""));
    assert_non_null(strstr(answer, "\"repeats\":\"r0\""));
    free(answer);
    /* The size alone is another answer of the set: counted, and then kept. */
    assert_int_equal(put_answer("r3", inst, 1, 20, "", "dd", "{\"size\":20}", &why), 0);
    assert_string_equal(why.repeats, "");
    assert_int_equal(put_answer("r4", inst, 1, 20, NULL, "ee", "{\"size\":21}", &why), 0);
    assert_string_equal(why.repeats, "r3");
    assert_int_equal(cdx_registry_cohort_get(reg, "r4", inst, &answer), 0);
    assert_non_null(strstr(answer, "\"size\":20"));
    free(answer);
    /* Another set, and another institution's same set, are their own. */
    assert_int_equal(put_answer("r5", inst, 1, 40, "age_band", "ff", today, &why), 0);
    assert_string_equal(why.repeats, "");
    assert_int_equal(put_answer("r6", "2.25.94", 1, 20, "age_band", "gg", today, &why), 0);
    assert_string_equal(why.repeats, "");
    assert_int_equal(cdx_registry_cohort_get(reg, "r6", "2.25.94", &answer), 0);
    assert_string_equal(answer, today);
    free(answer);
    /* A refusal repeats nothing. */
    assert_int_equal(put_answer("r7", inst, 1, 20, "sex", "hh", today, &why), CDX_ECONFLICT);
    assert_string_equal(why.repeats, "");
}

static void test_rules(void **state)
{
    (void)state;
    assert_false(cdx_cohort_suppressed(0, 11));
    assert_true(cdx_cohort_suppressed(1, 11));
    assert_true(cdx_cohort_suppressed(10, 11));
    assert_false(cdx_cohort_suppressed(11, 11));
    assert_false(cdx_cohort_too_close(0, 11));
    assert_true(cdx_cohort_too_close(1, 11));
    assert_true(cdx_cohort_too_close(10, 11));
    assert_false(cdx_cohort_too_close(11, 11));
    assert_false(cdx_cohort_breakdown_fixed("", "sex"));
    assert_false(cdx_cohort_breakdown_fixed(NULL, "sex"));
    assert_false(cdx_cohort_breakdown_fixed("sex", ""));
    assert_false(cdx_cohort_breakdown_fixed("sex", NULL));
    assert_false(cdx_cohort_breakdown_fixed("sex,age_band", "sex,age_band"));
    assert_true(cdx_cohort_breakdown_fixed("sex", "sex,age_band"));
    assert_true(cdx_cohort_breakdown_fixed("sex,age_band", "age_band,sex"));
    assert_true(cdx_cohort_breakdown_fixed("institution", "sex"));
    assert_true(cdx_cohort_repeats("sex,age_band", "sex,age_band"));
    assert_true(cdx_cohort_repeats("", NULL));
    assert_true(cdx_cohort_repeats(NULL, ""));
    assert_false(cdx_cohort_repeats("sex,age_band", "age_band,sex"));
    assert_false(cdx_cohort_repeats("sex", ""));
    assert_false(cdx_cohort_repeats(NULL, "sex"));
    int64_t a[] = {1, 2, 3, 5}, b[] = {2, 3, 4};
    assert_int_equal(cdx_cohort_symdiff(a, 4, b, 3, 100), 3);
    assert_int_equal(cdx_cohort_symdiff(a, 4, b, 3, 2), 2);
    assert_int_equal(cdx_cohort_symdiff(a, 4, a, 4, 100), 0);
    assert_int_equal(cdx_cohort_symdiff(a, 0, b, 3, 100), 3);
    assert_string_equal(cdx_cohort_age_band(0), "0-9");
    assert_string_equal(cdx_cohort_age_band(64), "60-69");
    assert_string_equal(cdx_cohort_age_band(104), "90+");
    assert_string_equal(cdx_cohort_age_band(-1), "unknown");
    assert_int_equal(cdx_cohort_age(19600101, 20240601), 64);
    assert_int_equal(cdx_cohort_age(19600602, 20240601), 63);
    assert_int_equal(cdx_cohort_age(0, 20240601), -1);
    assert_int_equal(cdx_cohort_age(20250101, 20240601), -1);
}

/* A person whose newest research decision is "deny" leaves every cohort;
 * a later "permit" brings the person back; a consent that says nothing
 * of research changes nothing. */
static void consent(const char *ext, int research, int permit)
{
    cdx_consent_t c;
    memset(&c, 0, sizeof c);
    c.permit = permit;
    c.research = research;
    cdx_audit_event_t ev = {.event = "consent.record", .actor_oid = "2.25.7", .outcome = 0};
    int64_t id = 0;
    assert_int_equal(
        cdx_registry_put_consent(reg, "2.25.7.1", ext, &c, "api", NULL, "2.25.7", &ev, &id), 0);
}

static void test_research_opt_out(void **state)
{
    (void)state;
    expect(E11_PREFIX, (int[]){1, 2, 5, 0}, 0);
    consent("P-2", 0, 1);
    expect(E11_PREFIX, (int[]){1, 5, 0}, 0);
    consent("P-2", -1, 0); /* says nothing of research */
    expect(E11_PREFIX, (int[]){1, 5, 0}, 0);
    consent("P-5", 0, 1);
    expect(E11_PREFIX, (int[]){1, 0}, 0);
    consent("P-2", 1, 1);
    expect(E11_PREFIX, (int[]){1, 2, 0}, 0);
    consent("P-5", 1, 1);
    expect(E11_PREFIX, (int[]){1, 2, 5, 0}, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),           cmocka_unit_test(test_values),
        cmocka_unit_test(test_times),           cmocka_unit_test(test_combinations),
        cmocka_unit_test(test_breakdown),       cmocka_unit_test(test_differencing),
        cmocka_unit_test(test_breakdown_fixed), cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_rules),           cmocka_unit_test(test_research_opt_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
