/* Unit tests of metadata and clinical fact extraction (parsers/extract.c):
 * hand-written CDA snippets for every fact kind and header field, HL7
 * timestamps, and a run over the shared corpus when it is present.  Only
 * counts are printed, never document content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test.h"
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libxml/parser.h>

#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/xml.h"

#define NS                                                                                         \
    " xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""            \
    " xmlns:sdtc=\"urn:hl7-org:sdtc\""

/* A minimal header around the given body sections. */
#define DOC_HEAD                                                                                   \
    "<ClinicalDocument" NS ">"                                                                     \
    "<realmCode code=\"US\"/>"                                                                     \
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"                         \
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" extension=\"2015-08-01\"/>"               \
    "<id root=\"2.25.77\" extension=\"D1\"/>"                                                      \
    "<code code=\"34133-9\" codeSystem=\"2.16.840.1.113883.6.1\"/>"                                \
    "<effectiveTime value=\"20240105\"/>"                                                          \
    "<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>"                      \
    "<recordTarget><patientRole><id root=\"2.25.1\" extension=\"P1\"/></patientRole>"              \
    "</recordTarget>"                                                                              \
    "<component><structuredBody>"
#define DOC_TAIL "</structuredBody></component></ClinicalDocument>"

static xmlDocPtr parse(const char *xml)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    int rc = cdx_xml_parse(xml, strlen(xml), &d, &doc);
    if (rc != 0)
        fail_msg("test document refused: %s %s", d.code, d.message);
    cdx_diag_cleanup(&d);
    return doc;
}

/* Parses and extracts xml; the caller cleans x and d up. */
static void extract(const char *xml, cdx_extract_t *x, cdx_diag_t *d)
{
    xmlDocPtr doc = parse(xml);
    cdx_diag_init(d);
    assert_int_equal(cdx_extract(doc, x, d), 0);
    /* Nothing may point into the document once it is gone. */
    xmlFreeDoc(doc);
}

static char *with_body(const char *sections)
{
    size_t n = strlen(DOC_HEAD) + strlen(sections) + strlen(DOC_TAIL) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s%s", DOC_HEAD, sections, DOC_TAIL);
    return s;
}

static size_t count_kind(const cdx_extract_t *x, cdx_fact_kind_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < x->nfacts; i++)
        n += x->facts[i].kind == k;
    return n;
}

static const cdx_fact_t *nth_fact(const cdx_extract_t *x, cdx_fact_kind_t k, size_t nth)
{
    for (size_t i = 0; i < x->nfacts; i++)
        if (x->facts[i].kind == k && nth-- == 0)
            return &x->facts[i];
    fail_msg("no fact %zu of kind %s", nth, cdx_fact_kind_name(k));
    return NULL;
}

static bool has_issue(const cdx_diag_t *d, const char *rule)
{
    for (size_t i = 0; i < d->nissues; i++)
        if (strcmp(d->issues[i].rule, rule) == 0)
            return true;
    return false;
}

/* The fact's extras parsed, for checks on kind-specific details. */
static json_t *extras(const cdx_fact_t *f)
{
    assert_non_null(f->extras);
    json_t *ex = json_loads(f->extras, 0, NULL);
    assert_non_null(ex);
    return ex;
}

