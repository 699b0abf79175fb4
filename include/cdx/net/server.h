/*
 * server: the libuv event loop serving HTTP/1.1 over mutual TLS.
 *
 * Responsible for: listening, accepting within the connection budgets
 * (max_connections; handshakes in progress overall, per client address,
 * with eviction of unauthenticated ones; connections per institution), TLS on
 * the loop thread through memory BIOs, request framing with limits and
 * per-connection timeouts (handshake, headers, body idle and minimum rate,
 * keep-alive idle, slow reader), write backpressure, routing and role
 * checks, CPU jobs on the libuv thread pool with a bound on jobs in
 * flight (503 + Retry-After beyond it), metrics, CRL reloads, and graceful
 * shutdown on SIGTERM/SIGINT (a second signal exits at once).
 * Not responsible for: what handlers do with a request (api/ and the
 * ingest pipeline), reading the configuration (the caller fills a
 * cdx_net_config_t), or where institutions are kept (the caller hands a
 * function that lists them).
 *
 * Everything here runs on the loop thread, except a job's work function.
 */
#ifndef CDX_SERVER_H
#define CDX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/types.h"
#include "cdx/net/http.h"
#include "cdx/net/router.h"

typedef struct cdx_server cdx_server_t;
typedef struct cdx_request cdx_request_t;

/* What a handler sees of a request.  Valid until the response is sent. */
struct cdx_request {
    cdx_server_t *server;
    const cdx_http_request_t *http;
    const cdx_route_t *route;
    cdx_route_params_t params;
    const cdx_institution_t *peer; /* NULL only when client certificates are optional */
    char id[32];                   /* request id, also in logs and problem bodies */
    int peer_loopback;             /* the TCP peer is a loopback address */
    char peer_addr[64];            /* the TCP peer's address as text ("192.0.2.7", "2001:db8::1") */
    void *conn;                    /* private */
};

typedef void (*cdx_handler_fn)(cdx_request_t *rq);

/* Route flags. */
enum {
    CDX_ROUTE_LOOPBACK_OR_ROLE = 1u << 0, /* loopback peers need no role with metrics_loopback */
    CDX_ROUTE_BODY = 1u << 1,             /* the handler wants the body */
};

/* The server's settings.  Strings are borrowed: they, like the struct,
 * must outlive the server.  Sizes are in bytes, times in milliseconds. */
typedef struct cdx_net_config {
    const char *listen;  /* "ADDR:PORT" as configured, for messages */
    char listen_host[64]; /* numeric IPv4 or IPv6 address (no brackets) */
    int listen_port;      /* 0 picks a free port */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    const char *tls_crl; /* "": no CRL checking */
    int64_t crl_reload_ms;
    /* Request framing. */
    int64_t max_body_bytes;
    int64_t max_request_line_bytes;
    int64_t max_header_bytes;
    int64_t max_headers;
    /* Connection budgets. */
    int64_t max_connections;
    int64_t max_handshakes;
    int64_t max_handshakes_per_ip;
    int64_t max_connections_per_institution;
    /* Timeouts and the minimum body rate (bytes/s, 0: none). */
    int64_t handshake_timeout_ms;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    int64_t body_min_rate_bps;
    int64_t body_rate_grace_ms;
    int64_t keepalive_timeout_ms;
    int64_t write_timeout_ms;
    int64_t write_high_water_bytes; /* reading pauses above this much unsent output */
    /* CPU jobs. */
    int64_t max_jobs;
    int64_t worker_threads;
    int64_t shutdown_timeout_ms;
    int64_t metrics_loopback; /* 1: loopback peers reach CDX_ROUTE_LOOPBACK_OR_ROLE routes */
} cdx_net_config_t;

/* Lists the institutions the TLS layer recognizes: on success (0) *out is
 * a heap array of *n entries that the server frees with free(); on
 * failure a negative error with the reason in err.  Called on the loop
 * thread, by cdx_server_new and cdx_server_reload_institutions. */
typedef int (*cdx_institutions_fn)(void *arg, cdx_institution_t **out, size_t *n, char *err,
                                   size_t errlen);

/* Creates the server on loop from cfg (borrowed; must outlive the
 * server), reading the institutions once from institutions(arg, ...).
 * routes (borrowed) is the route table.  Returns 0 or a negative error
 * (CDX_ETLS for the TLS files) with the reason in err. */
