/* consents: PUT and GET /v1/consents/{patient} (see include/cdx/api/consents.h). */
#include "cdx/api/consents.h"
#include "api_internal.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/consent.h"
#include "cdx/net/server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The history GET shows, newest first. */
#define HISTORY_MAX 100

/* ---- the identity of the path -------------------------------------------- */

/* The path's identity as the registry stores it (a national id keyed). */
static int path_identity(cdx_request_t *rq, cdx_patient_ref_t *who)
{
    if (cdx_params_path_patient(&rq->params, "patient", who) != 0)
        return CDX_EINVAL;
    const cdx_app_t *app = cdx_server_app(rq->server);
    char ext[CDX_NATIONAL_EXT_SIZE];
    int nat = cdx_national_stored_ext(&app->national, who->root, who->ext, ext, sizeof ext);
    if (nat < 0)
        return CDX_EINVAL;
    if (nat == 1)
        cdx_strlcpy(who->ext, ext, sizeof who->ext);
    return 0;
}

/* ---- refusals before the registry ---------------------------------------- */

/* Audits a request refused before the registry was asked (outcome 8 for
 * a 403, else 4; detail route, status, code and the member at fault),
 * then answers. */
static void refuse(cdx_request_t *rq, int status, const char *code, const char *event,
                   const char *member, const char *patient_key, const char *detail)
{
    cdx_refusal_t r = {.status = status, .code = code, .event = event, .fault_name = "member",
                       .fault = member, .patient_key = patient_key};
    cdx_api_refuse(rq, &r, detail);
}

static const char *const PATIENT_DETAIL =
    "the path's patient must be ROOT|EXT ('|' may be sent as %7C): an assigning authority OID "
    "and an extension";
static const char *const FOREIGN_DETAIL =
    "only the patient's home institution records or reads consent: the identity's root must be "
    "this institution's OID, one of its registered id roots, or an OID under them";

/* ---- PUT: the record, through the writer ----------------------------------- */

typedef struct put_job {
    cdx_write_req_t wreq;
    void *hold;
    cdx_patient_ref_t who;
    cdx_consent_t consent;
    char actor[128];
    char user[128];
    char patient_key[33];
    int64_t consent_id; /* 0: the identity is not in the index */
} put_job_t;

static int apply_put(cdx_registry_t *reg, void *arg)
{
    put_job_t *job = arg;
    cdx_audit_event_t ev = {
        .event = CDX_AUDIT_CONSENT_RECORD,
        .actor_oid = job->actor,
        .actor_user = job->user[0] ? job->user : NULL,
        .outcome = CDX_AUDIT_SUCCESS,
        .patient_key = job->patient_key,
    };
    int rc = cdx_registry_put_consent(reg, job->who.root, job->who.ext, &job->consent, "api",
                                      NULL, job->actor, &ev, &job->consent_id);
    if (rc != CDX_ENOTFOUND)
        return rc;
    /* No stored document carries the identity: the attempt is recorded. */
    job->consent_id = 0;
    ev.outcome = CDX_AUDIT_MINOR_FAILURE;
    ev.detail = "route=consents.put status=404 code=PATIENT_NOT_FOUND";
    return cdx_registry_audit(reg, &ev);
}

static json_t *consent_json(const cdx_consent_t *c)
{
    json_t *o = json_object();
    json_t *inst = json_array(), *types = json_array();
    for (size_t i = 0; i < c->ninstitutions; i++)
        json_array_append_new(inst, json_string(c->institutions[i]));
    for (size_t i = 0; i < c->ntypes; i++)
        json_array_append_new(types, json_string(c->types[i]));
    json_object_set_new(o, "id", json_integer((json_int_t)c->id));
    json_object_set_new(o, "decision", json_string(c->permit ? "permit" : "deny"));
    json_object_set_new(o, "scope", json_pack("{s:o, s:o}", "institutions", inst, "types", types));
    if (c->research >= 0)
        json_object_set_new(o, "research", json_string(c->research ? "permit" : "deny"));
    if (c->expires[0] != '\0')
        json_object_set_new(o, "expires", json_string(c->expires));
    return o;
}

