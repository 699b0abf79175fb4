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
 * Not responsible for: what handlers do with a request (handlers.c and
 * the ingest pipeline), or the registry's content.
 *
 * Everything here runs on the loop thread, except a job's work function.
 */
#ifndef CDX_SERVER_H
#define CDX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/conf/config.h"
#include "cdx/net/http.h"
#include "cdx/store/registry.h"
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
    void *conn;                    /* private */
};

typedef void (*cdx_handler_fn)(cdx_request_t *rq);

/* Route flags. */
enum {
    CDX_ROUTE_LOOPBACK_OR_ROLE = 1u << 0, /* loopback peers need no role with metrics_loopback */
    CDX_ROUTE_BODY = 1u << 1,             /* the handler wants the body */
};

/* Creates the server on loop from cfg (borrowed; must outlive the server)
 * and the open registry (borrowed).  routes (borrowed) is the route table.
 * Returns 0 or a negative error with the reason in err. */
int cdx_server_new(void *uv_loop, const cdx_config_t *cfg, cdx_registry_t *reg,
                   const cdx_route_t *routes, size_t nroutes, cdx_server_t **out, char *err,
                   size_t errlen);
void cdx_server_free(cdx_server_t *srv);

/* Binds, listens and installs the signal handlers.  Logs
 * event=server.listening with the bound port. */
int cdx_server_start(cdx_server_t *srv, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int cdx_server_port(const cdx_server_t *srv);
/* Starts a graceful shutdown, as SIGTERM does. */
void cdx_server_stop(cdx_server_t *srv);

/* Reloads the institutions the TLS layer recognizes from the registry. */
int cdx_server_reload_institutions(cdx_server_t *srv);

cdx_registry_t *cdx_server_registry(cdx_server_t *srv);
const cdx_config_t *cdx_server_config(cdx_server_t *srv);

/* Responding.  Exactly one response per request.  extra_headers is
 * "Name: value\r\n" lines or NULL.  The body is copied. */
void cdx_respond(cdx_request_t *rq, int status, const char *content_type, const void *body,
                 size_t len, const char *extra_headers);
/* An application/problem+json response. issues_json may be NULL. */
void cdx_respond_problem(cdx_request_t *rq, int status, const char *code, const char *detail,
                         const char *issues_json);

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
 * application can audit the rejection.  peer_oid may be NULL. */
void cdx_server_set_reject_hook(cdx_server_t *srv,
                                void (*hook)(void *app, const cdx_route_t *route,
                                             const char *peer_oid, int status, const char *code));

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
