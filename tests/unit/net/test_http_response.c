/* Unit tests of reading one HTTP/1.1 response (gateway/net/http_response.c):
 * framing, bounds, interim responses, kept headers and Retry-After, each
 * fed whole and in small pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "cdx/base/common.h"
#include "cdx/net/http_response.h"

static const char *const keep[] = {"Content-Type", "X-Receipt"};

typedef struct outcome {
    cdx_http_response_state_t state;
    int status;
    int64_t retry_after;
    char body[256];
    size_t body_len;
    char type[64];
    char receipt[64];
    char reason[128];
} outcome_t;

/* Feeds text in pieces of step bytes (0: whole), then an end of stream
 * (clean or not) when eof is set and the response is still open. */
static outcome_t run(const char *text, size_t step, size_t max_body, int eof, int clean)
{
    cdx_http_response_t *r = NULL;
    assert_int_equal(cdx_http_response_new(256, max_body, keep, 2, 0, &r), 0);
    cdx_http_response_state_t st = CDX_HTTP_RESPONSE_MORE;
    size_t len = strlen(text);
    for (size_t off = 0; off < len && st == CDX_HTTP_RESPONSE_MORE;) {
        size_t n = step ? CDX_MIN(step, len - off) : len - off;
        st = cdx_http_response_feed(r, text + off, n);
        off += n;
    }
    if (eof && st == CDX_HTTP_RESPONSE_MORE)
        st = cdx_http_response_eof(r, clean);
    outcome_t o;
    memset(&o, 0, sizeof o);
    o.state = st;
    o.status = cdx_http_response_status(r);
    o.retry_after = cdx_http_response_retry_after(r);
    const char *body = cdx_http_response_body(r, &o.body_len);
    assert_non_null(body);
    assert_int_equal(body[o.body_len], '\0');
    cdx_strlcpy(o.body, body, sizeof o.body);
    if (cdx_http_response_kept(r, 0))
        cdx_strlcpy(o.type, cdx_http_response_kept(r, 0), sizeof o.type);
    if (cdx_http_response_kept(r, 1))
        cdx_strlcpy(o.receipt, cdx_http_response_kept(r, 1), sizeof o.receipt);
    assert_null(cdx_http_response_kept(r, 2));
    cdx_strlcpy(o.reason, cdx_http_response_reason(r), sizeof o.reason);
    /* Once decided, the state sticks. */
    if (st != CDX_HTTP_RESPONSE_MORE)
        assert_int_equal(cdx_http_response_feed(r, "x", 1), st);
    cdx_http_response_free(r);
    return o;
}

/* The same outcome for every piece size. */
static outcome_t expect(const char *text, size_t max_body, int eof, int clean,
                        cdx_http_response_state_t state)
{
    outcome_t first;
    for (size_t step = 0; step <= 7; step++) {
        outcome_t o = run(text, step, max_body, eof, clean);
        if (o.state != state)
            fail_msg("step %zu: state %d, expected %d (%s) for: %s", step, o.state, state,
                     o.reason, text);
        if (step == 0)
            first = o;
        else if (state == CDX_HTTP_RESPONSE_DONE)
            assert_string_equal(o.body, first.body);
    }
    return first;
}

static void test_content_length(void **state)
{
    (void)state;
    outcome_t o = expect("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "X-Receipt:  r-17 \r\nX-Receipt: r-18\r\nContent-Length: 11\r\n\r\n"
                         "{\"ok\":true}TRAILING GARBAGE",
                         1024, 0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "{\"ok\":true}");
    assert_string_equal(o.type, "application/json");
    assert_string_equal(o.receipt, "r-17"); /* trimmed, first value kept */
    assert_int_equal(o.retry_after, -1);
    o = expect("HTTP/1.1 204 No Content\r\n\r\n", 1024, 0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.status, 204);
    assert_int_equal(o.body_len, 0);
}

static void test_chunked(void **state)
{
    (void)state;
    outcome_t o = expect("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                         1024, 0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.body, "hello world");
    expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\nhello\r\n0\r\n\r\n", 1024,
           0, 0, CDX_HTTP_RESPONSE_MALFORMED);
    /* A chunked body cut short is truncated, clean end or not. */
    expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 1024, 1, 1,
           CDX_HTTP_RESPONSE_TRUNCATED);
}

static void test_close_delimited(void **state)
{
    (void)state;
    outcome_t o =
        expect("HTTP/1.1 200 OK\r\n\r\nuntil the end", 1024, 1, 1, CDX_HTTP_RESPONSE_DONE);
    assert_string_equal(o.body, "until the end");
    /* Without close_notify the end may be an attacker's cut. */
    o = expect("HTTP/1.1 200 OK\r\n\r\nuntil the end", 1024, 1, 0, CDX_HTTP_RESPONSE_TRUNCATED);
    assert_non_null(strstr(o.reason, "close_notify"));
    o = expect("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 1024, 1, 1,
               CDX_HTTP_RESPONSE_TRUNCATED);
    assert_non_null(strstr(o.reason, "5 bytes into the body"));
    o = expect("HTTP/1.1 200 OK\r\nContent-Le", 1024, 1, 1, CDX_HTTP_RESPONSE_TRUNCATED);
    assert_non_null(strstr(o.reason, "before the response head"));
    assert_int_equal(o.status, 0);
    o = expect("", 1024, 1, 1, CDX_HTTP_RESPONSE_TRUNCATED);
}

