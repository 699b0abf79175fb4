/* Unit tests of the cohort definition parser and its tables
 * (parsers/cohort.c, parsers/cohort_units.c): every criterion kind, the
 * path of each refusal, the limits, code systems, units and conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/parsers/cohort.h"

static cdx_cohort_def_t *ok(const char *json)
{
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    int rc = cdx_cohort_parse(json, strlen(json), &def, &err);
    if (rc != 0)
        fail_msg("%s: refused at %s: %s", json, err.path, err.detail);
    return def;
}

static void refused(const char *json, const char *want_path)
{
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    int rc = cdx_cohort_parse(json, strlen(json), &def, &err);
    if (rc != CDX_EINVAL)
        fail_msg("%s: accepted (rc %d)", json, rc);
    if (strcmp(err.path, want_path) != 0)
        fail_msg("%s: path %s (%s), want %s", json, err.path, err.detail, want_path);
    assert_true(err.detail[0] != '\0');
    assert_null(def);
}

static void test_criteria(void **state)
{
    (void)state;
    cdx_cohort_def_t *d = ok(
        "{\"all\": [{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": "
        "\"prefix\"}}, {\"result\": {\"system\": \"LOINC\", \"code\": \"4548-4\", \"op\": \">=\", "
        "\"value\": 6.5, \"unit\": \"%\"}}, {\"age\": {\"min\": 40, \"max\": 75, \"at\": "
        "\"2026-01-01\"}}, {\"sex\": \"F\"}, {\"not\": {\"institution\": \"2.25.1\"}}]}");
    assert_int_equal(d->root->kind, CDX_COHORT_ALL);
    assert_int_equal(d->root->nkids, 5);
    const cdx_cohort_fact_t *f = &d->root->kids[0]->fact;
    assert_string_equal(f->fact_kind, "problems");
    assert_true(f->prefix);
    assert_int_equal(f->nsystems, 3); /* ICD-10, ICD-10-CM and KCD */
    assert_string_equal(f->systems[0], "2.16.840.1.113883.6.3");
    const cdx_cohort_fact_t *r = &d->root->kids[1]->fact;
    assert_string_equal(r->fact_kind, "results");
    assert_true(r->has_value);
    assert_int_equal(r->op, CDX_COHORT_GE);
    assert_string_equal(r->unit, "%");
    assert_int_equal(d->root->kids[2]->age_min, 40);
    int32_t day;
    assert_int_equal(cdx_cohort_day("2026-01-01", &day), 0);
    assert_int_equal(d->root->kids[2]->at_day, day);
    assert_int_equal(d->root->kids[3]->sex, 'F');
    assert_int_equal(d->root->kids[4]->kind, CDX_COHORT_NOT);
    assert_string_equal(d->root->kids[4]->kids[0]->oid, "2.25.1");
    assert_int_equal(d->nfacts, 2);
    cdx_cohort_def_free(d);

    d = ok("{\"medication\": {\"system\": \"2.16.840.1.113883.6.73\", \"codes\": [\"A10BA02\", "
           "\"A10BB12\"], \"from\": \"2020-01-01\", \"to\": \"2025-12-31\", \"min_count\": 2, "
           "\"window\": {\"after\": {\"condition\": {\"system\": \"KCD\", \"code\": \"E11\", "
           "\"match\": \"prefix\"}}, \"days\": 90}}}");
    f = &d->root->fact;
    assert_int_equal(f->ncodes, 2);
    assert_string_equal(f->codes[1], "A10BB12");
    assert_int_equal(f->min_count, 2);
    assert_true(f->has_from && f->has_to);
    assert_non_null(f->anchor);
    assert_false(f->anchor_before);
    assert_int_equal(f->window_days, 90);
    assert_string_equal(f->anchor->fact.systems[0], "1.2.410.100110.40.2.3.2");
    assert_int_equal(d->nfacts, 2);
    cdx_cohort_def_free(d);

    d = ok("{\"any\": [{\"vital\": {\"system\": \"LOINC\", \"code\": \"8480-6\", \"op\": \">\", "
           "\"value\": 140, \"unit\": \"mmHg\"}}, {\"immunization\": {\"system\": \"CVX\", "
           "\"code\": \"140\"}}, {\"procedure\": {\"system\": \"SNOMED CT\", \"code\": "
           "\"80146002\"}}]}");
    assert_string_equal(d->root->kids[0]->fact.unit, "mm[Hg]");
    assert_string_equal(d->root->kids[1]->fact.fact_kind, "immunizations");
    cdx_cohort_def_free(d);
}