int cdx_server_new(void *uv_loop, const cdx_net_config_t *cfg, cdx_institutions_fn institutions,
                   void *arg, const cdx_route_t *routes, size_t nroutes, cdx_server_t **out,
                   char *err, size_t errlen);
void cdx_server_free(cdx_server_t *srv);

/* Binds, listens and installs the signal handlers.  Logs
 * event=server.listening with the bound port. */
int cdx_server_start(cdx_server_t *srv, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int cdx_server_port(const cdx_server_t *srv);
/* Starts a graceful shutdown, as SIGTERM does. */
void cdx_server_stop(cdx_server_t *srv);

/* Reloads the institutions the TLS layer recognizes from the function
 * given to cdx_server_new.  On failure the previous ones stay. */
int cdx_server_reload_institutions(cdx_server_t *srv);

/* Responding.  Exactly one response per request.  extra_headers is
 * "Name: value\r\n" lines or NULL.  The body is copied. */
void cdx_respond(cdx_request_t *rq, int status, const char *content_type, const void *body,
                 size_t len, const char *extra_headers);
/* An application/problem+json response. issues_json may be NULL. */
void cdx_respond_problem(cdx_request_t *rq, int status, const char *code, const char *detail,
                         const char *issues_json);

/* A streamed response: the head goes out at once (Transfer-Encoding:
 * chunked, no Content-Length), then the body is pulled from pull(arg, buf,
 * cap, &len) on the loop thread whenever the socket's queue is below
 * write_high_water_bytes: 0 with len 1..cap bytes written into buf, 0
 * with len 0 at the end of the body, or a negative error (the connection
 * is closed without the last chunk, so the client sees the body cut
 * short).  release(arg) is called exactly once, when the body ended or the
 * connection closed, whichever comes first.  A slow reader is cut off at
 * write_timeout_ms as for any response. */
typedef int (*cdx_stream_pull_fn)(void *arg, char *buf, size_t cap, size_t *len);
void cdx_respond_stream(cdx_request_t *rq, int status, const char *content_type,
                        const char *extra_headers, cdx_stream_pull_fn pull,
                        void (*release)(void *arg), void *arg);

/* Runs work(data) on a worker thread, then done(rq, data) on the loop
 * thread, where the handler responds.  If the client went away meanwhile,
 * done is still called with rq == NULL so data can be freed.  Returns 0,
 * or CDX_EBUSY when max_jobs are in flight (the caller should answer 503;
 * cdx_respond_overloaded does). */
int cdx_submit_job(cdx_request_t *rq, void (*work)(void *data),
                   void (*done)(cdx_request_t *rq, void *data), void *data);
void cdx_respond_overloaded(cdx_request_t *rq);

/* Keeps the request's connection alive across asynchronous work that is
 * not a job (e.g. a registry write).  cdx_request_resume gives the request
 * back, or NULL when the client went away meanwhile (then just clean up).
 * Each hold is resumed exactly once. */
void *cdx_request_hold(cdx_request_t *rq);
cdx_request_t *cdx_request_resume(void *hold);

/* Application data the handlers share (set once before start). */
void cdx_server_set_app(cdx_server_t *srv, void *app);
void *cdx_server_app(const cdx_server_t *srv);

/* Called once when the server has drained and stops, to let the
 * application release loop handles (the writer's). */
void cdx_server_set_stop_hook(cdx_server_t *srv, void (*hook)(void *app));

/* Called when the server itself refuses a request (framing, limits,
 * timeouts) that was addressed to a route taking a body, so the
 * application can audit the rejection.  peer_oid may be NULL; peer_addr is
 * the client's network address as text. */
void cdx_server_set_reject_hook(cdx_server_t *srv,
                                void (*hook)(void *app, const cdx_route_t *route,
                                             const char *peer_oid, const char *peer_addr,
                                             int status, const char *code));

/* Called when a request to a route without a body is refused for lacking
 * the route's role (403), so the application can audit the attempt (the
 * route and its parameters are in rq).  Routes taking a body go to the
 * reject hook instead. */
void cdx_server_set_deny_hook(cdx_server_t *srv, void (*hook)(void *app, const cdx_request_t *rq));

/* Extra metrics lines appended by the application, called from
 * cdx_server_metrics. */
void cdx_server_set_metrics_hook(cdx_server_t *srv, int (*hook)(void *app, cdx_buf_t *out));

/* The metrics in Prometheus text format, appended to out. */
int cdx_server_metrics(cdx_server_t *srv, cdx_buf_t *out);

#endif
