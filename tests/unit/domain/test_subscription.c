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
    cdx_access_decision_t d =
        cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, NULL, NULL, &t, &with, now);
    assert_true(d.allow);
    d = cdx_requested_decide("2.25.9", CDX_ROLE_QUERY, NULL, NULL, &t, &with, now);
    assert_false(d.allow);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_REQUIRED);
    /* An open break-glass time box counts only for the purpose that asks. */
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "TREAT", NULL, &t, &none, now);
    assert_true(d.allow);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_SUBMIT, NULL, NULL, &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "NOSUCH", NULL, &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
    t.confidentiality = "V";
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, NULL, NULL, &t, &with, now);
    assert_int_equal(d.reason, CDX_ACCESS_CONFIDENTIALITY);
}

/* A delivery is decided with the purpose it was asked for: a record
 * request made as an emergency (ETREAT) stands on the request that
 * declared it, as break-glass, once its time box has closed; the same
 * delivery decided as TREAT would not leave.  Never over a deny or V. */
static void test_requested_decide_with_the_purpose_asked(void **state)
{
    (void)state;
    cdx_consent_t deny;
    memset(&deny, 0, sizeof deny);
    deny.id = 9;
    deny.research = -1;
    cdx_access_person_t nobody = {NULL, 0, 0, 0};
    cdx_access_person_t denied = {&deny, 1, 0, 0};
    cdx_access_target_t t = {.submitter_oid = "2.25.7", .custodian_oid = "2.25.7",
                             .type_code = "34133-9", .confidentiality = "N"};
    const char *now = "20260101000000";
    const char *why = "record request 0123456789abcdef0123456789abcdef";
    cdx_access_decision_t d =
        cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "ETREAT", why, &t, &nobody, now);
    assert_true(d.allow);
    assert_int_equal(d.basis, CDX_ACCESS_BASIS_BREAKGLASS);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "TREAT", why, &t, &nobody, now);
    assert_false(d.allow);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_REQUIRED);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "CAREMGT", why, &t, &nobody, now);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_REQUIRED);
    /* No emergency without what it stands on. */
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "ETREAT", NULL, &t, &nobody, now);
    assert_int_equal(d.reason, CDX_ACCESS_REASON_REQUIRED);
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "ETREAT", why, &t, &denied, now);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_DENIED);
    assert_int_equal(d.consent_id, 9);
    t.confidentiality = "V";
    d = cdx_requested_decide("2.25.8", CDX_ROLE_QUERY, "ETREAT", why, &t, &nobody, now);
    assert_int_equal(d.reason, CDX_ACCESS_CONFIDENTIALITY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loinc),
        cmocka_unit_test(test_types_match),
        cmocka_unit_test(test_requested_decide_with_the_purpose_asked),
        cmocka_unit_test(test_requested_decide),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