static void test_interim_responses(void **state)
{
    (void)state;
    outcome_t o = expect("HTTP/1.1 100 Continue\r\nX-Receipt: early\r\n\r\n"
                         "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                         "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
                         1024, 0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.status, 202);
    assert_string_equal(o.receipt, ""); /* the interim header is forgotten */
    assert_string_equal(o.body, "ok");
    o = expect("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
               1024, 0, 0, CDX_HTTP_RESPONSE_MALFORMED);
    assert_non_null(strstr(o.reason, "protocol switch"));
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "garbage\r\n\r\n",
        "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header: 1\r\n\r\n",
        "HTTP/1.1 999 Nine\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        outcome_t o = expect(bad[i], 1024, 1, 1, CDX_HTTP_RESPONSE_MALFORMED);
        assert_true(o.reason[0] != '\0');
    }
}

static void test_bounds(void **state)
{
    (void)state;
    /* A declared length over the bound is refused on the head alone. */
    outcome_t o = expect("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10, 0, 0,
                         CDX_HTTP_RESPONSE_TOO_LARGE);
    assert_int_equal(o.status, 200);
    assert_non_null(strstr(o.reason, "over 10 bytes"));
    expect("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 10, 0, 0,
           CDX_HTTP_RESPONSE_DONE);
    /* A chunked or close-delimited body is counted as it arrives. */
    expect("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n"
           "5\r\n6789a\r\n0\r\n\r\n",
           10, 0, 0, CDX_HTTP_RESPONSE_TOO_LARGE);
    expect("HTTP/1.1 200 OK\r\n\r\n0123456789a", 10, 1, 1, CDX_HTTP_RESPONSE_TOO_LARGE);
    /* The head bound: 256 bytes in these tests. */
    char head[600];
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nX-Big: %0250d\r\n\r\n", 0);
    o = expect(head, 10, 0, 0, CDX_HTTP_RESPONSE_TOO_LARGE);
    assert_non_null(strstr(o.reason, "head over 256"));
    char many[800] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 50; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    expect(many, 10, 0, 0, CDX_HTTP_RESPONSE_TOO_LARGE);
}

static void test_head_only(void **state)
{
    (void)state;
    cdx_http_response_t *r = NULL;
    assert_int_equal(cdx_http_response_new(256, 16, NULL, 0, 1, &r), 0);
    const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
    assert_int_equal(cdx_http_response_feed(r, text, strlen(text)), CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(cdx_http_response_status(r), 200);
    cdx_http_response_free(r);
    cdx_http_response_free(NULL);
    assert_int_equal(cdx_http_response_new(0, 16, NULL, 0, 0, &r), CDX_EINVAL);
    const char *nine[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    assert_int_equal(cdx_http_response_new(256, 16, nine, 9, 0, &r), CDX_EINVAL);
}

static void test_retry_after(void **state)
{
    (void)state;
    /* 1994-11-06 08:49:37 UTC. */
    const time_t at = 784111777;
    int64_t s = -5;
    assert_int_equal(cdx_http_retry_after_parse("120", at, &s), 0);
    assert_int_equal(s, 120);
    assert_int_equal(cdx_http_retry_after_parse(" 0 ", at, &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(cdx_http_retry_after_parse("99999999999999999999", at, &s), 0);
    assert_int_equal(s, INT32_MAX);
    assert_int_equal(cdx_http_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", at - 30, &s),
                     0);
    assert_int_equal(s, 30);
    assert_int_equal(cdx_http_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", at - 31, &s),
                     0);
    assert_int_equal(s, 31);
    assert_int_equal(cdx_http_retry_after_parse("Sun Nov  6 08:49:37 1994", at - 32, &s), 0);
    assert_int_equal(s, 32);
    /* A date already past asks for no delay. */
    assert_int_equal(cdx_http_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", at + 99, &s),
                     0);
    assert_int_equal(s, 0);
    static const char *const bad[] = {"",    "-5",  "1.5", "12s", "soon",
                                      "Sun, 06 Nov 1994 08:49:37",
                                      "Sun, 06 Nov 1994 08:49:37 GMT extra",
                                      "Sun, 32 Nov 1994 08:49:37 GMT"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++) {
        s = -7;
        if (cdx_http_retry_after_parse(bad[i], at, &s) != CDX_EINVAL)
            fail_msg("accepted Retry-After \"%s\"", bad[i]);
        assert_int_equal(s, -7);
    }
    assert_int_equal(cdx_http_retry_after_parse(NULL, at, &s), CDX_EINVAL);
    /* Read from a response, and unreadable values leave it absent. */
    outcome_t o = expect("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n"
                         "Content-Length: 0\r\n\r\n",
                         10, 0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.retry_after, 7);
    o = expect("HTTP/1.1 429 Too Many\r\nRetry-After: later\r\nContent-Length: 0\r\n\r\n", 10,
               0, 0, CDX_HTTP_RESPONSE_DONE);
    assert_int_equal(o.retry_after, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),   cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited),  cmocka_unit_test(test_interim_responses),
        cmocka_unit_test(test_malformed),        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_head_only),        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
