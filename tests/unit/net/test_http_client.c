/* Loopback tests of the outbound HTTP client (gateway/net/http_client.c):
 * what goes over the wire, receipts, the response framings, Retry-After,
 * refusal, each timeout, the body bound, malformed and short responses,
 * and cancellation in every phase.  The fixture and the TLS test server
 * are in tests/support/cdx_test_tls.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test_tls.h"

static void test_success_and_receipt(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, M_OK, SRV);
    call_t c = {0};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "{\"received\":6}");
    assert_string_equal(o.type, "application/json");
    assert_string_equal(o.receipt, "r-42");
    assert_string_equal(o.binding, "san_uri");
    assert_int_equal(o.retry_after, -1);
    /* What went over the wire, and that our client certificate was sent. */
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%u\r\n", s.port);
    assert_non_null(strstr(s.head, "POST /v1/documents?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.head, host));
    assert_non_null(strstr(s.head, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(s.head, "\r\nContent-Length: 6\r\n"));
    assert_non_null(strstr(s.head, "\r\nX-CDX-Document-Id: doc-1\r\n"));
    assert_int_equal(s.body_len, 6);
    assert_string_equal(s.client_uri, "urn:oid:" OUR_OID);
    /* By name: SNI, the DNS check, and resolving localhost. */
    server_start(&s, M_OK, SRV);
    c.host = "localhost";
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 200);
}

static void test_framings(void **state)
{
    (void)state;
    server_t s;
    call_t c = {0};
    server_start(&s, M_CHUNKED, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.body, "hello world");
    server_start(&s, M_INTERIM, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 200);
    server_start(&s, M_CLOSE_DELIMITED, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_string_equal(o.body, "to the end");
    assert_string_equal(o.type, "text/plain");
    server_start(&s, M_CUT_WITHOUT_NOTIFY, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_CLOSED, "close_notify");
}

static void test_retry_after(void **state)
{
    (void)state;
    server_t s;
    call_t c = {0};
    server_start(&s, M_RETRY_DELTA, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.retry_after, 7);
    server_start(&s, M_RETRY_DATE, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.status, 429);
    assert_in_range(o.retry_after, 110, 120);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A bound socket that does not listen: the kernel refuses at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    call_t c = {.port = ntohs(a.sin_port)};
    outcome_t o = request(NULL, &c);
    expect_error(&o, CDX_HTTP_CLIENT_CONNECT_REFUSED, "connection refused");
    close(fd);
}

static void test_connect_timeout(void **state)
{
    (void)state;
    /* A listener whose accept queue (backlog 0) is full: the kernel drops
     * further SYNs, so a connect neither succeeds nor fails. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 0), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    call_t c = {.port = ntohs(a.sin_port), .limits = {.connect_ms = 300}};
    outcome_t o = request(NULL, &c);
    expect_error(&o, CDX_HTTP_CLIENT_CONNECT_TIMEOUT, "TCP connect");
    assert_in_range(o.ms, 250, 5000);
    close(filler);
    close(lfd);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, M_STALL_BEFORE, SRV);
    call_t c = {.limits = {.connect_ms = 300}};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_CONNECT_TIMEOUT, "TLS handshake");
}

static void test_write_timeout(void **state)
{
    (void)state;
    /* More than the socket buffers hold, to a server that never reads. */
    size_t len = 16u << 20;
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'b', len);
    server_t s;
    server_start(&s, M_NO_READ, SRV);
    call_t c = {.body = body, .body_len = len, .limits = {.write_ms = 300, .read_ms = 60000}};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_WRITE_TIMEOUT, "no write progress");
    free(body);
}

static void test_read_timeout(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, M_STALL_AFTER, SRV);
    call_t c = {.limits = {.read_ms = 300}};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_READ_TIMEOUT, "nothing received");
    assert_non_null(strstr(s.head, "POST /v1/documents")); /* it was sent */
}

static void test_deadline(void **state)
{
    (void)state;
    /* A byte every 50 ms keeps the read timeout at bay, not the deadline. */
    server_t s;
    server_start(&s, M_TRICKLE, SRV);
    call_t c = {.limits = {.read_ms = 3000, .deadline_ms = 1200}};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_DEADLINE, "within 1200 ms");
    assert_int_equal(o.status, 200);
    assert_in_range(o.ms, 1100, 3000);
}

static void test_too_large(void **state)
{
    (void)state;
    server_t s;
    /* Declared too large: refused on the head, long before the read timeout. */
    server_start(&s, M_BIG_DECLARED, SRV);
    call_t c = {.limits = {.max_body = 4096, .read_ms = 8000}};
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TOO_LARGE, "over 4096 bytes");
    assert_int_equal(o.status, 200);
    assert_true(o.ms < 6000);
    /* Chunked: counted as it arrives. */
    server_start(&s, M_BIG_CHUNKED, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TOO_LARGE, "over 4096 bytes");
    assert_true(o.body_len <= 4096);
    /* The same body fits a larger bound. */
    server_start(&s, M_BIG_CHUNKED, SRV);
    c.limits.max_body = 8000;
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_int_equal(o.body_len, 8000);
}

static void test_malformed_and_closed(void **state)
{
    (void)state;
    server_t s;
    call_t c = {0};
    server_start(&s, M_MALFORMED, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_MALFORMED, NULL);
    server_start(&s, M_CLOSE_EARLY, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_CLOSED, "5 bytes into the body");
    assert_int_equal(o.status, 200);
}

/* Cancelling in each phase: no callback, and the loop closes cleanly
 * (request() checks both; ASan and valgrind check that nothing leaks). */