static const char *jpath(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* ------------------------------------------------------------------ */

static void expect_ts(const char *in, const char *want, int want_prec)
{
    char iso[48];
    int prec = -1;
    int rc = cdx_ts_parse(in, iso, sizeof iso, &prec);
    const char *shown = in != NULL ? in : "(null)";
    if (want == NULL) {
        if (rc != CDX_EINVAL)
            fail_msg("'%s' accepted as %s", shown, iso);
        assert_string_equal(iso, "");
        assert_int_equal(prec, 0);
        return;
    }
    if (rc != 0)
        fail_msg("'%s' refused", shown);
    assert_string_equal(iso, want);
    assert_int_equal(prec, want_prec);
}

static void test_ts_parse(void **state)
{
    (void)state;
    expect_ts("2024", "2024", 4);
    expect_ts("202401", "2024-01", 6);
    expect_ts("20240105", "2024-01-05", 8);
    expect_ts("2024010509", "2024-01-05T09", 10);
    expect_ts("202401050930+0900", "2024-01-05T09:30+09:00", 12);
    expect_ts("20240105093000", "2024-01-05T09:30:00", 14);
    expect_ts("20240105093000.123-0500", "2024-01-05T09:30:00.123-05:00", 17);
    expect_ts("20240105+0900", "2024-01-05", 8); /* a date keeps no offset */
    expect_ts("20240229", "2024-02-29", 8);
    expect_ts("20161231235960", "2016-12-31T23:59:60", 14); /* leap second */
    expect_ts("20240105093000.123456789+1400", "2024-01-05T09:30:00.123456789+14:00", 23);

    expect_ts(NULL, NULL, 0);
    expect_ts("", NULL, 0);
    expect_ts("202", NULL, 0);
    expect_ts("2024010", NULL, 0);      /* odd digit count */
    expect_ts("20241305", NULL, 0);     /* month 13 */
    expect_ts("20230229", NULL, 0);     /* not a leap year */
    expect_ts("20240431", NULL, 0);     /* April 31 */
    expect_ts("2024010524", NULL, 0);   /* hour 24 */
    expect_ts("202401050960", NULL, 0); /* minute 60 */
    expect_ts("2024-01-05", NULL, 0);
    expect_ts("20240105T0930", NULL, 0);
    expect_ts("202401050930+09", NULL, 0);
    expect_ts("202401050930+0960", NULL, 0);
    expect_ts("202401050930Z", NULL, 0);
    expect_ts("20240105.5", NULL, 0); /* fraction without seconds */
    expect_ts("20240105093000.", NULL, 0);
    expect_ts("20240105093000.1234567890", NULL, 0);
    expect_ts("20240105 ", NULL, 0);
    expect_ts("000010105", NULL, 0);

    char small[8];
    int prec;
    assert_int_equal(cdx_ts_parse("20240105093000", small, sizeof small, &prec), CDX_ERANGE);
}

/* ------------------------------------------------------------------ */

static const char HEADER_DOC[] =
    "<ClinicalDocument" NS ">"
    "<realmCode code=\"KR\"/>"
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" extension=\"2015-08-01\"/>"
    "<templateId root=\"1.2.410.100110.40.2.1.1\"/>"
    "<id root=\"2.25.1234\" extension=\"DOC-2\"/>"
    "<code code=\"57133-1\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"Referral note\"/>"
    "<title>진료의뢰서</title>"
    "<effectiveTime value=\"20240105093000+0900\"/>"
    "<confidentialityCode code=\"R\" codeSystem=\"2.16.840.1.113883.5.25\"/>"
    "<languageCode code=\"ko-KR\"/>"
    "<setId root=\"2.25.1234\" extension=\"SET-1\"/>"
    "<versionNumber value=\"2\"/>"
    "<recordTarget><patientRole>"
    "<id root=\"2.25.99\" extension=\"12345\" assigningAuthorityName=\"한빛대학교병원\"/>"
    "<id root=\"1.2.410.200.1\" extension=\"MRN-7\"/>"
    "<addr><streetAddressLine>세종대로 110</streetAddressLine>"
    "<streetAddressLine>3층</streetAddressLine><city>서울</city><state>서울특별시</state>"
    "<postalCode>03080</postalCode><country>KR</country></addr>"
    "<telecom use=\"HP\" value=\"mailto:hong@example.org\"/>"
    "<telecom use=\"HP\" value=\"tel:+82-10-1234-5678\"/>"
    "<telecom use=\"WP\" value=\"tel:+82-2-000-0000\"/>"
    "<patient><name><family>홍</family><given>길동</given><given>민</given></name>"
    "<administrativeGenderCode code=\"M\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
    "<birthTime value=\"19800101\"/>"
    "<raceCode code=\"2028-9\" codeSystem=\"2.16.840.1.113883.6.238\" displayName=\"Asian\"/>"
    "<sdtc:raceCode code=\"2039-6\" codeSystem=\"2.16.840.1.113883.6.238\"/>"
    "<ethnicGroupCode code=\"2186-5\" codeSystem=\"2.16.840.1.113883.6.238\"/>"
    "</patient></patientRole></recordTarget>"
    "<author><time value=\"202401050900+0900\"/><assignedAuthor><id root=\"2.25.5\"/>"
    "<assignedAuthoringDevice><softwareName>EMR</softwareName></assignedAuthoringDevice>"
    "</assignedAuthor></author>"
    "<author><time value=\"202401050905+0900\"/><assignedAuthor><id root=\"2.25.6\"/>"
    "<representedOrganization><id root=\"1.2.410.100110.10\" extension=\"11100011\"/>"
    "<name>한빛대학교병원</name></representedOrganization></assignedAuthor></author>"
    "<custodian><assignedCustodian><representedCustodianOrganization>"
    "<id root=\"1.2.410.100110.10\" extension=\"11100011\"/><name>한빛대학교병원</name>"
    "</representedCustodianOrganization></assignedCustodian></custodian>"
    "<informationRecipient><intendedRecipient><informationRecipient><name><family>김</family>"
    "<given>의사</given></name></informationRecipient>"
    "<receivedOrganization><id root=\"1.2.410.100110.10\" extension=\"31200022\"/>"
    "<name>다솜가정의원</name></receivedOrganization></intendedRecipient></informationRecipient>"
    "<legalAuthenticator><time value=\"20240105100000+0900\"/><signatureCode code=\"S\"/>"
    "<assignedEntity><id root=\"2.25.6\"/></assignedEntity></legalAuthenticator>"
    "<documentationOf><serviceEvent classCode=\"PCPR\"><effectiveTime><low value=\"20231201\"/>"
    "<high value=\"20240104\"/></effectiveTime></serviceEvent></documentationOf>"
    "<relatedDocument typeCode=\"RPLC\"><parentDocument><id root=\"2.25.1234\" "
    "extension=\"DOC-1\"/><setId root=\"2.25.1234\" extension=\"SET-1\"/><versionNumber "
    "value=\"1\"/></parentDocument></relatedDocument>"
    "<relatedDocument typeCode=\"XFRM\"><parentDocument><id root=\"2.25.4321\"/>"
    "</parentDocument></relatedDocument>"
    "<component><structuredBody/></component></ClinicalDocument>";

static void test_meta(void **state)
{
    (void)state;
    cdx_extract_t x;
    cdx_diag_t d;
    extract(HEADER_DOC, &x, &d);
    const cdx_doc_meta_t *m = &x.meta;
    assert_string_equal(m->unique_id, "2.25.1234^DOC-2");
    assert_string_equal(m->id.root, "2.25.1234");
    assert_string_equal(m->set_id.extension, "SET-1");
    assert_int_equal(m->version_number, 2);
    assert_int_equal(m->nrelated, 2);
    assert_string_equal(m->related[0].type_code, "RPLC");
    assert_string_equal(m->replaces_id, "2.25.1234^DOC-1");
    assert_string_equal(m->related[1].type_code, "XFRM");
    assert_string_equal(m->related[1].id.root, "2.25.4321");
    assert_string_equal(m->type.code, "57133-1");
    assert_string_equal(m->type.system, "2.16.840.1.113883.6.1");
    assert_string_equal(m->type.display, "Referral note");
    assert_string_equal(m->title, "진료의뢰서");
    assert_string_equal(m->creation_time.raw, "20240105093000+0900");
    assert_string_equal(m->creation_time.iso, "2024-01-05T09:30:00+09:00");
    assert_int_equal(m->creation_time.precision, 14);
    assert_string_equal(m->service_start.iso, "2023-12-01");
    assert_string_equal(m->service_stop.iso, "2024-01-04");
    assert_string_equal(m->confidentiality.code, "R");
    assert_string_equal(m->language_code, "ko-KR");
    assert_string_equal(m->realm_code, "KR");
    assert_int_equal(m->ntemplate_ids, 2);
    assert_string_equal(m->template_ids[0].extension, "2015-08-01");
    assert_string_equal(m->template_ids[1].root, "1.2.410.100110.40.2.1.1");
    /* The device author names no organization; the second author does. */
    assert_string_equal(m->author_institution_id.root, "1.2.410.100110.10");
    assert_string_equal(m->author_institution_id.extension, "11100011");
    assert_string_equal(m->author_institution_name, "한빛대학교병원");
    assert_string_equal(m->author_time.iso, "2024-01-05T09:00+09:00");
    assert_string_equal(m->custodian_id.extension, "11100011");
    assert_string_equal(m->custodian_name, "한빛대학교병원");
    assert_int_equal(m->npatient_ids, 2);
    assert_string_equal(m->patient_ids[0].root, "2.25.99");
    assert_string_equal(m->patient_ids[0].extension, "12345");
    assert_string_equal(m->patient_ids[0].authority, "한빛대학교병원");
    assert_string_equal(m->patient_ids[1].extension, "MRN-7");
    assert_string_equal(m->patient_family, "홍");
    assert_int_equal(m->npatient_given, 2);
    assert_string_equal(m->patient_given[0], "길동");
    assert_string_equal(m->patient_given[1], "민");
    assert_string_equal(m->patient_name, "홍 길동 민");
    assert_string_equal(m->patient_birth_time.iso, "1980-01-01");
    assert_string_equal(m->patient_gender.code, "M");
    assert_string_equal(m->patient_street, "세종대로 110");
    assert_string_equal(m->patient_phone, "tel:+82-10-1234-5678");
    assert_string_equal(m->patient_city, "서울");
    assert_string_equal(m->patient_state, "서울특별시");
    assert_string_equal(m->patient_postal_code, "03080");
    assert_string_equal(m->patient_country, "KR");
    assert_int_equal(m->npatient_race, 2);
    assert_string_equal(m->patient_race[0].display, "Asian");
    assert_string_equal(m->patient_race[1].code, "2039-6");
    assert_int_equal(m->npatient_ethnicity, 1);
    assert_string_equal(m->patient_ethnicity[0].code, "2186-5");
    assert_int_equal(m->nrecipients, 1);
    assert_string_equal(m->recipients[0].person_name, "김 의사");
    assert_string_equal(m->recipients[0].org_id.extension, "31200022");
    assert_string_equal(m->recipients[0].org_name, "다솜가정의원");
    assert_string_equal(m->legal_authenticator_time.iso, "2024-01-05T10:00:00+09:00");
    assert_int_equal(x.nfacts, 0);
    assert_int_equal(d.nissues, 0);

    /* The caller's fields travel into the JSON document entry. */
    x.meta.size = 4321;
    x.meta.hash = strdup("ab12");
    json_t *j = cdx_extract_meta_json(&x.meta);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "uniqueId")), "2.25.1234^DOC-2");
    assert_string_equal(json_string_value(json_object_get(j, "replaces")), "2.25.1234^DOC-1");
    assert_int_equal(json_integer_value(json_object_get(j, "versionNumber")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 4321);
    assert_string_equal(json_string_value(json_object_get(j, "hash")), "ab12");
    assert_string_equal(jpath(j, "creationTime", "iso"), "2024-01-05T09:30:00+09:00");
    assert_string_equal(jpath(json_object_get(j, "patient"), "address", "city"), "서울");
    assert_string_equal(jpath(json_object_get(j, "patient"), "address", "streetAddressLine"),
                        "세종대로 110");
    assert_string_equal(jpath(json_object_get(j, "patient"), "telecom", NULL),
                        "tel:+82-10-1234-5678");
    assert_int_equal(json_array_size(json_object_get(j, "patientIds")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "relatedDocuments")), 2);
    json_decref(j);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
}

