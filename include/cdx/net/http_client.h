/*
 * http_client: one HTTPS request on the libuv loop, over the outbound TLS
 * client (net/tls_client.h).
 *
 * Responsible for: parsing and checking an https URL; resolving its host,
 * connecting (each resolved address in turn while they refuse), the TLS
 * handshake bound to the destination institution, writing one HTTP/1.1
 * request (Host, Content-Length, Connection: close and the caller's
 * headers), reading one response (Content-Length, chunked, or delimited
 * by the server's close_notify) under a body size limit; a connect
 * timeout (TCP and TLS handshake), a write and a read timeout (both idle:
 * reset by progress) and an overall deadline; and a result that says what
 * happened: the status, the Retry-After delay, the headers the caller
 * asked for and the body, or a classified error with a short reason.
 * Not responsible for: retries, backoff, redirects or connection reuse
 * (one request per connection), deciding what a status means.
 *
 * Loop thread only: every function is called on the thread running the
 * loop, and the callback fires there.  The process ignores SIGPIPE (as
 * `cdxgw serve` does), or a peer that closes mid-write would end it.
 */
#ifndef CDX_NET_HTTP_CLIENT_H
#define CDX_NET_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cdx/domain/types.h"
#include "cdx/net/http_response.h"
#include "cdx/net/url.h"
#include "cdx/net/tls_client.h"

#define CDX_HTTP_CLIENT_ERRORS(X)                                                                  \
    X(OK, "ok")                                                                                    \
    X(RESOLVE, "resolve_failed")                                                                   \
    X(CONNECT_REFUSED, "connect_refused")                                                          \
    X(CONNECT_TIMEOUT, "connect_timeout")                                                          \
    X(CONNECT, "connect_failed")                                                                   \
    X(TLS_CHAIN, "tls_chain")                                                                      \
    X(TLS_HOST, "tls_host")                                                                        \
    X(TLS_INSTITUTION, "tls_institution")                                                          \
    X(TLS_PROTOCOL, "tls_protocol")                                                                \
    X(WRITE_TIMEOUT, "write_timeout")                                                              \
    X(READ_TIMEOUT, "read_timeout")                                                                \
    X(DEADLINE, "deadline")                                                                        \
    X(TOO_LARGE, "response_too_large")                                                             \
    X(MALFORMED, "malformed_response")                                                             \
    X(CLOSED, "closed_early")                                                                      \
    X(IO, "io_error")                                                                              \
    X(NOMEM, "out_of_memory")

typedef enum {
#define CDX_HTTP_CLIENT_ERR_ENUM(name, label) CDX_HTTP_CLIENT_##name,
    CDX_HTTP_CLIENT_ERRORS(CDX_HTTP_CLIENT_ERR_ENUM)
#undef CDX_HTTP_CLIENT_ERR_ENUM
        CDX_HTTP_CLIENT_ERROR_COUNT
} cdx_http_client_error_t;

/* A static label such as "read_timeout", for metrics, logs and stored
 * delivery errors. */
const char *cdx_http_client_error_label(cdx_http_client_error_t e);

typedef struct cdx_http_client_header {
    const char *name;
    const char *value;
} cdx_http_client_header_t;

/* Timeouts in milliseconds (0: the default in brackets) and sizes. */
typedef struct cdx_http_client_limits {
    uint64_t connect_ms;  /* resolve, TCP connect and TLS handshake [10000] */
    uint64_t write_ms;    /* the request written, idle: reset by progress [30000] */
    uint64_t read_ms;     /* the response read, idle: reset by each byte [30000] */
    uint64_t deadline_ms; /* the whole exchange [120000] */
    size_t max_body;      /* response body bytes [1 MiB] */
    size_t max_head;      /* status line and headers bytes [16 KiB] */
} cdx_http_client_limits_t;

#define CDX_HTTP_CLIENT_MAX_KEEP CDX_HTTP_RESPONSE_MAX_KEEP

typedef struct cdx_http_client_request {
    const char *method;                      /* "POST", "GET", ... */
    const char *url;                         /* https://... (cdx_url_parse) */
    const cdx_http_client_header_t *headers; /* besides Host, Content-Length, Connection */
    size_t nheaders;
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    /* The institution the server must prove it is (tls_client.h). */
    const cdx_institution_t *peer;
    /* Response headers to hand back (case-insensitive names), at most
     * CDX_HTTP_CLIENT_MAX_KEEP; a repeated header keeps its first value. */
    const char *const *keep;
    size_t nkeep;
    cdx_http_client_limits_t limits;
} cdx_http_client_request_t;

typedef struct cdx_http_client_result {
    cdx_http_client_error_t error; /* OK: a complete response arrived */
    /* Why, when error is not OK: short, no request or response content. */
    const char *reason;
    int status;              /* 0 when no response head arrived */
    int64_t retry_after;     /* seconds, -1 when absent or unreadable */
    const char *keep[CDX_HTTP_CLIENT_MAX_KEEP]; /* values of request.keep, NULL if absent */
    const char *body;        /* NUL-terminated; "" when empty */
    size_t body_len;
    const char *tls_binding; /* how the server was bound (tls_client.h), or NULL */
} cdx_http_client_result_t;

typedef struct cdx_http_client_req cdx_http_client_req_t;

/* Fires once on the loop thread with the outcome.  The result and every
 * pointer in it are valid only during the call (copy what you keep).  The
 * request handle is invalid once the callback returns; the callback may
 * start new requests. */
typedef void (*cdx_http_client_cb)(const cdx_http_client_result_t *res, void *data);

/* Starts a request.  Everything in req is copied (the body too), so the
 * caller's storage may go at once; tls must stay alive until the request
 * ends (its callback, or its cancellation).  Returns 0 and sets
 * *out, or without any callback: CDX_EINVAL (a bad URL, method or header,
 * a header the client writes itself, no peer) with a reason in err, or
 * CDX_ENOMEM.  Failures after the start arrive through cb. */
int cdx_http_client_start(uv_loop_t *loop, cdx_tls_client_t *tls,
                          const cdx_http_client_request_t *req, cdx_http_client_cb cb,
                          void *data, cdx_http_client_req_t **out, char *err, size_t errlen);

/* Abandons a request that has not called back: the callback will not
 * fire, the connection is dropped, and the handle frees itself once the
 * loop has run its close callbacks (uv_run the loop before
 * uv_loop_close; a name lookup already running in libuv's thread pool
 * cannot be interrupted and is waited for).  Safe in every phase, also from another request's
 * callback; a no-op on NULL.  Not to be called after the callback. */
void cdx_http_client_cancel(cdx_http_client_req_t *r);

#endif
