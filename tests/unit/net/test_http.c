/* Unit tests of the strict HTTP/1.1 request framing (gateway/net/http.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/net/http.h"

static const cdx_http_limits_t limits = {
    .max_request_line = 256, .max_header_bytes = 1024, .max_headers = 8, .max_body = 64};

typedef struct result {
    cdx_http_event_t last;
    int status;
    char code[64];
    int completes;
    int headers_events;
    char body[128];
    char detail[256];
    size_t leftover;
} result_t;

/* Feeds text in pieces of `step` bytes (0: all at once), continuing after
 * the headers, and stops at the first complete request or error. */
static result_t feed(cdx_http_parser_t *p, const char *text, size_t step, int discard)
{
    result_t r;
    memset(&r, 0, sizeof r);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        size_t n = step ? CDX_MIN(step, len - off) : len - off;
        size_t chunk_off = 0;
        while (chunk_off < n) {
            size_t used = 0;
            cdx_http_event_t ev =
                cdx_http_parser_feed(p, text + off + chunk_off, n - chunk_off, &used);
            chunk_off += used;
            r.last = ev;
            if (ev == CDX_HTTP_HEADERS) {
                r.headers_events++;
                cdx_http_parser_continue(p, discard);
                continue;
            }
            if (ev == CDX_HTTP_ERROR) {
                const cdx_http_error_t *e = cdx_http_parser_error(p);
                r.status = e->status;
                cdx_strlcpy(r.code, e->code, sizeof r.code);
                cdx_strlcpy(r.detail, e->detail, sizeof r.detail);
                return r;
            }
            if (ev == CDX_HTTP_COMPLETE) {
                cdx_http_request_t *req = cdx_http_parser_request(p);
                r.completes++;
                if (req->body.data)
                    cdx_strlcpy(r.body, req->body.data, sizeof r.body);
                r.leftover = len - off - chunk_off;
                return r;
            }
            if (ev == CDX_HTTP_NEED_MORE)
                break;
        }
        off += n;
    }
    return r;
}

static cdx_http_parser_t *mk(void)
{
    cdx_http_parser_t *p = NULL;
    assert_int_equal(cdx_http_parser_new(&limits, &p), 0);
    return p;
}

static void expect_error(const char *text, int status, const char *code)
{
    for (size_t step = 0; step <= 3; step++) {
        cdx_http_parser_t *p = mk();
        result_t r = feed(p, text, step, 0);
        if (r.last != CDX_HTTP_ERROR)
            fail_msg("no error for step %zu: %s", step, text);
        assert_int_equal(r.status, status);
        assert_string_equal(r.code, code);
        cdx_http_parser_free(p);
    }
}

/* As expect_error, and the detail names the actual fault (the README promises an actionable
 * detail: "folded headers", "bare LF", not whatever check happened to trip next). */
static void expect_error_detail(const char *text, int status, const char *code, const char *what)
{
    expect_error(text, status, code);
    cdx_http_parser_t *p = mk();
    result_t r = feed(p, text, 0, 0);
    if (strstr(r.detail, what) == NULL)
        fail_msg("detail \"%s\" does not mention \"%s\" for: %s", r.detail, what, text);
    cdx_http_parser_free(p);
}

