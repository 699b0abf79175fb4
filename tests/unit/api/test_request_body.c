/* Unit tests of the bodies of record requests and subscriptions
 * (cdx_request_body_parse, gateway/api/requests.c): each refusal is 400
 * with a precise code naming the member at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/api/requests.h"
#include "cdx_test.h"

static int parse(const char *body, int with_range, cdx_request_body_t *b, cdx_param_error_t *e)
{
    return cdx_request_body_parse(body, strlen(body), with_range, b, e);
}

static void refused(const char *body, int with_range, const char *code, const char *param)
{
    cdx_request_body_t b;
    cdx_param_error_t e;
    assert_int_equal(parse(body, with_range, &b, &e), CDX_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, code);
    assert_string_equal(e.param, param);
    assert_true(e.detail[0] != '\0');
}

static void test_accepted(void **state)
{
    (void)state;
    cdx_request_body_t b;
    cdx_param_error_t e;
    assert_int_equal(parse("{\"patient\":\"2.25.7.1|P1\",\"types\":[\"34133-9\",\"11488-4\","
                           "\"34133-9\"],\"from\":\"2020-01-01\",\"to\":\"2021\"}",
                           1, &b, &e),
                     0);
    assert_string_equal(b.patient.root, "2.25.7.1");
    assert_string_equal(b.patient.ext, "P1");
    assert_int_equal(b.ntypes, 2);
    assert_string_equal(b.types_text, "11488-4,34133-9");
    assert_string_equal(b.from_key, "20200101000000");
    assert_string_equal(b.to_key, "20210101000000");
    assert_int_equal(parse("{\"patient\":\"2.25.7.1|P1\"}", 0, &b, &e), 0);
    assert_int_equal(b.ntypes, 0);
    assert_string_equal(b.types_text, "");
}

static void test_refused(void **state)
{
    (void)state;
    refused("", 1, "REQUEST_BODY_INVALID", "");
    refused("[]", 1, "REQUEST_BODY_INVALID", "");
    refused("{\"patient\":\"2.25.7.1|P1\",\"patient\":\"2.25.7.1|P2\"}", 1,
            "REQUEST_BODY_INVALID", "");
    refused("{\"types\":[\"34133-9\"]}", 1, "PATIENT_REQUIRED", "patient");
    refused("{\"patient\":\"P1\"}", 1, "PATIENT_ID_INVALID", "patient");
    refused("{\"patient\":7}", 1, "PATIENT_ID_INVALID", "patient");
    refused("{\"patient\":\"2.25.7.1|P1\",\"types\":\"34133-9\"}", 1, "REQUEST_BODY_INVALID",
            "types");
    refused("{\"patient\":\"2.25.7.1|P1\",\"types\":[1]}", 1, "REQUEST_BODY_INVALID", "types");
    refused("{\"patient\":\"2.25.7.1|P1\",\"types\":[\"34133-8\"]}", 1, "DOCUMENT_TYPE_INVALID",
            "types");
    refused("{\"patient\":\"2.25.7.1|P1\",\"types\":[\"summary\"]}", 0, "DOCUMENT_TYPE_INVALID",
            "types");
    refused("{\"patient\":\"2.25.7.1|P1\",\"from\":\"yesterday\"}", 1, "DATE_INVALID", "from");
    refused("{\"patient\":\"2.25.7.1|P1\",\"to\":2020}", 1, "REQUEST_BODY_INVALID", "to");
    refused("{\"patient\":\"2.25.7.1|P1\",\"from\":\"2021\",\"to\":\"2020\"}", 1,
            "DATE_RANGE_INVALID", "from");
    /* A subscription has no time range. */
    refused("{\"patient\":\"2.25.7.1|P1\",\"from\":\"2021\"}", 0, "REQUEST_BODY_INVALID", "from");
    refused("{\"patient\":\"2.25.7.1|P1\",\"colour\":1}", 1, "REQUEST_BODY_INVALID", "colour");
    char many[1024] = "{\"patient\":\"2.25.7.1|P1\",\"types\":[";
    for (int i = 0; i < 17; i++)
        strcat(many, i ? ",\"34133-9\"" : "\"34133-9\"");
    strcat(many, "]}");
    refused(many, 1, "REQUEST_BODY_INVALID", "types");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