static void test_meta_defaults_and_warnings(void **state)
{
    (void)state;
    static const char doc[] = "<ClinicalDocument" NS "><effectiveTime value=\"2024-01-05\"/>"
                              "<versionNumber value=\"two\"/>"
                              "<setId root=\"2.25.9\"/></ClinicalDocument>";
    cdx_extract_t x;
    cdx_diag_t d;
    extract(doc, &x, &d);
    assert_null(x.meta.unique_id);
    assert_null(x.meta.title);
    assert_null(x.meta.replaces_id);
    assert_null(x.meta.patient_street);
    assert_null(x.meta.patient_phone);
    assert_int_equal(x.meta.version_number, 1);
    assert_string_equal(x.meta.set_id.root, "2.25.9");
    assert_null(x.meta.set_id.extension);
    assert_string_equal(x.meta.creation_time.raw, "2024-01-05");
    assert_null(x.meta.creation_time.iso);
    assert_true(has_issue(&d, "EXTRACT-ID"));
    assert_true(has_issue(&d, "EXTRACT-TS"));
    assert_true(has_issue(&d, "EXTRACT-VERSION"));
    assert_int_equal(d.nerrors, 0);
    json_t *facts = cdx_extract_facts_json(&x);
    for (int k = 0; k < CDX_FACT_KINDS; k++) {
        json_t *a = json_object_get(facts, cdx_fact_kind_name((cdx_fact_kind_t)k));
        assert_true(json_is_array(a));
        assert_int_equal(json_array_size(a), 0);
    }
    assert_int_equal(json_object_size(facts), CDX_FACT_KINDS);
    json_decref(facts);
    cdx_extract_cleanup(&x);
    cdx_extract_cleanup(&x); /* twice is harmless */
    cdx_diag_cleanup(&d);
}

static void test_bad_input(void **state)
{
    (void)state;
    cdx_extract_t x;
    cdx_diag_t d;
    cdx_diag_init(&d);
    assert_int_equal(cdx_extract(NULL, &x, &d), CDX_EINVAL);
    xmlDocPtr doc = parse("<html><body/></html>");
    assert_int_equal(cdx_extract(doc, &x, &d), CDX_EINVAL);
    assert_int_equal(x.nfacts, 0);
    assert_null(x.facts);
    xmlFreeDoc(doc);
    assert_string_equal(cdx_fact_kind_name(CDX_FACT_VITAL_SIGN), "vital_signs");
    assert_string_equal(cdx_fact_kind_name(CDX_FACT_KINDS), "unknown");
    cdx_diag_cleanup(&d);
}

/* ------------------------------------------------------------------ */

