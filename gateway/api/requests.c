/* requests: POST /v1/requests, GET /v1/requests/{id} and the bodies of
 * requests and subscriptions (see include/cdx/api/requests.h). */
#include "cdx/api/requests.h"
#include "api_internal.h"
#include "cdx/api/app.h"
#include "cdx/api/delivery.h"
#include "cdx/api/disclose.h"
#include "cdx/api/routes.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/subscription.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the body -------------------------------------------------------------- */

static int invalid(cdx_param_error_t *e, int status, const char *code, const char *param,
                   const char *detail)
{
    e->status = status;
    e->code = code;
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

static int compare_code(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int read_types(json_t *v, cdx_request_body_t *out, cdx_param_error_t *e)
{
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CDX_QUERY_MAX_TYPES)
        return invalid(e, 400, "REQUEST_BODY_INVALID", "types",
                       "'types' must be an array of at most 16 LOINC document type codes");
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        if (!json_is_string(t))
            return invalid(e, 400, "REQUEST_BODY_INVALID", "types",
                           "'types' must be an array of strings (LOINC codes)");
        const char *code = json_string_value(t);
        if (!cdx_loinc_valid(code)) {
            char detail[160];
            snprintf(detail, sizeof detail,
                     "'types' item %zu is not a LOINC code (digits, '-', its check digit, "
                     "e.g. 34133-9)",
                     i);
            return invalid(e, 400, "DOCUMENT_TYPE_INVALID", "types", detail);
        }
        cdx_strlcpy(out->types[out->ntypes++], code, sizeof out->types[0]);
    }
    qsort(out->types, out->ntypes, sizeof out->types[0], compare_code);
    size_t kept = 0;
    for (i = 0; i < out->ntypes; i++) {
        if (kept > 0 && strcmp(out->types[kept - 1], out->types[i]) == 0)
            continue;
        memmove(out->types[kept], out->types[i], sizeof out->types[0]);
        size_t used = strlen(out->types_text);
        snprintf(out->types_text + used, sizeof out->types_text - used, "%s%s", kept ? "," : "",
                 out->types[kept]);
        kept++;
    }
    out->ntypes = kept;
    return 0;
}

static int read_time(json_t *v, const char *name, char key[16], cdx_param_error_t *e)
{
    char detail[200];
    key[0] = '\0';
    if (v == NULL)
        return 0;
    if (json_is_string(v) && cdx_time_key(json_string_value(v), key) == 0)
        return 0;
    key[0] = '\0';
    snprintf(detail, sizeof detail,
             "'%s' must be an HL7 timestamp (2026, 20261104) or an ISO 8601 date or date-time "
             "(2026-11-04, 2026-11-04T15:30:00+09:00)",
             name);
    if (!json_is_string(v))
        return invalid(e, 400, "REQUEST_BODY_INVALID", name, detail);
    return invalid(e, 400, "DATE_INVALID", name, detail);
}

