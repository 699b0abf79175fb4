/* Unit tests of the pure rules of record requests and subscriptions
 * (gateway/domain/subscription.c): the shape and check digit of a LOINC
 * code, and a document type among the types asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/domain/subscription.h"
#include "cdx_test.h"

static void test_loinc(void **state)
{
    (void)state;
    const char *good[] = {"34133-9", "11488-4", "18842-5", "34117-2", "11506-3", "1-8"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(cdx_loinc_valid(good[i]));
    const char *bad[] = {"34133-8", "34133", "34133-", "-9", "3413a-9", "34133-9 ",
                         "12345678-9", "34133--9", "", "34133-99"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cdx_loinc_valid(bad[i]));
    assert_false(cdx_loinc_valid(NULL));
}

static void test_types_match(void **state)
{
    (void)state;
    assert_true(cdx_types_match("", "34133-9"));
    assert_true(cdx_types_match(NULL, NULL));
    assert_true(cdx_types_match("11488-4,34133-9", "34133-9"));
    assert_true(cdx_types_match("11488-4,34133-9", "11488-4"));
    assert_false(cdx_types_match("11488-4,34133-9", "18842-5"));
    assert_false(cdx_types_match("11488-4", "1488-4"));
    assert_false(cdx_types_match("11488-4", "11488-40"));
    assert_false(cdx_types_match("11488-4", NULL));
    assert_false(cdx_types_match("11488-4", ""));
}

/* What an institution asked for is decided as its query would be. */
static void test_requested_decide(void **state)
{
    (void)state;
    cdx_consent_t permit;
    memset(&permit, 0, sizeof permit);
    permit.id = 7;
    permit.permit = 1;
    permit.research = -1;
    permit.ninstitutions = 1;
    strcpy(permit.institutions[0], "2.25.8");
    cdx_access_person_t with = {&permit, 1, 0, 0};
    cdx_access_person_t none = {NULL, 0, 0, 1};
    cdx_access_target_t t = {.submitter_oid = "2.25.7", .custodian_oid = "2.25.7",
                             .type_code = "34133-9", .confidentiality = "N"};
    const char *now = "20260101000000";
    cdx_access_decision_t d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, NULL, &t, &with, now);
    assert_true(d.allow);
    d = cdx_requested_decide("2.25.9", CDX_ROLE_QUERY, NULL, &t, &with, now);
    assert_false(d.allow);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_REQUIRED);
    /* An open break-glass time box counts only for the purpose that asks. */
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "TREAT", &t, &none, now);
    assert_true(d.allow);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_SUBMIT, NULL, &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "NOSUCH", &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
    t.confidentiality = "V";
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, NULL, &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_CONFIDENTIALITY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loinc),
        cmocka_unit_test(test_types_match),
        cmocka_unit_test(test_requested_decide),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