static const char PROBLEMS[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.5.1\" extension=\"2015-08-01\"/>"
    "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<text><list><item><content ID=\"p1\">Essential   hypertension</content></item>"
    "<item><content ID=\"p2\">Seasonal <b>allergic</b> rhinitis</content></item></list></text>"
    /* 1: concern act, coded diagnosis with a KCD translation, status observation. */
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.3\"/><code code=\"CONC\"/>"
    "<statusCode code=\"active\"/><effectiveTime><low value=\"20200101\"/></effectiveTime>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.4\"/>"
    "<code code=\"282291009\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Diagnosis\"/>"
    "<statusCode code=\"completed\"/>"
    "<effectiveTime><low value=\"20200101\"/><high value=\"20231231\"/></effectiveTime>"
    "<value xsi:type=\"CD\" code=\"I10\" codeSystem=\"2.16.840.1.113883.6.3\""
    " displayName=\"Essential (primary) hypertension\">"
    "<originalText><reference value=\"#p1\"/></originalText>"
    "<translation code=\"I10\" codeSystem=\"1.2.410.100110.40.2.3.2\" displayName=\"본태성 "
    "고혈압\"/>"
    "</value>"
    "<entryRelationship typeCode=\"REFR\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.6\"/><code code=\"33999-4\"/>"
    "<value xsi:type=\"CD\" code=\"413322009\" displayName=\"Resolved\"/></observation>"
    "</entryRelationship></observation></entryRelationship></act></entry>"
    /* 2: no code at all, only the narrative; a second observation in the same concern. */
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><code code=\"CONC\"/>"
    "<statusCode code=\"completed\"/>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"409586006\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Complaint\"/>"
    "<value xsi:type=\"CD\" nullFlavor=\"OTH\"><originalText><reference value=\"#p2\"/>"
    "</originalText></value></observation></entryRelationship>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\""
    " negationInd=\"true\"><code code=\"55607006\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "<value xsi:type=\"CD\" code=\"195967001\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "</observation></entryRelationship></act></entry>"
    /* 3: an entry with nothing to read. */
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><code code=\"CONC\"/></act></entry>"
    "</section></component>";

static void test_problems(void **state)
{
    (void)state;
    char *xml = with_body(PROBLEMS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_PROBLEM), 3);
    assert_int_equal(x.nfacts, 3);

    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_PROBLEM, 0);
    assert_int_equal(f->section, CDX_FACT_PROBLEM);
    assert_string_equal(f->section_code, "11450-4");
    assert_string_equal(f->code, "I10");
    assert_string_equal(f->code_system, "2.16.840.1.113883.6.3");
    assert_string_equal(f->display_name, "Essential (primary) hypertension");
    assert_string_equal(f->original_text, "Essential hypertension");
    assert_string_equal(f->time_low, "20200101");
    assert_string_equal(f->time_high, "20231231");
    assert_string_equal(f->status, "Resolved");
    assert_false(f->negated);
    assert_string_equal(f->location, "/ClinicalDocument/component/structuredBody/component/section"
                                     "/entry[1]/act/entryRelationship[1]/observation");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "problemType", "displayName"), "Diagnosis");
    assert_string_equal(jpath(ex, "onset", NULL), "20200101");
    assert_string_equal(jpath(ex, "resolution", NULL), "20231231");
    assert_string_equal(jpath(ex, "concernStatus", NULL), "active");
    json_t *tr = json_array_get(json_object_get(ex, "translations"), 0);
    assert_string_equal(jpath(tr, "codeSystem", NULL), "1.2.410.100110.40.2.3.2");
    assert_string_equal(jpath(tr, "displayName", NULL), "본태성 고혈압");
    json_decref(ex);

    f = nth_fact(&x, CDX_FACT_PROBLEM, 1);
    assert_null(f->code);
    assert_string_equal(f->null_flavor, "OTH");
    assert_string_equal(f->display_name, "Seasonal allergic rhinitis");
    assert_string_equal(f->status, "completed"); /* the concern's */
    ex = extras(f);
    assert_string_equal(jpath(ex, "problemType", "code"), "409586006");
    json_decref(ex);

    f = nth_fact(&x, CDX_FACT_PROBLEM, 2);
    assert_string_equal(f->code, "195967001");
    assert_true(f->negated);
    assert_string_equal(f->location, "/ClinicalDocument/component/structuredBody/component/section"
                                     "/entry[2]/act/entryRelationship[2]/observation");

    assert_true(has_issue(&d, "EXTRACT-ENTRY"));
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char MEDICATIONS[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.1.1\"/>"
    "<code code=\"10160-0\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<text><content ID=\"m1\">Lisinopril 10 mg tablet</content></text>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"INT\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.16\"/>"
    "<text><reference value=\"#m1\"/></text><statusCode code=\"active\"/>"
    "<effectiveTime xsi:type=\"IVL_TS\"><low value=\"20231201\"/><high nullFlavor=\"UNK\"/>"
    "</effectiveTime>"
    "<effectiveTime xsi:type=\"PIVL_TS\" institutionSpecified=\"true\" operator=\"A\">"
    "<period value=\"12\" unit=\"h\"/></effectiveTime>"
    "<routeCode code=\"C38288\" codeSystem=\"2.16.840.1.113883.3.26.1.1\" displayName=\"ORAL\"/>"
    "<doseQuantity value=\"1\" unit=\"{tbl}\"/>"
    "<consumable><manufacturedProduct><manufacturedMaterial>"
    "<code code=\"314076\" codeSystem=\"2.16.840.1.113883.6.88\">"
    "<originalText><reference value=\"#m1\"/></originalText>"
    "<translation code=\"641100010\" codeSystem=\"1.2.410.100110.40.2.3.4\" "
    "displayName=\"제스트릴정\"/>"
    "</code></manufacturedMaterial></manufacturedProduct></consumable>"
    "<entryRelationship typeCode=\"RSON\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"282291009\"/><value xsi:type=\"CD\" code=\"38341003\""
    " codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Hypertension\"/></observation>"
    "</entryRelationship></substanceAdministration></entry>"
    /* No code: the material's name is what there is. */
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"EVN\">"
    "<effectiveTime value=\"20240101\"/><consumable><manufacturedProduct>"
    "<manufacturedMaterial><code nullFlavor=\"UNK\"/><name>Herbal   tea</name>"
    "</manufacturedMaterial></manufacturedProduct></consumable>"
    "</substanceAdministration></entry>"
    "</section></component>"
    /* Discharge medications by LOINC code alone. */
    "<component><section><code code=\"10183-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"INT\">"
    "<consumable><manufacturedProduct><manufacturedMaterial>"
    "<code code=\"197361\" codeSystem=\"2.16.840.1.113883.6.88\" displayName=\"Amlodipine\"/>"
    "</manufacturedMaterial></manufacturedProduct></consumable>"
    "</substanceAdministration></entry></section></component>";

static void test_medications(void **state)
{
    (void)state;
    char *xml = with_body(MEDICATIONS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_MEDICATION), 3);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_MEDICATION, 0);
    assert_string_equal(f->code, "314076");
    assert_string_equal(f->code_system, "2.16.840.1.113883.6.88");
    assert_string_equal(f->display_name, "Lisinopril 10 mg tablet");
    assert_string_equal(f->time_low, "20231201");
    assert_null(f->time_high);
    assert_string_equal(f->status, "active");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "dose", "value"), "1");
    assert_string_equal(jpath(ex, "dose", "unit"), "{tbl}");
    assert_string_equal(jpath(ex, "route", "displayName"), "ORAL");
    assert_string_equal(jpath(ex, "frequency", "period"), "12");
    assert_string_equal(jpath(ex, "frequency", "unit"), "h");
    assert_string_equal(jpath(ex, "moodCode", NULL), "INT");
    json_t *tr = json_array_get(json_object_get(ex, "translations"), 0);
    assert_string_equal(jpath(tr, "code", NULL), "641100010");
    assert_string_equal(jpath(tr, "displayName", NULL), "제스트릴정");
    assert_string_equal(jpath(json_array_get(json_object_get(ex, "indications"), 0), "code", NULL),
                        "38341003");
    json_decref(ex);

    f = nth_fact(&x, CDX_FACT_MEDICATION, 1);
    assert_null(f->code);
    assert_string_equal(f->null_flavor, "UNK");
    assert_string_equal(f->display_name, "Herbal tea");
    assert_string_equal(f->time_low, "20240101");

    f = nth_fact(&x, CDX_FACT_MEDICATION, 2);
    assert_string_equal(f->section_code, "10183-2");
    assert_string_equal(f->display_name, "Amlodipine");
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char ALLERGIES[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.6.1\" extension=\"2015-08-01\"/>"
    "<code code=\"48765-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<text><content ID=\"r1\">Hives</content></text>"
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.30\"/><statusCode code=\"active\"/>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.7\"/><code code=\"ASSERTION\"/>"
    "<statusCode code=\"completed\"/><effectiveTime><low value=\"2015\"/></effectiveTime>"
    "<value xsi:type=\"CD\" code=\"416098002\" codeSystem=\"2.16.840.1.113883.6.96\""
    " displayName=\"Drug allergy\"/>"
    "<participant typeCode=\"CSM\"><participantRole classCode=\"MANU\"><playingEntity>"
    "<code code=\"7980\" codeSystem=\"2.16.840.1.113883.6.88\" displayName=\"Penicillin G\"/>"
    "<name>페니실린</name></playingEntity></participantRole></participant>"
    "<entryRelationship typeCode=\"MFST\" inversionInd=\"true\"><observation classCode=\"OBS\""
    " moodCode=\"EVN\"><templateId root=\"2.16.840.1.113883.10.20.22.4.9\"/>"
    "<value xsi:type=\"CD\" code=\"247472004\" codeSystem=\"2.16.840.1.113883.6.96\">"
    "<originalText><reference value=\"#r1\"/></originalText></value>"
    "<entryRelationship typeCode=\"SUBJ\" inversionInd=\"true\"><observation classCode=\"OBS\""
    " moodCode=\"EVN\"><templateId root=\"2.16.840.1.113883.10.20.22.4.8\"/><code code=\"SEV\"/>"
    "<value xsi:type=\"CD\" code=\"6736007\" displayName=\"Moderate\"/></observation>"
    "</entryRelationship></observation></entryRelationship>"
    "<entryRelationship typeCode=\"SUBJ\" inversionInd=\"true\"><observation classCode=\"OBS\""
    " moodCode=\"EVN\"><templateId root=\"2.16.840.1.113883.10.20.22.4.8\"/><code code=\"SEV\"/>"
    "<value xsi:type=\"CD\" code=\"24484000\" displayName=\"Severe\"/></observation>"
    "</entryRelationship>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.28\"/><code code=\"33999-4\"/>"
    "<value xsi:type=\"CE\" code=\"55561003\" displayName=\"Active\"/></observation>"
    "</entryRelationship></observation></entryRelationship></act></entry>"
    /* No known allergies. */
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><statusCode code=\"active\"/>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\""
    " negationInd=\"true\"><code code=\"ASSERTION\"/>"
    "<value xsi:type=\"CD\" code=\"419199007\" displayName=\"Allergy to substance\"/>"
    "<participant typeCode=\"CSM\"><participantRole><playingEntity>"
    "<code nullFlavor=\"NA\"/></playingEntity></participantRole></participant>"
    "</observation></entryRelationship></act></entry>"
    "</section></component>";

static void test_allergies(void **state)
{
    (void)state;
    char *xml = with_body(ALLERGIES);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_ALLERGY), 2);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_ALLERGY, 0);
    assert_string_equal(f->code, "7980");
    assert_string_equal(f->display_name, "Penicillin G");
    assert_string_equal(f->value, "Drug allergy");
    assert_string_equal(f->value_type, "CD");
    assert_string_equal(f->status, "Active");
    assert_string_equal(f->time_low, "2015");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "substance", "code"), "7980");
    assert_string_equal(jpath(ex, "substance", "name"), "페니실린");
    assert_string_equal(jpath(ex, "type", "code"), "416098002");
    assert_string_equal(jpath(ex, "severity", "displayName"), "Severe");
    json_t *r = json_array_get(json_object_get(ex, "reactions"), 0);
    assert_string_equal(jpath(r, "code", NULL), "247472004");
    assert_string_equal(jpath(r, "originalText", NULL), "Hives");
    assert_string_equal(jpath(r, "severity", "displayName"), "Moderate");
    json_decref(ex);

    f = nth_fact(&x, CDX_FACT_ALLERGY, 1);
    assert_true(f->negated);
    assert_null(f->code);
    assert_string_equal(f->null_flavor, "NA");
    assert_string_equal(f->status, "active");
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char RESULTS[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.3.1\" extension=\"2015-08-01\"/>"
    "<code code=\"30954-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><organizer classCode=\"BATTERY\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.1\"/>"
    "<code code=\"24323-8\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"CMP\"/>"
    "<statusCode code=\"completed\"/><effectiveTime value=\"20240104\"/>"
    "<specimen><specimenRole><specimenPlayingEntity><code code=\"119297000\""
    " displayName=\"Blood\"/></specimenPlayingEntity></specimenRole></specimen>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"2345-7\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"Glucose\">"
    "<translation code=\"C3811\" codeSystem=\"1.2.410.100110.40.2.3.3\" displayName=\"혈당\"/>"
    "</code><statusCode code=\"completed\"/><effectiveTime value=\"202401040800+0900\"/>"
    "<value xsi:type=\"PQ\" value=\"182\" unit=\"mg/dL\"/>"
    "<interpretationCode code=\"H\" codeSystem=\"2.16.840.1.113883.5.83\"/>"
    "<referenceRange><observationRange><value xsi:type=\"IVL_PQ\"><low value=\"70\""
    " unit=\"mg/dL\"/><high value=\"99\" unit=\"mg/dL\"/></value></observationRange>"
    "</referenceRange></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"5778-6\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"Urine color\"/>"
    "<value xsi:type=\"CO\" code=\"Y\" codeSystem=\"2.25.3\" displayName=\"Yellow\"/>"
    "<referenceRange><observationRange><text>yellow</text></observationRange>"
    "</referenceRange></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"8251-1\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<value xsi:type=\"ST\">  trace   amounts </value></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"X1\"/>"
    "<value xsi:type=\"INT\" value=\"3\"/></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"X2\"/>"
    "<value xsi:type=\"REAL\" value=\"1.025\"/></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"X3\"/>"
    "<value xsi:type=\"BL\" value=\"true\"/></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"X4\"/>"
    "<value xsi:type=\"IVL_PQ\"><low value=\"5\" unit=\"/[HPF]\"/><high value=\"10\""
    " unit=\"/[HPF]\"/></value></observation></component>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"X5\"/>"
    "<value xsi:type=\"PQ\" nullFlavor=\"NI\"/></observation></component>"
    "</organizer></entry>"
    /* An observation straight in the entry, value without xsi:type. */
    "<entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"718-7\"/>"
    "<value value=\"13.2\" unit=\"g/dL\"/></observation></entry>"
    "</section></component>";

static void test_results(void **state)
{
    (void)state;
    char *xml = with_body(RESULTS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_RESULT), 9);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_RESULT, 0);
    assert_string_equal(f->code, "2345-7");
    assert_string_equal(f->display_name, "Glucose");
    assert_string_equal(f->value_type, "PQ");
    assert_string_equal(f->value, "182 mg/dL");
    assert_true(f->has_number);
    assert_true(f->number == 182.0);
    assert_string_equal(f->unit, "mg/dL");
    assert_string_equal(f->ref_low, "70");
    assert_string_equal(f->ref_high, "99");
    assert_string_equal(f->interpretation, "H");
    assert_string_equal(f->time_low, "202401040800+0900");
    assert_string_equal(f->location,
                        "/ClinicalDocument/component/structuredBody/component/section/entry[1]"
                        "/organizer/component[1]/observation");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "panel", "code"), "24323-8");
    assert_string_equal(jpath(ex, "panel", "displayName"), "CMP");
    assert_string_equal(jpath(ex, "specimen", "displayName"), "Blood");
    assert_string_equal(jpath(json_array_get(json_object_get(ex, "translations"), 0), "code", NULL),
                        "C3811");
    json_decref(ex);

    f = nth_fact(&x, CDX_FACT_RESULT, 1);
    assert_string_equal(f->value_type, "CO");
    assert_string_equal(f->value, "Yellow");
    assert_false(f->has_number);
    assert_string_equal(f->ref_text, "yellow");
    assert_string_equal(f->time_low, "20240104"); /* the organizer's */
    f = nth_fact(&x, CDX_FACT_RESULT, 2);
    assert_string_equal(f->value, "trace amounts");
    f = nth_fact(&x, CDX_FACT_RESULT, 3);
    assert_true(f->has_number && f->number == 3.0);
    f = nth_fact(&x, CDX_FACT_RESULT, 4);
    assert_true(f->has_number && f->number == 1.025);
    f = nth_fact(&x, CDX_FACT_RESULT, 5);
    assert_string_equal(f->value, "true");
    f = nth_fact(&x, CDX_FACT_RESULT, 6);
    assert_string_equal(f->value, "5-10 /[HPF]");
    assert_false(f->has_number);
    f = nth_fact(&x, CDX_FACT_RESULT, 7);
    assert_null(f->value);
    ex = extras(f);
    assert_string_equal(jpath(ex, "valueNullFlavor", NULL), "NI");
    json_decref(ex);
    f = nth_fact(&x, CDX_FACT_RESULT, 8);
    assert_string_equal(f->value_type, "PQ");
    assert_true(f->has_number && f->number == 13.2);
    ex = extras(f);
    assert_null(json_object_get(ex, "panel"));
    json_decref(ex);

    json_t *facts = cdx_extract_facts_json(&x);
    json_t *res = json_object_get(facts, "results");
    assert_int_equal(json_array_size(res), 9);
    json_t *first = json_array_get(res, 0);
    assert_true(json_real_value(json_object_get(first, "number")) == 182.0);
    assert_string_equal(jpath(first, "referenceRange", "low"), "70");
    assert_string_equal(jpath(json_object_get(first, "extras"), "panel", "code"), "24323-8");
    json_decref(facts);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

