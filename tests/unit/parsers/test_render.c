/* Unit tests of the HTML renderer (parsers/render.c, mappings/render/):
 * the language tag rewriting, the writer's allow-list on hand-made trees,
 * the samples' Korean text, hostile narratives, and the output bound. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/render.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

static cdx_renderer_t *renderer;
static char source_dir[1024];

static int group_setup(void **state)
{
    (void)state;
    char err[1024] = "";
    const char *src = getenv("CDX_SOURCE_DIR");
    cdx_strlcpy(source_dir, src ? src : ".", sizeof source_dir);
    cdx_xml_global_init();
    cdx_xslt_global_init();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/mappings", source_dir);
    if (cdx_renderer_load(dir, &renderer, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load the renderer from %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cdx_renderer_free(renderer);
    return 0;
}

/* ---- language tags ----------------------------------------------------- */

static void test_lang(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"ko-KR", "ko-KR"},
        {"ko_kr", "ko-KR"},
        {"EN-us", "en-US"},
        {"ko", "ko"},
        {"zh-hant-tw", "zh-Hant-TW"},
        {"sr-Latn-RS", "sr-Latn-RS"},
        {"de-CH-1901", "de-CH-1901"},
        {"en-US-x-twain", "en-US-x-twain"},
        {"", ""},
        {"k", ""},
        {"1a", ""},
        {"ko-", ""},
        {"-ko", ""},
        {"ko--KR", ""},
        {"ko KR", ""},
        {"ko\"KR", ""},
        {"ko-KR\" onmouseover=\"x", ""},
        {"toolongtag", ""},
        {"en-abcdefghi", ""},
        {"\xed\x95\x9c-KR", ""},
        {"en-aaaaaaaa-bbbbbbbb-cccccccc-dddddddd", ""}, /* over 35 characters */
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        char out[CDX_RENDER_LANG_MAX + 1];
        int ok = cdx_render_lang(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0 || ok != (cases[i].want[0] != '\0'))
            fail_msg("lang(\"%s\") = \"%s\" (%d), want \"%s\"", cases[i].in, out, ok,
                     cases[i].want);
    }
    char small[8];
    assert_int_equal(cdx_render_lang("ko", small, sizeof small), 0);
    assert_int_equal(cdx_render_lang(NULL, small, sizeof small), 0);
}

/* ---- the writer's allow-list ------------------------------------------- */

static int write_text(const char *xml, const char *media, cdx_diag_t *d, cdx_render_result_t *res)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    int rc = cdx_render_write(doc, media, 1u << 20, d, res);
    xmlFreeDoc(doc);
    return rc;
}

static void test_writer_escapes_and_keeps_allowed(void **state)
{
    (void)state;
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_render_result_t res = {0};
    const char *ok =
        "<html lang='KO_kr'><head><title>a&lt;b</title><style>p{color:red}</style></head>"
        "<body><p class='b i' id='n-x.1'>&lt;script&gt;x&amp;y \"q\"</p><br/>"
        "<a href='#n-x.1'>in</a><a href='/m/ID1'>m</a><!-- c --><?pi x?>"
        "<table><tbody><tr><td colspan='2' rowspan='999'>t</td></tr></tbody></table>"
        "<span lang='bad lang'>s</span></body></html>";
    assert_int_equal(write_text(ok, "/m/", &d, &res), 0);
    const char *want =
        "<!DOCTYPE html>\n<html lang=\"ko-KR\"><head><title>a&lt;b</title>"
        "<style>p{color:red}</style></head><body><p class=\"b i\" id=\"n-x.1\">"
        "&lt;script&gt;x&amp;y \"q\"</p><br><a href=\"#n-x.1\">in</a><a href=\"/m/ID1\">m</a>"
        "<table><tbody><tr><td colspan=\"2\" rowspan=\"999\">t</td></tr></tbody></table>"
        "<span>s</span></body></html>\n";
    assert_string_equal(res.html, want);
    assert_int_equal(res.len, strlen(want));
    assert_string_equal(res.style, "p{color:red}");
    cdx_render_result_cleanup(&res);
    cdx_diag_cleanup(&d);
}