static void test_refusal_paths(void **state)
{
    (void)state;
    refused("", "$");
    refused("[1]", "$");
    refused("{}", "$");
    refused("{\"all\": [], \"any\": []}", "$");
    refused("{\"every\": []}", "$.every");
    refused("{\"all\": []}", "$.all");
    refused("{\"all\": [{\"sex\": \"F\"}, {\"result\": {\"system\": \"LOINC\", \"code\": "
            "\"2345-7\", \"op\": \"~\", \"value\": 1, \"unit\": \"mg/dL\"}}]}",
            "$.all[1].result.op");
    refused("{\"all\": [{\"sex\": \"F\"}, {\"result\": {\"system\": \"LOINC\", \"code\": "
            "\"2345-7\", \"op\": \">\", \"value\": 1, \"unit\": \"furlongs\"}}]}",
            "$.all[1].result.unit");
    refused("{\"result\": {\"system\": \"LOINC\", \"code\": \"2345-7\", \"op\": \">\", "
            "\"value\": \"high\", \"unit\": \"mg/dL\"}}",
            "$.result.value");
    refused("{\"result\": {\"system\": \"LOINC\", \"code\": \"2345-7\", \"value\": 3}}",
            "$.result");
    refused("{\"condition\": {\"system\": \"ICD-9\", \"code\": \"250\"}}", "$.condition.system");
    refused("{\"condition\": {\"code\": \"E11\"}}", "$.condition");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"colour\": 1}}",
            "$.condition.colour");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"op\": \">\"}}",
            "$.condition.op");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"fuzzy\"}}",
            "$.condition.match");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"codes\": [\"E11\", \"E 12\"]}}",
            "$.condition.codes[1]");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"codes\": [\"E12\"]}}",
            "$.condition");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"from\": "
            "\"2020-02-30\"}}",
            "$.condition.from");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"from\": "
            "\"2021-01-01\", \"to\": \"2020-01-01\"}}",
            "$.condition.to");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"min_count\": 0}}",
            "$.condition.min_count");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"window\": "
            "{\"after\": {\"sex\": \"F\"}, \"days\": 9}}}",
            "$.condition.window.after");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"window\": "
            "{\"after\": {\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\"}}}}}",
            "$.condition.window");
    refused("{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"window\": "
            "{\"after\": {\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"x\": 1}}, "
            "\"days\": 3}}}",
            "$.condition.window.after.condition.x");
    refused("{\"age\": {}}", "$.age");
    refused("{\"age\": {\"min\": 50, \"max\": 40}}", "$.age.max");
    refused("{\"age\": {\"min\": -1}}", "$.age.min");
    refused("{\"age\": {\"min\": 1, \"at\": \"soon\"}}", "$.age.at");
    refused("{\"sex\": \"X\"}", "$.sex");
    refused("{\"institution\": \"1..2\"}", "$.institution");
    refused("{\"not\": [{\"sex\": \"F\"}]}", "$.not");
    refused("{\"sex\": \"F\", \"sex\": \"M\"}", "$"); /* duplicate keys */
}

