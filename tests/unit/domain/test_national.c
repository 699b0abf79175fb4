/* Unit tests of national ids (gateway/domain/national.c) and of the ingest
 * pipeline's scrubbing of them: the keyed hash against a reference value,
 * the stored form, the query mapping, the tree rewrite, and a whole
 * pipeline run in which the number survives only in the original bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/facts.h"
#include "cdx/domain/ingest.h"
#include "cdx/domain/national.h"

#define ROOT "2.25.999"
#define NUMBER "7302142917364"

static void national(cdx_national_t *nat)
{
    char err[256];
    assert_int_equal(cdx_national_parse_roots("1.2.3, " ROOT, nat, err, sizeof err), 0);
    for (int i = 0; i < 32; i++)
        nat->key[i] = (unsigned char)i;
}

static void test_parse_roots(void **state)
{
    (void)state;
    cdx_national_t nat;
    char err[256];
    assert_int_equal(cdx_national_parse_roots("", &nat, err, sizeof err), 0);
    assert_int_equal(nat.nroots, 0);
    assert_int_equal(cdx_national_parse_roots(NULL, &nat, err, sizeof err), 0);
    assert_int_equal(cdx_national_parse_roots(" 1.2.3,2.25.7  2.25.8 ", &nat, err, sizeof err),
                     0);
    assert_int_equal(nat.nroots, 3);
    assert_string_equal(nat.roots[2], "2.25.8");
    assert_true(cdx_national_is_root(&nat, "2.25.7"));
    assert_false(cdx_national_is_root(&nat, "2.25.70"));
    assert_false(cdx_national_is_root(NULL, "2.25.7"));
    assert_int_equal(cdx_national_parse_roots("1.2.3, not-an-oid", &nat, err, sizeof err),
                     CDX_ECONFIG);
    assert_non_null(strstr(err, "not-an-oid"));
}

/* HMAC-SHA256 with key 00 01 .. 1f of "2.25.999|7302142917364", as
 * Python's hmac module computes it. */
static void test_hash_reference(void **state)
{
    (void)state;
    cdx_national_t nat;
    national(&nat);
    char out[CDX_NATIONAL_EXT_SIZE];
    cdx_national_hash(nat.key, ROOT, NUMBER, out);
    assert_string_equal(out, "hmac-sha256:"
                             "a5500403eb8a694c4c898d99211672451a6e1445ebbbc81e0ff37bf6f8dc23e0");
    assert_true(cdx_national_is_hashed(out));
    /* Not a plain hash: another key gives another value. */
    char other[CDX_NATIONAL_EXT_SIZE];
    nat.key[0] ^= 1;
    cdx_national_hash(nat.key, ROOT, NUMBER, other);
    assert_string_not_equal(out, other);
    assert_false(cdx_national_is_hashed(NUMBER));
    assert_false(cdx_national_is_hashed("hmac-sha256:abc"));
    assert_false(cdx_national_is_hashed(NULL));
}

static void test_stored_forms(void **state)
{
    (void)state;
    cdx_national_t nat;
    national(&nat);
    char out[128], hashed[CDX_NATIONAL_EXT_SIZE];
    cdx_national_hash(nat.key, ROOT, NUMBER, hashed);
    assert_int_equal(cdx_national_stored_ext(&nat, ROOT, NUMBER, out, sizeof out), 1);
    assert_string_equal(out, hashed);
    /* Already hashed: kept (reindex over a scrubbed tree). */
    assert_int_equal(cdx_national_stored_ext(&nat, ROOT, hashed, out, sizeof out), 1);
    assert_string_equal(out, hashed);
    assert_int_equal(cdx_national_stored_ext(&nat, "2.25.5", "L-1", out, sizeof out), 0);
    assert_string_equal(out, "L-1");
    assert_int_equal(cdx_national_stored_ext(&nat, ROOT, NUMBER, out, 10), CDX_ERANGE);
    /* A query's ROOT|EXT. */
    assert_int_equal(cdx_national_ref_stored(&nat, ROOT "|" NUMBER, out, sizeof out), 0);
    assert_int_equal(strncmp(out, ROOT "|hmac-sha256:", strlen(ROOT) + 13), 0);
    assert_string_equal(strchr(out, '|') + 1, hashed);
    assert_int_equal(cdx_national_ref_stored(&nat, "2.25.5|L-1", out, sizeof out), 0);
    assert_string_equal(out, "2.25.5|L-1");
    assert_int_equal(cdx_national_ref_stored(&nat, "2.25.5", out, sizeof out), CDX_EINVAL);
}