/* Vital signs found by LOINC code alone, inside a nested section. */
static const char VITALS[] =
    "<component><section><code code=\"X-PARENT\"/><title>Exam</title>"
    "<component><section><code code=\"8716-3\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><organizer classCode=\"CLUSTER\" moodCode=\"EVN\">"
    "<code code=\"46680005\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "<effectiveTime value=\"20240105\"/>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"8480-6\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"수축기 혈압\"/>"
    "<value xsi:type=\"PQ\" value=\"132\" unit=\"mm[Hg]\"/></observation></component>"
    "<component><sequenceNumber value=\"2\"/><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"8462-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<value xsi:type=\"PQ\" value=\"86\" unit=\"mm[Hg]\"/></observation></component>"
    "</organizer></entry>"
    "<component><section><title>Subsection without identity</title>"
    "<entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"8310-5\"/>"
    "<value xsi:type=\"PQ\" value=\"36.6\" unit=\"Cel\"/></observation></entry>"
    "</section></component>"
    "</section></component></section></component>";

static void test_vital_signs(void **state)
{
    (void)state;
    char *xml = with_body(VITALS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_VITAL_SIGN), 3);
    assert_int_equal(x.nfacts, 3);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_VITAL_SIGN, 0);
    assert_int_equal(f->section, CDX_FACT_VITAL_SIGN);
    assert_string_equal(f->display_name, "수축기 혈압");
    assert_true(f->has_number && f->number == 132.0);
    f = nth_fact(&x, CDX_FACT_VITAL_SIGN, 1);
    assert_string_equal(f->code, "8462-4");
    assert_non_null(strstr(f->location, "/organizer/component[2]/observation"));
    f = nth_fact(&x, CDX_FACT_VITAL_SIGN, 2);
    assert_string_equal(f->unit, "Cel");
    assert_null(f->section_code);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char PROCEDURES[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.7.1\"/>"
    "<code code=\"47519-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><procedure classCode=\"PROC\" moodCode=\"EVN\">"
    "<code code=\"80146002\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Appendectomy\"/>"
    "<statusCode code=\"completed\"/><effectiveTime value=\"20230301\"/>"
    "<targetSiteCode code=\"66754008\" displayName=\"Appendix\"/>"
    "<performer><assignedEntity><representedOrganization><name>한빛대학교병원</name>"
    "</representedOrganization></assignedEntity></performer></procedure></entry>"
    "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"274025005\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Colonoscopy\"/>"
    "<value xsi:type=\"CD\" code=\"X\" displayName=\"Normal\"/></observation></entry>"
    "<entry><act classCode=\"ACT\" moodCode=\"INT\">"
    "<code code=\"E6541\" codeSystem=\"1.2.410.100110.40.2.3.3\" displayName=\"물리치료\"/>"
    "</act></entry>"
    "</section></component>";

static void test_procedures(void **state)
{
    (void)state;
    char *xml = with_body(PROCEDURES);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_PROCEDURE), 3);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_PROCEDURE, 0);
    assert_string_equal(f->display_name, "Appendectomy");
    assert_string_equal(f->time_low, "20230301");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "statement", NULL), "procedure");
    assert_string_equal(jpath(ex, "targetSite", "displayName"), "Appendix");
    assert_string_equal(jpath(ex, "performer", NULL), "한빛대학교병원");
    json_decref(ex);
    f = nth_fact(&x, CDX_FACT_PROCEDURE, 1);
    assert_string_equal(f->value, "Normal");
    f = nth_fact(&x, CDX_FACT_PROCEDURE, 2);
    assert_string_equal(f->code_system, "1.2.410.100110.40.2.3.3");
    assert_string_equal(f->display_name, "물리치료");
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char IMMUNIZATIONS[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.2.1\" extension=\"2015-08-01\"/>"
    "<code code=\"11369-6\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"EVN\" negationInd=\"false\">"
    "<statusCode code=\"completed\"/><effectiveTime value=\"20231015\"/>"
    "<doseQuantity value=\"0.5\" unit=\"mL\"/>"
    "<consumable><manufacturedProduct><manufacturedMaterial>"
    "<code code=\"158\" codeSystem=\"2.16.840.1.113883.12.292\" displayName=\"influenza\"/>"
    "<lotNumberText>AB123</lotNumberText></manufacturedMaterial>"
    "<manufacturerOrganization><name>Vaccines Inc</name></manufacturerOrganization>"
    "</manufacturedProduct></consumable></substanceAdministration></entry>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"EVN\" negationInd=\"true\">"
    "<consumable><manufacturedProduct><manufacturedMaterial>"
    "<code code=\"88\" codeSystem=\"2.16.840.1.113883.12.292\"/></manufacturedMaterial>"
    "</manufacturedProduct></consumable>"
    "<entryRelationship typeCode=\"RSON\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.22.4.53\"/><code code=\"PATOBJ\""
    " codeSystem=\"2.16.840.1.113883.5.8\"/></observation></entryRelationship>"
    "</substanceAdministration></entry>"
    "</section></component>";

static void test_immunizations(void **state)
{
    (void)state;
    char *xml = with_body(IMMUNIZATIONS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_IMMUNIZATION), 2);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_IMMUNIZATION, 0);
    assert_string_equal(f->code, "158");
    assert_string_equal(f->code_system, "2.16.840.1.113883.12.292");
    assert_false(f->negated);
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "lot", NULL), "AB123");
    assert_string_equal(jpath(ex, "manufacturer", NULL), "Vaccines Inc");
    assert_string_equal(jpath(ex, "dose", "unit"), "mL");
    assert_true(json_is_false(json_object_get(ex, "refused")));
    json_decref(ex);
    f = nth_fact(&x, CDX_FACT_IMMUNIZATION, 1);
    assert_true(f->negated);
    ex = extras(f);
    assert_true(json_is_true(json_object_get(ex, "refused")));
    assert_string_equal(jpath(ex, "refusalReason", "code"), "PATOBJ");
    json_decref(ex);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

