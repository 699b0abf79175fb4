/* Allocation-failure ("torture") tests: every libxml2 allocation made while
 * parsing and extracting a document is failed in turn, the way curl and
 * SQLite test their error paths.  Each run must end in success or a clean
 * rejection: no crash, no leak (the sanitizer build checks), no verdict
 * without a code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/xmlmemory.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/common.h"
#include "cdx/extract.h"
#include "cdx/xml.h"

static long countdown = -1; /* allocations left before one fails; -1: never */
static long calls;

static int fail_now(void)
{
    calls++;
    if (countdown < 0)
        return 0;
    return countdown-- == 0;
}

static void *t_malloc(size_t n)
{
    return fail_now() ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : realloc(p, n);
}

static char *t_strdup(const char *s)
{
    return fail_now() ? NULL : strdup(s);
}

static const char DOC[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<?xml-stylesheet type=\"text/xsl\" href=\"cda.xsl\"?>\n"
    "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
    "<id root=\"2.25.7.2\" extension=\"T-1\"/><code code=\"34133-9\" "
    "codeSystem=\"2.16.840.1.113883.6.1\"/><title>T</title>"
    "<effectiveTime value=\"20240105093000+0900\"/><confidentialityCode code=\"N\"/>"
    "<recordTarget><patientRole><id root=\"2.25.7.1\" extension=\"P-1\"/><patient><name>"
    "<given>A</given><family>B</family></name></patient></patientRole></recordTarget>"
    "<custodian><assignedCustodian><representedCustodianOrganization><id root=\"2.25.7\"/>"
    "</representedCustodianOrganization></assignedCustodian></custodian>"
    "<component><structuredBody><component><section><code code=\"11450-4\" "
    "codeSystem=\"2.16.840.1.113883.6.1\"/><title>Problems</title><text>x</text>"
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><entryRelationship typeCode=\"SUBJ\">"
    "<observation classCode=\"OBS\" moodCode=\"EVN\"><value xsi:type=\"CD\" code=\"E11\" "
    "codeSystem=\"2.16.840.1.113883.6.3\" displayName=\"Diabetes\"/></observation>"
    "</entryRelationship></act></entry></section></component></structuredBody></component>"
    "</ClinicalDocument>";

static void run_once(int *ok, int *rejected)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    int rc = cdx_xml_parse(DOC, sizeof DOC - 1, &d, &doc);
    if (rc == 0) {
        cdx_extract_t x;
        if (cdx_extract(doc, &x, NULL) == 0)
            cdx_extract_cleanup(&x);
        xmlFreeDoc(doc);
        (*ok)++;
    } else {
        assert_null(doc);
        /* A refusal always says why, unless memory ran out before it could. */
        if (rc == CDX_EPARSE)
            assert_true(cdx_diag_rejected(&d) && d.code[0] != '\0');
        (*rejected)++;
    }
    cdx_diag_cleanup(&d);
}

static void test_parse_and_extract_survive_every_failure(void **state)
{
    (void)state;
    int ok = 0, rejected = 0;
    /* One clean run counts the allocations to fail. */
    countdown = -1;
    calls = 0;
    run_once(&ok, &rejected);
    assert_int_equal(ok, 1);
    long total = calls;
    assert_true(total > 50);
    for (long k = 0; k < total; k++) {
        countdown = k;
        run_once(&ok, &rejected);
    }
    countdown = -1;
    /* Failing the last allocations can still succeed; most must refuse. */
    assert_true(rejected > total / 2);
    fprintf(stderr, "torture: %ld allocations, %d runs succeeded, %d refused\n", total, ok,
            rejected);
}

int main(void)
{
    if (xmlMemSetup(free, t_malloc, t_realloc, t_strdup) != 0)
        return 1;
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_extract_survive_every_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