static void test_scrub_tree(void **state)
{
    (void)state;
    cdx_national_t nat;
    national(&nat);
    const char *xml = "<a xmlns=\"urn:hl7-org:v3\"><id root=\"" ROOT "\" extension=\"" NUMBER
                      "\"/><b><c><id root=\"2.25.5\" extension=\"L-1\"/>"
                      "<id root=\"" ROOT "\" extension=\"" NUMBER "\"/></c></b>"
                      "<id root=\"" ROOT "\"/></a>";
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_int_equal(cdx_national_scrub_tree(&nat, doc), 2);
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &mem, &len);
    assert_null(strstr((const char *)mem, NUMBER));
    assert_non_null(strstr((const char *)mem, "extension=\"L-1\""));
    assert_non_null(strstr((const char *)mem, "hmac-sha256:a5500403"));
    xmlFree(mem);
    /* Again: nothing left to rewrite. */
    assert_int_equal(cdx_national_scrub_tree(&nat, doc), 0);
    xmlFreeDoc(doc);
    /* The number written in the narrative, with or without its hyphen, is
     * masked; a longer number that merely contains it is not. */
    const char *text = "<a xmlns=\"urn:hl7-org:v3\"><id root=\"" ROOT "\" extension=\"" NUMBER
                       "\"/><text><td>RRN 730214-2917364</td><td>" NUMBER "</td>"
                       "<td>97302142917364</td><td>730214 2917364.</td></text>"
                       "<text><![CDATA[x7302142917364]]></text></a>";
    doc = xmlReadMemory(text, (int)strlen(text), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_int_equal(cdx_national_scrub_tree(&nat, doc), 5);
    xmlDocDumpMemory(doc, &mem, &len);
    assert_null(strstr((const char *)mem, "730214-2917364"));
    assert_null(strstr((const char *)mem, "<td>" NUMBER));
    assert_non_null(strstr((const char *)mem, "RRN ******-*******</td>"));
    assert_non_null(strstr((const char *)mem, "<td>*************</td>"));
    assert_non_null(strstr((const char *)mem, "<td>97302142917364</td>"));
    assert_non_null(strstr((const char *)mem, "<td>****** *******.</td>"));
    assert_non_null(strstr((const char *)mem, "x*************"));
    xmlFree(mem);
    xmlFreeDoc(doc);
}

static const char *DOC =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><realmCode code=\"US\"/>"
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
    "<id root=\"2.25.1001.2\" extension=\"NAT-1\"/>"
    "<code code=\"34133-9\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>t</title>"
    "<effectiveTime value=\"20240105093000+0900\"/>"
    "<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>"
    "<languageCode code=\"en-US\"/>"
    "<recordTarget><patientRole>"
    "<id root=\"" ROOT "\" extension=\"" NUMBER "\"/>"
    "<id root=\"2.25.1001.1\" extension=\"L-77\"/>"
    "<addr><city>Testville</city><postalCode>12345</postalCode></addr>"
    "<patient><name><given>Ada</given><family>Jones</family></name>"
    "<administrativeGenderCode code=\"F\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
    "<birthTime value=\"19800101\"/></patient></patientRole></recordTarget>"
    "<author><time value=\"20240105093000+0900\"/><assignedAuthor>"
    "<id root=\"2.16.840.1.113883.4.6\" extension=\"9999999999\"/>"
    "<assignedPerson><name><given>T</given><family>D</family></name></assignedPerson>"
    "</assignedAuthor></author>"
    "<custodian><assignedCustodian><representedCustodianOrganization><id root=\"2.25.1001\"/>"
    "<name>c</name></representedCustodianOrganization></assignedCustodian></custodian>"
    "<component><structuredBody><component><section>"
    "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Problems</title>"
    "<text>None.</text></section></component></structuredBody></component>"
    "</ClinicalDocument>\n";

/* The pipeline: the national id is hashed in the canonical form, its
 * hash, the metadata and the patient ids; the canonical patient id is the
 * local one; the match keys are computed. */
