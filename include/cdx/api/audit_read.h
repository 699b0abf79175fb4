/*
 * audit_read (api): one page of the audit trail read through the
 * disclosure sequence, shared by GET /v1/audit and a patient's access log.
 *
 * Responsible for: the page's context (filters, cursor, the keyed hashes
 * of the person's identities), its read on a worker, its audit detail and
 * its answer; the access log's handler.
 * Not responsible for: the query string of GET /v1/audit (api/audit.c).
 */
#ifndef CDX_API_AUDIT_READ_H
#define CDX_API_AUDIT_READ_H

#include <jansson.h>

#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/net/server.h"

#define CDX_AUDIT_PAGE_MAX 1000

typedef struct cdx_audit_page_ctx {
    cdx_audit_filter_t f;
    char from[24], before[24], event[64];
    cdx_patient_ref_t who; /* the identity asked for, as stored */
    int by_patient;
    int access_log; /* the access log's form and filters */
    size_t limit;
    char scope[1024]; /* the route and filters a cursor is bound to */
    unsigned char cursor_key[32];
    /* The read's results. */
    char *keys_json; /* the keyed hashes of the person's identities */
    json_t *records;
    int more;
    int64_t last_seq;
} cdx_audit_page_ctx_t;

/* The context and the parameters its strings point into. */
typedef struct cdx_audit_page_req {
    cdx_audit_page_ctx_t ctx;
    cdx_params_t params;
} cdx_audit_page_req_t;

/* The page's steps of the disclosure sequence (event "audit.read"). */
extern const cdx_disclose_endpoint_t cdx_audit_page_endpoint;

/* Frees r (a cdx_audit_page_req_t); NULL is a no-op. */
void cdx_audit_page_free(void *r);

/* Reads the "cursor" parameter against c->scope into c->f.after_seq.
 * Returns 0, or CDX_EINVAL with *e filled (CURSOR_INVALID). */
int cdx_audit_page_cursor(cdx_app_t *app, const cdx_params_t *p, cdx_audit_page_ctx_t *c,
                          cdx_param_error_t *e);

/* Fills *e as a 400 PARAMETER_INVALID of param; returns CDX_EINVAL. */
int cdx_audit_param_invalid(cdx_param_error_t *e, const char *param, const char *detail);

/* GET /v1/patients/{ROOT|EXT}/access-log. */
void cdx_audit_h_access_log(cdx_request_t *rq);

#endif
