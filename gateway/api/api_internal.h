/*
 * api_internal: what the api room's handlers share and nothing outside
 * the room calls.
 *
 * Responsible for: queueing one audit record through the registry writer
 * without waiting for it (the refusals and rejections that are answered
 * at once), and the refusal of a request before the registry was asked:
 * the audit record, then the problem answer; a JSON answer.
 * Not responsible for: the disclosure sequence (disclose.h), whose
 * records are durable before the answer.
 *
 * Loop thread.
 */
#ifndef CDX_API_INTERNAL_H
#define CDX_API_INTERNAL_H

#include "cdx/api/app.h"
#include "cdx/net/server.h"

#include <jansson.h>

/* Queues ev through app's writer (none: nothing is written).  Copies
 * every string but ev->event, which must be a constant of the catalogue;
 * only event, actor_oid, actor_user, purpose, outcome, patient_key,
 * detail (cut at 159 bytes) and peer are recorded.  A record the queue
 * refuses or the writer fails is logged ("audit.write_failed"), never
 * answered: the caller has answered already or answers now. */
void cdx_api_audit_queue(cdx_app_t *app, const cdx_audit_event_t *ev);

/* A refusal before the registry was asked, as its audit record says it. */
typedef struct cdx_refusal {
    int status;              /* the answer's status */
    const char *code;        /* the problem code */
    const char *event;       /* the audit event (a catalogue constant) */
    const char *fault_name;  /* what the detail calls the part at fault ("member", "field") */
    const char *fault;       /* the part at fault, or NULL */
    const char *patient_key; /* the keyed hash of the identity asked for, or NULL */
    int with_peer;           /* records the client's network address */
} cdx_refusal_t;

/* Audits r (outcome 8 for a 403, else 4; actor the institution, user
 * X-CDX-User; detail "route=R status=S code=C" and " <fault_name>=<fault>"
 * when there is a fault, cut at 127 bytes), then answers r->status with
 * r->code and detail. */
void cdx_api_refuse(cdx_request_t *rq, const cdx_refusal_t *r, const char *detail);

/* Answers status with body (taken; compact JSON), or 503 OVERLOADED when
 * body is NULL or cannot be written out. */
void cdx_api_respond_json(cdx_request_t *rq, int status, json_t *body);

/* As cdx_api_respond_json, with a Location header naming the path of what
 * was created (location, e.g. "/v1/requests/<id>"; not kept). */
void cdx_api_respond_json_at(cdx_request_t *rq, int status, json_t *body, const char *location);

#endif