static void test_pipeline_scrubs(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset: the mappings are not found");
    char mappings[2048], err[512];
    snprintf(mappings, sizeof mappings, "%s/mappings", src);
    cdx_national_t nat;
    national(&nat);
    cdx_pipeline_options_t opt = {.mappings_dir = mappings, .national = &nat};
    cdx_pipeline_t *pl = NULL;
    assert_int_equal(cdx_pipeline_new(&opt, &pl, err, sizeof err), 0);
    cdx_submitter_t sub = {.oid = "2.25.1001"};
    cdx_ingest_t in;
    int rc = cdx_ingest_run(pl, DOC, strlen(DOC), &sub, &in);
    if (rc != 0)
        fail_msg("ingest: %d %s %s", rc, in.diag.code, in.issues_json ? in.issues_json : "");
    assert_null(strstr(in.normalized, NUMBER));
    assert_non_null(strstr(in.normalized, "hmac-sha256:a5500403"));
    assert_null(strstr(in.meta_json, NUMBER));
    assert_non_null(strstr(in.meta_json, "hmac-sha256:a5500403"));
    char *facts = cdx_fact_rows_join(in.fact_rows, in.nfact_rows);
    assert_non_null(facts);
    assert_null(strstr(facts, NUMBER));
    free(facts);
    assert_string_equal(in.patient_root, "2.25.1001.1");
    assert_string_equal(in.patient_ext, "L-77");
    assert_int_equal(in.npatient_ids, 2);
    for (size_t i = 0; i < in.npatient_ids; i++) {
        int is_nat = strcmp(in.patient_ids[2 * i], ROOT) == 0;
        assert_int_equal(in.patient_national[i], is_nat);
        if (is_nat)
            assert_true(cdx_national_is_hashed(in.patient_ids[2 * i + 1]));
    }
    assert_non_null(in.match.demog);
    assert_true(in.match.nblocks > 0);
    assert_non_null(strstr(in.demog_summary, "\"Jones\""));
    assert_null(strstr(in.demog_summary, NUMBER));
    cdx_doc_record_t rec;
    cdx_ingest_record(&in, "2.25.1001", DOC, "k", &rec);
    assert_ptr_equal(rec.match, &in.match);
    assert_ptr_equal(rec.patient_national, in.patient_national);
    /* Re-normalizing (reindex) gives the same canonical form. */
    cdx_ingest_t again;
    assert_int_equal(cdx_ingest_renormalize(pl, DOC, strlen(DOC), "2.25.1001", &again), 0);
    assert_string_equal(again.normalized_sha256, in.normalized_sha256);
    cdx_ingest_cleanup(&again);
    cdx_ingest_cleanup(&in);
    /* A document with only a national id: its canonical id is the hash. */
    char *only = strdup(DOC);
    char *local = strstr(only, "<id root=\"2.25.1001.1\" extension=\"L-77\"/>");
    assert_non_null(local);
    size_t cut = strlen("<id root=\"2.25.1001.1\" extension=\"L-77\"/>");
    memmove(local, local + cut, strlen(local + cut) + 1);
    assert_null(strstr(only, "L-77"));
    assert_int_equal(cdx_ingest_run(pl, only, strlen(only), &sub, &in), 0);
    assert_string_equal(in.patient_root, ROOT);
    assert_true(cdx_national_is_hashed(in.patient_ext));
    assert_null(strstr(in.normalized, NUMBER));
    cdx_ingest_cleanup(&in);
    free(only);
    /* Without national roots the number stays (the test can fail). */
    cdx_pipeline_free(pl);
    opt.national = NULL;
    assert_int_equal(cdx_pipeline_new(&opt, &pl, err, sizeof err), 0);
    assert_int_equal(cdx_ingest_run(pl, DOC, strlen(DOC), &sub, &in), 0);
    assert_non_null(strstr(in.normalized, NUMBER));
    assert_non_null(in.match.demog);
    cdx_ingest_cleanup(&in);
    cdx_pipeline_free(pl);
    /* match_demographics = false: no match keys, so the store looks for
     * no candidates (the ids still link by the document's statement). */
    cdx_match_thresholds_t off = cdx_match_default_thresholds;
    off.off = 1;
    opt.match = &off;
    assert_int_equal(cdx_pipeline_new(&opt, &pl, err, sizeof err), 0);
    assert_int_equal(cdx_ingest_run(pl, DOC, strlen(DOC), &sub, &in), 0);
    assert_null(in.match.demog);
    assert_int_equal(in.match.nblocks, 0);
    assert_int_equal(in.npatient_ids, 2);
    cdx_ingest_cleanup(&in);
    cdx_pipeline_free(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_roots),
        cmocka_unit_test(test_hash_reference),
        cmocka_unit_test(test_stored_forms),
        cmocka_unit_test(test_scrub_tree),
        cmocka_unit_test(test_pipeline_scrubs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
