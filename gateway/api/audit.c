/* audit (api): GET /v1/audit/key and GET /v1/audit (see include/cdx/api/audit.h). */
#include "cdx/api/audit.h"
#include "cdx/api/app.h"
#include "cdx/api/audit_read.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/audit_format.h"
#include "cdx/net/server.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_QUERY "audit.query"

/* ---- GET /v1/audit/key ---------------------------------------------------- */

/* The public key is no secret and names no patient: any institution the
 * federation's CA admits may fetch it, unaudited. */
static void h_audit_key(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    char *pem = NULL;
    size_t len = 0;
    if (app->audit_key == NULL || cdx_audit_key_public_pem(app->audit_key, &pem, &len) != 0) {
        cdx_respond_overloaded(rq);
        return;
    }
    char headers[96];
    snprintf(headers, sizeof headers, "X-CDX-Key-Id: %s\r\n", cdx_audit_key_id(app->audit_key));
    cdx_respond(rq, 200, "application/x-pem-file", pem, len, headers);
    free(pem);
}

/* ---- GET /v1/audit -------------------------------------------------------- */

static const cdx_param_spec_t query_specs[] = {
    {"from", 0, 40},  {"to", 0, 40},   {"patient", 0, 400},
    {"event", 0, 64}, {"limit", 0, 8}, {"cursor", 0, 512},
};

/* Reads the query string into c.  Returns 0, or CDX_EINVAL with *e filled. */
static int read_query(cdx_app_t *app, const cdx_params_t *p, cdx_audit_page_ctx_t *c,
                      cdx_param_error_t *e)
{
    char keys[2][CDX_TIME_KEY_LEN];
    if (cdx_params_time(p, "from", keys[0], e) != 0 || cdx_params_time(p, "to", keys[1], e) != 0)
        return CDX_EINVAL;
    if (keys[0][0] != '\0') {
        cdx_audit_ts_of_key(keys[0], c->from);
        c->f.from = c->from;
    }
    if (keys[1][0] != '\0') {
        cdx_audit_ts_of_key(keys[1], c->before);
        c->f.before = c->before;
    }
    int present = 0;
    if (cdx_params_patient(p, "patient", &c->who, &present, e) != 0)
        return CDX_EINVAL;
    c->by_patient = present;
    const char *event = cdx_params_get(p, "event");
    if (event != NULL && strcmp(event, "breakglass") == 0) {
        c->f.breakglass = 1;
    } else if (event != NULL) {
        if (cdx_audit_event_find(event) == NULL)
            return cdx_audit_param_invalid(e, "event",
                                           "query parameter 'event' must be an event of the "
                                           "README's audit events table, or 'breakglass'");
        cdx_strlcpy(c->event, event, sizeof c->event);
        c->f.event = c->event;
    }
    long limit = 0;
    if (cdx_params_int(p, "limit", 1, CDX_AUDIT_PAGE_MAX, 100, &limit, e) != 0)
        return CDX_EINVAL;
    c->limit = (size_t)limit;
    snprintf(c->scope, sizeof c->scope, "%s\nfrom=%s\nbefore=%s\npatient=%s|%s\nevent=%s\n",
             ROUTE_QUERY, c->from, c->before, present ? c->who.root : "", present ? c->who.ext : "",
             event != NULL ? event : "");
    return cdx_audit_page_cursor(app, p, c, e);
}

static void h_audit_query(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    cdx_audit_page_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_param_error_t e;
    const char *query = rq->http->query != NULL ? rq->http->query : "";
    if (cdx_params_parse(query, query_specs, CDX_ARRAY_SIZE(query_specs), &r->params, &e) != 0 ||
        read_query(app, &r->params, &r->ctx, &e) != 0) {
        cdx_audit_page_free(r);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    cdx_disclose_start(rq, &cdx_audit_page_endpoint, r);
}

const cdx_route_t cdx_audit_routes[] = {
    {"audit.key", "GET", "/v1/audit/key", 0, 0, CDX_HANDLER(h_audit_key)},
    {ROUTE_QUERY, "GET", "/v1/audit", CDX_ROLE_ADMIN, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_audit_query)},
    {"audit.access_log", "GET", "/v1/patients/{patient}/access-log", CDX_ROLE_QUERY,
     CDX_ROUTE_DISCLOSES, CDX_HANDLER(cdx_audit_h_access_log)},
};
const size_t cdx_audit_nroutes = CDX_ARRAY_SIZE(cdx_audit_routes);
