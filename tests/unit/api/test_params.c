/* Unit tests of the query-string parameters (gateway/api/params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/api/params.h"
#include "cdx/base/common.h"

static const cdx_param_spec_t specs[] = {
    {"patient", 0, 300},
    {"type", CDX_PARAM_REPEAT, 64},
    {"limit", 0, 0},
    {"from", 0, 40},
};

static cdx_params_t params;
static cdx_param_error_t err;

static int parse(const char *q)
{
    return cdx_params_parse(q, specs, CDX_ARRAY_SIZE(specs), &params, &err);
}

static void test_parse_and_get(void **state)
{
    (void)state;
    assert_int_equal(parse(""), 0);
    assert_int_equal(params.n, 0);
    assert_int_equal(parse("patient=1.2.3%7CA-1&type=11506-3&type=18842-5&limit=10&"), 0);
    assert_string_equal(cdx_params_get(&params, "patient"), "1.2.3|A-1");
    const char *types[4];
    assert_int_equal(cdx_params_all(&params, "type", types, 4), 2);
    assert_string_equal(types[0], "11506-3");
    assert_string_equal(types[1], "18842-5");
    assert_null(cdx_params_get(&params, "from"));
    long n = 0;
    assert_int_equal(cdx_params_int(&params, "limit", 1, 500, 50, &n, &err), 0);
    assert_int_equal(n, 10);
    assert_int_equal(cdx_params_int(&params, "from", 1, 500, 50, &n, &err), 0);
    assert_int_equal(n, 50);
    /* '+' is a space, as forms encode it. */
    assert_int_equal(parse("type=a+b"), 0);
    assert_string_equal(cdx_params_get(&params, "type"), "a b");
}

static void expect(const char *q, const char *code, const char *param)
{
    assert_int_equal(parse(q), CDX_EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, code);
    assert_string_equal(err.param, param);
    assert_non_null(strstr(err.detail, param));
}

static void test_refusals(void **state)
{
    (void)state;
    expect("bogus=1", "PARAMETER_UNKNOWN", "bogus");
    expect("limit=1&bogus", "PARAMETER_UNKNOWN", "bogus");
    expect("patient=1.2%7Ca&patient=1.2%7Cb", "PARAMETER_INVALID", "patient");
    expect("limit=", "PARAMETER_INVALID", "limit");
    expect("limit", "PARAMETER_INVALID", "limit");
    expect("type=%4", "PARAMETER_INVALID", "type");
    expect("type=%zz", "PARAMETER_INVALID", "type");
    expect("type=a%00b", "PARAMETER_INVALID", "type");
    expect("type=a%0Ab", "PARAMETER_INVALID", "type");
    expect("type=%C3%28", "PARAMETER_INVALID", "type");
    char longq[200];
    snprintf(longq, sizeof longq, "type=%070d", 1);
    expect(longq, "PARAMETER_INVALID", "type");
    /* A name that is not printable is quoted safely. */
    assert_int_equal(parse("%01%22x=1"), CDX_EINVAL);
    assert_string_equal(err.code, "PARAMETER_UNKNOWN");
    assert_null(strchr(err.detail, '"'));
    assert_null(strchr(err.detail, '\x01'));
}

static void test_int(void **state)
{
    (void)state;
    long n = 0;
    const char *bad[] = {"limit=0", "limit=501", "limit=-1", "limit=1x", "limit=99999999999"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        assert_int_equal(parse(bad[i]), 0);
        assert_int_equal(cdx_params_int(&params, "limit", 1, 500, 50, &n, &err), CDX_EINVAL);
        assert_string_equal(err.code, "PARAMETER_INVALID");
        assert_string_equal(err.param, "limit");
    }
}

static void test_patient(void **state)
{
    (void)state;
    cdx_patient_ref_t ref;
    assert_int_equal(cdx_patient_ref_parse("2.25.1|HB-1", &ref), 0);
    assert_string_equal(ref.root, "2.25.1");
    assert_string_equal(ref.ext, "HB-1");
    assert_int_equal(cdx_patient_ref_parse("0f8fad5b-d9cb-469f-a165-70867728950e|x", &ref), 0);
    const char *bad[] = {"2.25.1",   "|x",       "2.25.1|",  "a.b|x",     "2.25.1|x|y",
                         "2..25|x",  "02.25|x",  "",         "2.25.1|\tx"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++)
        assert_int_equal(cdx_patient_ref_parse(bad[i], &ref), CDX_EINVAL);
    int present = 0;
    assert_int_equal(parse("patient=1.2.3"), 0);
    assert_int_equal(cdx_params_patient(&params, "patient", &ref, &present, &err), CDX_EINVAL);
    assert_string_equal(err.code, "PATIENT_ID_INVALID");
    assert_int_equal(parse(""), 0);
    assert_int_equal(cdx_params_patient(&params, "patient", &ref, &present, &err), 0);
    assert_int_equal(present, 0);
}

static void key(const char *in, const char *want)
{
    char k[CDX_TIME_KEY_LEN];
    int rc = cdx_time_key(in, k);
    if ((rc == 0) != (want != NULL))
        fprintf(stderr, "time key of \"%s\": rc %d\n", in, rc);
    if (want == NULL) {
        assert_int_equal(rc, CDX_EINVAL);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(k, want);
    }
}

static void test_time(void **state)
{
    (void)state;
    key("2026", "20260101000000");
    key("202611", "20261101000000");
    key("20261104", "20261104000000");
    key("20261104153012", "20261104153012");
    key("20261104153012+0900", "20261104063012");
    key("20260101050000+0900", "20251231200000");
    key("20261231230000-0200", "20270101010000");
    /* An offset on a date alone moves nothing (HL7 allows it; ISO dates carry none). */
    key("20261104+09", "20261104000000");
    key("2026-11-04", "20261104000000");
    key("2026-11", "20261101000000");
    key("2026-11-04T15:30", "20261104153000");
    key("2026-11-04T15:30:12Z", "20261104153012");
    key("2026-11-04T15:30:12.5+09:00", "20261104063012");
    key("2026-11-04T15:30:12-05:00", "20261104203012");
    const char *bad[] = {"",           "26",          "2026-13-01",      "20260230",
                         "2026-11-4",  "2026/11/04",  "2026-11-04T25:00", "20261104+9",
                         "yesterday",  "2026-11-04T15:30:12+0900", "2026-11-04 15:30",
                         "20261104T1530"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++)
        key(bad[i], NULL);
    char k[CDX_TIME_KEY_LEN];
    assert_int_equal(parse("from=2026-02-30"), 0);
    assert_int_equal(cdx_params_time(&params, "from", k, &err), CDX_EINVAL);
    assert_string_equal(err.code, "DATE_INVALID");
    assert_string_equal(err.param, "from");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_get),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_patient),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
