/* timeline: the merged timeline endpoint (see include/cdx/api/timeline.h). */
#include "cdx/api/timeline.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/timeline.h"
#include "cdx/store/registry.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cdx_param_spec_t SPECS[] = {
    {"kinds", CDX_PARAM_REPEAT, 256},
    {"from", 0, 64},
    {"to", 0, 64},
    {"view", 0, 32},
};

typedef struct tl_ctx {
    cdx_patient_ref_t who; /* the identity as stored */
    cdx_tl_query_t q;
    int summary;
    char *body; /* the answer, built on the worker */
    cdx_withheld_t withheld; /* documents left out */
} tl_ctx_t;

static void tl_ctx_free(void *arg)
{
    tl_ctx_t *c = arg;
    if (c == NULL)
        return;
    free(c->body);
    free(c);
}

/* Decides on each of the person's documents and copies into shown (the
 * rows themselves, not their strings) the facts of those disclosed,
 * counting the documents withheld.  Returns how many were copied. */
static size_t visible_facts(cdx_disclosure_t *d, tl_ctx_t *c, const cdx_doc_access_t *docs,
                            size_t ndocs, const cdx_tl_fact_t *rows, size_t n,
                            cdx_tl_fact_t *shown)
{
    size_t nshown = 0;
    for (size_t i = 0; i < ndocs; i++) {
        cdx_access_decision_t dec = cdx_disclose_decide_doc(d, &docs[i]);
        if (!dec.allow) {
            cdx_withheld_count(&c->withheld, &dec);
            continue;
        }
        for (size_t f = 0; f < n; f++)
            if (strcmp(rows[f].doc_uid, docs[i].uid) == 0)
                shown[nshown++] = rows[f];
    }
    return nshown;
}

static int read_timeline(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    tl_ctx_t *c = d->ctx;
    int64_t person = 0;
    int rc = cdx_registry_person_of(reg, c->who.root, c->who.ext, &person);
    if (rc != 0)
        return rc;
    rc = cdx_disclose_load_person(d, reg, person);
    if (rc != 0)
        return rc;
    cdx_doc_access_t *docs = NULL;
    size_t ndocs = 0;
    rc = cdx_registry_person_documents(reg, person, &docs, &ndocs);
    if (rc != 0)
        return rc;
    cdx_tl_fact_t *rows = NULL;
    size_t n = 0;
    rc = cdx_registry_person_facts(reg, person, &rows, &n);
    cdx_tl_fact_t *shown = rc == 0 && n > 0 ? malloc(n * sizeof *shown) : NULL;
    if (rc == 0 && n > 0 && shown == NULL)
        rc = CDX_ENOMEM;
    if (rc != 0) {
        free(docs);
        cdx_tl_facts_free(rows, n);
        return rc;
    }
    size_t nshown = visible_facts(d, c, docs, ndocs, rows, n, shown);
    free(docs);
    json_t *o = c->summary ? cdx_tl_summary(shown, nshown, &c->q)
                           : cdx_tl_timeline(shown, nshown, &c->q);
    free(shown);
    cdx_tl_facts_free(rows, n);
    if (o == NULL)
        return CDX_ENOMEM;
    json_object_set_new(o, "view", json_string(c->summary ? "summary" : "timeline"));
    cdx_withheld_json(&c->withheld, o);
    c->body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (c->body == NULL)
        return CDX_ENOMEM;
    cdx_app_patient_key(d->app->patient_key, c->who.root, c->who.ext, d->patient_key);
    return 0;
}

static void timeline_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const tl_ctx_t *c = d->ctx;
    const char *view = c->summary ? "summary" : "timeline";
    if (d->stage == CDX_DISCLOSE_NOT_FOUND)
        snprintf(out, outlen, "form=%s status=404 code=PATIENT_NOT_FOUND", view);
    else
        snprintf(out, outlen, "form=%s kinds=%#x withheld=%zu/%zu", view, c->q.kinds,
                 c->withheld.consent, c->withheld.confidentiality);
}