static void put_written(cdx_write_req_t *req, int status)
{
    put_job_t *job = req->arg;
    cdx_request_t *rq = cdx_request_resume(job->hold);
    if (rq == NULL) {
        free(job);
        return;
    }
    if (status != 0) {
        cdx_app_respond_storage_error(rq, status == CDX_EBUSY ? CDX_EDB : status);
    } else if (job->consent_id == 0) {
        cdx_respond_problem(rq, 404, "PATIENT_NOT_FOUND",
                            "no stored document carries this patient identity: a consent is "
                            "recorded for a patient the gateway knows",
                            NULL);
    } else {
        CDX_INFO("consent.recorded", "req=%s consent=%lld patient=%s decision=%s", rq->id,
                 (long long)job->consent_id, job->patient_key,
                 job->consent.permit ? "permit" : "deny");
        job->consent.id = job->consent_id;
        cdx_api_respond_json(rq, 201, consent_json(&job->consent));
    }
    free(job);
}

static void h_consents_put(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    put_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (path_identity(rq, &job->who) != 0) {
        free(job);
        refuse(rq, 400, "PATIENT_ID_INVALID", CDX_AUDIT_CONSENT_RECORD, "patient", NULL,
               PATIENT_DETAIL);
        return;
    }
    cdx_app_patient_key(app->patient_key, job->who.root, job->who.ext, job->patient_key);
    if (!cdx_consent_home(rq->peer, job->who.root)) {
        refuse(rq, 403, "CONSENT_FORBIDDEN", CDX_AUDIT_CONSENT_RECORD, NULL, job->patient_key,
               FOREIGN_DETAIL);
        free(job);
        return;
    }
    const char *ct = cdx_http_header(rq->http, "content-type");
    size_t n = ct != NULL ? strcspn(ct, "; \t") : 0;
    if (ct == NULL || n != 16 || strncasecmp(ct, "application/json", n) != 0) {
        free(job);
        refuse(rq, 415, "UNSUPPORTED_MEDIA_TYPE", CDX_AUDIT_CONSENT_RECORD, NULL, NULL,
               "send the consent as application/json");
        return;
    }
    char member[32], why[160], detail[256];
    size_t len = rq->http->body.len;
    if (len > CDX_CONSENT_BODY_MAX ||
        cdx_consent_parse_json(rq->http->body.data, len, &job->consent, member, sizeof member,
                               why, sizeof why) != 0) {
        if (len > CDX_CONSENT_BODY_MAX) {
            cdx_strlcpy(member, "", sizeof member);
            snprintf(why, sizeof why, "a consent's body is at most %d bytes",
                     CDX_CONSENT_BODY_MAX);
        }
        snprintf(detail, sizeof detail, "%s%s%s", member[0] ? member : "", member[0] ? ": " : "",
                 why);
        refuse(rq, 422, "CONSENT_INVALID", CDX_AUDIT_CONSENT_RECORD,
               member[0] ? member : "body", job->patient_key, detail);
        free(job);
        return;
    }
    const char *user = cdx_http_header(rq->http, "x-cdx-user");
    cdx_strlcpy(job->actor, rq->peer->oid, sizeof job->actor);
    cdx_strlcpy(job->user, user != NULL ? user : "", sizeof job->user);
    job->wreq.apply = apply_put;
    job->wreq.done = put_written;
    job->wreq.arg = job;
    job->hold = cdx_request_hold(rq);
    if (cdx_writer_submit(app->writer, &job->wreq) != 0) {
        cdx_request_resume(job->hold);
        cdx_app_respond_storage_error(rq, CDX_EBUSY);
        free(job);
    }
}

/* ---- GET: a disclosure ------------------------------------------------------ */

typedef struct get_ctx {
    cdx_patient_ref_t who;
    cdx_consent_row_t rows[HISTORY_MAX];
    size_t n;
    char now_key[16];
} get_ctx_t;

