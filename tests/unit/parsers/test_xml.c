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

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"

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
    /* Not markup at all: not XML, rather than "empty". */
    const char *json = " {\"resourceType\":\"Bundle\"}";
    expect_code(json, strlen(json), "XML_MALFORMED");
    expect_code("MSH|^~\\&|", 10, "XML_MALFORMED");
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

/* The node budget: min(absolute, per-KB of the body), never below the floor. */
static void test_node_budget_arithmetic(void **state)
{
    (void)state;
    cdx_xml_limits_t lim = {.max_nodes = 1000000, .max_nodes_per_kb = 160};
    assert_int_equal(cdx_xml_node_budget(&lim, 0), CDX_XML_MIN_NODE_BUDGET);
    assert_int_equal(cdx_xml_node_budget(&lim, 20 * 1024), CDX_XML_MIN_NODE_BUDGET);
    assert_int_equal(cdx_xml_node_budget(&lim, 1024 * 1024), 160 * 1024);
    assert_int_equal(cdx_xml_node_budget(&lim, 20u << 20), 1000000);
    lim.max_nodes_per_kb = 0;
    assert_int_equal(cdx_xml_node_budget(&lim, 100), 1000000);
    lim.max_nodes_per_kb = SIZE_MAX / 2;
    assert_int_equal(cdx_xml_node_budget(&lim, SIZE_MAX / 2), 1000000);
    assert_int_equal(cdx_xml_node_budget(NULL, 20u << 20), CDX_XML_DEFAULT_MAX_NODES);
}

/* What counts as a node: elements, attributes, namespace declarations,
 * text runs (CDATA merged into the text around it), comments and
 * processing instructions.  Exactly at the budget passes, one over fails,
 * and the verdict names the key, the budget and where the parse stopped. */
static void test_node_budget_counts(void **state)
{
    (void)state;
    const char *x = "<a xmlns=\"urn:x\" p=\"1\" q=\"2\"><!--c--><?pi x?>text<b/>more<![CDATA[m]]>"
                    "<c>t</c></a>";
    /* a + xmlns + p + q, comment, pi, "text", b, "more" (with the CDATA), c, "t" */
    const size_t want = 11;
    cdx_xml_limits_t lim = {.max_nodes = 1000000, .max_nodes_per_kb = 0};
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    size_t nodes = 0;
    assert_int_equal(cdx_xml_parse_limited(x, strlen(x), &lim, &d, &doc, &nodes), 0);
    assert_int_equal(nodes, want);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);

    lim.max_nodes = want;
    cdx_diag_init(&d);
    assert_int_equal(cdx_xml_parse_limited(x, strlen(x), &lim, &d, &doc, &nodes), 0);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);

    lim.max_nodes = want - 1;
    cdx_diag_init(&d);
    assert_int_equal(cdx_xml_parse_limited(x, strlen(x), &lim, &d, &doc, &nodes), CDX_EPARSE);
    assert_null(doc);
    assert_int_equal(d.status, 400);
    assert_string_equal(d.code, "XML_LIMIT");
    assert_non_null(strstr(d.message, "more than 10 XML nodes"));
    assert_non_null(strstr(d.message, "xml_max_nodes = 10"));
    assert_non_null(strstr(d.message, "line 1, column"));
    assert_string_equal(d.issues[0].rule, "XML-NODES");
    cdx_diag_cleanup(&d);
}

static char *br_bomb(size_t n, size_t *len)
{
    static const char head[] = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><text>";
    static const char tail[] = "</text></ClinicalDocument>";
    size_t total = sizeof head - 1 + 5 * n + sizeof tail - 1;
    char *b = malloc(total + 1);
    assert_non_null(b);
    memcpy(b, head, sizeof head - 1);
    for (size_t i = 0; i < n; i++)
        memcpy(b + sizeof head - 1 + 5 * i, "<br/>", 5);
    memcpy(b + sizeof head - 1 + 5 * n, tail, sizeof tail);
    *len = total;
    return b;
}

/* Many tiny elements are refused while they are parsed: the count stops
 * one past the budget and the parser stops at that byte, long before the
 * end of the body, so the memory of the rest is never spent. */