static const char ENCOUNTERS[] =
    "<component><section>"
    "<templateId root=\"2.16.840.1.113883.10.20.22.2.22.1\"/>"
    "<code code=\"46240-8\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<text><content ID=\"e1\">Office visit</content></text>"
    "<entry><encounter classCode=\"ENC\" moodCode=\"EVN\">"
    "<code code=\"99213\" codeSystem=\"2.16.840.1.113883.6.12\">"
    "<originalText><reference value=\"#e1\"/></originalText></code>"
    "<effectiveTime><low value=\"20240105090000+0900\"/><high value=\"20240105093000+0900\"/>"
    "</effectiveTime>"
    "<participant typeCode=\"LOC\"><participantRole classCode=\"SDLOC\">"
    "<code code=\"1160-1\" displayName=\"Urgent Care Center\"/>"
    "<addr><city>부산</city></addr><playingEntity><name>다솜가정의원</name></playingEntity>"
    "</participantRole></participant>"
    "<entryRelationship typeCode=\"COMP\"><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<code code=\"29308-4\"/><entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\""
    " moodCode=\"EVN\"><code code=\"282291009\"/><value xsi:type=\"CD\" code=\"J06.9\""
    " codeSystem=\"2.16.840.1.113883.6.3\"/></observation></entryRelationship></act>"
    "</entryRelationship></encounter></entry>"
    "</section></component>";

static void test_encounters(void **state)
{
    (void)state;
    char *xml = with_body(ENCOUNTERS);
    cdx_extract_t x;
    cdx_diag_t d;
    extract(xml, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_ENCOUNTER), 1);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_ENCOUNTER, 0);
    assert_string_equal(f->code, "99213");
    assert_string_equal(f->display_name, "Office visit");
    assert_string_equal(f->time_low, "20240105090000+0900");
    assert_string_equal(f->time_high, "20240105093000+0900");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "type", "code"), "99213");
    json_t *loc = json_array_get(json_object_get(ex, "locations"), 0);
    assert_string_equal(jpath(loc, "name", NULL), "다솜가정의원");
    assert_string_equal(jpath(loc, "address", NULL), "부산");
    assert_string_equal(jpath(loc, "displayName", NULL), "Urgent Care Center");
    assert_string_equal(jpath(json_array_get(json_object_get(ex, "diagnoses"), 0), "code", NULL),
                        "J06.9");
    json_decref(ex);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
    free(xml);
}

