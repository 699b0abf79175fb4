/* Unit tests of the MIME decoder (parsers/mime.c, mime_encoding.c): the transfer encodings,
 * header blocks, multipart bodies and the choice of the one CDA part, on
 * the samples of samples/mime/ (derived from the project's own samples)
 * and on hand-made bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/mime.h"

static const char *source_dir = ".";

static char *read_source(const char *rel, size_t *len)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", source_dir, rel);
    char *data = NULL;
    if (cdx_read_file(path, 1u << 24, &data, len) != 0)
        fail_msg("cannot read %s", path);
    return data;
}

static void b64_ok(const char *in, const char *want)
{
    char out[256];
    size_t n = 0, bad = 0;
    assert_int_equal(cdx_mime_base64(in, strlen(in), out, &n, &bad), 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void b64_bad(const char *in, size_t at)
{
    char out[256];
    size_t n = 0, bad = 999;
    if (cdx_mime_base64(in, strlen(in), out, &n, &bad) == 0)
        fail_msg("'%s' decoded, wanted an error at %zu", in, at);
    assert_int_equal(bad, at);
}

static void test_base64(void **state)
{
    (void)state;
    b64_ok("", "");
    b64_ok("QQ==", "A");
    b64_ok("QUI=", "AB");
    b64_ok("QUJD", "ABC");
    b64_ok(" QU\r\nJD\tRA =\n=\r\n", "ABCD"); /* whitespace anywhere */
    b64_ok("PENsaW5pY2FsRG9jdW1lbnQvPg==", "<ClinicalDocument/>");
    b64_bad("QU*D", 2);     /* outside the alphabet */
    b64_bad("QUJD-_==", 4); /* base64url is not base64 */
    b64_bad("QQ", 2);       /* no padding */
    b64_bad("QQ=", 3);      /* half the padding */
    b64_bad("Q===", 1);     /* padding too early */
    b64_bad("=QQQ", 0);
    b64_bad("QUI==", 4);    /* one '=' too many */
    b64_bad("QQ==QUJD", 4); /* data after the padding */
    b64_bad("QQ=A", 3);
}

static void qp_ok(const char *in, const char *want)
{
    char out[256];
    size_t n = 0, bad = 0;
    assert_int_equal(cdx_mime_qp(in, strlen(in), out, &n, &bad), 0);
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void qp_bad(const char *in, size_t at)
{
    char out[256];
    size_t n = 0, bad = 999;
    if (cdx_mime_qp(in, strlen(in), out, &n, &bad) == 0)
        fail_msg("'%s' decoded, wanted an error at %zu", in, at);
    assert_int_equal(bad, at);
}

static void test_quoted_printable(void **state)
{
    (void)state;
    qp_ok("<a x=3D\"1\"/>", "<a x=\"1\"/>");
    qp_ok("long=\r\nline", "longline");                      /* soft line break, CRLF */
    qp_ok("long=\nline", "longline");                        /* and LF */
    qp_ok("soft=  \r\nbreak", "softbreak");                  /* whitespace after the '=' */
    qp_ok("caf=C3=A9 caf=c3=a9", "caf\xC3\xA9 caf\xC3\xA9"); /* lower case accepted */
    qp_ok("trailing   \r\nnext\t\nend  ", "trailing\r\nnext\nend");
    qp_ok("in  the middle", "in  the middle");
    qp_ok("end=", "end");
    qp_bad("bad =G1", 4);
    qp_bad("bad =4", 4); /* truncated */
    qp_bad("x=4Z", 1);
    qp_bad("x= y", 1);  /* whitespace, then not a line break */
    qp_bad("x=\ry", 1); /* a bare CR is not a line break */
}

static void test_detect(void **state)
{
    (void)state;
    char h[64];
    const char *m = "MIME-Version: 1.0\r\nContent-Type: application/xml\r\n\r\n<a/>";
    assert_int_equal(cdx_mime_detect(m, strlen(m), h, sizeof h), 1);
    assert_string_equal(h, "MIME-Version: 1.0");
    const char *c = "X-Mailer: y\ncontent-transfer-encoding: base64\n\nQQ==";
    assert_int_equal(cdx_mime_detect(c, strlen(c), h, sizeof h), 1);
    assert_string_equal(h, "content-transfer-encoding: base64");
    /* Truncated to the room given. */
    char small[8];
    assert_int_equal(cdx_mime_detect(m, strlen(m), small, sizeof small), 1);
    assert_string_equal(small, "MIME-Ve");
    static const char *const no[] = {
        "<?xml version=\"1.0\"?><ClinicalDocument/>",      "\xEF\xBB\xBF<ClinicalDocument/>",
        "Subject: hello\r\n\r\nnot MIME: no Content-Type", "Content-Type application/xml\r\n\r\n",
        " Content-Type: application/xml\r\n\r\n",          "",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(no); i++)
        assert_int_equal(cdx_mime_detect(no[i], strlen(no[i]), h, sizeof h), 0);
}

/* Decodes text; on success compares with want (if not NULL) and how. */
static void decode_ok(const char *text, size_t len, const char *want, size_t wlen, const char *how,
                      int part)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_mime_t m;
    int rc = cdx_mime_decode(text, len, 1u << 24, &d, &m);
    if (rc != 0)
        fail_msg("refused: %d %s: %s", d.status, d.code, d.message);
    if (want != NULL) {
        assert_int_equal(m.len, wlen);
        assert_memory_equal(m.data, want, wlen);
    }
    assert_int_equal(m.data[m.len], '\0');
    assert_string_equal(m.how, how);
    assert_int_equal(m.part, part);
    cdx_mime_cleanup(&m);
    cdx_diag_cleanup(&d);
}

