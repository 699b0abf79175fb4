/* conn: a connection's life: TLS pumping, reading, writing with
 * backpressure, timeouts and lingering close (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct write_req {
    uv_write_t req;
    conn_t *conn;
    char *data;
    size_t len;
} write_req_t;

static void conn_arm_timer(conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void cdx_net_conn_start(conn_t *c)
{
    CDX_DEBUG("conn.open", "conn=%llu peer=%s", (unsigned long long)c->id, c->peer_ip);
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_arm_timer(c);
}

void cdx_net_conn_unref(conn_t *c)
{
    CDX_ASSERT(c->refs > 0);
    if (--c->refs > 0 || c->open_handles > 0)
        return;
    cdx_server_t *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    cdx_tls_conn_free(c->tls);
    cdx_http_parser_free(c->http);
    free(c->plain);
    free(c);
    cdx_net_server_check_drained(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->open_handles--;
    if (c->open_handles == 0) {
        /* The loop's own reference goes with the last handle. */
        cdx_net_conn_unref(c);
    }
}

void cdx_net_conn_close(conn_t *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->srv->nlive--;
    cdx_net_stream_abort(c);
    cdx_net_conn_leave_handshake(c);
    cdx_net_slot_release(c->srv, c->inst_slot);
    c->inst_slot = NULL;
    CDX_DEBUG("conn.close", "conn=%llu reason=%s requests=%u", (unsigned long long)c->id, reason,
              c->nrequests);
    uv_timer_stop(&c->timer);
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void conn_update_reading(conn_t *c)
{
    if (c->closing)
        return;
    int want =
        c->state == C_LINGER || ((c->state == C_HANDSHAKE || c->state == C_READ) &&
                                 c->write_queued < (size_t)c->srv->cfg->write_high_water_bytes &&
                                 c->plain_off >= c->plain_len);
    if (want == c->reading)
        return;
    c->reading = want;
    if (want)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    conn_t *c = w->conn;
    c->write_queued -= w->len;
    c->last_write_ms = cdx_now_ms();
    free(w->data);
    free(w);
    if (status < 0 && !c->closing)
        cdx_net_conn_close(c, "write_error");
    if (!c->closing) {
        if (c->write_queued == 0 && c->state == C_CLOSING)
            cdx_net_conn_finish(c);
        else if (c->streaming)
            cdx_net_stream_pump(c);
        else if (c->state == C_READ)
            cdx_net_conn_pump(c);
        if (!c->closing)
            conn_arm_timer(c);
    }
    cdx_net_conn_unref(c);
}

/* Moves TLS output to the socket. */
static void conn_flush(conn_t *c)
{
    while (!c->closing && cdx_tls_conn_pending(c->tls) > 0) {
        char *data;
        size_t len;
        if (cdx_tls_conn_take(c->tls, &data, &len) != 0 || data == NULL) {
            cdx_net_conn_close(c, "out_of_memory");
            return;
        }
        write_req_t *w = malloc(sizeof *w);
        if (w == NULL) {
            free(data);
            cdx_net_conn_close(c, "out_of_memory");
            return;
        }
        w->conn = c;
        w->data = data;
        w->len = len;
        uv_buf_t buf = uv_buf_init(data, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
        if (rc != 0) {
            free(data);
            free(w);
            cdx_net_conn_close(c, "write_error");
            return;
        }
        if (c->write_queued == 0)
            c->last_write_ms = cdx_now_ms();
        c->write_queued += len;
        c->refs++;
    }
}

void cdx_net_conn_send(conn_t *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    if (cdx_tls_conn_write(c->tls, data, len) != 0) {
        cdx_net_conn_close(c, "tls_write_error");
        return;
    }
    conn_flush(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    if (!c->closing) {
        if (status < 0) {
            cdx_net_conn_close(c, "shutdown_error");
        } else {
            /* Read and drop what the client still sends, for a while, so
             * that closing with unread data does not reset the connection
             * before the client has read our last response. */
            c->state = C_LINGER;
            conn_update_reading(c);
            conn_arm_timer(c);
        }
    }
    cdx_net_conn_unref(c);
}

/* Ends the connection after its last response: close_notify, flush, then
 * a TCP half-close and a short linger. */
void cdx_net_conn_finish(conn_t *c)
{
    if (c->closing)
        return;
    if (c->state != C_CLOSING) {
        c->state = C_CLOSING;
        cdx_tls_conn_shutdown(c->tls);
        conn_flush(c);
        if (c->closing)
            return;
    }
    conn_update_reading(c);
    if (c->write_queued > 0) {
        conn_arm_timer(c);
        return;
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req == NULL) {
        cdx_net_conn_close(c, "out_of_memory");
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        cdx_net_conn_close(c, "shutdown_error");
        return;
    }
    c->refs++;
    c->state = C_SHUTDOWN; /* until the shutdown callback */
    uv_timer_stop(&c->timer);
}

/* A response went out: the next request, or the end of the connection. */
void cdx_net_conn_after_response(conn_t *c)
{
    if (c->closing)
        return;
    c->nrequests++;
    if (c->close_after || c->srv->stopping) {
        cdx_net_conn_finish(c);
        return;
    }
    cdx_http_parser_next(c->http);
    memset(&c->rq, 0, sizeof c->rq);
    c->responded = 0;
    c->route_status = 0;
    c->discard = 0;
    c->req_start_ms = 0;
    c->idle_since_ms = cdx_now_ms();
    c->state = C_READ;
    if (!c->in_pump)
        cdx_net_conn_pump(c);
}

static void count_handshake_failure(conn_t *c, cdx_tls_failure_t f)
{
    c->srv->m.tls_failures[f]++;
    CDX_WARN("tls.handshake_failed", "conn=%llu peer=%s reason=%s", (unsigned long long)c->id,
             c->peer_ip, cdx_tls_failure_label(f));
}

/* Moves data through TLS and the HTTP parser until input runs out or a
 * request is being handled. */
void cdx_net_conn_pump(conn_t *c)
{
    if (c->in_pump)
        return;
    c->in_pump = 1;
    while (!c->closing && (c->state == C_HANDSHAKE || c->state == C_READ) &&
           c->write_queued < (size_t)c->srv->cfg->write_high_water_bytes) {
        if (c->plain_off < c->plain_len) {
            size_t used = 0;
            int in_headers = cdx_http_parser_in_headers(c->http);
            cdx_http_event_t ev = cdx_http_parser_feed(c->http, c->plain + c->plain_off,
                                                       c->plain_len - c->plain_off, &used);
            c->plain_off += used;
            uint64_t now = cdx_now_ms();
            if (in_headers && c->req_start_ms == 0 && cdx_http_parser_bytes_seen(c->http) > 0)
                c->req_start_ms = now;
            if (!in_headers && used > 0)
                c->last_body_ms = now;
            if (ev == CDX_HTTP_ERROR) {
                const cdx_http_error_t *e = cdx_http_parser_error(c->http);
                cdx_net_respond_fatal(c, e->status, e->code, e->detail);
                break;
            }
            if (ev == CDX_HTTP_HEADERS && c->over_institution_cap) {
                cdx_net_refuse_over_institution_cap(c);
                break;
            }
            if (ev == CDX_HTTP_HEADERS) {
                cdx_net_dispatch_headers(c);
                if (c->discard && c->close_after &&
                    cdx_http_parser_request(c->http)->expect_continue) {
                    cdx_net_dispatch_request(c);
                    break;
                }
                continue;
            }
            if (ev == CDX_HTTP_COMPLETE) {
                cdx_net_dispatch_request(c);
                continue;
            }
            continue;
        }
        int n = cdx_tls_conn_read(c->tls, c->plain, PLAIN_BUF_SIZE);
        if (c->state == C_HANDSHAKE && cdx_tls_conn_handshake_done(c->tls) && n != CDX_ETLS) {
            const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
            c->state = C_READ;
            c->idle_since_ms = cdx_now_ms();
            cdx_net_conn_leave_handshake(c);
            cdx_net_conn_admit_institution(c, peer);
            CDX_INFO("conn.tls", "conn=%llu peer=%s version=%s cipher=%s institution=%s",
                     (unsigned long long)c->id, c->peer_ip, cdx_tls_conn_version(c->tls),
                     cdx_tls_conn_cipher(c->tls), peer ? peer->oid : "-");
            conn_arm_timer(c);
        }
        if (n > 0) {
            c->plain_len = (size_t)n;
            c->plain_off = 0;
            continue;
        }
        if (n == 0)
            break;
        if (c->state == C_HANDSHAKE) {
            count_handshake_failure(c, cdx_tls_conn_failure(c->tls));
            cdx_net_conn_leave_handshake(c);
            conn_flush(c); /* the alert */
            c->state = C_CLOSING;
            cdx_net_conn_finish(c);
        } else if (n == CDX_EIO) {
            cdx_net_conn_close(c, "peer_closed");
        } else {
            cdx_net_conn_close(c, "tls_error");
        }
        break;
    }
    c->in_pump = 0;
    if (!c->closing) {
        conn_flush(c);
        conn_update_reading(c);
        conn_arm_timer(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->readbuf, sizeof c->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    (void)buf;
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state == C_HANDSHAKE)
            count_handshake_failure(c, CDX_TLS_FAIL_CLOSED);
        cdx_net_conn_close(c, nread == UV_EOF ? "eof" : "read_error");
        return;
    }
    if (nread == 0)
        return;
    if (c->state == C_LINGER)
        return; /* dropped */
    cdx_net_conn_handshake_talking(c);
    if (cdx_tls_conn_feed(c->tls, c->readbuf, (size_t)nread) != 0) {
        cdx_net_conn_close(c, "out_of_memory");
        return;
    }
    cdx_net_conn_pump(c);
}

/* When the connection's current phase expires, in loop milliseconds; 0
 * for no deadline. */
static uint64_t conn_deadline(conn_t *c)
{
    const cdx_net_config_t *cfg = c->srv->cfg;
    if (c->write_queued > 0)
        return c->last_write_ms + (uint64_t)cfg->write_timeout_ms;
    switch (c->state) {
    case C_HANDSHAKE:
        return c->accepted_ms + (uint64_t)cfg->handshake_timeout_ms;
    case C_READ:
        if (cdx_http_parser_in_headers(c->http)) {
            if (c->req_start_ms != 0)
                return c->req_start_ms + (uint64_t)cfg->header_timeout_ms;
            return c->idle_since_ms +
                   (uint64_t)(c->nrequests ? cfg->keepalive_timeout_ms : cfg->header_timeout_ms);
        } else {
            uint64_t d = c->last_body_ms + (uint64_t)cfg->body_timeout_ms;
            /* The rate check keeps its own schedule (the end of the grace
             * period, then every RATE_CHECK_MS): a byte arriving does not
             * push it back. */
            if (cfg->body_min_rate_bps > 0)
                d = CDX_MIN(d, c->rate_check_ms);
            return d;
        }
    case C_LINGER:
        return c->last_write_ms + LINGER_MS;
    default:
        return 0;
    }
}

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->closing)
        return;
    const cdx_net_config_t *cfg = c->srv->cfg;
    uint64_t now = cdx_now_ms();
    if (c->write_queued > 0) {
        if (now >= c->last_write_ms + (uint64_t)cfg->write_timeout_ms) {
            CDX_WARN("conn.slow_reader", "conn=%llu queued=%zu", (unsigned long long)c->id,
                     c->write_queued);
            cdx_net_conn_close(c, "write_timeout");
            return;
        }
    } else if (c->state == C_HANDSHAKE) {
        if (now >= c->accepted_ms + (uint64_t)cfg->handshake_timeout_ms) {
            count_handshake_failure(c, CDX_TLS_FAIL_TIMEOUT);
            cdx_net_conn_close(c, "handshake_timeout");
            return;
        }
    } else if (c->state == C_LINGER) {
        cdx_net_conn_close(c, "linger_done");
        return;
    } else if (c->state == C_READ) {
        if (cdx_http_parser_in_headers(c->http)) {
            if (c->req_start_ms == 0) {
                uint64_t limit =
                    (uint64_t)(c->nrequests ? cfg->keepalive_timeout_ms : cfg->header_timeout_ms);
                if (now >= c->idle_since_ms + limit) {
                    cdx_net_conn_close(c, "idle_timeout");
                    return;
                }
            } else if (now >= c->req_start_ms + (uint64_t)cfg->header_timeout_ms) {
                cdx_net_respond_fatal(c, 408, "HTTP_HEADER_TIMEOUT",
                                      "the request head did not arrive in time");
                return;
            }
        } else {
            uint64_t got = cdx_http_parser_request(c->http)->body_received;
            if (now >= c->last_body_ms + (uint64_t)cfg->body_timeout_ms) {
                cdx_net_respond_fatal(c, 408, "HTTP_BODY_TIMEOUT",
                                      "the request body stopped arriving; nothing was stored");
                return;
            }
            uint64_t elapsed = now - c->body_start_ms;
            if (cfg->body_min_rate_bps > 0 && now >= c->rate_check_ms) {
                if (elapsed > 0 && got * 1000 / elapsed < (uint64_t)cfg->body_min_rate_bps) {
                    char detail[200];
                    snprintf(detail, sizeof detail,
                             "the request body arrived at %llu bytes/s, slower than the minimum "
                             "of %lld; nothing was stored",
                             (unsigned long long)(got * 1000 / elapsed),
                             (long long)cfg->body_min_rate_bps);
                    cdx_net_respond_fatal(c, 408, "HTTP_BODY_TOO_SLOW", detail);
                    return;
                }
                c->rate_check_ms = now + RATE_CHECK_MS;
            }
        }
    }
    conn_arm_timer(c);
}

static void conn_arm_timer(conn_t *c)
{
    if (c->closing)
        return;
    uint64_t d = conn_deadline(c);
    if (d == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = cdx_now_ms();
    uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}
