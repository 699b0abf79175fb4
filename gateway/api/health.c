/* health: GET /healthz and GET /metrics (see include/cdx/api/health.h). */
#include "cdx/api/health.h"
#include "cdx/base/common.h"
#include "cdx/net/server.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

static time_t started_at;

void cdx_health_init(void)
{
    started_at = time(NULL);
}

static void respond_json(cdx_request_t *rq, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL) {
        cdx_respond_problem(rq, 503, "OVERLOADED", "out of memory; retry later", NULL);
        return;
    }
    cdx_respond(rq, status, "application/json", text, strlen(text), NULL);
    free(text);
}

/* Liveness and readiness: 200 while serving, 503 once shutting down so
 * that a load balancer stops sending new work. */
static void h_healthz(cdx_request_t *rq)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "status", "ok", "version", CDX_VERSION, "uptime_s",
                          (json_int_t)(time(NULL) - started_at));
    respond_json(rq, 200, o);
}

static void h_metrics(cdx_request_t *rq)
{
    cdx_buf_t out;
    cdx_buf_init(&out, 16u << 20);
    if (cdx_server_metrics(rq->server, &out) != 0) {
        cdx_buf_cleanup(&out);
        cdx_respond_problem(rq, 503, "OVERLOADED", "out of memory; retry later", NULL);
        return;
    }
    cdx_respond(rq, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len, NULL);
    cdx_buf_cleanup(&out);
}

const cdx_route_t cdx_health_routes[] = {
    {"healthz", "GET", "/healthz", 0, 0, CDX_HANDLER(h_healthz)},
    {"metrics", "GET", "/metrics", CDX_ROLE_ADMIN, CDX_ROUTE_LOOPBACK_OR_ROLE,
     CDX_HANDLER(h_metrics)},
};
const size_t cdx_health_nroutes = CDX_ARRAY_SIZE(cdx_health_routes);
