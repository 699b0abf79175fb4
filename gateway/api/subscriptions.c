/* subscriptions: POST, GET /v1/subscriptions, DELETE /v1/subscriptions/{id}
 * (see include/cdx/api/requests.h). */
#include "cdx/api/app.h"
#include "api_internal.h"
#include "cdx/api/disclose.h"
#include "cdx/api/routes.h"
#include "cdx/api/requests.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/purpose.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One change of a subscription: its writer request and what it came to. */
typedef struct sub_job {
    cdx_write_req_t wreq;
    void *hold;
    cdx_app_t *app;
    cdx_subscription_t sub;
    cdx_request_body_t body;
    int64_t max;
    int deleting;
    int rc; /* the registry's answer: 0, CDX_ERANGE, CDX_ENOTFOUND */
    char actor[128];
    char user[128];
    char peer[64];
    char purpose[16];
    char detail[160];
} sub_job_t;

static int apply_sub(cdx_registry_t *reg, void *arg)
{
    sub_job_t *job = arg;
    cdx_audit_event_t ev = {
        .event = job->deleting ? CDX_AUDIT_SUBSCRIPTION_DELETE : CDX_AUDIT_SUBSCRIPTION_CREATE,
        .actor_oid = job->actor,
        .actor_user = job->user[0] ? job->user : NULL,
        .peer = job->peer[0] ? job->peer : NULL,
        .purpose = job->purpose[0] ? job->purpose : NULL,
        .outcome = CDX_AUDIT_SUCCESS,
        .patient_key = job->sub.patient_key[0] ? job->sub.patient_key : NULL,
        .detail = job->detail,
    };
    if (job->deleting) {
        snprintf(job->detail, sizeof job->detail, "subscription=%s", job->sub.uid);
        job->rc = cdx_registry_subscription_delete(reg, job->sub.uid, job->actor, &ev);
    } else {
        snprintf(job->detail, sizeof job->detail, "subscription=%s types=%zu", job->sub.uid,
                 job->body.ntypes);
        job->rc = cdx_registry_subscription_put(reg, &job->sub, job->max, &ev);
    }
    if (job->rc != CDX_ERANGE && job->rc != CDX_ENOTFOUND)
        return job->rc;
    /* Nothing changed; the refusal is recorded in its place. */
    snprintf(job->detail, sizeof job->detail, "route=%s status=%d code=%s",
             job->deleting ? "subscriptions.delete" : "subscriptions.create",
             job->deleting ? 404 : 409,
             job->deleting ? "SUBSCRIPTION_NOT_FOUND" : "SUBSCRIPTION_LIMIT");
    ev.outcome = CDX_AUDIT_MINOR_FAILURE;
    ev.patient_key = NULL;
    return cdx_registry_audit(reg, &ev);
}

static json_t *sub_json(const cdx_subscription_t *s)
{
    json_t *types = json_array();
    for (const char *p = s->types; types != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        json_array_append_new(types, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:s}", "id", s->uid, "patient", "root",
                     s->patient_root, "extension", s->patient_ext, "types", types, "created_at",
                     s->created_at);
}

static void sub_written(cdx_write_req_t *req, int status)
{
    sub_job_t *job = req->arg;
    cdx_request_t *rq = cdx_request_resume(job->hold);
    if (rq == NULL) {
        free(job);
        return;
    }
    if (status != 0) {
        cdx_app_respond_storage_error(rq, status == CDX_EBUSY ? CDX_EDB : status);
    } else if (job->rc == CDX_ENOTFOUND) {
        cdx_respond_problem(rq, 404, "SUBSCRIPTION_NOT_FOUND",
                            "this institution has no subscription with this id", NULL);
    } else if (job->rc == CDX_ERANGE) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "this institution holds %lld subscriptions already "
                 "(subscriptions_max_per_institution): end one first",
                 (long long)job->max);
        cdx_respond_problem(rq, 409, "SUBSCRIPTION_LIMIT", detail, NULL);
    } else if (job->deleting) {
        CDX_INFO("subscription.deleted", "req=%s subscription=%s", rq->id, job->sub.uid);
        char body[96];
        int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"status\":\"ended\"}", job->sub.uid);
        cdx_respond(rq, 200, "application/json", body, (size_t)n, NULL);
    } else {
        CDX_INFO("subscription.created", "req=%s subscription=%s patient=%s", rq->id,
                 job->sub.uid, job->sub.patient_key);
        char location[64];
        snprintf(location, sizeof location, "/v1/subscriptions/%s", job->sub.uid);
        cdx_api_respond_json_at(rq, 201, sub_json(&job->sub), location);
    }
    free(job);
}

static void submit(cdx_request_t *rq, sub_job_t *job)
{
    const char *user = cdx_http_header(rq->http, "x-cdx-user");
    job->app = cdx_server_app(rq->server);
    cdx_strlcpy(job->actor, rq->peer->oid, sizeof job->actor);
    cdx_strlcpy(job->user, user != NULL ? user : "", sizeof job->user);
    cdx_strlcpy(job->peer, rq->peer_addr, sizeof job->peer);
    job->wreq.apply = apply_sub;
    job->wreq.done = sub_written;
    job->wreq.arg = job;
    job->hold = cdx_request_hold(rq);
    if (cdx_writer_submit(job->app->writer, &job->wreq) != 0) {
        cdx_request_resume(job->hold);
        cdx_app_respond_storage_error(rq, CDX_EBUSY);
        free(job);
    }
}