static void test_writer_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<html><body><script>alert(1)</script></body></html>",
        "<html><body><iframe/></body></html>",
        "<html><body><img/></body></html>",
        "<html><body><object/></body></html>",
        "<html><body><embed/></body></html>",
        "<html><head><meta/></head><body/></html>",
        "<html><head><link/></head><body/></html>",
        "<html><head><base/></head><body/></html>",
        "<html><body><form/></body></html>",
        "<html><body><svg xmlns='http://www.w3.org/2000/svg'/></body></html>",
        "<html><body><p xmlns='http://www.w3.org/1999/xhtml'>x</p></body></html>",
        "<html><body><math/></body></html>",
        "<html><body><p onclick='x()'>x</p></body></html>",
        "<html><body><p style='color:red'>x</p></body></html>",
        "<html><body><style>p{}</style></body></html>",
        "<html><head><style>p{}<x/></style></head><body/></html>",
        "<html><head><style>&lt;/style&gt;&lt;script&gt;</style></head><body/></html>",
        "<html><body><a href='javascript:alert(1)'>x</a></body></html>",
        "<html><body><a href='data:text/html,x'>x</a></body></html>",
        "<html><body><a href='https://evil.example/'>x</a></body></html>",
        "<html><body><a href='/m/../x'>x</a></body></html>",
        "<html><body><a href='#a b'>x</a></body></html>",
        "<html><body><p class='x\" onclick=\"y'>x</p></body></html>",
        "<html><body><p class='Bold'>x</p></body></html>",
        "<html><body><p id='a\"b'>x</p></body></html>",
        "<html><body><td colspan='1000'>x</td></body></html>",
        "<html><body><td colspan='0'>x</td></body></html>",
        "<html><body><p xml:lang='en'>x</p></body></html>",
        "<html><body><br>x</br></body></html>",
        "<body><p>no html root</p></body>",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        cdx_diag_t d;
        cdx_diag_init(&d);
        cdx_render_result_t res = {0};
        int rc = write_text(bad[i], "/m/", &d, &res);
        if (rc != CDX_EPARSE || strcmp(d.code, "RENDER_FAILED") != 0 || res.html != NULL)
            fail_msg("accepted or wrong verdict (%d %s): %s", rc, d.code, bad[i]);
        cdx_render_result_cleanup(&res);
        cdx_diag_cleanup(&d);
    }
}

static void test_writer_bound(void **state)
{
    (void)state;
    const char *xml = "<html><body><p>0123456789012345678901234567890123456789</p></body></html>";
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, 0);
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_render_result_t res = {0};
    assert_int_equal(cdx_render_write(doc, NULL, 40, &d, &res), CDX_EPARSE);
    assert_string_equal(d.code, "RENDER_FAILED");
    assert_non_null(strstr(d.message, "exceed 40 bytes"));
    assert_null(res.html);
    cdx_diag_cleanup(&d);
    xmlFreeDoc(doc);
}

/* ---- whole documents --------------------------------------------------- */

static char *read_sample(const char *rel, size_t *len)
{
    char path[1200];
    char *text = NULL;
    snprintf(path, sizeof path, "%s/%s", source_dir, rel);
    if (cdx_read_file(path, 8u << 20, &text, len) != 0)
        fail_msg("cannot read %s", path);
    return text;
}

static char *render_ok(const char *data, size_t len, const char *media)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_render_result_t res = {0};
    cdx_render_options_t opt = {.media_base = media};
    int rc = cdx_render_html(renderer, data, len, &opt, &d, &res);
    if (rc != 0)
        fail_msg("render failed (%d): %s %s %s", rc, d.code, d.message,
                 d.nissues > 0 ? d.issues[0].message : "");
    assert_true(res.len <= cdx_render_output_bound(len));
    cdx_diag_cleanup(&d);
    free(res.style);
    return res.html;
}

