/* Unit tests of the delivery rules (gateway/domain/delivery.c) and the
 * recipients of a referral (gateway/domain/referral.c): which outcomes
 * are final, the backoff and its bounds, and who a document is addressed
 * to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/domain/delivery.h"
#include "cdx/domain/referral.h"
#include "cdx_test.h"

static const cdx_delivery_policy_t policy = {
    .max_attempts = 5, .max_age_ms = 60000, .backoff_min_ms = 1000, .backoff_max_ms = 8000};

static void test_classify(void **state)
{
    (void)state;
    const cdx_delivery_transport_t ok = CDX_DELIVERY_TRANSPORT_OK;
    assert_int_equal(cdx_delivery_classify(ok, 200), CDX_DELIVERY_DELIVERED);
    assert_int_equal(cdx_delivery_classify(ok, 201), CDX_DELIVERY_DELIVERED);
    assert_int_equal(cdx_delivery_classify(ok, 299), CDX_DELIVERY_DELIVERED);
    assert_int_equal(cdx_delivery_classify(ok, 400), CDX_DELIVERY_DEAD);
    assert_int_equal(cdx_delivery_classify(ok, 403), CDX_DELIVERY_DEAD);
    assert_int_equal(cdx_delivery_classify(ok, 422), CDX_DELIVERY_DEAD);
    assert_int_equal(cdx_delivery_classify(ok, 499), CDX_DELIVERY_DEAD);
    assert_int_equal(cdx_delivery_classify(ok, 408), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(ok, 429), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(ok, 500), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(ok, 503), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(ok, 300), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(ok, 100), CDX_DELIVERY_RETRY);
    assert_int_equal(cdx_delivery_classify(CDX_DELIVERY_TRANSPORT_TLS_PEER, 0), CDX_DELIVERY_DEAD);
    assert_int_equal(cdx_delivery_classify(CDX_DELIVERY_TRANSPORT_FAILED, 0), CDX_DELIVERY_RETRY);
    /* A status with a failed transport is not a receipt. */
    assert_int_equal(cdx_delivery_classify(CDX_DELIVERY_TRANSPORT_FAILED, 201), CDX_DELIVERY_RETRY);
}

static void test_backoff_doubles_within_bounds(void **state)
{
    (void)state;
    assert_int_equal(cdx_delivery_backoff(&policy, 1, -1, 0), 1000);
    assert_int_equal(cdx_delivery_backoff(&policy, 2, -1, 0), 2000);
    assert_int_equal(cdx_delivery_backoff(&policy, 3, -1, 0), 4000);
    assert_int_equal(cdx_delivery_backoff(&policy, 4, -1, 0), 8000);
    assert_int_equal(cdx_delivery_backoff(&policy, 40, -1, 0), 8000);
    /* Jitter takes off at most half. */
    assert_int_equal(cdx_delivery_backoff(&policy, 2, -1, 0.5), 1500);
    int64_t d = cdx_delivery_backoff(&policy, 4, -1, 0.999999);
    assert_true(d > 4000 && d <= 8000);
    /* An out-of-range jitter is none. */
    assert_int_equal(cdx_delivery_backoff(&policy, 1, -1, 7.0), 1000);
}

static void test_backoff_honours_retry_after(void **state)
{
    (void)state;
    assert_int_equal(cdx_delivery_backoff(&policy, 1, 5, 0.5), 5000);
    assert_int_equal(cdx_delivery_backoff(&policy, 4, 1, 0), 8000);
    assert_int_equal(cdx_delivery_backoff(&policy, 1, 0, 0), 1000);
    /* Capped at the age bound: a huge Retry-After cannot park a delivery forever. */
    assert_int_equal(cdx_delivery_backoff(&policy, 1, 999999999, 0), 60000);
}

static void test_exhausted(void **state)
{
    (void)state;
    assert_false(cdx_delivery_exhausted(&policy, 4, 0, 1000));
    assert_true(cdx_delivery_exhausted(&policy, 5, 0, 1000));
    assert_true(cdx_delivery_exhausted(&policy, 6, 0, 1000));
    assert_false(cdx_delivery_exhausted(&policy, 1, 1000, 61000));
    assert_true(cdx_delivery_exhausted(&policy, 1, 1000, 61001));
}

static xmlDocPtr parse(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);
}

static void test_recipients(void **state)
{
    (void)state;
    xmlDocPtr doc = parse(
        "<ClinicalDocument xmlns='urn:hl7-org:v3'>"
        "<informationRecipient><intendedRecipient><receivedOrganization>"
        "<id root='2.25.2'/><id root='2.25.3'/><id root='not an oid'/>"
        "</receivedOrganization></intendedRecipient></informationRecipient>"
        "<informationRecipient><intendedRecipient><receivedOrganization><id root='2.25.2'/>"
        "</receivedOrganization></intendedRecipient></informationRecipient>"
        "<informationRecipient><intendedRecipient><id root='2.25.9'/></intendedRecipient>"
        "</informationRecipient>"
        "<custodian><assignedCustodian><representedCustodianOrganization><id root='2.25.1'/>"
        "</representedCustodianOrganization></assignedCustodian></custodian>"
        "</ClinicalDocument>");
    assert_non_null(doc);
    char **list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_referral_recipients(doc, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "2.25.2");
    assert_string_equal(list[1], "2.25.3");
    cdx_referral_free(list, n);
    xmlFreeDoc(doc);
}

static void test_recipients_none_and_foreign_namespace(void **state)
{
    (void)state;
    xmlDocPtr doc = parse("<ClinicalDocument xmlns='urn:hl7-org:v3'/>");
    char **list = NULL;
    size_t n = 7;
    assert_int_equal(cdx_referral_recipients(doc, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    xmlFreeDoc(doc);
    doc = parse("<ClinicalDocument xmlns='urn:other'><informationRecipient><intendedRecipient>"
                "<receivedOrganization><id root='2.25.2'/></receivedOrganization>"
                "</intendedRecipient></informationRecipient></ClinicalDocument>");
    assert_int_equal(cdx_referral_recipients(doc, &list, &n), 0);
    assert_int_equal(n, 0);
    xmlFreeDoc(doc);
    assert_int_equal(cdx_referral_recipients(NULL, &list, &n), 0);
    assert_int_equal(n, 0);
}

static void test_recipients_bounded(void **state)
{
    (void)state;
    char xml[8192] = "<ClinicalDocument xmlns='urn:hl7-org:v3'>";
    for (int i = 0; i < 20; i++) {
        char one[256];
        snprintf(one, sizeof one,
                 "<informationRecipient><intendedRecipient><receivedOrganization>"
                 "<id root='2.25.%d'/></receivedOrganization></intendedRecipient>"
                 "</informationRecipient>",
                 100 + i);
        strcat(xml, one);
    }
    strcat(xml, "</ClinicalDocument>");
    xmlDocPtr doc = parse(xml);
    char **list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_referral_recipients(doc, &list, &n), 0);
    assert_int_equal(n, CDX_REFERRAL_MAX);
    cdx_referral_free(list, n);
    xmlFreeDoc(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_backoff_doubles_within_bounds),
        cmocka_unit_test(test_backoff_honours_retry_after),
        cmocka_unit_test(test_exhausted),
        cmocka_unit_test(test_recipients),
        cmocka_unit_test(test_recipients_none_and_foreign_namespace),
        cmocka_unit_test(test_recipients_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