/* Decodes text and expects the verdict status/code with every word of
 * words (separated by '|') in the message. */
static void decode_bad(const char *text, size_t len, size_t max, int status, const char *code,
                       const char *words)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_mime_t m;
    int rc = cdx_mime_decode(text, len, max, &d, &m);
    if (rc == 0)
        fail_msg("decoded (%s), wanted %d %s", m.how, status, code);
    assert_int_equal(rc, CDX_EPARSE);
    assert_null(m.data);
    assert_int_equal(d.status, status);
    assert_string_equal(d.code, code);
    char copy[256];
    cdx_strlcpy(copy, words, sizeof copy);
    for (char *w = strtok(copy, "|"); w != NULL; w = strtok(NULL, "|"))
        if (strstr(d.message, w) == NULL)
            fail_msg("'%s' not in: %s", w, d.message);
    cdx_diag_cleanup(&d);
}

static void test_samples(void **state)
{
    (void)state;
    size_t n, wn;
    char *text = read_source("samples/mime/hanbit-care-summary-base64.eml", &n);
    char *want = read_source("samples/hanbit/care-summary-kim-minjun.xml", &wn);
    decode_ok(text, n, want, wn, "mime-base64", 0);
    free(text);
    free(want);
    text = read_source("samples/mime/riverside-ccd-quoted-printable.eml", &n);
    want = read_source("samples/riverside/ccd-nguyen-david.xml", &wn);
    decode_ok(text, n, want, wn, "mime-quoted-printable", 0);
    free(text);
    free(want);
    text = read_source("samples/mime/dasom-referral-direct-message.eml", &n);
    want = read_source("samples/dasom/referral-choi-yuna.xml", &wn);
    decode_ok(text, n, want, wn, "multipart-base64", 2);
    free(text);
    free(want);
    text = read_source("samples/mime/riverside-two-documents.eml", &n);
    decode_bad(text, n, 1u << 24, 422, "MIME_MULTIPLE_CDA", "2 CDA documents|parts 1, 2");
    free(text);
}

#define CDA     "<?xml version=\"1.0\"?>\r\n<!-- x -->\r\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>"
#define CDA_B64 "PENsaW5pY2FsRG9jdW1lbnQgeG1sbnM9InVybjpobDctb3JnOnYzIi8+"

