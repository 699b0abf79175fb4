/* refuse: audit records queued without waiting, refusals answered with
 * one, and JSON answers (see api_internal.h). */
#include "api_internal.h"

#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct queued_audit {
    cdx_write_req_t req;
    const char *event;
    int outcome;
    char actor[128];
    char user[128];
    char purpose[16];
    char patient_key[33];
    char peer[64];
    char detail[160];
} queued_audit_t;

static const char *or_null(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

static int apply_queued(cdx_registry_t *reg, void *arg)
{
    queued_audit_t *qa = arg;
    cdx_audit_event_t ev = {
        .event = qa->event,
        .actor_oid = or_null(qa->actor),
        .actor_user = or_null(qa->user),
        .purpose = or_null(qa->purpose),
        .outcome = qa->outcome,
        .patient_key = or_null(qa->patient_key),
        .detail = qa->detail,
        .peer = or_null(qa->peer),
    };
    return cdx_registry_audit(reg, &ev);
}

static void queued_done(cdx_write_req_t *req, int status)
{
    queued_audit_t *qa = req->arg;
    if (status != 0)
        CDX_WARN("audit.write_failed", "event=%s error=%s", qa->event,
                 cdx_log_q(cdx_strerror(status)));
    free(qa);
}

static void copy(char *dst, size_t size, const char *src)
{
    cdx_strlcpy(dst, src != NULL ? src : "", size);
}

void cdx_api_audit_queue(cdx_app_t *app, const cdx_audit_event_t *ev)
{
    if (app->writer == NULL)
        return;
    queued_audit_t *qa = calloc(1, sizeof *qa);
    if (qa == NULL)
        return;
    qa->event = ev->event;
    qa->outcome = ev->outcome;
    copy(qa->actor, sizeof qa->actor, ev->actor_oid);
    copy(qa->user, sizeof qa->user, ev->actor_user);
    copy(qa->purpose, sizeof qa->purpose, ev->purpose);
    copy(qa->patient_key, sizeof qa->patient_key, ev->patient_key);
    copy(qa->peer, sizeof qa->peer, ev->peer);
    copy(qa->detail, sizeof qa->detail, ev->detail);
    qa->req.apply = apply_queued;
    qa->req.done = queued_done;
    qa->req.arg = qa;
    if (cdx_writer_submit(app->writer, &qa->req) != 0) {
        CDX_WARN("audit.write_failed", "event=%s error=queue_full", qa->event);
        free(qa);
    }
}

void cdx_api_refuse(cdx_request_t *rq, const cdx_refusal_t *r, const char *detail)
{
    char text[128];
    int n = snprintf(text, sizeof text, "route=%s status=%d code=%s", rq->route->name, r->status,
                     r->code);
    if (r->fault != NULL && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, " %s=%s", r->fault_name, r->fault);
    int forbidden = r->status == 403;
    cdx_audit_event_t ev = {
        .event = r->event,
        .actor_oid = rq->peer != NULL ? rq->peer->oid : NULL,
        .actor_user = cdx_http_header(rq->http, "x-cdx-user"),
        .outcome = forbidden ? CDX_AUDIT_SERIOUS_FAILURE : CDX_AUDIT_MINOR_FAILURE,
        .patient_key = r->patient_key,
        .detail = text,
        .peer = r->with_peer ? rq->peer_addr : NULL,
    };
    cdx_api_audit_queue(cdx_server_app(rq->server), &ev);
    cdx_respond_problem(rq, r->status, r->code, detail, NULL);
}

static void respond_json(cdx_request_t *rq, int status, json_t *body, const char *headers)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        cdx_respond_overloaded(rq);
    else
        cdx_respond(rq, status, "application/json", text, strlen(text), headers);
    free(text);
}

void cdx_api_respond_json(cdx_request_t *rq, int status, json_t *body)
{
    respond_json(rq, status, body, NULL);
}

void cdx_api_respond_json_at(cdx_request_t *rq, int status, json_t *body, const char *location)
{
    char header[256];
    int n = snprintf(header, sizeof header, "Location: %s\r\n", location);
    if (n < 0 || (size_t)n >= sizeof header) {
        /* Our paths are short ids: one too long is answered without the
         * header rather than with a broken one. */
        respond_json(rq, status, body, NULL);
        return;
    }
    respond_json(rq, status, body, header);
}
