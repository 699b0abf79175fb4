/* stream: a response whose body is pulled from a producer as the socket
 * drains, sent with the chunked transfer coding (see
 * include/cdx/net/server.h, cdx_respond_stream).
 *
 * The connection asks the producer for at most STREAM_CHUNK bytes at a
 * time and only while less than write_high_water_bytes are queued for the
 * socket; each write's completion pulls again (conn.c).  So a large
 * answer holds one chunk in memory, and a client that stops reading is
 * cut off at write_timeout_ms like any slow reader. */
#include "net_internal.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_CHUNK 65536
/* Room before the data for the chunk's size line ("ffffffff\r\n"). */
#define SIZE_ROOM 16

static void release(conn_t *c)
{
    void (*fn)(void *) = c->stream_release;
    void *arg = c->stream_arg;
    c->streaming = 0;
    c->stream_pull = NULL;
    c->stream_release = NULL;
    c->stream_arg = NULL;
    free(c->stream_buf);
    c->stream_buf = NULL;
    if (fn != NULL)
        fn(arg);
}

void cdx_net_stream_abort(conn_t *c)
{
    if (c->streaming)
        release(c);
}

/* The last chunk went out: the request is answered. */
static void stream_done(conn_t *c)
{
    uint64_t now_ns = uv_hrtime();
    double seconds = (double)(now_ns - (c->handled_ns ? c->handled_ns : now_ns)) / 1e9;
    cdx_net_metrics_request(c->srv, c->stream_route, c->stream_status, seconds);
    const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
    CDX_INFO("http.request",
             "conn=%llu req=%s method=%s route=%s status=%d in_bytes=%llu out_bytes=%llu "
             "ms=%.1f institution=%s streamed=1",
             (unsigned long long)c->id, c->rq.id, c->rq.http ? c->rq.http->method : "-",
             cdx_net_route_label(c->srv, c->stream_route), c->stream_status,
             (unsigned long long)(c->rq.http ? c->rq.http->body_received : 0),
             (unsigned long long)c->stream_bytes, seconds * 1000.0, peer ? peer->oid : "-");
    release(c);
    cdx_net_conn_after_response(c);
}

void cdx_net_stream_pump(conn_t *c)
{
    while (c->streaming && !c->closing &&
           c->write_queued < (size_t)c->srv->cfg->write_high_water_bytes) {
        size_t len = 0;
        int rc = c->stream_pull(c->stream_arg, c->stream_buf + SIZE_ROOM, STREAM_CHUNK, &len);
        if (rc != 0 || len > STREAM_CHUNK) {
            /* The body cannot be finished: the client sees it cut short
             * (no last chunk), never a body that looks complete. */
            CDX_WARN("http.stream_failed", "conn=%llu req=%s error=%s", (unsigned long long)c->id,
                     c->rq.id, cdx_log_q(cdx_strerror(rc != 0 ? rc : CDX_ERANGE)));
            release(c);
            cdx_net_conn_close(c, "stream_error");
            return;
        }
        if (len == 0) {
            cdx_net_conn_send(c, "0\r\n\r\n", 5);
            if (!c->closing)
                stream_done(c);
            return;
        }
        char line[SIZE_ROOM];
        int n = snprintf(line, sizeof line, "%zx\r\n", len);
        char *start = c->stream_buf + SIZE_ROOM - n;
        memcpy(start, line, (size_t)n);
        memcpy(c->stream_buf + SIZE_ROOM + len, "\r\n", 2);
        c->stream_bytes += len;
        cdx_net_conn_send(c, start, (size_t)n + len + 2);
    }
}

void cdx_respond_stream(cdx_request_t *rq, int status, const char *content_type,
                        const char *extra_headers, cdx_stream_pull_fn pull,
                        void (*release_fn)(void *arg), void *arg)
{
    conn_t *c = rq->conn;
    CDX_ASSERT(!c->responded);
    c->responded = 1;
    c->stream_pull = pull;
    c->stream_release = release_fn;
    c->stream_arg = arg;
    c->stream_status = status;
    c->stream_route = rq->route != NULL ? (int)(rq->route - rq->server->routes) : -1;
    c->stream_bytes = 0;
    c->stream_buf = malloc(SIZE_ROOM + STREAM_CHUNK + 2);
    c->streaming = 1;
    if (c->stream_buf == NULL) {
        release(c);
        cdx_net_conn_close(c, "out_of_memory");
        return;
    }
    if (c->srv->stopping)
        c->close_after = 1;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cdx_buf_t head;
    cdx_buf_init(&head, 16384);
    int rc = cdx_buf_printf(&head,
                            "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                            "Transfer-Encoding: chunked\r\nX-Request-Id: %s\r\n"
                            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                            "%s%s\r\n",
                            status, cdx_http_reason(status), date, content_type, c->rq.id,
                            c->close_after ? "Connection: close\r\n" : "",
                            extra_headers ? extra_headers : "");
    if (rc != 0) {
        cdx_buf_cleanup(&head);
        release(c);
        cdx_net_conn_close(c, "response_too_large");
        return;
    }
    cdx_net_conn_send(c, head.data, head.len);
    cdx_buf_cleanup(&head);
    cdx_net_stream_pump(c);
}
