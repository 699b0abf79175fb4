/* Allocation-failure ("torture") tests: every libxml2 allocation made while
 * parsing and extracting a document is failed in turn, the way curl and
 * SQLite test their error paths.  Each run must end in success or a clean
 * rejection: no crash, no leak (the sanitizer build checks), no verdict
 * without a code, and a success is the complete, exact extraction (a failed
 * allocation must never read as a missing namespace, attribute or fact). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/xmlmemory.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/xml.h"

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
        int xrc = cdx_extract(doc, &x, NULL);
        xmlFreeDoc(doc);
        if (xrc == 0) {
            /* A success is the whole result, never a part of it: a failed
             * allocation must not read as an absent namespace or value. */
            assert_string_equal(x.meta.unique_id, "2.25.7.2^T-1");
            assert_string_equal(x.meta.custodian_id.root, "2.25.7");
            assert_int_equal(x.meta.npatient_ids, 1);
            assert_string_equal(x.meta.patient_ids[0].root, "2.25.7.1");
            assert_string_equal(x.meta.patient_ids[0].extension, "P-1");
            assert_string_equal(x.meta.creation_time.raw, "20240105093000+0900");
            assert_int_equal(x.nfacts, 1);
            assert_int_equal(x.facts[0].kind, CDX_FACT_PROBLEM);
            assert_string_equal(x.facts[0].code, "E11");
            assert_string_equal(x.facts[0].code_system, "2.16.840.1.113883.6.3");
            assert_string_equal(x.facts[0].display_name, "Diabetes");
            assert_non_null(x.facts[0].extras);
            cdx_extract_cleanup(&x);
            (*ok)++;
        } else {
            /* Only running out of memory may stop an extraction of this
             * valid document. */
            assert_int_equal(xrc, CDX_ENOMEM);
            (*rejected)++;
        }
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
