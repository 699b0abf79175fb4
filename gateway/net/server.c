/* server: the server's life: creation, signals, CRL reloads, graceful
 * shutdown and the application's hooks (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void server_finish(cdx_server_t *srv)
{
    if (srv->finished)
        return;
    srv->finished = 1;
    uv_timer_stop(&srv->shutdown_timer);
    uv_timer_stop(&srv->crl_timer);
    uv_close((uv_handle_t *)&srv->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&srv->crl_timer, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    if (srv->stop_hook != NULL)
        srv->stop_hook(srv->app);
    CDX_INFO("server.stopped", "connections_served=%llu", (unsigned long long)srv->m.conns_total);
}

void cdx_net_server_check_drained(cdx_server_t *srv)
{
    if (srv->stopping && srv->nconns == 0 && srv->jobs == 0)
        server_finish(srv);
}

static void on_shutdown_timer(uv_timer_t *t)
{
    cdx_server_t *srv = t->data;
    CDX_WARN("server.shutdown_timeout", "open_connections=%zu", srv->nconns);
    for (conn_t *c = srv->conns; c != NULL; c = c->next)
        cdx_net_conn_close(c, "shutdown_timeout");
}

void cdx_server_stop(cdx_server_t *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    CDX_INFO("server.stopping", "open_connections=%zu jobs=%zu", srv->nconns, srv->jobs);
    if (srv->started)
        uv_close((uv_handle_t *)&srv->listener, NULL);
    for (conn_t *c = srv->conns; c != NULL; c = c->next) {
        int idle = c->state == C_HANDSHAKE ||
                   (c->state == C_READ && cdx_http_parser_bytes_seen(c->http) == 0);
        if (idle)
            cdx_net_conn_close(c, "shutting_down");
        else
            c->close_after = 1;
    }
    uv_timer_start(&srv->shutdown_timer, on_shutdown_timer, (uint64_t)srv->cfg->shutdown_timeout_ms,
                   0);
    cdx_net_server_check_drained(srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cdx_server_t *srv = h->data;
    if (srv->stopping) {
        CDX_WARN("server.abort", "signal=%d", signum);
        _exit(1);
    }
    CDX_INFO("server.signal", "signal=%d", signum);
    cdx_server_stop(srv);
}

static void on_crl_timer(uv_timer_t *t)
{
    cdx_server_t *srv = t->data;
    char err[512];
    if (cdx_tls_server_reload_crl(srv->tls, err, sizeof err) != 0)
        CDX_ERROR("tls.crl_reload_failed", "reason=%s", cdx_log_q(err));
    else
        CDX_DEBUG("tls.crl_reloaded", "file=%s", cdx_log_q(srv->cfg->tls_crl));
}

void cdx_net_server_watch(cdx_server_t *srv)
{
    const cdx_net_config_t *cfg = srv->cfg;
    uv_signal_init(srv->loop, &srv->sigterm);
    uv_signal_init(srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(srv->loop, &srv->shutdown_timer);
    uv_timer_init(srv->loop, &srv->crl_timer);
    srv->shutdown_timer.data = srv->crl_timer.data = srv;
    if (cfg->tls_crl[0] != '\0')
        uv_timer_start(&srv->crl_timer, on_crl_timer, (uint64_t)cfg->crl_reload_ms,
                       (uint64_t)cfg->crl_reload_ms);
}

/* Hands the TLS layer the institutions listed by the server's source. */
static int load_institutions(cdx_server_t *srv, char *err, size_t errlen)
{
    cdx_institution_t *insts = NULL;
    size_t n = 0;
    int rc = srv->institutions(srv->institutions_arg, &insts, &n, err, errlen);
    if (rc != 0)
        return rc;
    rc = cdx_tls_server_set_institutions(srv->tls, insts, n);
    free(insts);
    if (rc == 0)
        CDX_INFO("server.institutions", "count=%zu", n);
    return rc;
}