/* A K-CDA style referral: sections known by LOINC code only, KCD
 * diagnoses, EDI lab codes, Korean narrative, a name without parts. */
static const char KCDA[] =
    "<ClinicalDocument" NS ">"
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
    "<templateId root=\"1.2.410.100110.40.2.1.1\"/>"
    "<id root=\"1.2.410.100110.10.11100011.1\" extension=\"R-20240105-0001\"/>"
    "<code code=\"57133-1\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"진료의뢰서\"/>"
    "<title>진료의뢰서</title><effectiveTime value=\"20240105093000\"/>"
    "<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>"
    "<languageCode code=\"ko-KR\"/>"
    "<recordTarget><patientRole><id root=\"1.2.410.100110.10.11100011.100\" extension=\"00123\"/>"
    "<patient><name>홍길동</name><administrativeGenderCode code=\"F\"/>"
    "<birthTime value=\"19750315\"/></patient></patientRole></recordTarget>"
    "<component><structuredBody>"
    "<component><section><code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<title>진단명</title><text><table><tbody><tr><td ID=\"dx1\">제2형 당뇨병</td></tr>"
    "</tbody></table></text>"
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><code nullFlavor=\"NA\"/>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"282291009\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "<text><reference value=\"#dx1\"/></text>"
    "<value xsi:type=\"CD\" code=\"E11.9\" codeSystem=\"1.2.410.100110.40.2.3.2\""
    " codeSystemName=\"KCD-8\"/></observation></entryRelationship></act></entry>"
    "</section></component>"
    /* K-CDA's diagnosis section: the KCD code is the observation's code. */
    "<component><section><code code=\"29548-5\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<title>진단</title><entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"I10\" codeSystem=\"1.2.410.100110.40.2.3.2\" displayName=\"본태성(원발성) "
    "고혈압\"/>"
    "<statusCode code=\"active\"/><effectiveTime><low value=\"20170820\"/></effectiveTime>"
    "</observation></entry></section></component>"
    "<component><section><code code=\"30954-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<title>검사결과</title>"
    "<entry><organizer classCode=\"BATTERY\" moodCode=\"EVN\"><code nullFlavor=\"UNK\"/>"
    "<component><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"C3850\" codeSystem=\"1.2.410.100110.40.2.3.3\" displayName=\"당화혈색소\"/>"
    "<effectiveTime value=\"20240103\"/>"
    "<value xsi:type=\"PQ\" value=\"7.2\" unit=\"%\"/>"
    "<referenceRange><observationRange><text>4.0~6.0</text></observationRange>"
    "</referenceRange></observation></component></organizer></entry>"
    "</section></component>"
    "<component><section><code code=\"10160-0\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"INT\">"
    "<doseQuantity value=\"500\" unit=\"mg\"/><consumable><manufacturedProduct>"
    "<manufacturedMaterial><code code=\"A10BA02\" codeSystem=\"2.16.840.1.113883.6.73\""
    " displayName=\"metformin\"><translation code=\"643503250\""
    " codeSystem=\"1.2.410.100110.40.2.3.4\" displayName=\"다이아벡스정500밀리그램\"/></code>"
    "</manufacturedMaterial></manufacturedProduct></consumable></substanceAdministration>"
    "</entry></section></component>"
    "</structuredBody></component></ClinicalDocument>";

static void test_kcda(void **state)
{
    (void)state;
    cdx_extract_t x;
    cdx_diag_t d;
    extract(KCDA, &x, &d);
    assert_string_equal(x.meta.unique_id, "1.2.410.100110.10.11100011.1^R-20240105-0001");
    assert_string_equal(x.meta.title, "진료의뢰서");
    assert_string_equal(x.meta.type.display, "진료의뢰서");
    assert_string_equal(x.meta.creation_time.iso, "2024-01-05T09:30:00");
    assert_string_equal(x.meta.patient_name, "홍길동");
    assert_null(x.meta.patient_family);
    assert_int_equal(x.meta.npatient_given, 0);
    assert_string_equal(x.meta.patient_ids[0].extension, "00123");
    assert_int_equal(x.meta.version_number, 1);

    assert_int_equal(count_kind(&x, CDX_FACT_PROBLEM), 2);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_PROBLEM, 0);
    assert_string_equal(f->code, "E11.9");
    assert_string_equal(f->code_system, "1.2.410.100110.40.2.3.2");
    assert_string_equal(f->display_name, "제2형 당뇨병"); /* from the narrative */
    f = nth_fact(&x, CDX_FACT_PROBLEM, 1);
    assert_string_equal(f->section_code, "29548-5");
    assert_string_equal(f->code, "I10");
    assert_string_equal(f->display_name, "본태성(원발성) 고혈압");
    assert_string_equal(f->status, "active");
    assert_string_equal(f->time_low, "20170820");
    json_t *pex = extras(f);
    assert_null(json_object_get(pex, "problemType"));
    json_decref(pex);

    assert_int_equal(count_kind(&x, CDX_FACT_RESULT), 1);
    f = nth_fact(&x, CDX_FACT_RESULT, 0);
    assert_string_equal(f->code_system, "1.2.410.100110.40.2.3.3");
    assert_string_equal(f->display_name, "당화혈색소");
    assert_string_equal(f->unit, "%");
    assert_string_equal(f->ref_text, "4.0~6.0");
    json_t *ex = extras(f);
    assert_string_equal(jpath(ex, "panel", "nullFlavor"), "UNK");
    json_decref(ex);

    assert_int_equal(count_kind(&x, CDX_FACT_MEDICATION), 1);
    f = nth_fact(&x, CDX_FACT_MEDICATION, 0);
    assert_string_equal(f->code, "A10BA02");
    ex = extras(f);
    assert_string_equal(
        jpath(json_array_get(json_object_get(ex, "translations"), 0), "displayName", NULL),
        "다이아벡스정500밀리그램");
    json_decref(ex);

    json_t *facts = cdx_extract_facts_json(&x);
    char *s = json_dumps(facts, JSON_COMPACT);
    assert_non_null(strstr(s, "제2형 당뇨병"));
    free(s);
    json_decref(facts);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
}

/* CCD 1.0 / HITSP C32 templates, a document without the v3 namespace. */
static const char OLD_CCD[] =
    "<ClinicalDocument><id root=\"2.25.8\"/>"
    "<component><structuredBody>"
    "<component><section><templateId root=\"2.16.840.1.113883.10.20.1.11\"/>"
    "<templateId root=\"2.16.840.1.113883.3.88.11.83.103\"/>"
    "<entry><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.1.27\"/>"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.1.28\"/>"
    "<value code=\"195967001\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Asthma\"/>"
    "<entryRelationship typeCode=\"REFR\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<templateId root=\"2.16.840.1.113883.10.20.1.50\"/>"
    "<value code=\"55561003\" displayName=\"Active\"/></observation></entryRelationship>"
    "</observation></entryRelationship></act></entry></section></component>"
    "<component><section><templateId root=\"2.16.840.1.113883.10.20.1.16\"/>"
    "<entry><organizer classCode=\"CLUSTER\" moodCode=\"EVN\"><component><observation"
    " classCode=\"OBS\" moodCode=\"EVN\"><code code=\"8302-2\"/><value value=\"177\" unit=\"cm\"/>"
    "</observation></component></organizer></entry></section></component>"
    "<component><section><templateId root=\"2.16.840.1.113883.3.88.11.83.117\"/>"
    "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"EVN\"><consumable>"
    "<manufacturedProduct><manufacturedMaterial><code code=\"88\"/></manufacturedMaterial>"
    "</manufacturedProduct></consumable></substanceAdministration></entry></section></component>"
    "<component><section><templateId root=\"1.3.6.1.4.1.19376.1.5.3.1.1.5.3.3\"/>"
    "<entry><encounter classCode=\"ENC\" moodCode=\"EVN\"><code code=\"AMB\"/></encounter>"
    "</entry></section></component>"
    "</structuredBody></component></ClinicalDocument>";