static void timeline_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    tl_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND) {
        cdx_respond_problem(rq, 404, "PATIENT_NOT_FOUND",
                            "no stored document carries this patient identity", NULL);
        return;
    }
    cdx_respond(rq, 200, "application/json", c->body, strlen(c->body), NULL);
}

static const cdx_disclose_endpoint_t timeline_read = {
    .event = CDX_AUDIT_DOCUMENT_READ,
    .read = read_timeline,
    .audit_detail = timeline_audit_detail,
    .respond = timeline_respond,
    .free_ctx = tl_ctx_free,
};

static int param_error(cdx_param_error_t *e, const char *code, const char *param,
                       const char *detail)
{
    e->status = 400;
    e->code = code;
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

/* kinds: each value a comma list of kind names. */
static int read_kinds(const cdx_params_t *p, unsigned *kinds, cdx_param_error_t *e)
{
    const char *vals[CDX_PARAMS_MAX];
    size_t nv = cdx_params_all(p, "kinds", vals, CDX_PARAMS_MAX);
    *kinds = 0;
    for (size_t i = 0; i < nv && i < CDX_PARAMS_MAX; i++) {
        const char *s = vals[i];
        while (1) {
            size_t len = strcspn(s, ",");
            char name[32];
            unsigned bit = 0;
            if (len > 0 && len < sizeof name) {
                memcpy(name, s, len);
                name[len] = '\0';
                bit = cdx_tl_kind_bit(name);
            }
            if (bit == 0)
                return param_error(e, "PARAMETER_INVALID", "kinds",
                                   "query parameter 'kinds' must be a comma list of problems, "
                                   "medications, allergies, results, vital_signs, procedures, "
                                   "immunizations, encounters");
            *kinds |= bit;
            if (s[len] == '\0')
                break;
            s += len + 1;
        }
    }
    return 0;
}

/* The request's identity and query into c; *e says what is wrong. */
static int read_request(cdx_request_t *rq, tl_ctx_t *c, cdx_param_error_t *e)
{
    cdx_params_t *p = malloc(sizeof *p);
    if (p == NULL)
        return CDX_ENOMEM;
    int rc = cdx_params_parse(rq->http->query ? rq->http->query : "", SPECS, CDX_ARRAY_SIZE(SPECS),
                              p, e);
    if (rc == 0)
        rc = read_kinds(p, &c->q.kinds, e);
    if (rc == 0)
        rc = cdx_params_time(p, "from", c->q.from, e);
    if (rc == 0)
        rc = cdx_params_time(p, "to", c->q.to, e);
    const char *view = rc == 0 ? cdx_params_get(p, "view") : NULL;
    if (view != NULL && strcmp(view, "summary") != 0 && strcmp(view, "timeline") != 0)
        rc = param_error(e, "PARAMETER_INVALID", "view",
                         "query parameter 'view' must be 'timeline' or 'summary'");
    c->summary = rc == 0 && view != NULL && strcmp(view, "summary") == 0;
    free(p);
    if (rc != 0)
        return rc;
    if (cdx_params_path_patient(&rq->params, "patient", &c->who) != 0)
        return param_error(e, "PATIENT_ID_INVALID", "patient",
                           "the path's patient must be ROOT|EXT ('|' may be sent as %7C): an "
                           "assigning authority OID or UUID and an extension");
    return 0;
}

static void h_patients_timeline(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    tl_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_param_error_t e;
    memset(&e, 0, sizeof e);
    int rc = read_request(rq, c, &e);
    if (rc == CDX_EINVAL) {
        free(c);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    if (rc == 0)
        rc = cdx_app_stored_identity(app, &c->who);
    if (rc != 0) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(c->q.now, sizeof c->q.now, "%Y%m%d%H%M%S", &tm);
    cdx_disclose_start(rq, &timeline_read, c);
}

const cdx_route_t cdx_timeline_routes[] = {
    {"patients.timeline", "GET", "/v1/patients/{patient}/timeline", CDX_ROLE_QUERY,
     CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_patients_timeline)},
};
const size_t cdx_timeline_nroutes = CDX_ARRAY_SIZE(cdx_timeline_routes);