static void refuse(cdx_request_t *rq, int status, const char *code, const char *detail)
{
    cdx_param_error_t e = {.status = status, .code = code};
    cdx_strlcpy(e.detail, detail, sizeof e.detail);
    cdx_params_refuse(cdx_server_app(rq->server), rq, &e);
}

static void h_subscriptions_create(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    sub_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (cdx_requests_read_post(rq, 0, &job->body) != 0) {
        free(job);
        return;
    }
    /* The purpose the deliveries will be decided on; break-glass does not
     * carry over to documents that do not exist yet. */
    const char *ph = cdx_http_header(rq->http, "x-cdx-purpose");
    const cdx_purpose_t *pu = cdx_purpose_find(ph != NULL && ph[0] ? ph : CDX_PURPOSE_DEFAULT);
    if (pu == NULL || strcmp(pu->code, "ETREAT") == 0) {
        char detail[384];
        cdx_purpose_unknown_detail(detail, sizeof detail);
        free(job);
        refuse(rq, 400, "PURPOSE_UNKNOWN",
               pu == NULL ? detail : "a subscription cannot stand on break-glass (ETREAT)");
        return;
    }
    cdx_patient_ref_t stored = job->body.patient;
    if (cdx_app_stored_identity(app, &stored) != 0) {
        free(job);
        refuse(rq, 400, "PATIENT_ID_INVALID", "'patient' could not be read as a patient id");
        return;
    }
    cdx_subscription_t *s = &job->sub;
    cdx_strlcpy(s->institution_oid, rq->peer->oid, sizeof s->institution_oid);
    cdx_strlcpy(s->patient_root, stored.root, sizeof s->patient_root);
    cdx_strlcpy(s->patient_ext, stored.ext, sizeof s->patient_ext);
    cdx_app_patient_key(app->patient_key, stored.root, stored.ext, s->patient_key);
    cdx_strlcpy(s->types, job->body.types_text, sizeof s->types);
    cdx_strlcpy(s->purpose, pu->code, sizeof s->purpose);
    cdx_strlcpy(job->purpose, pu->code, sizeof job->purpose);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cdx_strlcpy(s->created_at, ts, sizeof s->created_at);
    job->max = app->cfg != NULL ? app->cfg->subscriptions_max_per_institution : 1000;
    if (cdx_requests_new_uid(s->uid) != 0) {
        free(job);
        cdx_respond_overloaded(rq);
        return;
    }
    submit(rq, job);
}

static void h_subscriptions_delete(cdx_request_t *rq)
{
    sub_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    job->deleting = 1;
    /* A malformed id is no subscription: the registry finds none. */
    cdx_disclose_target_id(&rq->params, job->sub.uid);
    submit(rq, job);
}

/* ---- GET /v1/subscriptions --------------------------------------------------- */

typedef struct list_ctx {
    cdx_subscription_t *subs;
    size_t n;
} list_ctx_t;

static void list_ctx_free(void *arg)
{
    list_ctx_t *c = arg;
    if (c != NULL)
        free(c->subs);
    free(c);
}

static int list_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    list_ctx_t *c = d->ctx;
    int rc = cdx_registry_subscriptions_list(reg, d->actor_oid, &c->subs, &c->n);
    if (rc == 0 && c->n > 0)
        cdx_strlcpy(d->patient_key, c->subs[0].patient_key, sizeof d->patient_key);
    return rc;
}

static void list_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const list_ctx_t *c = d->ctx;
    snprintf(out, outlen, "route=subscriptions.list count=%zu", c->n);
}

static void list_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    list_ctx_t *c = d->ctx;
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n && arr != NULL; i++)
        json_array_append_new(arr, sub_json(&c->subs[i]));
    json_t *body = arr != NULL ? json_pack("{s:I, s:o}", "count", (json_int_t)c->n,
                                           "subscriptions", arr)
                               : NULL;
    cdx_api_respond_json(rq, 200, body);
}

static const cdx_disclose_endpoint_t subscription_list = {
    .event = CDX_AUDIT_SUBSCRIPTION_READ,
    .read = list_read,
    .audit_detail = list_audit_detail,
    .respond = list_respond,
    .free_ctx = list_ctx_free,
};

static void h_subscriptions_list(cdx_request_t *rq)
{
    list_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &subscription_list, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_disclose_run(d);
}

/* Every route is flagged as disclosing so that a refusal for the role is
 * recorded as the route's own event. */
const cdx_route_t cdx_subscription_routes[] = {
    {"subscriptions.create", "POST", "/v1/subscriptions", CDX_ROLE_QUERY,
     CDX_ROUTE_BODY | CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_subscriptions_create)},
    {"subscriptions.list", "GET", "/v1/subscriptions", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_subscriptions_list)},
    {"subscriptions.delete", "DELETE", "/v1/subscriptions/{id}", CDX_ROLE_QUERY,
     CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_subscriptions_delete)},
};
const size_t cdx_subscription_nroutes = CDX_ARRAY_SIZE(cdx_subscription_routes);