static int get_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    get_ctx_t *c = d->ctx;
    int64_t person = 0;
    int rc = cdx_registry_person_of(reg, c->who.root, c->who.ext, &person);
    if (rc == 0)
        rc = cdx_registry_person_consents(reg, person, c->rows, HISTORY_MAX, &c->n);
    if (rc == 0)
        cdx_app_patient_key(d->app->patient_key, c->who.root, c->who.ext, d->patient_key);
    cdx_strlcpy(c->now_key, d->now_key, sizeof c->now_key);
    return rc;
}

static void get_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const get_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND)
        snprintf(out, outlen, "route=consents.get status=404 code=PATIENT_NOT_FOUND");
    else
        snprintf(out, outlen, "route=consents.get count=%zu", c->n);
}

static json_t *row_json(const cdx_consent_row_t *r)
{
    json_t *o = consent_json(&r->c);
    json_object_set_new(o, "source", json_string(r->source));
    if (r->document_uid[0] != '\0')
        json_object_set_new(o, "document", json_string(r->document_uid));
    json_object_set_new(o, "recorded_by", json_string(r->actor));
    json_object_set_new(o, "recorded_at", json_string(r->recorded_at));
    json_object_set_new(o, "identity",
                        r->identity.national
                            ? json_pack("{s:s, s:b}", "root", r->identity.root, "national", 1)
                            : json_pack("{s:s, s:s}", "root", r->identity.root, "extension",
                                        r->identity.ext));
    return o;
}

static void get_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    const get_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND) {
        cdx_respond_problem(rq, 404, "PATIENT_NOT_FOUND",
                            "no stored document carries this patient identity", NULL);
        return;
    }
    json_t *body = json_object();
    json_t *history = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(history, row_json(&c->rows[i]));
    /* The newest decision is the current one; a permit past its expiry
     * is no consent. */
    json_t *current = json_null();
    if (c->n > 0) {
        current = row_json(&c->rows[0]);
        int in_effect = !(c->rows[0].c.permit && cdx_consent_expired(&c->rows[0].c, c->now_key));
        json_object_set_new(current, "in_effect", json_boolean(in_effect));
    }
    json_object_set_new(body, "current", current);
    json_object_set_new(body, "history", history);
    cdx_api_respond_json(rq, 200, body);
}

static const cdx_disclose_endpoint_t consent_read = {
    .event = CDX_AUDIT_PATIENT_QUERY,
    .read = get_read,
    .audit_detail = get_audit_detail,
    .respond = get_respond,
    .free_ctx = free,
};

static void h_consents_get(cdx_request_t *rq)
{
    get_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (path_identity(rq, &c->who) != 0) {
        free(c);
        refuse(rq, 400, "PATIENT_ID_INVALID", CDX_AUDIT_PATIENT_QUERY, "patient", NULL,
               PATIENT_DETAIL);
        return;
    }
    if (!cdx_consent_home(rq->peer, c->who.root)) {
        cdx_app_t *app = cdx_server_app(rq->server);
        char key[33];
        cdx_app_patient_key(app->patient_key, c->who.root, c->who.ext, key);
        free(c);
        refuse(rq, 403, "CONSENT_FORBIDDEN", CDX_AUDIT_PATIENT_QUERY, NULL, key, FOREIGN_DETAIL);
        return;
    }
    cdx_disclosure_t *d = cdx_disclose_new(rq, &consent_read, c);
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    /* The submit or the query role: the route names none, the decision
     * asks for the one the institution holds (and refuses one that holds
     * neither). */
    d->role_needed = (rq->peer != NULL && (rq->peer->roles & CDX_ROLE_SUBMIT)) ? CDX_ROLE_SUBMIT
                                                                               : CDX_ROLE_QUERY;
    cdx_disclose_run(d);
}

const cdx_route_t cdx_consent_routes[] = {
    {"consents.put", "PUT", "/v1/consents/{patient}", CDX_ROLE_SUBMIT, CDX_ROUTE_BODY,
     CDX_HANDLER(h_consents_put)},
    {"consents.get", "GET", "/v1/consents/{patient}", 0, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_consents_get)},
};
const size_t cdx_consent_nroutes = CDX_ARRAY_SIZE(cdx_consent_routes);