int cdx_request_body_parse(const char *body, size_t len, int with_range, cdx_request_body_t *out,
                           cdx_param_error_t *e)
{
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    json_error_t jerr;
    json_t *root = body != NULL ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int rc = 0;
    if (!json_is_object(root)) {
        rc = invalid(e, 400, "REQUEST_BODY_INVALID", "",
                     with_range ? "the body must be one JSON object: {\"patient\": \"ROOT|EXT\", "
                                  "\"types\": [...], \"from\": ..., \"to\": ...}"
                                : "the body must be one JSON object: {\"patient\": \"ROOT|EXT\", "
                                  "\"types\": [...]}");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int known = strcmp(key, "patient") == 0 || strcmp(key, "types") == 0 ||
                    (with_range && (strcmp(key, "from") == 0 || strcmp(key, "to") == 0));
        if (!known) {
            char detail[200];
            snprintf(detail, sizeof detail, "unknown member '%.64s': the members are %s", key,
                     with_range ? "patient, types, from, to" : "patient, types");
            rc = invalid(e, 400, "REQUEST_BODY_INVALID", key, detail);
            goto out;
        }
    }
    v = json_object_get(root, "patient");
    if (v == NULL) {
        rc = invalid(e, 400, "PATIENT_REQUIRED", "patient",
                     "'patient' is required: the patient's id as ROOT|EXT (the assigning "
                     "authority's OID, '|', the id)");
        goto out;
    }
    if (!json_is_string(v) || cdx_patient_ref_parse(json_string_value(v), &out->patient) != 0) {
        rc = invalid(e, 400, "PATIENT_ID_INVALID", "patient",
                     "'patient' must be ROOT|EXT: the assigning authority's OID or UUID, '|', "
                     "the id");
        goto out;
    }
    rc = read_types(json_object_get(root, "types"), out, e);
    if (rc == 0 && with_range)
        rc = read_time(json_object_get(root, "from"), "from", out->from_key, e);
    if (rc == 0 && with_range)
        rc = read_time(json_object_get(root, "to"), "to", out->to_key, e);
    if (rc == 0 && out->from_key[0] && out->to_key[0] && strcmp(out->from_key, out->to_key) > 0)
        rc = invalid(e, 400, "DATE_RANGE_INVALID", "from", "'from' is after 'to'");
out:
    json_decref(root);
    return rc;
}

/* ---- POST /v1/requests ------------------------------------------------------- */

typedef struct create_ctx {
    cdx_request_body_t body;
    cdx_record_request_t req;
    char (*docs)[33];
    size_t ndocs;
    int truncated;
    size_t withheld_consent, withheld_confidentiality;
    size_t created;
} create_ctx_t;

static void create_ctx_free(void *arg)
{
    create_ctx_t *c = arg;
    if (c != NULL)
        free(c->docs);
    free(c);
}

/* Keeps the documents of page that d may see. */
static int keep_allowed(cdx_disclosure_t *d, create_ctx_t *c, const cdx_doc_page_t *page)
{
    for (size_t i = 0; i < page->n; i++) {
        const cdx_doc_row_t *row = &page->hits[i].row;
        cdx_access_target_t t = {.submitter_oid = row->submitter_oid,
                                 .author_oid = row->author_oid,
                                 .custodian_oid = row->custodian_oid,
                                 .type_code = row->type_code,
                                 .confidentiality = row->confidentiality};
        cdx_access_decision_t dec = cdx_disclose_decide(d, &t);
        if (!dec.allow) {
            const char *cls = cdx_access_withheld_class(dec.reason);
            if (cls != NULL && strcmp(cls, "confidentiality") == 0)
                c->withheld_confidentiality++;
            else
                c->withheld_consent++;
            continue;
        }
        if (c->ndocs >= CDX_REQUEST_MAX_DOCUMENTS) {
            c->truncated = 1;
            return 0;
        }
        if (c->ndocs % 64 == 0) {
            char(*more)[33] = realloc(c->docs, (c->ndocs + 64) * sizeof *more);
            if (more == NULL)
                return CDX_ENOMEM;
            c->docs = more;
        }
        cdx_strlcpy(c->docs[c->ndocs++], row->uid, 33);
    }
    return 0;
}

/* Worker: the person's current documents matching the filters, page by
 * page over every linked identity, each decided as the query decides. */
static int create_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    create_ctx_t *c = d->ctx;
    int64_t person = 0;
    int rc = cdx_registry_person_of(reg, c->req.patient_root, c->req.patient_ext, &person);
    if (rc == 0)
        rc = cdx_disclose_load_person(d, reg, person);
    if (rc != 0)
        return rc;
    cdx_doc_query_t q = {.root = c->req.patient_root,
                         .ext = c->req.patient_ext,
                         .ntypes = c->body.ntypes,
                         .from = c->body.from_key[0] ? c->body.from_key : NULL,
                         .to = c->body.to_key[0] ? c->body.to_key : NULL,
                         .status = CDX_QUERY_CURRENT,
                         .limit = CDX_QUERY_MAX_LIMIT};
    for (size_t i = 0; i < c->body.ntypes; i++)
        q.types[i] = c->body.types[i];
    char after_key[32] = "";
    for (;;) {
        cdx_doc_page_t page;
        memset(&page, 0, sizeof page);
        rc = cdx_registry_find_documents(reg, &q, &page);
        if (rc == 0)
            rc = keep_allowed(d, c, &page);
        int more = rc == 0 && page.more && page.n > 0 && !c->truncated;
        if (more) {
            cdx_strlcpy(after_key, page.hits[page.n - 1].creation_key, sizeof after_key);
            q.after_key = after_key;
            q.after_id = page.hits[page.n - 1].row.id;
        }
        cdx_doc_page_cleanup(&page);
        if (!more)
            break;
    }
    if (rc == 0)
        cdx_strlcpy(d->patient_key, c->req.patient_key, sizeof d->patient_key);
    return rc;
}