static void test_limits(void **state)
{
    (void)state;
    char buf[4096];
    /* Depth: the root is level 1, each not one more. */
    strcpy(buf, "");
    for (int i = 0; i < CDX_COHORT_MAX_DEPTH - 1; i++)
        strcat(buf, "{\"not\": ");
    strcat(buf, "{\"sex\": \"F\"}");
    for (int i = 0; i < CDX_COHORT_MAX_DEPTH - 1; i++)
        strcat(buf, "}");
    cdx_cohort_def_free(ok(buf));
    strcpy(buf, "{\"not\": ");
    for (int i = 0; i < CDX_COHORT_MAX_DEPTH - 1; i++)
        strcat(buf, "{\"not\": ");
    strcat(buf, "{\"sex\": \"F\"}");
    for (int i = 0; i < CDX_COHORT_MAX_DEPTH; i++)
        strcat(buf, "}");
    refused(buf, "$.not.not.not.not.not.not.not.not");
    /* Width. */
    strcpy(buf, "{\"any\": [");
    for (int i = 0; i <= CDX_COHORT_MAX_WIDTH; i++)
        strcat(buf, i ? ", {\"sex\": \"F\"}" : "{\"sex\": \"F\"}");
    strcat(buf, "]}");
    refused(buf, "$.any");
    /* Nodes: 5 lists of 31 criteria pass the width but not the total. */
    strcpy(buf, "{\"all\": [");
    for (int k = 0; k < 5; k++) {
        strcat(buf, k ? ", {\"any\": [" : "{\"any\": [");
        for (int i = 0; i < 31; i++)
            strcat(buf, i ? ", {\"sex\": \"F\"}" : "{\"sex\": \"F\"}");
        strcat(buf, "]}");
    }
    strcat(buf, "]}");
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    assert_int_equal(cdx_cohort_parse(buf, strlen(buf), &def, &err), CDX_EINVAL);
    assert_non_null(strstr(err.detail, "at most"));
    /* Size. */
    size_t big = CDX_COHORT_MAX_BYTES + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    assert_int_equal(cdx_cohort_parse(text, big, &def, &err), CDX_EINVAL);
    assert_string_equal(err.path, "$");
    free(text);
}

static void test_systems(void **state)
{
    (void)state;
    const char *s[CDX_COHORT_MAX_SYSTEMS];
    assert_int_equal(cdx_cohort_system("icd-10", s), 3);
    assert_int_equal(cdx_cohort_system("KCD", s), 3);
    assert_string_equal(s[0], "1.2.410.100110.40.2.3.2");
    assert_string_equal(s[1], "2.16.840.1.113883.6.3");
    assert_int_equal(cdx_cohort_system("urn:oid:2.16.840.1.113883.6.1", s), 1);
    assert_string_equal(s[0], "2.16.840.1.113883.6.1");
    assert_int_equal(cdx_cohort_system("SNOMED CT", s), 1);
    assert_int_equal(cdx_cohort_system("RxNorm", s), 1);
    assert_string_equal(s[0], "2.16.840.1.113883.6.88");
    assert_int_equal(cdx_cohort_system("ATC", s), 1);
    assert_string_equal(s[0], "2.16.840.1.113883.6.73");
    assert_int_equal(cdx_cohort_system("EDI", s), 1);
    assert_int_equal(cdx_cohort_system("CVX", s), 1);
    assert_string_equal(s[0], "2.16.840.1.113883.12.292");
    assert_int_equal(cdx_cohort_system("ICD-9", s), 0);
    assert_int_equal(cdx_cohort_system("1.2.3", s), 0);
}

static double dabs(double x)
{
    return x < 0 ? -x : x;
}

static void near(double got, double want)
{
    if (dabs(got - want) > 1e-6 * (dabs(want) > 1 ? dabs(want) : 1))
        fail_msg("%g, want %g", got, want);
}

