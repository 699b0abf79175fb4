/* http_client: one HTTPS request on the loop (see include/cdx/net/http_client.h).
 *
 * A request walks resolve -> connect -> handshake -> write -> read, with
 * one phase timer (the connect timeout spans resolving, TCP and TLS; the
 * write and read timeouts are idle timeouts re-armed by progress) and one
 * deadline timer.  It ends exactly once, in finish() (the callback) or
 * cdx_http_client_cancel() (no callback), which close every handle; the
 * request frees itself when the last handle has closed and the last
 * outstanding libuv request has called back (`refs`), never synchronously,
 * so no caller ever holds a freed pointer inside a callback. */
#include "cdx/net/http_client.h"
#include "cdx/base/common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK  65536
#define WRITE_CHUNK 65536

typedef enum { PH_RESOLVE, PH_CONNECT, PH_HANDSHAKE, PH_WRITE, PH_READ } phase_t;

/* One TCP attempt: a fresh handle per resolved address. */
typedef struct sock {
    uv_tcp_t tcp;
    uv_connect_t connect;
    cdx_http_client_req_t *owner;
} sock_t;

typedef struct write_req {
    uv_write_t req;
    char *data;
    cdx_http_client_req_t *owner;
} write_req_t;

struct cdx_http_client_req {
    uv_loop_t *loop;
    cdx_tls_client_t *tls;
    cdx_http_client_cb cb;
    void *data;
    cdx_url_t url;
    cdx_institution_t peer;
    cdx_http_client_limits_t lim;
    int head_only;
    char *request; /* the plaintext request, freed once encrypted */
    size_t request_len;
    const char *keep[CDX_HTTP_CLIENT_MAX_KEEP];
    size_t nkeep;
    phase_t phase;
    int finished; /* the callback fired or the request was cancelled */
    int refs;     /* open handles and libuv requests still to call back */
    uv_getaddrinfo_t gai;
    int gai_active;
    struct addrinfo *addrs;
    struct addrinfo *next_addr;
    sock_t *sock;
    uv_timer_t phase_timer;
    uv_timer_t deadline_timer;
    cdx_tls_client_conn_t *conn;
    cdx_http_response_t *resp;
    size_t writes_pending;
    int request_sent; /* all of it handed to TLS */
    char reason[256];
    char rbuf[READ_CHUNK];
};

const char *cdx_http_client_error_label(cdx_http_client_error_t e)
{
    static const char *const labels[] = {
#define CDX_HTTP_CLIENT_ERR_LABEL(name, label) label,
        CDX_HTTP_CLIENT_ERRORS(CDX_HTTP_CLIENT_ERR_LABEL)
#undef CDX_HTTP_CLIENT_ERR_LABEL
    };
    return (unsigned)e < CDX_ARRAY_SIZE(labels) ? labels[e] : "io_error";
}

static void maybe_free(cdx_http_client_req_t *r)
{
    if (r->refs > 0 || !r->finished)
        return;
    if (r->addrs != NULL)
        uv_freeaddrinfo(r->addrs);
    cdx_tls_client_conn_free(r->conn);
    cdx_http_response_free(r->resp);
    free(r->request);
    for (size_t i = 0; i < r->nkeep; i++)
        free((char *)r->keep[i]);
    free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    cdx_http_client_req_t *r = h->data;
    r->refs--;
    maybe_free(r);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *s = h->data;
    cdx_http_client_req_t *r = s->owner;
    free(s);
    r->refs--;
    maybe_free(r);
}

static void drop_sock(cdx_http_client_req_t *r)
{
    if (r->sock == NULL)
        return;
    uv_close((uv_handle_t *)&r->sock->tcp, on_sock_closed);
    r->sock = NULL;
}

/* Sends what TLS still holds without waiting (an alert, close_notify):
 * best effort, as the connection is about to close. */
static void flush_now(cdx_http_client_req_t *r)
{
    char *data = NULL;
    size_t len = 0;
    if (r->sock == NULL || r->conn == NULL || cdx_tls_client_conn_take(r->conn, &data, &len) != 0 ||
        data == NULL)
        return;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    (void)uv_try_write((uv_stream_t *)&r->sock->tcp, &buf, 1);
    free(data);
}