static void create_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const create_ctx_t *c = d->ctx;
    snprintf(out, outlen, "request=%s count=%zu withheld=%zu/%zu truncated=%d types=%zu%s%s",
             c->req.uid, c->ndocs, c->withheld_consent, c->withheld_confidentiality,
             c->truncated, c->body.ntypes, c->body.from_key[0] ? " from" : "",
             c->body.to_key[0] ? " to" : "");
}

/* Writer: the request, its deliveries and the audit record, together. */
static int create_apply(cdx_disclosure_t *d, cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    create_ctx_t *c = d->ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    size_t n = d->stage == CDX_DISCLOSE_FOUND ? c->ndocs : 0;
    return cdx_registry_request_put(reg, &c->req, (const char(*)[33])c->docs, n, now_ms, ev,
                                    &c->created);
}

/* The same answer whether the patient is unknown, withheld or seen. */
static void create_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    create_ctx_t *c = d->ctx;
    size_t n = d->stage == CDX_DISCLOSE_FOUND ? c->ndocs : 0;
    json_t *docs = json_array();
    for (size_t i = 0; i < n && docs != NULL; i++)
        json_array_append_new(docs, json_string(c->docs[i]));
    json_t *body = docs != NULL ? json_pack("{s:s, s:s, s:I, s:o}", "id", c->req.uid, "status",
                                            "accepted", "count", (json_int_t)n, "documents", docs)
                                : NULL;
    if (body != NULL && c->truncated && d->stage == CDX_DISCLOSE_FOUND)
        json_object_set_new(body, "truncated", json_true());
    if (c->created > 0)
        cdx_delivery_kick(d->app->delivery);
    char location[64];
    snprintf(location, sizeof location, "/v1/requests/%s", c->req.uid);
    CDX_INFO("request.created", "req=%s request=%s patient=%s documents=%zu", rq->id, c->req.uid,
             c->req.patient_key, n);
    cdx_api_respond_json_at(rq, 202, body, location);
}

static const cdx_disclose_endpoint_t request_create = {
    .event = CDX_AUDIT_REQUEST_CREATE,
    .read = create_read,
    .audit_detail = create_audit_detail,
    .respond = create_respond,
    .free_ctx = create_ctx_free,
    .apply = create_apply,
};

/* Audits a request refused before the disclosure (its route's event,
 * outcome 4), then answers. */
static void refuse(cdx_request_t *rq, int status, const char *code, const char *detail)
{
    cdx_param_error_t e = {.status = status, .code = code};
    cdx_strlcpy(e.detail, detail, sizeof e.detail);
    cdx_params_refuse(cdx_server_app(rq->server), rq, &e);
}