static void test_headers(void **state)
{
    (void)state;
    /* No Content-Type at the top: read as XML; no encoding: 7bit. */
    const char *a = "MIME-Version: 1.0\n\n" CDA;
    decode_ok(a, strlen(a), CDA, strlen(CDA), "mime-7bit", 0);
    /* Folded fields, names in any case, parameters quoted or not. */
    const char *b = "CONTENT-TYPE:\r\n  application/hl7-v3+xml;\r\n\tcharset=utf-8\r\n"
                    "content-TRANSFER-encoding:\r\n base64\r\n\r\n" CDA_B64 "\r\n";
    decode_ok(b, strlen(b), "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>", 42, "mime-base64", 0);
    const char *c =
        "Content-Type: application/xml\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx";
    decode_bad(c, strlen(c), 1u << 20, 415, "MIME_UNSUPPORTED", "x-uuencode");
    const char *d = "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIIB";
    decode_bad(d, strlen(d), 1u << 20, 415, "MIME_UNSUPPORTED", "encrypted|decrypt");
    const char *e = "Content-Type: text/html\r\n\r\n<html/>";
    decode_bad(e, strlen(e), 1u << 20, 415, "MIME_UNSUPPORTED", "text/html");
    const char *f = "Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n";
    decode_bad(f, strlen(f), 1u << 20, 400, "MIME_MALFORMED", "no empty line");
    const char *g = "Content-Type: application/xml\r\nthis is not a field\r\n\r\n<a/>";
    decode_bad(g, strlen(g), 1u << 20, 400, "MIME_MALFORMED", "line 2");
    const char *h = "Content-Transfer-Encoding: base64\r\n\r\nPENsaW5pY2F*\r\n";
    decode_bad(h, strlen(h), 1u << 20, 400, "MIME_BAD_ENCODING", "byte 11|0x2A");
    const char *i = "Content-Transfer-Encoding: base64\r\n\r\nPENsaW5pY2F\r\n";
    decode_bad(i, strlen(i), 1u << 20, 400, "MIME_BAD_ENCODING", "padding");
    const char *j = "Content-Transfer-Encoding: quoted-printable\r\n\r\n<a x=3D\"1=\"/>";
    decode_bad(j, strlen(j), 1u << 20, 400, "MIME_BAD_ENCODING", "byte 9");
    /* The decoded document is bounded. */
    decode_bad(a, strlen(a), 16, 413, "BODY_TOO_LARGE", "16 bytes");
}