static void teardown(cdx_http_client_req_t *r)
{
    r->finished = 1;
    if (r->gai_active)
        uv_cancel((uv_req_t *)&r->gai); /* its callback still comes, and is counted */
    uv_close((uv_handle_t *)&r->phase_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->deadline_timer, on_timer_closed);
    drop_sock(r);
}

/* Ends the request once: calls back with the outcome, then closes. */
static void finish(cdx_http_client_req_t *r, cdx_http_client_error_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(cdx_http_client_req_t *r, cdx_http_client_error_t err, const char *fmt, ...)
{
    if (r->finished)
        return;
    r->finished = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    cdx_http_client_result_t res;
    memset(&res, 0, sizeof res);
    res.error = err;
    res.reason = r->reason;
    res.retry_after = -1;
    res.body = "";
    if (r->resp != NULL) {
        res.status = cdx_http_response_status(r->resp);
        res.retry_after = cdx_http_response_retry_after(r->resp);
        for (size_t i = 0; i < r->nkeep; i++)
            res.keep[i] = cdx_http_response_kept(r->resp, i);
        res.body = cdx_http_response_body(r->resp, &res.body_len);
    }
    if (r->conn != NULL) {
        res.tls_binding = cdx_tls_client_conn_binding(r->conn);
        if (err == CDX_HTTP_CLIENT_OK)
            cdx_tls_client_conn_shutdown(r->conn);
        flush_now(r);
    }
    r->cb(&res, r->data);
    teardown(r);
}

static void arm(cdx_http_client_req_t *r, phase_t phase, uint64_t ms);

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    cdx_http_client_req_t *r = w->owner;
    free(w->data);
    free(w);
    r->refs--;
    r->writes_pending--;
    if (r->finished) {
        maybe_free(r);
        return;
    }
    if (status < 0) {
        finish(r,
               status == UV_EPIPE || status == UV_ECONNRESET ? CDX_HTTP_CLIENT_CLOSED
                                                             : CDX_HTTP_CLIENT_IO,
               "write: %s", uv_strerror(status));
        return;
    }
    if (r->phase == PH_WRITE) {
        /* Progress: the write timeout is an idle timeout. */
        if (r->request_sent && r->writes_pending == 0)
            arm(r, PH_READ, r->lim.read_ms);
        else
            arm(r, PH_WRITE, r->lim.write_ms);
    }
}

/* Queues the ciphertext TLS holds.  0, or an error after finishing. */
static int flush(cdx_http_client_req_t *r)
{
    char *data = NULL;
    size_t len = 0;
    if (cdx_tls_client_conn_take(r->conn, &data, &len) != 0) {
        finish(r, CDX_HTTP_CLIENT_NOMEM, "out of memory for ciphertext");
        return CDX_ENOMEM;
    }
    if (data == NULL)
        return 0;
    write_req_t *w = malloc(sizeof *w);
    if (w == NULL) {
        free(data);
        finish(r, CDX_HTTP_CLIENT_NOMEM, "out of memory for a write");
        return CDX_ENOMEM;
    }
    w->data = data;
    w->owner = r;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&r->sock->tcp, &buf, 1, on_write);
    if (rc != 0) {
        free(data);
        free(w);
        finish(r, CDX_HTTP_CLIENT_IO, "write: %s", uv_strerror(rc));
        return rc;
    }
    r->refs++;
    r->writes_pending++;
    return 0;
}

/* The handshake is done: encrypt the request in pieces (each its own
 * write, so the write timeout sees progress) and wait for the answer. */
static void send_request(cdx_http_client_req_t *r)
{
    arm(r, PH_WRITE, r->lim.write_ms);
    for (size_t off = 0; off < r->request_len;) {
        size_t n = CDX_MIN(WRITE_CHUNK, r->request_len - off);
        if (cdx_tls_client_conn_write(r->conn, r->request + off, n) != 0) {
            finish(r, CDX_HTTP_CLIENT_TLS_PROTOCOL, "%s", cdx_tls_client_conn_reason(r->conn));
            return;
        }
        if (flush(r) != 0)
            return;
        off += n;
    }
    free(r->request);
    r->request = NULL;
    r->request_sent = 1;
}