static void test_cancel(void **state)
{
    (void)state;
    static const mode_t_ modes[] = {M_STALL_BEFORE, M_NO_READ, M_STALL_AFTER};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(modes); i++) {
        server_t s;
        server_start(&s, modes[i], SRV);
        call_t c = {.cancel_on_notify = 1, .limits = {.write_ms = 60000, .read_ms = 60000}};
        size_t len = 8u << 20;
        char *body = modes[i] == M_NO_READ ? calloc(1, len) : NULL;
        if (body != NULL) {
            c.body = body;
            c.body_len = len;
        }
        request(&s, &c);
        free(body);
    }
    /* While resolving, straight after the start. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cdx_institution_t dest = institution(DEST_OID, -1, 0);
    cdx_http_client_request_t req = {.method = "GET", .url = "https://localhost:9/",
                                     .peer = &dest};
    outcome_t o;
    memset(&o, 0, sizeof o);
    cdx_http_client_req_t *r = NULL;
    assert_int_equal(cdx_http_client_start(&loop, fx.tls, &req, on_done, &o, &r, NULL, 0), 0);
    cdx_http_client_cancel(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(o.called, 0);
    cdx_http_client_cancel(NULL);
}

/* One request's callback cancels another one in flight on the same loop,
 * and starts a third that runs to its end. */
typedef struct pair {
    uv_loop_t *loop;
    outcome_t first, second, third;
    cdx_http_client_req_t *other;
    const cdx_http_client_request_t *next;
} pair_t;

static void on_first(const cdx_http_client_result_t *res, void *data)
{
    pair_t *p = data;
    on_done(res, &p->first);
    cdx_http_client_cancel(p->other);
    cdx_http_client_req_t *r = NULL;
    assert_int_equal(cdx_http_client_start(p->loop, fx.tls, p->next, on_done, &p->third, &r,
                                           NULL, 0),
                     0);
}

static void test_cancel_from_a_callback(void **state)
{
    (void)state;
    server_t ok, stall, again;
    server_start(&ok, M_OK, SRV);
    server_start(&stall, M_STALL_AFTER, SRV);
    server_start(&again, M_RETRY_DELTA, SRV);
    cdx_institution_t dest = institution(DEST_OID, -1, 0);
    char url[3][64];
    snprintf(url[0], sizeof url[0], "https://127.0.0.1:%u/", ok.port);
    snprintf(url[1], sizeof url[1], "https://127.0.0.1:%u/", stall.port);
    snprintf(url[2], sizeof url[2], "https://127.0.0.1:%u/", again.port);
    cdx_http_client_request_t a = {.method = "GET", .url = url[0], .peer = &dest};
    cdx_http_client_request_t b = {.method = "GET", .url = url[1], .peer = &dest};
    cdx_http_client_request_t c = {.method = "GET", .url = url[2], .peer = &dest};
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    pair_t p;
    memset(&p, 0, sizeof p);
    p.loop = &loop;
    p.next = &c;
    assert_int_equal(cdx_http_client_start(&loop, fx.tls, &b, on_done, &p.second, &p.other,
                                           NULL, 0),
                     0);
    /* The stalled request is in the server's hands before the other starts. */
    struct pollfd pf = {.fd = stall.notify[0], .events = POLLIN};
    while (poll(&pf, 1, 1) == 0)
        uv_run(&loop, UV_RUN_NOWAIT);
    cdx_http_client_req_t *ra = NULL;
    assert_int_equal(cdx_http_client_start(&loop, fx.tls, &a, on_first, &p, &ra, NULL, 0), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    server_stop(&ok);
    server_stop(&stall);
    server_stop(&again);
    assert_int_equal(p.first.called, 1);
    assert_int_equal(p.first.status, 200);
    assert_int_equal(p.second.called, 0);
    assert_int_equal(p.third.called, 1);
    assert_int_equal(p.third.status, 503);
}

static void expect_refused(const cdx_http_client_request_t *req, const char *why)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    outcome_t o;
    memset(&o, 0, sizeof o);
    cdx_http_client_req_t *r = NULL;
    char err[256] = "";
    assert_int_equal(cdx_http_client_start(&loop, fx.tls, req, on_done, &o, &r, err, sizeof err),
                     CDX_EINVAL);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, why);
    assert_null(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(o.called, 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    cdx_institution_t dest = institution(DEST_OID, -1, 0);
    cdx_http_client_header_t h = {"X-Ok", "fine"};
    cdx_http_client_request_t req = {.method = "POST", .url = "https://127.0.0.1:9/",
                                     .peer = &dest, .headers = &h, .nheaders = 1};
    req.url = "http://127.0.0.1/";
    expect_refused(&req, "https://");
    req.url = "https://127.0.0.1:9/";
    req.method = "PO ST";
    expect_refused(&req, "method");
    req.method = "POST";
    req.peer = NULL;
    expect_refused(&req, "institution");
    req.peer = &dest;
    h.value = "a\r\nInjected: 1";
    expect_refused(&req, "header 0");
    h.name = "Content-Length";
    h.value = "3";
    expect_refused(&req, "Content-Length");
    h.name = "host";
    expect_refused(&req, "Host");
    assert_string_equal(cdx_http_client_error_label(CDX_HTTP_CLIENT_TOO_LARGE),
                        "response_too_large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_and_receipt),
        cmocka_unit_test(test_framings),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_write_timeout),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_malformed_and_closed),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_from_a_callback),
        cmocka_unit_test(test_bad_arguments),
    };
    return cdx_test_exit(
        cmocka_run_group_tests(tests, cdx_tls_fixture_setup, cdx_tls_fixture_teardown));
}