static void test_multipart(void **state)
{
    (void)state;
    /* The CDA part is chosen among others; an XML part that is not a CDA
     * document (a stylesheet) is left. */
    const char *a = "Content-Type: multipart/mixed; boundary=\"b 1\"\r\n\r\npreamble\r\n"
                    "--b 1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                    "--b 1\r\nContent-Type: text/xsl\r\n\r\n<xsl:stylesheet/>\r\n"
                    "--b 1   \r\ncontent-type: application/xml\r\n\r\n" CDA "\r\n"
                    "--b 1--\r\nepilogue";
    decode_ok(a, strlen(a), CDA, strlen(CDA), "multipart-7bit", 3);
    /* A single XML part that is not a ClinicalDocument is still taken (the
     * XML parser and validation then judge it). */
    const char *b = "Content-Type: multipart/related; boundary=x\n\n--x\nContent-Type: text/xml\n\n"
                    "<other/>\n--x--\n";
    decode_ok(b, strlen(b), "<other/>", 8, "multipart-7bit", 1);
    /* Nested: multipart/mixed holding multipart/alternative and an
     * application/octet-stream attachment whose root is ClinicalDocument. */
    const char *c = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
                    "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
                    "--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
                    "--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n"
                    "--outer\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n" CDA_B64 "\r\n--outer--\r\n";
    decode_ok(c, strlen(c), "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>", 42, "multipart-base64",
              3);
    /* A part that is not a candidate is never decoded: its bad base64 does
     * not matter. */
    const char *d = "Content-Type: multipart/mixed; boundary=q\r\n\r\n"
                    "--q\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
                    "\r\n!!!\r\n--q\r\nContent-Type: application/xml\r\n\r\n" CDA "\r\n--q--\r\n";
    decode_ok(d, strlen(d), CDA, strlen(CDA), "multipart-7bit", 2);
    /* Bad ones. */
    const char *e = "Content-Type: multipart/mixed\r\n\r\n--q\r\n\r\n<a/>\r\n--q--\r\n";
    decode_bad(e, strlen(e), 1u << 20, 400, "MIME_MALFORMED", "no boundary");
    const char *f = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                    "Content-Type: application/xml\r\n\r\n" CDA "\r\n";
    decode_bad(f, strlen(f), 1u << 20, 400, "MIME_MALFORMED", "unterminated|--q--");
    const char *g = "Content-Type: multipart/mixed; boundary=q\r\n\r\nno delimiter at all\r\n";
    decode_bad(g, strlen(g), 1u << 20, 400, "MIME_MALFORMED", "never");
    const char *h = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                    "Content-Type: text/plain\r\n\r\nhi\r\n--q\r\nContent-Type: application/pdf"
                    "\r\n\r\n%PDF\r\n--q--\r\n";
    decode_bad(h, strlen(h), 1u << 20, 422, "MIME_NO_CDA", "text/plain, application/pdf");
    const char *i = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                    "Content-Type: text/xml\r\n\r\n<a/>\r\n--q\r\nContent-Type: text/xml"
                    "\r\n\r\n<b/>\r\n--q--\r\n";
    decode_bad(i, strlen(i), 1u << 20, 422, "MIME_NO_CDA", "2 XML parts");
    const char *j = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                    "Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    "PENsaW5pY2F$\r\n--q--\r\n";
    decode_bad(j, strlen(j), 1u << 20, 400, "MIME_BAD_ENCODING", "part 1 (application/xml)");
    const char *k = "Content-Type: multipart/mixed; boundary=q\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n--q--\r\n";
    decode_bad(k, strlen(k), 1u << 20, 400, "MIME_MALFORMED", "must not be base64");
    /* Nesting beyond the limit. */
    cdx_buf_t b5;
    cdx_buf_init(&b5, 1u << 20);
    cdx_buf_puts(&b5, "Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
    for (int n = 0; n < CDX_MIME_MAX_DEPTH + 1; n++)
        cdx_buf_printf(&b5, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", n,
                       n + 1);
    for (int n = CDX_MIME_MAX_DEPTH + 1; n >= 0; n--)
        cdx_buf_printf(&b5, "\r\n--b%d--\r\n", n);
    decode_bad(b5.data, b5.len, 1u << 20, 400, "MIME_MALFORMED", "nested deeper");
    cdx_buf_cleanup(&b5);
}

/* Big and hostile bodies stay linear: many lines that start like the
 * delimiter, many parts, a long base64 document. */
static void test_large_inputs(void **state)
{
    (void)state;
    cdx_buf_t b;
    cdx_buf_init(&b, 64u << 20);
    cdx_buf_puts(&b, "Content-Type: multipart/mixed; boundary=abcdef\r\n\r\n");
    for (int i = 0; i < 400000; i++)
        cdx_buf_puts(&b, "--abcdeX\r\n--abcde\r\n");
    cdx_buf_puts(&b, "--abcdef\r\nContent-Type: application/xml\r\n\r\n" CDA "\r\n--abcdef--\r\n");
    decode_ok(b.data, b.len, CDA, strlen(CDA), "multipart-7bit", 1);
    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for (int i = 0; i < 1001; i++)
        cdx_buf_puts(&b, "--p\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    cdx_buf_puts(&b, "--p--\r\n");
    decode_bad(b.data, b.len, 1u << 24, 400, "MIME_MALFORMED", "more than 1000");
    cdx_buf_reset(&b);
    cdx_buf_puts(&b, "Content-Transfer-Encoding: base64\r\n\r\n");
    for (int i = 0; i < 200000; i++)
        cdx_buf_puts(
            &b, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n");
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_mime_t m;
    assert_int_equal(cdx_mime_decode(b.data, b.len, 64u << 20, &d, &m), 0);
    assert_int_equal(m.len, 200000u * 54);
    assert_memory_equal(m.data + 54 * 1999,
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01", 54);
    cdx_mime_cleanup(&m);
    cdx_diag_cleanup(&d);
    cdx_buf_cleanup(&b);
}

int main(void)
{
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src != NULL && src[0] != '\0')
        source_dir = src;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),       cmocka_unit_test(test_quoted_printable),
        cmocka_unit_test(test_detect),       cmocka_unit_test(test_samples),
        cmocka_unit_test(test_headers),      cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_large_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