int cdx_requests_read_post(cdx_request_t *rq, int with_range, cdx_request_body_t *body)
{
    cdx_param_error_t e;
    const char *ct = cdx_http_header(rq->http, "content-type");
    size_t n = ct != NULL ? strcspn(ct, "; \t") : 0;
    if (ct == NULL || n != 16 || strncasecmp(ct, "application/json", n) != 0) {
        refuse(rq, 415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
        return CDX_EINVAL;
    }
    if (cdx_request_body_parse(rq->http->body.data, rq->http->body.len, with_range, body, &e) !=
        0) {
        cdx_params_refuse(cdx_server_app(rq->server), rq, &e);
        return CDX_EINVAL;
    }
    if (rq->peer == NULL || rq->peer->endpoint[0] == '\0') {
        refuse(rq, 409, "ENDPOINT_REQUIRED",
               "this institution has no delivery endpoint registered (`endpoint` in its "
               "[institution] entry): nothing could be delivered to it");
        return CDX_EINVAL;
    }
    return 0;
}

int cdx_requests_new_uid(char out[33])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char id[16];
    if (RAND_bytes(id, sizeof id) != 1)
        return CDX_ECRYPTO;
    for (size_t i = 0; i < sizeof id; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

static void h_requests_create(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    create_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (cdx_requests_read_post(rq, 1, &c->body) != 0) {
        create_ctx_free(c);
        return;
    }
    cdx_patient_ref_t stored = c->body.patient;
    if (cdx_app_stored_identity(app, &stored) != 0) {
        create_ctx_free(c);
        refuse(rq, 400, "PATIENT_ID_INVALID", "'patient' could not be read as a patient id");
        return;
    }
    cdx_record_request_t *r = &c->req;
    cdx_strlcpy(r->institution_oid, rq->peer->oid, sizeof r->institution_oid);
    cdx_strlcpy(r->patient_root, stored.root, sizeof r->patient_root);
    cdx_strlcpy(r->patient_ext, stored.ext, sizeof r->patient_ext);
    cdx_app_patient_key(app->patient_key, stored.root, stored.ext, r->patient_key);
    cdx_strlcpy(r->types, c->body.types_text, sizeof r->types);
    cdx_strlcpy(r->from_key, c->body.from_key, sizeof r->from_key);
    cdx_strlcpy(r->to_key, c->body.to_key, sizeof r->to_key);
    cdx_disclosure_t *d = cdx_requests_new_uid(r->uid) == 0
                              ? cdx_disclose_new(rq, &request_create, c)
                              : NULL;
    if (d == NULL) {
        create_ctx_free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_strlcpy(r->purpose, d->purpose != NULL ? d->purpose->code : "", sizeof r->purpose);
    cdx_disclose_run(d);
}

/* ---- GET /v1/requests/{id} ----------------------------------------------------- */

typedef struct get_ctx {
    cdx_record_request_t req;
    cdx_request_doc_t *docs;
    size_t n;
    /* Per document, decided on this read: NULL when it may still be
     * disclosed, else the problem code it is withheld with. */
    const char **withheld;
    cdx_withheld_t counts;
} get_ctx_t;

static void get_ctx_free(void *arg)
{
    get_ctx_t *c = arg;
    if (c != NULL) {
        free(c->docs);
        free(c->withheld);
    }
    free(c);
}

/* Whether each document the request lists may still be disclosed to its
 * institution, decided now as a read of the document would be: what was
 * allowed when the request was made may not be any more (the patient
 * withdrew, a permit expired).  A document withheld shows nothing of
 * itself; its delivery, if still pending, is refused at send time. */
static int decide_each(cdx_disclosure_t *d, cdx_registry_t *reg, get_ctx_t *c)
{
    c->withheld = calloc(c->n > 0 ? c->n : 1, sizeof *c->withheld);
    if (c->withheld == NULL)
        return CDX_ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        cdx_access_decision_t dec;
        int rc = cdx_disclose_decide_uid(d, reg, c->docs[i].document_uid, &dec);
        if (rc != 0)
            return rc;
        if (dec.allow)
            continue;
        const char *cls = cdx_access_withheld_class(dec.reason);
        c->withheld[i] = cls != NULL && strcmp(cls, "confidentiality") == 0 ? "CONFIDENTIALITY"
                                                                            : "CONSENT_REQUIRED";
        cdx_withheld_count(&c->counts, &dec);
    }
    return 0;
}

static int get_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    get_ctx_t *c = d->ctx;
    /* Another institution's request is not found: its owner is part of the key. */
    int rc = cdx_registry_request_get(reg, d->target_id, d->actor_oid, &c->req, &c->docs, &c->n);
    if (rc == 0)
        rc = decide_each(d, reg, c);
    if (rc == 0)
        cdx_strlcpy(d->patient_key, c->req.patient_key, sizeof d->patient_key);
    return rc;
}

static void get_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const get_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_FOUND)
        snprintf(out, outlen, "route=requests.get status=200 documents=%zu withheld=%zu/%zu", c->n,
                 c->counts.consent, c->counts.confidentiality);
    else
        snprintf(out, outlen, "route=requests.get status=404 code=REQUEST_NOT_FOUND");
}