static void test_samples_korean(void **state)
{
    (void)state;
    static const struct {
        const char *file, *lang;
        const char *texts[3];
    } cases[] = {
        {"samples/hanbit/care-summary-kim-minjun.xml", "ko-KR",
         {"진료기록요약지", "김민준", "합병증을 동반하지 않은 2형 당뇨병"}},
        {"samples/dasom/referral-choi-yuna.xml", "ko", {"최유나", "진료의뢰서", NULL}},
        {"samples/riverside/ccd-walker-emily.xml", "en-US", {"Emily", "Walker", NULL}},
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        size_t len = 0;
        char *xml = read_sample(cases[i].file, &len);
        char *html = render_ok(xml, len, "/v1/documents/x/media/");
        char want[64];
        snprintf(want, sizeof want, "<html lang=\"%s\">", cases[i].lang);
        if (strstr(html, want) == NULL)
            fail_msg("%s: no %s", cases[i].file, want);
        for (size_t k = 0; k < 3 && cases[i].texts[k] != NULL; k++)
            if (strstr(html, cases[i].texts[k]) == NULL)
                fail_msg("%s: \"%s\" not rendered", cases[i].file, cases[i].texts[k]);
        free(html);
        free(xml);
    }
}

/* A small CDA document around narrative (the section's <text> content)
 * and extra body entries. */
static char *cda_with(const char *narrative, const char *entries)
{
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:x=\"http://www.w3.org/1999/xhtml\" "
        "xmlns:s=\"http://www.w3.org/2000/svg\">"
        "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
        "<id root=\"2.25.1001.2\" extension=\"H-1\"/><title>T&lt;script&gt;</title>"
        "<effectiveTime value=\"20240105093000+0900\"/>"
        "<confidentialityCode code=\"R\"/><languageCode code=\"en&quot; onload=&quot;x\"/>"
        "<recordTarget><patientRole><id root=\"2.25.1001.1\" extension=\"P\"/>"
        "<patient><name><given>Ann</given><family>Lee</family></name>"
        "<administrativeGenderCode code=\"F\"/><birthTime value=\"19800101\"/></patient>"
        "</patientRole></recordTarget>"
        "<component><structuredBody><component><section><title>S</title><text>";
    static const char mid[] = "</text>";
    static const char tail[] = "</section></component></structuredBody></component>"
                               "</ClinicalDocument>";
    size_t n = strlen(head) + strlen(narrative) + strlen(mid) + strlen(entries) + strlen(tail) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s%s%s%s", head, narrative, mid, entries, tail);
    return s;
}

static void assert_no_sink(const char *html)
{
    static const char *const sinks[] = {
        "<script", "<iframe", "<object", "<embed", "<img", "<svg", "<math", "<link",
        "<meta",   "<base",   "<form",   "<frame", "javascript:", "data:", " on",
        "style=",  "expression(", "<x:", "<s:", "xmlns",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(sinks); i++) {
        const char *p = html;
        while ((p = strcasestr(p, sinks[i])) != NULL) {
            /* Text may say these words; markup may not: the character
             * before a sink inside a tag is '<' or a space. */
            const char *lt = p, *gt = p;
            while (lt > html && *lt != '<' && *lt != '>')
                lt--;
            while (*gt != '\0' && *gt != '<' && *gt != '>')
                gt++;
            if (*lt == '<' && (*gt == '>' || *gt == '\0'))
                fail_msg("sink \"%s\" inside markup: ...%.80s", sinks[i], lt);
            p++;
        }
    }
}

