/* respond: responses and problem bodies (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/base/problem.h"

#include <time.h>

static void format_date(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void send_response(conn_t *c, int status, const char *content_type, const void *body,
                          size_t len, const char *extra, int route)
{
    cdx_buf_t head;
    char date[64];
    format_date(date, sizeof date);
    if (c->srv->stopping)
        c->close_after = 1;
    cdx_buf_init(&head, 16384);
    int rc = cdx_buf_printf(&head,
                            "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                            "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
                            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                            "%s%s\r\n",
                            status, cdx_http_reason(status), date, content_type, len, c->rq.id,
                            c->close_after ? "Connection: close\r\n" : "", extra ? extra : "");
    if (rc != 0) {
        cdx_buf_cleanup(&head);
        cdx_net_conn_close(c, "response_too_large");
        return;
    }
    cdx_net_conn_send(c, head.data, head.len);
    cdx_buf_cleanup(&head);
    if (len > 0)
        cdx_net_conn_send(c, body, len);
    uint64_t now_ns = uv_hrtime();
    double seconds = (double)(now_ns - (c->handled_ns ? c->handled_ns : now_ns)) / 1e9;
    cdx_net_metrics_request(c->srv, route, status, seconds);
    const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
    CDX_INFO("http.request",
             "conn=%llu req=%s method=%s route=%s status=%d in_bytes=%llu out_bytes=%zu "
             "ms=%.1f institution=%s",
             (unsigned long long)c->id, c->rq.id, c->rq.http ? c->rq.http->method : "-",
             cdx_net_route_label(c->srv, route), status,
             (unsigned long long)(c->rq.http ? c->rq.http->body_received : 0), len,
             seconds * 1000.0, peer ? peer->oid : "-");
    c->responded = 1;
    cdx_net_conn_after_response(c);
}

static int route_index(const cdx_request_t *rq)
{
    if (rq->route == NULL)
        return -1;
    return (int)(rq->route - rq->server->routes);
}

void cdx_respond(cdx_request_t *rq, int status, const char *content_type, const void *body,
                 size_t len, const char *extra_headers)
{
    conn_t *c = rq->conn;
    CDX_ASSERT(!c->responded);
    send_response(c, status, content_type, body, len, extra_headers, route_index(rq));
}

void cdx_net_respond_problem_raw(conn_t *c, int status, const char *code, const char *detail,
                                 const char *issues, const char *extra, int route)
{
    cdx_buf_t body;
    cdx_buf_init(&body, 4u << 20);
    if (cdx_problem_render(&body, status, cdx_http_reason(status), code, detail, c->rq.id,
                           issues) != 0) {
        cdx_buf_reset(&body);
        cdx_problem_render(&body, status, cdx_http_reason(status), code, detail, c->rq.id, NULL);
    }
    send_response(c, status, "application/problem+json", body.data, body.len, extra, route);
    cdx_buf_cleanup(&body);
}

void cdx_respond_problem(cdx_request_t *rq, int status, const char *code, const char *detail,
                         const char *issues_json)
{
    conn_t *c = rq->conn;
    CDX_ASSERT(!c->responded);
    const char *extra = status == 503 ? "Retry-After: 1\r\n" : NULL;
    cdx_net_respond_problem_raw(c, status, code, detail, issues_json, extra, route_index(rq));
}

void cdx_respond_overloaded(cdx_request_t *rq)
{
    cdx_respond_problem(rq, 503, "OVERLOADED",
                        "the gateway is at its limit of concurrent work; retry after 1 second",
                        NULL);
}