static json_t *types_json(const char *types)
{
    json_t *a = json_array();
    for (const char *p = types; a != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

static json_t *get_json(const get_ctx_t *c)
{
    const cdx_record_request_t *r = &c->req;
    json_t *docs = json_array();
    size_t pending = 0, delivered = 0, dead = 0;
    for (size_t i = 0; i < c->n && docs != NULL; i++) {
        const cdx_request_doc_t *x = &c->docs[i];
        if (c->withheld[i] != NULL)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:i}", "id", x->document_uid, "state",
                              x->state[0] ? x->state : "unknown", "attempts", x->attempts);
        if (o != NULL && x->reason[0] != '\0' && strcmp(x->reason, "request") != 0)
            json_object_set_new(o, "delivered_for", json_string(x->reason));
        if (o != NULL && x->updated_at[0] != '\0')
            json_object_set_new(o, "updated_at", json_string(x->updated_at));
        if (o != NULL && x->last_error[0] != '\0')
            json_object_set_new(o, "last_error", json_string(x->last_error));
        json_array_append_new(docs, o);
        pending += strcmp(x->state, "pending") == 0;
        delivered += strcmp(x->state, "delivered") == 0;
        dead += strcmp(x->state, "dead") == 0;
    }
    /* Withheld ones last, naming nothing of the document, not even its
     * place among the others. */
    for (size_t i = 0; i < c->n && docs != NULL; i++)
        if (c->withheld[i] != NULL)
            json_array_append_new(
                docs, json_pack("{s:s, s:s}", "state", "withheld", "code", c->withheld[i]));
    static const char *const shape =
        "{s:s, s:{s:s, s:s}, s:o, s:s*, s:s*, s:s, s:I, s:{s:I, s:I, s:I}, s:o}";
    json_t *body = json_pack(shape,
                             "id", r->uid, "patient", "root", r->patient_root, "extension",
                             r->patient_ext, "types", types_json(r->types), "from",
                             r->from_key[0] ? r->from_key : NULL, "to",
                             r->to_key[0] ? r->to_key : NULL, "created_at", r->created_at, "count",
                             (json_int_t)c->n, "deliveries", "pending", (json_int_t)pending,
                             "delivered", (json_int_t)delivered, "dead", (json_int_t)dead,
                             "documents", docs);
    if (body != NULL)
        cdx_withheld_json(&c->counts, body);
    return body;
}

static void get_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    get_ctx_t *c = d->ctx;
    if (d->stage != CDX_DISCLOSE_FOUND) {
        cdx_respond_problem(rq, 404, "REQUEST_NOT_FOUND",
                            "this institution has no record request with this id", NULL);
        return;
    }
    json_t *body = get_json(c);
    cdx_api_respond_json(rq, 200, body);
}

static const cdx_disclose_endpoint_t request_get = {
    .event = CDX_AUDIT_REQUEST_READ,
    .read = get_read,
    .audit_detail = get_audit_detail,
    .respond = get_respond,
    .free_ctx = get_ctx_free,
};

static void h_requests_get(cdx_request_t *rq)
{
    get_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &request_get, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    d->target_unknown = !cdx_disclose_target_id(&rq->params, d->target_id);
    cdx_disclose_run(d);
}

const cdx_route_t cdx_request_routes[] = {
    {"requests.create", "POST", "/v1/requests", CDX_ROLE_QUERY,
     CDX_ROUTE_BODY | CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_requests_create)},
    {"requests.get", "GET", "/v1/requests/{id}", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_requests_get)},
};
const size_t cdx_request_nroutes = CDX_ARRAY_SIZE(cdx_request_routes);