static void test_hostile_narratives(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "<paragraph>a<x:script>alert(1)</x:script>b</paragraph>",
        "<paragraph onclick=\"alert(1)\" style=\"background:url(javascript:x)\">p</paragraph>",
        "<content styleCode=\"Bold xss&quot; onmouseover=&quot;x\">c</content>",
        "<content styleCode=\"expression(alert(1))\">css</content>",
        "<linkHtml href=\"javascript:alert(1)\">j</linkHtml>",
        "<linkHtml href=\" JaVaScRiPt:alert(1)\">j2</linkHtml>",
        "<linkHtml href=\"data:text/html;base64,PHNjcmlwdD4=\">d</linkHtml>",
        "<linkHtml href=\"https://evil.example/\">e</linkHtml>",
        "<linkHtml href=\"#t1\">self</linkHtml><paragraph ID=\"t1\">target</paragraph>",
        "<linkHtml href=\"#nowhere\">dangling</linkHtml>",
        "<paragraph ID=\"a&quot; onclick=&quot;x\">id</paragraph>",
        "<renderMultiMedia referencedObject=\"M1\"/><renderMultiMedia referencedObject=\"M2\"/>"
        "<renderMultiMedia referencedObject=\"M3\"/><renderMultiMedia referencedObject=\"nope\"/>",
        "<s:svg><s:script>alert(1)</s:script><s:foreignObject><x:iframe src=\"x\"/>"
        "</s:foreignObject></s:svg>",
        "<x:img src=\"https://evil.example/p.png\" onerror=\"alert(1)\"/>",
        "<x:a href=\"javascript:alert(1)\">a</x:a><x:style>*{}</x:style>",
        "<![CDATA[<script>alert(1)</script><img src=x onerror=alert(1)>]]>",
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;b&amp;gt;",
        "<table><tbody><tr><td colspan=\"9999\" rowspan=\"x\" style=\"x\">t</td></tr></tbody>"
        "</table>",
        "<list listType=\"ordered\"><caption>c</caption><item ID=\"i&lt;1\">one</item></list>",
        "<footnote ID=\"f1\">note</footnote><footnoteRef IDREF=\"f1\"/>",
        "<paragraph language=\"ko&quot;&gt;&lt;script\">언어</paragraph>",
        "<paragraph><?xml-stylesheet href=\"x\"?><!-- <script> -->z</paragraph>",
    };
    const char *entries =
        "<entry><observationMedia ID=\"M1\"><value mediaType=\"image/png\" "
        "representation=\"B64\">iVBORw0KGgo=</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"M2\"><value mediaType=\"text/html\" "
        "representation=\"B64\">PHNjcmlwdD4=</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"M3\"><value mediaType=\"image/svg+xml\" "
        "representation=\"B64\">PHN2Zz4=</value></observationMedia></entry>";
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        char *xml = cda_with(cases[i], entries);
        char *html = render_ok(xml, strlen(xml), "/v1/documents/d/media/");
        assert_no_sink(html);
        assert_null(strstr(html, "<html lang"));      /* the languageCode has no tag shape */
        assert_non_null(strstr(html, "T&lt;script&gt;")); /* the title, escaped */
        free(html);
        free(xml);
    }
    /* The in-document link and the allowed download survive; the others
     * are text. */
    char *xml = cda_with(cases[8], "");
    char *html = render_ok(xml, strlen(xml), NULL);
    assert_non_null(strstr(html, "<a href=\"#n-t1\">self</a>"));
    assert_non_null(strstr(html, "<p id=\"n-t1\">target</p>"));
    free(html);
    free(xml);
    xml = cda_with(cases[11], entries);
    html = render_ok(xml, strlen(xml), "/v1/documents/d/media/");
    assert_non_null(strstr(html, "href=\"/v1/documents/d/media/M1\""));
    assert_null(strstr(html, "media/M2"));
    assert_null(strstr(html, "media/M3"));
    free(html);
    html = render_ok(xml, strlen(xml), NULL);
    assert_null(strstr(html, "href"));
    assert_non_null(strstr(html, "(image/png) not displayed"));
    free(html);
    free(xml);
}

/* Embedded binaries: only base64 of an allowed type, the first with the
 * ID, decoded. */