static void tls_failed(cdx_http_client_req_t *r)
{
    static const cdx_http_client_error_t map[] = {
        [CDX_TLS_CLIENT_FAIL_NONE] = CDX_HTTP_CLIENT_TLS_PROTOCOL,
        [CDX_TLS_CLIENT_FAIL_CHAIN] = CDX_HTTP_CLIENT_TLS_CHAIN,
        [CDX_TLS_CLIENT_FAIL_HOST] = CDX_HTTP_CLIENT_TLS_HOST,
        [CDX_TLS_CLIENT_FAIL_INSTITUTION] = CDX_HTTP_CLIENT_TLS_INSTITUTION,
        [CDX_TLS_CLIENT_FAIL_PROTOCOL] = CDX_HTTP_CLIENT_TLS_PROTOCOL,
    };
    cdx_tls_client_failure_t f = cdx_tls_client_conn_failure(r->conn);
    finish(r, (unsigned)f < CDX_ARRAY_SIZE(map) ? map[f] : CDX_HTTP_CLIENT_TLS_PROTOCOL, "%s",
           cdx_tls_client_conn_reason(r->conn));
}

/* Advances the handshake; sends the request once it is complete. */
static void handshake(cdx_http_client_req_t *r)
{
    int rc = cdx_tls_client_conn_handshake(r->conn);
    if (rc < 0) {
        tls_failed(r);
        return;
    }
    if (flush(r) != 0 || rc == 0)
        return;
    send_request(r);
}

static void response_state(cdx_http_client_req_t *r, cdx_http_response_state_t st)
{
    const char *why = cdx_http_response_reason(r->resp);
    switch (st) {
    case CDX_HTTP_RESPONSE_MORE:
        return;
    case CDX_HTTP_RESPONSE_DONE:
        finish(r, CDX_HTTP_CLIENT_OK, "%s", "");
        return;
    case CDX_HTTP_RESPONSE_TOO_LARGE:
        finish(r, CDX_HTTP_CLIENT_TOO_LARGE, "%s", why);
        return;
    case CDX_HTTP_RESPONSE_MALFORMED:
        finish(r, CDX_HTTP_CLIENT_MALFORMED, "%s", why);
        return;
    case CDX_HTTP_RESPONSE_TRUNCATED:
        finish(r, CDX_HTTP_CLIENT_CLOSED, "%s", why);
        return;
    }
}

