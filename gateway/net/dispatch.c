/* dispatch: from a request head to its handler: routing, role checks,
 * refusals before the handler and their audit hooks (see
 * include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/domain/institution.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <stdio.h>

static int role_allows(const cdx_request_t *rq)
{
    const cdx_route_t *r = rq->route;
    if (r->role == 0)
        return 1;
    if ((r->flags & CDX_ROUTE_LOOPBACK_OR_ROLE) && rq->peer_loopback &&
        rq->server->cfg->metrics_loopback)
        return 1;
    return rq->peer != NULL && (rq->peer->roles & r->role) == r->role;
}

static const char *role_name(unsigned role)
{
    static char buf[64];
    cdx_roles_format(role, buf, sizeof buf);
    return buf;
}

/* Called when the request head is complete: decide before any body byte
 * is read. */
void cdx_net_dispatch_headers(conn_t *c)
{
    cdx_server_t *srv = c->srv;
    cdx_http_request_t *req = cdx_http_parser_request(c->http);
    c->handled_ns = uv_hrtime();
    snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    c->rq.server = srv;
    c->rq.http = req;
    c->rq.conn = c;
    c->rq.peer = cdx_tls_conn_peer(c->tls);
    c->rq.peer_loopback = c->loopback;
    cdx_strlcpy(c->rq.peer_addr, c->peer_ip, sizeof c->rq.peer_addr);
    if (!req->keep_alive)
        c->close_after = 1;
    int idx = cdx_router_match(srv->routes, srv->nroutes, req->method, req->path, &c->rq.params,
                               c->allow, sizeof c->allow);
    int refuse = 0;
    if (idx < 0) {
        c->route_status = -idx;
        refuse = 1;
    } else {
        c->rq.route = &srv->routes[idx];
        if (!role_allows(&c->rq)) {
            c->route_status = 403;
            refuse = 1;
        }
    }
    c->body_start_ms = c->last_body_ms = cdx_now_ms();
    c->rate_check_ms = c->body_start_ms + (uint64_t)srv->cfg->body_rate_grace_ms;
    if (req->has_body && refuse && req->expect_continue) {
        /* The client waits for our word before sending the body: give the
         * final answer now and do not read the body at all. */
        c->close_after = 1;
        c->discard = 1;
        return;
    }
    c->discard = refuse || (c->rq.route && !(c->rq.route->flags & CDX_ROUTE_BODY));
    if (req->has_body && req->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        cdx_net_conn_send(c, cont, sizeof cont - 1);
    }
    cdx_http_parser_continue(c->http, c->discard);
}

void cdx_net_dispatch_request(conn_t *c)
{
    c->state = C_HANDLING;
    uv_timer_stop(&c->timer);
    if (c->route_status == 404) {
        cdx_net_respond_problem_raw(c, 404, "NOT_FOUND",
                                    "no such resource; see the API documentation", NULL, NULL, -1);
        return;
    }
    if (c->route_status == 405) {
        char extra[96];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", c->allow);
        cdx_net_respond_problem_raw(
            c, 405, "METHOD_NOT_ALLOWED",
            "this resource does not support that method; see the Allow header", NULL, extra, -1);
        return;
    }
    if (c->route_status == 403) {
        if (c->srv->reject_hook != NULL && (c->rq.route->flags & CDX_ROUTE_BODY))
            c->srv->reject_hook(c->srv->app, c->rq.route, c->rq.peer ? c->rq.peer->oid : NULL,
                                c->peer_ip, 403, "FORBIDDEN");
        else if (c->srv->deny_hook != NULL)
            c->srv->deny_hook(c->srv->app, &c->rq);
        char detail[160];
        snprintf(detail, sizeof detail,
                 "this institution's certificate lacks the '%s' role needed here",
                 role_name(c->rq.route->role));
        cdx_respond_problem(&c->rq, 403, "FORBIDDEN", detail, NULL);
        return;
    }
    cdx_handler_fn fn = (cdx_handler_fn)(uintptr_t)c->rq.route->handler;
    fn(&c->rq);
}

/* Audits a request refused before its handler ran, when it was meant for
 * a route that stores something (the reject hook); the route comes from
 * the parsed head, or from the request line when the head failed. */
static void audit_refusal(conn_t *c, int status, const char *code)
{
    cdx_server_t *srv = c->srv;
    cdx_http_request_t *req = cdx_http_parser_request(c->http);
    const char *method = req->method, *path = req->path;
    char mbuf[16], pbuf[256];
    if (path == NULL || method[0] == '\0') {
        /* Refused while its head was read: the request line tells where it
         * was going. */
        path = NULL;
        if (cdx_http_parser_request_line(c->http, mbuf, sizeof mbuf, pbuf, sizeof pbuf)) {
            method = mbuf;
            path = pbuf;
        }
    }
    if (srv->reject_hook != NULL && path != NULL && method[0] != '\0') {
        /* Requests refused before their handler ran are audited too when
         * they were meant for a route that stores something. */
        int idx = cdx_router_match(srv->routes, srv->nroutes, method, path, NULL, NULL, 0);
        if (idx >= 0 && (srv->routes[idx].flags & CDX_ROUTE_BODY)) {
            const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
            srv->reject_hook(srv->app, &srv->routes[idx], peer ? peer->oid : NULL, c->peer_ip,
                             status, code);
        }
    }
}

/* A framing error: answer, then close without parsing anything more. */
void cdx_net_respond_fatal(conn_t *c, int status, const char *code, const char *detail)
{
    c->close_after = 1;
    audit_refusal(c, status, code);
    if (c->rq.id[0] == '\0')
        snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    cdx_net_respond_problem_raw(c, status, code, detail, NULL, NULL, -1);
}

void cdx_net_refuse_over_institution_cap(conn_t *c)
{
    char detail[200];
    c->close_after = 1;
    c->state = C_HANDLING;
    uv_timer_stop(&c->timer);
    snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    snprintf(detail, sizeof detail,
             "this institution already has %lld open connections, the most allowed; reuse them "
             "(keep-alive) or retry after closing some",
             (long long)c->srv->cfg->max_connections_per_institution);
    audit_refusal(c, 503, "TOO_MANY_CONNECTIONS");
    cdx_net_respond_problem_raw(c, 503, "TOO_MANY_CONNECTIONS", detail, NULL, "Retry-After: 1\r\n",
                                -1);
}
