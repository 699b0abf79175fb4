/*
 * requests: record requests and subscriptions, the routes.
 *
 *   POST   /v1/requests            (query) a record request: 202
 *   GET    /v1/requests/{id}       (query) one of the caller's requests
 *   POST   /v1/subscriptions       (query) a subscription: 201
 *   GET    /v1/subscriptions       (query) the caller's subscriptions
 *   DELETE /v1/subscriptions/{id}  (query) ends one of them: 200
 *
 * Responsible for: reading the bodies (cdx_request_body_parse, pure), the
 * checks before any read (a delivery endpoint registered), a record
 * request through the disclosure sequence (the documents the access
 * decision allows, over every identity linked to the patient; the
 * request, its deliveries and its audit record in one writer change), the
 * subscriptions' writer changes with their audit records.
 * Not responsible for: deliveries caused by new documents (the ingest
 * change, cdx/domain/subscription.h), sending (api/delivery.c).
 *
 * Loop thread, except the reads (workers) and the changes (the writer).
 */
#ifndef CDX_API_REQUESTS_H
#define CDX_API_REQUESTS_H

#include "cdx/api/params.h"
#include "cdx/net/server.h"
#include "cdx/store/registry.h"

/* A body of POST /v1/requests or /v1/subscriptions, read. */
typedef struct cdx_request_body {
    cdx_patient_ref_t patient; /* as written */
    char types[CDX_QUERY_MAX_TYPES][33]; /* sorted, without repeats */
    size_t ntypes;
    char types_text[CDX_REQUEST_TYPES_MAX]; /* comma-separated, "" for any */
    char from_key[16]; /* UTC keys, "" when not given */
    char to_key[16];
} cdx_request_body_t;

/* Reads {"patient": "ROOT|EXT", "types": [LOINC...], "from": T, "to": T}
 * (from and to only when with_range) of len bytes.  Returns 0, or
 * CDX_EINVAL with *e filled (400; REQUEST_BODY_INVALID, PATIENT_REQUIRED,
 * PATIENT_ID_INVALID, DOCUMENT_TYPE_INVALID, DATE_INVALID,
 * DATE_RANGE_INVALID; e->param names the member). */
int cdx_request_body_parse(const char *body, size_t len, int with_range, cdx_request_body_t *out,
                           cdx_param_error_t *e);

/* The checks every POST of a request or subscription makes before
 * anything is read: the media type, the body (with_range: from and to
 * allowed), a delivery endpoint registered for the caller.  Returns 0, or
 * has answered the refusal and queued its audit record. */
int cdx_requests_read_post(cdx_request_t *rq, int with_range, cdx_request_body_t *body);

/* A new public id: 32 random hex digits.  Returns 0 or CDX_ECRYPTO. */
int cdx_requests_new_uid(char out[33]);

extern const cdx_route_t cdx_request_routes[];
extern const size_t cdx_request_nroutes;
extern const cdx_route_t cdx_subscription_routes[];
extern const size_t cdx_subscription_nroutes;

#endif