static void test_node_budget_br_bomb(void **state)
{
    (void)state;
    size_t len = 0;
    char *bomb = br_bomb(400000, &len); /* 2 MB */
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    size_t nodes = 0;
    /* Defaults: 160 per KB of a 1953 KB body. */
    assert_int_equal(cdx_xml_parse_limited(bomb, len, NULL, &d, &doc, &nodes), CDX_EPARSE);
    size_t budget = cdx_xml_node_budget(NULL, len);
    assert_int_equal(budget, 160 * (len / 1024));
    assert_int_equal(nodes, budget + 1);
    assert_string_equal(d.code, "XML_LIMIT");
    assert_non_null(strstr(d.message, "xml_max_nodes_per_kb = 160"));
    cdx_diag_cleanup(&d);

    /* The absolute budget, with the relative one off. */
    cdx_xml_limits_t lim = {.max_nodes = 100000, .max_nodes_per_kb = 0};
    cdx_diag_init(&d);
    assert_int_equal(cdx_xml_parse_limited(bomb, len, &lim, &d, &doc, &nodes), CDX_EPARSE);
    assert_int_equal(nodes, 100001);
    assert_non_null(strstr(d.message, "xml_max_nodes = 100000"));
    long stopped = -1;
    const char *at = strstr(d.message, "(byte ");
    assert_non_null(at);
    stopped = strtol(at + 6, NULL, 10);
    /* About 5 bytes a node: the parse stopped near byte 500 000 of 2 MB. */
    assert_true(stopped > 400000 && stopped < 700000);
    cdx_diag_cleanup(&d);

    /* Within a budget large enough, the same bytes parse. */
    lim.max_nodes = 500000;
    cdx_diag_init(&d);
    assert_int_equal(cdx_xml_parse_limited(bomb, len, &lim, &d, &doc, &nodes), 0);
    assert_int_equal(nodes, 400000 + 2 + 1); /* br, ClinicalDocument, text, xmlns */
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
    free(bomb);
}

/* Real documents stay well inside the default budget: every file of the
 * shared C-CDA corpus that parses uses at most 60 % of its budget (the
 * densest has 81 nodes per KB against 160).  Prints the densest. */
static void test_node_budget_corpus(void **state)
{
    (void)state;
    const char *corpus = getenv("CDX_CORPUS_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ccda", corpus && corpus[0] ? corpus : "../shared/corpus");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.xml' -type f 2>/dev/null | sort", dir);
    FILE *list = popen(cmd, "r");
    assert_non_null(list);
    char path[2048];
    size_t files = 0, max_nodes = 0;
    double densest = 0;
    while (fgets(path, sizeof path, list) != NULL) {
        path[strcspn(path, "\n")] = '\0';
        char *data = NULL;
        size_t len = 0;
        if (cdx_read_file(path, 64u << 20, &data, &len) != 0)
            continue;
        cdx_diag_t d;
        cdx_diag_init(&d);
        xmlDocPtr doc = NULL;
        size_t nodes = 0;
        int rc = cdx_xml_parse_limited(data, len, NULL, &d, &doc, &nodes);
        if (rc == 0) {
            files++;
            size_t budget = cdx_xml_node_budget(NULL, len);
            if (nodes * 10 > budget * 6)
                fail_msg("%s: %zu nodes in %zu bytes, over 60 %% of its budget %zu", path, nodes,
                         len, budget);
            double density = (double)nodes * 1024.0 / (double)len;
            if (density > densest)
                densest = density;
            if (nodes > max_nodes)
                max_nodes = nodes;
        } else {
            assert_string_not_equal(d.code, "XML_LIMIT");
        }
        xmlFreeDoc(doc);
        cdx_diag_cleanup(&d);
        free(data);
    }
    pclose(list);
    if (files == 0) {
        fprintf(stderr, "# corpus not found at %s (set CDX_CORPUS_DIR): skipped\n", dir);
        skip();
    }
    printf("node budget: %zu corpus documents, densest %.1f nodes/KB, largest %zu nodes\n", files,
           densest, max_nodes);
}

int main(void)
{
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_hygiene), cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_doctype_attacks),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_xinclude_not_expanded),
        cmocka_unit_test(test_node_budget_arithmetic),
        cmocka_unit_test(test_node_budget_counts),
        cmocka_unit_test(test_node_budget_br_bomb),
        cmocka_unit_test(test_node_budget_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