static void test_units(void **state)
{
    (void)state;
    assert_string_equal(cdx_cohort_unit("mg/dl"), "mg/dL");
    assert_string_equal(cdx_cohort_unit("MMOL/L"), "mmol/L");
    assert_string_equal(cdx_cohort_unit("mmHg"), "mm[Hg]");
    assert_null(cdx_cohort_unit("furlongs"));
    assert_null(cdx_cohort_unit(""));
    double v = 0;
    /* Glucose 126 mg/dL is 6.99 mmol/L; cholesterol converts by its own factor. */
    assert_int_equal(cdx_cohort_convert("2345-7", "mg/dL", "mmol/L", 126, &v), 0);
    near(v, 126 / 18.016);
    assert_int_equal(cdx_cohort_convert("2345-7", "mmol/L", "mg/dl", 7.0, &v), 0);
    near(v, 7.0 * 18.016);
    assert_int_equal(cdx_cohort_convert("2093-3", "mg/dL", "mmol/L", 200, &v), 0);
    near(v, 200 / 38.67);
    assert_int_equal(cdx_cohort_convert("2160-0", "mg/dL", "umol/L", 1.0, &v), 0);
    near(v, 88.42);
    /* HbA1c: 6.5 % is 48 mmol/mol. */
    assert_int_equal(cdx_cohort_convert("4548-4", "%", "mmol/mol", 6.5, &v), 0);
    assert_true(dabs(v - 47.5) < 0.6);
    assert_int_equal(cdx_cohort_convert("4548-4", "mmol/mol", "%", 48, &v), 0);
    assert_true(dabs(v - 6.54) < 0.05);
    /* No conversion for another analyte: potassium is not glucose. */
    assert_int_equal(cdx_cohort_convert("2823-3", "mg/dL", "mmol/L", 1, &v), CDX_ENOTFOUND);
    assert_int_equal(cdx_cohort_convert(NULL, "mg/dL", "mmol/L", 1, &v), CDX_ENOTFOUND);
    assert_int_equal(cdx_cohort_convert("4548-4", "%", "mg/dL", 1, &v), CDX_ENOTFOUND);
    /* Dimensional conversions hold for any analyte; same unit is identity. */
    assert_int_equal(cdx_cohort_convert("718-7", "g/dL", "g/L", 13.5, &v), 0);
    near(v, 135);
    assert_int_equal(cdx_cohort_convert("x", "mg/dl", "mg/dL", 5, &v), 0);
    near(v, 5);
    assert_int_equal(cdx_cohort_convert("x", "furlongs", "mg/dL", 5, &v), CDX_ENOTFOUND);
}

static void test_days_and_ops(void **state)
{
    (void)state;
    int32_t a, b;
    assert_int_equal(cdx_cohort_day("1970-01-01", &a), 0);
    assert_int_equal(a, 0);
    assert_int_equal(cdx_cohort_day("20240301", &a), 0);
    assert_int_equal(cdx_cohort_day("2024-02-29", &b), 0);
    assert_int_equal(a - b, 1);
    assert_int_equal(cdx_cohort_day("202403011230+0900", &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(cdx_cohort_day("2023-02-29", &a), CDX_EINVAL);
    assert_int_equal(cdx_cohort_day("2024", &a), CDX_EINVAL);
    assert_int_equal(cdx_cohort_day("2024013", &a), CDX_EINVAL);
    assert_int_equal(cdx_cohort_day("20241301", &a), CDX_EINVAL);
    assert_int_equal(cdx_cohort_day("2024-1-01", &a), CDX_EINVAL);
    assert_true(cdx_cohort_compare(CDX_COHORT_GE, 6.5, 6.5));
    assert_false(cdx_cohort_compare(CDX_COHORT_GT, 6.5, 6.5));
    assert_true(cdx_cohort_compare(CDX_COHORT_LT, 6.4, 6.5));
    assert_false(cdx_cohort_compare(CDX_COHORT_LE, 6.6, 6.5));
    assert_true(cdx_cohort_compare(CDX_COHORT_EQ, 7.0 * 18.016 / 18.016, 7.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_criteria), cmocka_unit_test(test_refusal_paths),
        cmocka_unit_test(test_limits),   cmocka_unit_test(test_systems),
        cmocka_unit_test(test_units),    cmocka_unit_test(test_days_and_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
