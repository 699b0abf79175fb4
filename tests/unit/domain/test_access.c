/* Unit tests of the access decision (gateway/domain/access.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/access.h"

static cdx_institution_t inst(unsigned roles)
{
    cdx_institution_t i;
    memset(&i, 0, sizeof i);
    cdx_strlcpy(i.oid, "2.25.1001", sizeof i.oid);
    i.roles = roles;
    return i;
}

static cdx_access_decision_t decide(const cdx_institution_t *i, unsigned need, const char *purpose)
{
    cdx_access_request_t rq = {
        .institution = i, .role_needed = need, .purpose = cdx_purpose_find(purpose)};
    return cdx_access_decide(&rq);
}

static void test_allows_the_route_role_and_a_known_purpose(void **state)
{
    (void)state;
    cdx_institution_t q = inst(CDX_ROLE_QUERY), all = inst(CDX_ROLE_ALL);
    cdx_access_decision_t d = decide(&q, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 1);
    assert_int_equal(d.reason, CDX_ACCESS_ALLOWED);
    assert_int_equal(decide(&all, CDX_ROLE_QUERY, "ETREAT").allow, 1);
    assert_int_equal(decide(&q, 0, "PUBHLTH").allow, 1);
    /* Every purpose of the table is accepted today. */
    size_t n = 0;
    const cdx_purpose_t *t = cdx_purpose_table(&n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(decide(&q, CDX_ROLE_QUERY, t[i].code).allow, 1);
}

static void test_refuses_with_a_reason(void **state)
{
    (void)state;
    cdx_institution_t submit = inst(CDX_ROLE_SUBMIT), q = inst(CDX_ROLE_QUERY);
    cdx_access_decision_t d = decide(NULL, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_NO_INSTITUTION);
    d = decide(&submit, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    /* Every bit of the needed roles must be held. */
    d = decide(&q, CDX_ROLE_QUERY | CDX_ROLE_ADMIN, "TREAT");
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    d = decide(&q, CDX_ROLE_QUERY, "MARKETING");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
    d = decide(&q, CDX_ROLE_QUERY, NULL);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
}

/* The first rule broken is the reason: institution, role, purpose. */
static void test_order_of_the_rules(void **state)
{
    (void)state;
    cdx_institution_t submit = inst(CDX_ROLE_SUBMIT);
    assert_int_equal(decide(NULL, CDX_ROLE_QUERY, "nope").reason, CDX_ACCESS_NO_INSTITUTION);
    assert_int_equal(decide(&submit, CDX_ROLE_QUERY, "nope").reason, CDX_ACCESS_ROLE_MISSING);
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_ALLOWED), "allowed");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_NO_INSTITUTION), "no_institution");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_ROLE_MISSING), "role_missing");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_PURPOSE_UNKNOWN), "purpose_unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allows_the_route_role_and_a_known_purpose),
        cmocka_unit_test(test_refuses_with_a_reason),
        cmocka_unit_test(test_order_of_the_rules),
        cmocka_unit_test(test_reason_names),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