/* Decrypts what has arrived and hands it to the response reader. */
static void pump(cdx_http_client_req_t *r)
{
    char plain[16384];
    while (!r->finished) {
        int n = cdx_tls_client_conn_read(r->conn, plain, sizeof plain);
        if (n > 0) {
            response_state(r, cdx_http_response_feed(r->resp, plain, (size_t)n));
            continue;
        }
        if (n == CDX_EIO) {
            response_state(r, cdx_http_response_eof(r->resp, 1));
            return;
        }
        if (n < 0) {
            tls_failed(r);
            return;
        }
        break;
    }
    if (!r->finished)
        flush(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sock_t *s = h->data;
    buf->base = s->owner->rbuf;
    buf->len = sizeof s->owner->rbuf;
}

static void on_eof(cdx_http_client_req_t *r, ssize_t nread)
{
    if (r->phase == PH_HANDSHAKE) {
        finish(r, CDX_HTTP_CLIENT_CLOSED, "connection closed during the TLS handshake%s%s",
               nread == UV_EOF ? "" : ": ", nread == UV_EOF ? "" : uv_strerror((int)nread));
        return;
    }
    if (nread == UV_EOF || nread == UV_ECONNRESET) {
        cdx_http_response_state_t st = cdx_http_response_eof(r->resp, 0);
        if (nread == UV_ECONNRESET && st == CDX_HTTP_RESPONSE_TRUNCATED)
            finish(r, CDX_HTTP_CLIENT_CLOSED, "connection reset: %s",
                   cdx_http_response_reason(r->resp));
        else
            response_state(r, st);
        return;
    }
    finish(r, CDX_HTTP_CLIENT_IO, "read: %s", uv_strerror((int)nread));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    sock_t *s = stream->data;
    cdx_http_client_req_t *r = s->owner;
    if (r->finished || nread == 0)
        return;
    if (nread < 0) {
        on_eof(r, nread);
        return;
    }
    if (cdx_tls_client_conn_feed(r->conn, buf->base, (size_t)nread) != 0) {
        finish(r, CDX_HTTP_CLIENT_NOMEM, "out of memory for ciphertext");
        return;
    }
    if (r->phase == PH_HANDSHAKE) {
        handshake(r);
        if (r->finished || r->phase == PH_HANDSHAKE)
            return;
    }
    if (r->phase == PH_READ)
        arm(r, PH_READ, r->lim.read_ms); /* idle timeout: any byte is progress */
    pump(r);
}

static void try_connect(cdx_http_client_req_t *r);

static void on_connect(uv_connect_t *req, int status)
{
    sock_t *s = req->data;
    cdx_http_client_req_t *r = s->owner;
    if (r->finished || s != r->sock)
        return; /* cancelled while connecting: the close is under way */
    if (status < 0) {
        snprintf(r->reason, sizeof r->reason, "%s", uv_strerror(status));
        drop_sock(r);
        if (r->next_addr != NULL) {
            try_connect(r);
            return;
        }
        finish(r,
               status == UV_ECONNREFUSED ? CDX_HTTP_CLIENT_CONNECT_REFUSED
               : status == UV_ETIMEDOUT  ? CDX_HTTP_CLIENT_CONNECT_TIMEOUT
                                         : CDX_HTTP_CLIENT_CONNECT,
               "connect to port %u: %s", r->url.port, uv_strerror(status));
        return;
    }
    r->phase = PH_HANDSHAKE; /* the connect timeout runs on */
    int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (rc != 0) {
        finish(r, CDX_HTTP_CLIENT_IO, "read: %s", uv_strerror(rc));
        return;
    }
    rc = cdx_tls_client_conn_new(r->tls, r->url.host, &r->peer, &r->conn);
    if (rc != 0) {
        finish(r, rc == CDX_ENOMEM ? CDX_HTTP_CLIENT_NOMEM : CDX_HTTP_CLIENT_TLS_PROTOCOL,
               "cannot set up TLS: %s", cdx_strerror(rc));
        return;
    }
    handshake(r);
}

/* Connects to the next resolved address; one that cannot even start a
 * connect is skipped like one that refused. */
static void try_connect(cdx_http_client_req_t *r)
{
    int rc = UV_EADDRNOTAVAIL;
    r->phase = PH_CONNECT;
    while (r->next_addr != NULL) {
        struct addrinfo *ai = r->next_addr;
        r->next_addr = ai->ai_next;
        sock_t *s = calloc(1, sizeof *s);
        if (s == NULL) {
            finish(r, CDX_HTTP_CLIENT_NOMEM, "out of memory for a socket");
            return;
        }
        s->owner = r;
        if ((rc = uv_tcp_init(r->loop, &s->tcp)) != 0) {
            free(s);
            break;
        }
        s->tcp.data = s;
        s->connect.data = s;
        r->sock = s;
        r->refs++;
        uv_tcp_nodelay(&s->tcp, 1);
        rc = uv_tcp_connect(&s->connect, &s->tcp, ai->ai_addr, on_connect);
        if (rc == 0)
            return;
        drop_sock(r);
    }
    finish(r, rc == UV_ECONNREFUSED ? CDX_HTTP_CLIENT_CONNECT_REFUSED : CDX_HTTP_CLIENT_CONNECT,
           "connect to port %u: %s", r->url.port, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    cdx_http_client_req_t *r = req->data;
    r->gai_active = 0;
    r->refs--;
    if (r->finished) {
        if (res != NULL)
            uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    if (status < 0 || res == NULL) {
        finish(r, CDX_HTTP_CLIENT_RESOLVE, "cannot resolve the endpoint host: %s",
               uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        return;
    }
    r->addrs = res;
    r->next_addr = res;
    try_connect(r);
}

static void on_phase_timeout(uv_timer_t *t)
{
    cdx_http_client_req_t *r = t->data;
    switch (r->phase) {
    case PH_RESOLVE:
        finish(r, CDX_HTTP_CLIENT_CONNECT_TIMEOUT, "resolving the host timed out");
        return;
    case PH_CONNECT:
        finish(r, CDX_HTTP_CLIENT_CONNECT_TIMEOUT, "TCP connect timed out");
        return;
    case PH_HANDSHAKE:
        finish(r, CDX_HTTP_CLIENT_CONNECT_TIMEOUT, "TLS handshake timed out");
        return;
    case PH_WRITE:
        finish(r, CDX_HTTP_CLIENT_WRITE_TIMEOUT, "no write progress for %llu ms",
               (unsigned long long)r->lim.write_ms);
        return;
    case PH_READ:
        finish(r, CDX_HTTP_CLIENT_READ_TIMEOUT, "nothing received for %llu ms",
               (unsigned long long)r->lim.read_ms);
        return;
    }
}

static void on_deadline(uv_timer_t *t)
{
    cdx_http_client_req_t *r = t->data;
    finish(r, CDX_HTTP_CLIENT_DEADLINE, "no complete response within %llu ms",
           (unsigned long long)r->lim.deadline_ms);
}

static void arm(cdx_http_client_req_t *r, phase_t phase, uint64_t ms)
{
    r->phase = phase;
    uv_timer_start(&r->phase_timer, on_phase_timeout, ms, 0);
}

/* RFC 9110 token characters, for methods and header names. */
static int is_token(const char *s, size_t max)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (n >= max || !(isalnum(ch) || (ch != '\0' && strchr(extra, ch) != NULL)))
            return 0;
    }
    return n > 0;
}

/* A field value: visible characters, spaces and tabs; never CR or LF. */
static int is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int check_request(const cdx_http_client_request_t *req, char *err, size_t errlen)
{
    static const char *const own[] = {"Host", "Content-Length", "Connection", "Transfer-Encoding"};
    if (req->method == NULL || !is_token(req->method, 16)) {
        cdx_errf(err, errlen, "the method is not an HTTP token");
        return CDX_EINVAL;
    }
    if (req->peer == NULL) {
        cdx_errf(err, errlen, "no destination institution to bind the server to");
        return CDX_EINVAL;
    }
    if ((req->body_len > 0 && req->body == NULL) || req->nkeep > CDX_HTTP_CLIENT_MAX_KEEP ||
        (req->nheaders > 0 && req->headers == NULL) || (req->nkeep > 0 && req->keep == NULL)) {
        cdx_errf(err, errlen, "inconsistent request arguments");
        return CDX_EINVAL;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const cdx_http_client_header_t *h = &req->headers[i];
        if (h->name == NULL || h->value == NULL || !is_token(h->name, 64) ||
            !is_field_value(h->value) || strlen(h->value) > 4096) {
            cdx_errf(err, errlen, "request header %zu is not a valid field", i);
            return CDX_EINVAL;
        }
        for (size_t j = 0; j < CDX_ARRAY_SIZE(own); j++) {
            if (strcasecmp(h->name, own[j]) == 0) {
                cdx_errf(err, errlen, "the client writes %s itself", own[j]);
                return CDX_EINVAL;
            }
        }
    }
    return 0;
}

/* Appends to a buffer sized beforehand (see build_request). */
static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

static void puts_(char **p, const char *s)
{
    put(p, s, strlen(s));
}

/* The request head and body in one buffer. */
static int build_request(cdx_http_client_req_t *r, const cdx_http_client_request_t *req)
{
    char host[300], length[48];
    if (r->url.host_is_ip == 6)
        snprintf(host, sizeof host, "[%s]", r->url.host);
    else
        snprintf(host, sizeof host, "%s", r->url.host);
    if (r->url.port != 443)
        snprintf(host + strlen(host), sizeof host - strlen(host), ":%u", r->url.port);
    int with_length = req->body_len > 0 || strcmp(req->method, "POST") == 0 ||
                      strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0;
    snprintf(length, sizeof length, "Content-Length: %zu\r\n", req->body_len);
    size_t need = strlen(req->method) + strlen(r->url.target) + strlen(host) + 64 + strlen(length) +
                  req->body_len;
    for (size_t i = 0; i < req->nheaders; i++)
        need += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 4;
    char *buf = malloc(need), *p = buf;
    if (buf == NULL)
        return CDX_ENOMEM;
    puts_(&p, req->method);
    puts_(&p, " ");
    puts_(&p, r->url.target);
    puts_(&p, " HTTP/1.1\r\nHost: ");
    puts_(&p, host);
    puts_(&p, "\r\nConnection: close\r\n");
    if (with_length)
        puts_(&p, length);
    for (size_t i = 0; i < req->nheaders; i++) {
        puts_(&p, req->headers[i].name);
        puts_(&p, ": ");
        puts_(&p, req->headers[i].value);
        puts_(&p, "\r\n");
    }
    puts_(&p, "\r\n");
    if (req->body_len > 0)
        put(&p, req->body, req->body_len);
    r->request = buf;
    r->request_len = (size_t)(p - buf);
    return 0;
}

static void default_limits(cdx_http_client_limits_t *l)
{
    l->connect_ms = l->connect_ms ? l->connect_ms : 10000;
    l->write_ms = l->write_ms ? l->write_ms : 30000;
    l->read_ms = l->read_ms ? l->read_ms : 30000;
    l->deadline_ms = l->deadline_ms ? l->deadline_ms : 120000;
    l->max_body = l->max_body ? l->max_body : 1u << 20;
    l->max_head = l->max_head ? l->max_head : 16u << 10;
}

/* Everything that can fail before any handle exists. */
static int prepare(cdx_http_client_req_t *r, const cdx_http_client_request_t *req, char *err,
                   size_t errlen)
{
    int rc = check_request(req, err, errlen);
    if (rc == 0)
        rc = cdx_url_parse(req->url, &r->url, err, errlen);
    if (rc != 0)
        return rc;
    r->peer = *req->peer;
    r->lim = req->limits;
    default_limits(&r->lim);
    r->head_only = strcmp(req->method, "HEAD") == 0;
    for (size_t i = 0; i < req->nkeep; i++) {
        if ((r->keep[i] = strdup(req->keep[i] ? req->keep[i] : "")) == NULL)
            return CDX_ENOMEM;
        r->nkeep = i + 1;
    }
    rc = cdx_http_response_new(r->lim.max_head, r->lim.max_body, r->keep, r->nkeep, r->head_only,
                               &r->resp);
    if (rc == CDX_EINVAL)
        cdx_errf(err, errlen, "a response header to keep has an unusable name");
    if (rc == 0)
        rc = build_request(r, req);
    return rc;
}

int cdx_http_client_start(uv_loop_t *loop, cdx_tls_client_t *tls,
                          const cdx_http_client_request_t *req, cdx_http_client_cb cb, void *data,
                          cdx_http_client_req_t **out, char *err, size_t errlen)
{
    if (loop == NULL || tls == NULL || req == NULL || cb == NULL || out == NULL) {
        cdx_errf(err, errlen, "missing arguments");
        return CDX_EINVAL;
    }
    cdx_http_client_req_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CDX_ENOMEM;
    r->loop = loop;
    r->tls = tls;
    r->cb = cb;
    r->data = data;
    int rc = prepare(r, req, err, errlen);
    if (rc != 0) {
        r->finished = 1;
        maybe_free(r);
        return rc;
    }
    uv_timer_init(loop, &r->phase_timer);
    uv_timer_init(loop, &r->deadline_timer);
    r->phase_timer.data = r->deadline_timer.data = r->gai.data = r;
    r->refs = 2;
    uv_timer_start(&r->deadline_timer, on_deadline, r->lim.deadline_ms, 0);
    arm(r, PH_RESOLVE, r->lim.connect_ms);
    char port[8];
    snprintf(port, sizeof port, "%u", r->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (r->url.host_is_ip ? AI_NUMERICHOST : 0);
    rc = uv_getaddrinfo(loop, &r->gai, on_resolved, r->url.host, port, &hints);
    if (rc != 0) {
        cdx_errf(err, errlen, "cannot start resolving: %s", uv_strerror(rc));
        teardown(r); /* frees itself once the timers have closed */
        return rc;
    }
    r->gai_active = 1;
    r->refs++;
    *out = r;
    return 0;
}

void cdx_http_client_cancel(cdx_http_client_req_t *r)
{
    if (r == NULL || r->finished)
        return;
    teardown(r);
}