static void test_media(void **state)
{
    (void)state;
    const char *entries =
        "<entry><observationMedia ID=\"A\"><value mediaType=\" image/png \" "
        "representation=\"B64\">aGVs\nbG8=</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"A\"><value mediaType=\"image/png\" "
        "representation=\"B64\">c2Vjb25k</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"H\"><value mediaType=\"text/html\" "
        "representation=\"B64\">PHA+</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"T\"><value mediaType=\"application/pdf\" "
        "representation=\"TXT\">x</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"\"><value mediaType=\"image/png\" "
        "representation=\"B64\">aGVsbG8=</value></observationMedia></entry>"
        "<entry><observationMedia ID=\"X\"><value mediaType=\"application/pdf\" "
        "representation=\"B64\">!!!!</value></observationMedia></entry>";
    char *xml = cda_with("<paragraph>m</paragraph>", entries);
    char type[32];
    char *bytes = NULL;
    size_t n = 0;
    cdx_diag_t d;
    cdx_diag_init(&d);
    assert_int_equal(cdx_render_media(xml, strlen(xml), NULL, "A", type, &bytes, &n, &d), 0);
    assert_string_equal(type, "image/png");
    assert_int_equal(n, 5);
    assert_memory_equal(bytes, "hello", 5);
    free(bytes);
    static const char *const absent[] = {"H", "T", "Z", ""};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(absent); i++) {
        assert_int_equal(cdx_render_media(xml, strlen(xml), NULL, absent[i], type, &bytes, &n, &d),
                         CDX_ENOTFOUND);
        assert_null(bytes);
    }
    assert_int_equal(cdx_render_media(xml, strlen(xml), NULL, "X", type, &bytes, &n, &d),
                     CDX_EPARSE);
    assert_string_equal(d.code, "RENDER_FAILED");
    assert_null(bytes);
    cdx_diag_cleanup(&d);
    assert_true(cdx_render_media_type_ok("application/pdf"));
    assert_false(cdx_render_media_type_ok("image/svg+xml"));
    assert_false(cdx_render_media_type_ok("image/png; x"));
    assert_false(cdx_render_media_type_ok(NULL));
    free(xml);
}

/* Links never nest (HTML would split them). */
static void test_nested_links(void **state)
{
    (void)state;
    char *xml = cda_with("<paragraph ID=\"a\">t</paragraph><linkHtml href=\"#a\">x"
                         "<linkHtml href=\"#a\">y</linkHtml></linkHtml>",
                         "");
    char *html = render_ok(xml, strlen(xml), NULL);
    assert_non_null(strstr(html, "<a href=\"#n-a\">x<span class=\"link\">y</span></a>"));
    free(html);
    free(xml);
}

/* Nesting as deep as the parser allows renders or fails cleanly; a table
 * of many cells stays within the bound. */
static void test_deep_and_large(void **state)
{
    (void)state;
    size_t depth = CDX_XML_MAX_DEPTH - 12;
    cdx_buf_t b;
    cdx_buf_init(&b, 64u << 20);
    for (size_t i = 0; i < depth; i++)
        cdx_buf_puts(&b, "<content>");
    cdx_buf_puts(&b, "deep");
    for (size_t i = 0; i < depth; i++)
        cdx_buf_puts(&b, "</content>");
    char *xml = cda_with(b.data, "");
    char *html = render_ok(xml, strlen(xml), NULL);
    assert_non_null(strstr(html, "deep"));
    free(html);
    free(xml);
    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "<table><tbody>");
    for (int r = 0; r < 2000; r++) {
        cdx_buf_puts(&b, "<tr>");
        for (int c = 0; c < 10; c++)
            cdx_buf_puts(&b, "<td>&gt;&gt;&gt;</td>");
        cdx_buf_puts(&b, "</tr>");
    }
    cdx_buf_puts(&b, "</tbody></table>");
    xml = cda_with(b.data, "");
    html = render_ok(xml, strlen(xml), NULL);
    assert_true(strlen(html) < 2 * strlen(xml));
    free(html);
    /* A bound below the page fails with the verdict, not a truncation. */
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_render_result_t res = {0};
    cdx_render_options_t opt = {.max_output = 1000};
    assert_int_equal(cdx_render_html(renderer, xml, strlen(xml), &opt, &d, &res), CDX_EPARSE);
    assert_string_equal(d.code, "RENDER_FAILED");
    assert_null(res.html);
    cdx_diag_cleanup(&d);
    /* A media path outside its character set is refused. */
    cdx_diag_init(&d);
    opt = (cdx_render_options_t){.media_base = "/x\"y/"};
    assert_int_equal(cdx_render_html(renderer, xml, strlen(xml), &opt, &d, &res), CDX_EINVAL);
    cdx_diag_cleanup(&d);
    free(xml);
    cdx_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lang),
        cmocka_unit_test(test_writer_escapes_and_keeps_allowed),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_writer_bound),
        cmocka_unit_test(test_samples_korean),
        cmocka_unit_test(test_hostile_narratives),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_nested_links),
        cmocka_unit_test(test_deep_and_large),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