static void test_older_ccd(void **state)
{
    (void)state;
    cdx_extract_t x;
    cdx_diag_t d;
    extract(OLD_CCD, &x, &d);
    assert_string_equal(x.meta.unique_id, "2.25.8");
    assert_int_equal(count_kind(&x, CDX_FACT_PROBLEM), 1);
    const cdx_fact_t *f = nth_fact(&x, CDX_FACT_PROBLEM, 0);
    assert_string_equal(f->display_name, "Asthma");
    assert_string_equal(f->status, "Active");
    assert_int_equal(count_kind(&x, CDX_FACT_VITAL_SIGN), 1);
    assert_int_equal(count_kind(&x, CDX_FACT_IMMUNIZATION), 1);
    assert_int_equal(count_kind(&x, CDX_FACT_ENCOUNTER), 1);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
}

static void test_lone_section(void **state)
{
    (void)state;
    static const char doc[] =
        "<section" NS "><templateId root=\"2.16.840.1.113883.10.20.22.2.22.1\"/>"
        "<entry><encounter classCode=\"ENC\" moodCode=\"EVN\"><code code=\"99213\"/>"
        "</encounter></entry></section>";
    cdx_extract_t x;
    cdx_diag_t d;
    extract(doc, &x, &d);
    assert_int_equal(count_kind(&x, CDX_FACT_ENCOUNTER), 1);
    assert_string_equal(x.facts[0].location, "/section/entry[1]/encounter");
    assert_true(has_issue(&d, "EXTRACT-FRAGMENT"));
    assert_null(x.meta.unique_id);
    cdx_extract_cleanup(&x);
    cdx_diag_cleanup(&d);
}

/* ------------------------------------------------------------------ */
/* Corpus                                                              */

#define MAX_CORPUS_FILES 5000

typedef struct corpus {
    char *files[MAX_CORPUS_FILES];
    size_t n;
} corpus_t;

static void walk(corpus_t *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && c->n < MAX_CORPUS_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        const char *dot = strrchr(e->d_name, '.');
        if (S_ISDIR(st.st_mode))
            walk(c, path);
        else if (S_ISREG(st.st_mode) && dot != NULL &&
                 (strcasecmp(dot, ".xml") == 0 || strcasecmp(dot, ".ccd") == 0))
            c->files[c->n++] = strdup(path);
    }
    closedir(d);
}

static void test_corpus(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    const char *corpus = getenv("CDX_CORPUS_DIR");
    const char *src = getenv("CDX_SOURCE_DIR");
    if (corpus != NULL && corpus[0] != 0)
        snprintf(dir, sizeof dir, "%s/ccda", corpus);
    else
        snprintf(dir, sizeof dir, "%s/../shared/corpus/ccda", src && src[0] ? src : ".");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        CDX_SKIP("corpus absent: %s (set CDX_CORPUS_DIR)", dir);
    }
    corpus_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    walk(c, dir);
    size_t totals[CDX_FACT_KINDS] = {0};
    size_t docs = 0, refused = 0, unreadable = 0, with_facts = 0;
    double spent_us = 0;
    for (size_t i = 0; i < c->n; i++) {
        char *data = NULL;
        size_t len = 0;
        if (cdx_read_file(c->files[i], 64u << 20, &data, &len) != 0) {
            unreadable++;
            continue;
        }
        cdx_diag_t d;
        cdx_diag_init(&d);
        xmlDocPtr doc = NULL;
        if (cdx_xml_parse(data, len, &d, &doc) != 0) {
            /* Refused by the gateway's hardened loader; what plain libxml2
             * still reads (no network, no entities) is extracted too. */
            refused++;
            doc = xmlReadMemory(data, (int)len, "corpus.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        }
        free(data);
        if (doc == NULL) {
            unreadable++;
            cdx_diag_cleanup(&d);
            continue;
        }
        cdx_extract_t x;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = cdx_extract(doc, &x, &d);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        xmlFreeDoc(doc);
        if (rc == CDX_EINVAL) {
            /* Not a CDA document (an NCPDP message, say). */
            cdx_diag_cleanup(&d);
            continue;
        }
        assert_int_equal(rc, 0);
        spent_us += (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
        docs++;
        with_facts += x.nfacts > 0;
        for (size_t f = 0; f < x.nfacts; f++) {
            assert_true((unsigned)x.facts[f].kind < CDX_FACT_KINDS);
            assert_non_null(x.facts[f].location);
            assert_non_null(x.facts[f].extras);
            totals[x.facts[f].kind]++;
        }
        json_t *m = cdx_extract_meta_json(&x.meta);
        json_t *j = cdx_extract_facts_json(&x);
        assert_non_null(m);
        assert_non_null(j);
        assert_int_equal(json_object_size(j), CDX_FACT_KINDS);
        json_decref(m);
        json_decref(j);
        cdx_extract_cleanup(&x);
        cdx_diag_cleanup(&d);
    }
    fprintf(stderr,
            "# corpus: %zu files, %zu CDA documents extracted (%zu refused by "
            "cdx_xml_parse, read by libxml2), %zu unreadable, %zu with facts, "
            "%.1f us/doc\n",
            c->n, docs, refused, unreadable, with_facts, docs ? spent_us / (double)docs : 0.0);
    fprintf(stderr, "# %-14s %6s\n", "kind", "facts");
    for (int k = 0; k < CDX_FACT_KINDS; k++)
        fprintf(stderr, "# %-14s %6zu\n", cdx_fact_kind_name((cdx_fact_kind_t)k), totals[k]);
    /* Plausibility: the corpus is hundreds of real C-CDA and CCD
     * documents, so every kind is present in quantity. */
    assert_true(docs >= c->n / 2);
    for (int k = 0; k < CDX_FACT_KINDS; k++)
        assert_true(totals[k] > 100);
    for (size_t i = 0; i < c->n; i++)
        free(c->files[i]);
    free(c);
}

int main(int argc, char **argv)
{
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ts_parse),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_meta_defaults_and_warnings),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_problems),
        cmocka_unit_test(test_medications),
        cmocka_unit_test(test_allergies),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_vital_signs),
        cmocka_unit_test(test_procedures),
        cmocka_unit_test(test_immunizations),
        cmocka_unit_test(test_encounters),
        cmocka_unit_test(test_kcda),
        cmocka_unit_test(test_older_ccd),
        cmocka_unit_test(test_lone_section),
    };
    /* CDX_CORPUS_TESTS: the cases that need the shared corpus. */
    const struct CMUnitTest corpus_tests[] = {
        cmocka_unit_test(test_corpus),
    };
    if (cdx_test_corpus_group(argc, argv))
        return cdx_test_exit(cmocka_run_group_tests(corpus_tests, NULL, NULL));
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