int cdx_server_reload_institutions(cdx_server_t *srv)
{
    char err[512];
    return load_institutions(srv, err, sizeof err);
}

int cdx_server_new(void *uv_loop, const cdx_net_config_t *cfg, cdx_institutions_fn institutions,
                   void *arg, const cdx_route_t *routes, size_t nroutes, cdx_server_t **out,
                   char *err, size_t errlen)
{
    cdx_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return CDX_ENOMEM;
    srv->loop = uv_loop;
    srv->cfg = cfg;
    srv->institutions = institutions;
    srv->institutions_arg = arg;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->limits.max_request_line = (size_t)cfg->max_request_line_bytes;
    srv->limits.max_header_bytes = (size_t)cfg->max_header_bytes;
    srv->limits.max_headers = (size_t)cfg->max_headers;
    srv->limits.max_body = (uint64_t)cfg->max_body_bytes;
    srv->m.buckets = calloc(nroutes + 1, sizeof *srv->m.buckets);
    srv->m.sum = calloc(nroutes + 1, sizeof *srv->m.sum);
    srv->m.count = calloc(nroutes + 1, sizeof *srv->m.count);
    srv->nslots = 64;
    while (srv->nslots < (size_t)cfg->max_connections)
        srv->nslots <<= 1;
    srv->slots = calloc(srv->nslots, sizeof *srv->slots);
    if (srv->m.buckets == NULL || srv->m.sum == NULL || srv->m.count == NULL ||
        srv->slots == NULL) {
        cdx_server_free(srv);
        return CDX_ENOMEM;
    }
    cdx_tls_options_t opt = {
        .cert_file = cfg->tls_cert,
        .key_file = cfg->tls_key,
        .client_ca_file = cfg->tls_client_ca,
        .crl_file = cfg->tls_crl,
        .require_client_cert = 1,
    };
    int rc = cdx_tls_server_new(&opt, &srv->tls, err, errlen);
    if (rc != 0) {
        cdx_server_free(srv);
        return rc;
    }
    rc = load_institutions(srv, err, errlen);
    if (rc != 0) {
        cdx_server_free(srv);
        return rc;
    }
    /* The thread pool reads its size once, at the first job. */
    char threads[16];
    snprintf(threads, sizeof threads, "%lld", (long long)cfg->worker_threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1);
    *out = srv;
    return 0;
}

void cdx_server_free(cdx_server_t *srv)
{
    if (srv == NULL)
        return;
    cdx_tls_server_free(srv->tls);
    free(srv->m.buckets);
    free(srv->m.sum);
    free(srv->m.count);
    for (size_t i = 0; srv->slots != NULL && i < srv->nslots; i++) {
        while (srv->slots[i] != NULL) {
            slot_count_t *e = srv->slots[i];
            srv->slots[i] = e->next;
            free(e);
        }
    }
    free(srv->slots);
    free(srv);
}

int cdx_server_port(const cdx_server_t *srv)
{
    return srv->port;
}

void cdx_server_set_app(cdx_server_t *srv, void *app)
{
    srv->app = app;
}

void *cdx_server_app(const cdx_server_t *srv)
{
    return srv->app;
}

void cdx_server_set_reject_hook(cdx_server_t *srv,
                                void (*hook)(void *app, const cdx_route_t *route,
                                             const char *peer_oid, const char *peer_addr,
                                             int status, const char *code))
{
    srv->reject_hook = hook;
}

void cdx_server_set_deny_hook(cdx_server_t *srv, void (*hook)(void *app, const cdx_request_t *rq))
{
    srv->deny_hook = hook;
}

void cdx_server_set_stop_hook(cdx_server_t *srv, void (*hook)(void *app))
{
    srv->stop_hook = hook;
}

void cdx_server_set_metrics_hook(cdx_server_t *srv, int (*hook)(void *app, cdx_buf_t *out))
{
    srv->metrics_hook = hook;
}