static void test_framing_details(void **state)
{
    (void)state;
    expect_error_detail("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400,
                        "HTTP_MALFORMED", "folding");
    expect_error_detail("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tfolded: 2\r\n\r\n", 400,
                        "HTTP_MALFORMED", "folding");
    expect_error_detail("GET / HTTP/1.1\nHost: a\n\n", 400, "HTTP_MALFORMED", "bare LF");
    expect_error_detail("GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400, "HTTP_MALFORMED",
                        "bare LF");
    expect_error_detail("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                        400, "HTTP_CL_TE_CONFLICT", "Transfer-Encoding");
}

/* A head refused after its request line still names where it was going
 * (so the refusal is audited for its route); one refused in the request
 * line itself does not. */
static void test_request_line_of_a_refused_head(void **state)
{
    (void)state;
    char method[16], path[256];
    cdx_http_parser_t *p = mk();
    result_t r = feed(p, "POST /v1/documents?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n", 1, 0);
    assert_int_equal(r.last, CDX_HTTP_ERROR);
    assert_int_equal(cdx_http_parser_request_line(p, method, sizeof method, path, sizeof path), 1);
    assert_string_equal(method, "POST");
    assert_string_equal(path, "/v1/documents");
    cdx_http_parser_free(p);

    p = mk();
    r = feed(p, "POST /v1/documents HTTP/1.1\nHost: a\n\n", 0, 0);
    assert_int_equal(r.last, CDX_HTTP_ERROR);
    assert_int_equal(cdx_http_parser_request_line(p, method, sizeof method, path, sizeof path), 0);
    cdx_http_parser_free(p);
}

static void test_simple_get(void **state)
{
    (void)state;
    for (size_t step = 0; step <= 5; step++) {
        cdx_http_parser_t *p = mk();
        result_t r = feed(p, "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nX-Test:  v  \r\n\r\n", step, 0);
        assert_int_equal(r.last, CDX_HTTP_COMPLETE);
        assert_int_equal(r.headers_events, 1);
        cdx_http_request_t *req = cdx_http_parser_request(p);
        assert_string_equal(req->method, "GET");
        assert_string_equal(req->path, "/healthz");
        assert_string_equal(req->query, "x=1");
        assert_string_equal(cdx_http_header(req, "x-test"), "v");
        assert_null(cdx_http_header(req, "missing"));
        assert_true(req->keep_alive);
        assert_false(req->has_body);
        cdx_http_parser_free(p);
    }
}

static void test_body_and_pipelining(void **state)
{
    (void)state;
    const char *two = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    cdx_http_parser_t *p = mk();
    result_t r = feed(p, two, 0, 0);
    assert_int_equal(r.last, CDX_HTTP_COMPLETE);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.leftover, strlen("GET /b HTTP/1.1\r\nHost: a\r\n\r\n"));
    cdx_http_parser_next(p);
    r = feed(p, two + strlen(two) - r.leftover, 0, 0);
    assert_int_equal(r.last, CDX_HTTP_COMPLETE);
    assert_string_equal(cdx_http_parser_request(p)->path, "/b");
    cdx_http_parser_free(p);
}

static void test_chunked(void **state)
{
    (void)state;
    for (size_t step = 0; step <= 4; step++) {
        cdx_http_parser_t *p = mk();
        result_t r = feed(p,
                          "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                          step, 0);
        assert_int_equal(r.last, CDX_HTTP_COMPLETE);
        assert_string_equal(r.body, "abcde");
        assert_true(cdx_http_parser_request(p)->chunked);
        cdx_http_parser_free(p);
    }
}

static void test_discard(void **state)
{
    (void)state;
    cdx_http_parser_t *p = mk();
    result_t r = feed(p, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 0, 1);
    assert_int_equal(r.last, CDX_HTTP_COMPLETE);
    assert_string_equal(r.body, "");
    assert_int_equal(cdx_http_parser_request(p)->body_received, 5);
    cdx_http_parser_free(p);
}

static void test_smuggling(void **state)
{
    (void)state;
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n",
                 400, "HTTP_CL_TE_CONFLICT");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                 "3\r\n\r\n",
                 400, "HTTP_CL_TE_CONFLICT");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                 400, "HTTP_BAD_CONTENT_LENGTH");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                 400, "HTTP_BAD_CONTENT_LENGTH");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400,
                 "HTTP_BAD_CONTENT_LENGTH");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", 400,
                 "HTTP_BAD_CONTENT_LENGTH");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
                 "HTTP_BAD_TE");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
                 "HTTP_BAD_TE");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400,
                 "HTTP_BAD_TE");
}

static void test_malformed_heads(void **state)
{
    (void)state;
    expect_error("GET / HTTP/1.1\nHost: a\n\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1\r\n\r\n", 400, "HTTP_MALFORMED"); /* no Host */
    expect_error("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED");
    expect_error("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400,
                 "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417,
                 "HTTP_EXPECTATION_FAILED");
}

static void test_limits(void **state)
{
    (void)state;
    char line[400];
    memset(line, 'a', sizeof line);
    line[0] = '/';
    char text[1200];
    snprintf(text, sizeof text, "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 300, line);
    expect_error(text, 414, "HTTP_REQUEST_LINE_TOO_LONG");
    /* Too many header fields. */
    size_t o = (size_t)snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 10; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "X-%d: 1\r\n", i);
    snprintf(text + o, sizeof text - o, "\r\n");
    expect_error(text, 431, "HTTP_HEADERS_TOO_LARGE");
    /* Too many header bytes. */
    snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %.*s\r\n\r\n", 1100 - 40,
             "");
    o = (size_t)snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(text + o, 'b', 1050);
    snprintf(text + o + 1050, sizeof text - o - 1050, "\r\n\r\n");
    expect_error(text, 431, "HTTP_HEADERS_TOO_LARGE");
    /* Body limit by Content-Length: decided before any body byte. */
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n", 413,
                 "BODY_TOO_LARGE");
    /* Body limit for chunked bodies, as the bytes arrive. */
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "41\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n",
                 413, "BODY_TOO_LARGE");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "FFFFFFFFFFFFFFFFF\r\n",
                 400, "HTTP_BAD_CHUNK");
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabcX\r\n",
                 400, "HTTP_BAD_CHUNK");
}

static void test_request_line_spaces(void **state)
{
    (void)state;
    expect_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    expect_error("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "HTTP_MALFORMED");
    cdx_http_parser_t *p = mk();
    result_t r = feed(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0);
    assert_int_equal(r.last, CDX_HTTP_COMPLETE);
    cdx_http_parser_free(p);
}

/* Chunked framing goes through the gateway's own scan, in any split. */
static void test_chunked_strict(void **state)
{
    (void)state;
    const char *post = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const struct {
        const char *body;
        int status;
        const char *code;
    } bad[] = {
        {"5\r\nhelloXY0\r\n\r\n", 400, "HTTP_BAD_CHUNK"},
        {"5;a=b\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK"},
        {"5;a\n\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK"},
        {"5\r\nhello\r\n0\r\n\n", 400, "HTTP_BAD_CHUNK"},
        {"10000000000000000\r\n", 400, "HTTP_BAD_CHUNK"},
        {"41\r\n", 413, "BODY_TOO_LARGE"}, /* refused before its data */
        {"20\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n21\r\n", 413, "BODY_TOO_LARGE"},
    };
    char text[512];
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        snprintf(text, sizeof text, "%s%s", post, bad[i].body);
        expect_error(text, bad[i].status, bad[i].code);
    }
    cdx_http_parser_t *p = mk();
    snprintf(text, sizeof text, "%s%s", post, "10000000000000000\r\n");
    result_t r = feed(p, text, 0, 0);
    assert_int_equal(r.last, CDX_HTTP_ERROR);
    assert_non_null(strstr(cdx_http_parser_error(p)->detail, "overflows"));
    cdx_http_parser_free(p);

    /* Extensions and trailers are accepted; trailers are not headers. */
    for (size_t step = 0; step <= 3; step++) {
        p = mk();
        snprintf(text, sizeof text, "%s%s", post,
                 "3;a=\"b c\"\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\nGET /next HTTP/1.1\r\n");
        r = feed(p, text, step, 0);
        assert_int_equal(r.last, CDX_HTTP_COMPLETE);
        assert_string_equal(r.body, "abc");
        assert_null(cdx_http_header(cdx_http_parser_request(p), "x-trailer"));
        assert_int_equal(r.leftover, strlen("GET /next HTTP/1.1\r\n"));
        cdx_http_parser_free(p);
    }
}

static void test_expect_and_close(void **state)
{
    (void)state;
    cdx_http_parser_t *p = mk();
    size_t used;
    const char *head = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
                       "2\r\nConnection: close\r\n\r\n";
    assert_int_equal(cdx_http_parser_feed(p, head, strlen(head), &used), CDX_HTTP_HEADERS);
    cdx_http_request_t *req = cdx_http_parser_request(p);
    assert_true(req->expect_continue);
    assert_false(req->keep_alive);
    assert_true(req->has_body);
    cdx_http_parser_free(p);

    p = mk();
    result_t r = feed(p, "GET / HTTP/1.0\r\n\r\n", 0, 0);
    assert_int_equal(r.last, CDX_HTTP_COMPLETE);
    assert_false(cdx_http_parser_request(p)->keep_alive);
    cdx_http_parser_free(p);
}

static void test_query_param(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(cdx_http_query_param("a=1&patient=2.25.1%7C123&b=", "patient", out,
                                          sizeof out),
                     1);
    assert_string_equal(out, "2.25.1|123");
    assert_int_equal(cdx_http_query_param("a=1", "patient", out, sizeof out), 0);
    assert_int_equal(cdx_http_query_param("patient=%zz", "patient", out, sizeof out), CDX_EINVAL);
    assert_int_equal(cdx_http_query_param("patient=%4", "patient", out, sizeof out), CDX_EINVAL);
    assert_int_equal(cdx_http_query_param("patient=%00", "patient", out, sizeof out), CDX_EINVAL);
    assert_int_equal(cdx_http_query_param("p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "p", out,
                                          sizeof out),
                     CDX_EINVAL);
    assert_string_equal(cdx_http_reason(404), "Not Found");
    assert_string_equal(cdx_http_reason(431), "Request Header Fields Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),      cmocka_unit_test(test_body_and_pipelining),
        cmocka_unit_test(test_chunked),         cmocka_unit_test(test_discard),
        cmocka_unit_test(test_smuggling),       cmocka_unit_test(test_malformed_heads),
        cmocka_unit_test(test_framing_details),
        cmocka_unit_test(test_request_line_of_a_refused_head),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_expect_and_close),
        cmocka_unit_test(test_query_param),     cmocka_unit_test(test_request_line_spaces),
        cmocka_unit_test(test_chunked_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
