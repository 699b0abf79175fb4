/* documents: POST /v1/documents and the document read endpoints (see
 * include/cdx/api/documents.h). */
#include "cdx/api/app.h"
#include "cdx/api/delivery.h"
#include "cdx/api/disclose.h"
#include "cdx/api/documents.h"
#include "api_internal.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/purpose.h"
#include "cdx/base/log.h"
#include "cdx/parsers/mime.h"
#include "cdx/net/server.h"
#include "cdx/store/testvfs.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

/* ---- ingest ------------------------------------------------------------ */

typedef struct ingest_job {
    cdx_app_t *app;
    const char *body; /* the request's body, alive while the request is */
    size_t len;
    char submitter[128];
    unsigned policy;
    char id_roots[CDX_INST_MAX_ID_ROOTS][128]; /* the submitter's, copied from its certificate */
    size_t nid_roots;
    int rc;
    int relay; /* the submitter has the relay role: filed under the custodian */
    cdx_institution_t *insts; /* the registered institutions, for a relay's lookup */
    size_t ninsts;
    cdx_ingest_t in;
    /* The registry change. */
    cdx_write_req_t wreq;
    void *hold;
    char purpose[32];
    char user[128];
    char peer[64]; /* the client's network address */
    char patient_key[33];
    int rejected;
    cdx_ingest_change_t change; /* the registry change and its outcome */
    /* A MIME body (message/rfc822, multipart/related): decoded on the
     * worker; body then points into decoded. */
    int mime;
    const char *mime_type; /* the request's Content-Type, alive while it is */
    char *decoded;
    char decoded_as[48];
} ingest_job_t;

static void job_free(ingest_job_t *job)
{
    cdx_ingest_cleanup(&job->in);
    free(job->decoded);
    free(job->insts);
    free(job);
}

static const char *header_or(const cdx_request_t *rq, const char *name, const char *def)
{
    const char *v = cdx_http_header(rq->http, name);
    return v != NULL && v[0] != '\0' ? v : def;
}

/* Media types a CDA document may come as (parameters such as charset are
 * allowed; the XML declaration governs the encoding). */
static int media_type_ok(const char *ct)
{
    static const char *const ok[] = {"application/xml", "text/xml", "application/hl7-v3+xml"};
    if (ct == NULL)
        return 0;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < CDX_ARRAY_SIZE(ok); i++)
        if (strlen(ok[i]) == n && strncasecmp(ct, ok[i], n) == 0)
            return 1;
    return 0;
}

/* How a body comes: a CDA document as such, or a MIME message carrying
 * one (a whole message, or a multipart body whose boundary is in the
 * request's Content-Type). */
enum { BODY_UNSUPPORTED, BODY_XML, BODY_MIME_MESSAGE, BODY_MIME_MULTIPART };

static int body_kind(const char *ct)
{
    if (media_type_ok(ct))
        return BODY_XML;
    if (ct == NULL)
        return BODY_UNSUPPORTED;
    size_t n = strcspn(ct, "; \t");
    if (n == 14 && strncasecmp(ct, "message/rfc822", n) == 0)
        return BODY_MIME_MESSAGE;
    if (n == 17 && strncasecmp(ct, "multipart/related", n) == 0)
        return BODY_MIME_MULTIPART;
    return BODY_UNSUPPORTED;
}

/* Decodes a MIME body (worker thread).  Returns 0 with body and len
 * pointing at the document, or the error with the verdict in job->in. */
static int unwrap_mime(ingest_job_t *job)
{
    size_t max = (size_t)job->app->cfg->max_body_bytes;
    cdx_mime_t m;
    cdx_diag_init(&job->in.diag);
    job->in.size = job->len;
    int rc = job->mime == BODY_MIME_MESSAGE
                 ? cdx_mime_decode(job->body, job->len, max, &job->in.diag, &m)
                 : cdx_mime_decode_body(job->mime_type, NULL, job->body, job->len, max,
                                        &job->in.diag, &m);
    if (rc != 0)
        return rc;
    cdx_diag_cleanup(&job->in.diag);
    job->decoded = m.data;
    job->body = m.data;
    job->len = m.len;
    cdx_strlcpy(job->decoded_as, m.how, sizeof job->decoded_as);
    return 0;
}

/* A relay's lookup of the custodian it hands a document in for: the
 * registered institution, its policy and id roots (owned mode, as
 * `cdxgw import` files documents), so that only the custodian rule is
 * set aside for a relay. */
static int relay_find(void *arg, const char *oid, cdx_submitter_t *out)
{
    ingest_job_t *job = arg;
    static __thread const char *roots[CDX_INST_MAX_ID_ROOTS];
    for (size_t i = 0; i < job->ninsts; i++) {
        const cdx_institution_t *inst = &job->insts[i];
        if (strcmp(inst->oid, oid) != 0)
            continue;
        for (size_t r = 0; r < inst->nid_roots && r < CDX_INST_MAX_ID_ROOTS; r++)
            roots[r] = inst->id_roots[r];
        *out = (cdx_submitter_t){.oid = inst->oid, .policy = inst->policy, .id_roots = roots,
                                 .nid_roots = inst->nid_roots};
        return 1;
    }
    return 0;
}

static int relay_run(ingest_job_t *job)
{
    cdx_registry_t *reg = cdx_app_reader_acquire(job->app);
    int rc = reg != NULL ? cdx_registry_list_institutions(reg, &job->insts, &job->ninsts)
                         : CDX_EDB;
    if (reg != NULL)
        cdx_app_reader_release(job->app, reg);
    if (rc != 0)
        return rc;
    cdx_owner_lookup_t lookup = {.find = relay_find, .arg = job};
    return cdx_ingest_run_owned(job->app->pipeline, job->body, job->len, &lookup, &job->in);
}

static void ingest_work(void *arg)
{
    ingest_job_t *job = arg;
    if (job->mime != 0 && (job->rc = unwrap_mime(job)) != 0)
        return;
    if (job->relay) {
        job->rc = relay_run(job);
        return;
    }
    const char *roots[CDX_INST_MAX_ID_ROOTS];
    for (size_t i = 0; i < job->nid_roots; i++)
        roots[i] = job->id_roots[i];
    cdx_submitter_t sub = {
        .oid = job->submitter, .policy = job->policy, .id_roots = roots, .nid_roots = job->nid_roots};
    job->rc = cdx_ingest_run(job->app->pipeline, job->body, job->len, &sub, &job->in);
}

/* The writer's apply functions: the change is the same whoever submits
 * (cdx_ingest_apply_store / cdx_ingest_apply_reject). */
static int apply_store(cdx_registry_t *reg, void *arg)
{
    return cdx_ingest_apply_store(reg, &((ingest_job_t *)arg)->change);
}

static int apply_reject_audit(cdx_registry_t *reg, void *arg)
{
    return cdx_ingest_apply_reject(reg, &((ingest_job_t *)arg)->change);
}

/* What the document's recipients came to: the deliveries created, and a
 * warning for each addressee that is not a registered institution (it
 * will not receive the document from this gateway). */
static void add_referrals(json_t *body, const cdx_ingest_change_t *c)
{
    json_object_set_new(body, "deliveries", json_integer((json_int_t)c->nreferred));
    json_t *warnings = json_object_get(body, "warnings");
    for (size_t i = 0; i < c->nunknown && json_is_array(warnings); i++) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the document is addressed to %s, which is not a registered institution: "
                 "nothing will be delivered to it",
                 c->unknown[i]);
        json_array_append_new(
            warnings, json_pack("{s:s, s:s, s:s, s:s}", "severity", "warning", "rule",
                                "GW-REFERRAL", "location",
                                "/ClinicalDocument/informationRecipient/intendedRecipient/"
                                "receivedOrganization/id",
                                "message", msg));
    }
}

static void ingest_written(cdx_write_req_t *req, int status)
{
    ingest_job_t *job = req->arg;
    cdx_request_t *rq = cdx_request_resume(job->hold);
    if (rq == NULL) {
        job_free(job);
        return;
    }
    if (status != 0) {
        CDX_ERROR("document.store_failed", "req=%s error=%s", rq->id,
                  cdx_log_q(cdx_strerror(status)));
        cdx_app_respond_storage_error(rq, status == CDX_EBUSY ? CDX_EDB : status);
        job_free(job);
        return;
    }
    if (job->rejected) {
        char *issues = cdx_diag_issues_json(&job->in.diag);
        cdx_respond_problem(rq, job->in.diag.status, job->in.diag.code, job->in.diag.message,
                            issues);
        free(issues);
        job_free(job);
        return;
    }
    if (job->change.outcome == CDX_STORE_FORBIDDEN) {
        CDX_WARN("document.replacement_forbidden", "req=%s doc=%s", rq->id, job->change.uid);
        cdx_respond_problem(rq, 403, "REPLACEMENT_FORBIDDEN",
                            "the document replaces (relatedDocument RPLC) a document another "
                            "institution submitted; only the institution that submitted it, or "
                            "its custodian, may replace it; nothing was stored",
                            NULL);
        job_free(job);
        return;
    }
    if (job->change.outcome == CDX_STORE_CONFLICT) {
        CDX_WARN("document.conflict", "req=%s doc=%s", rq->id, job->change.uid);
        cdx_respond_problem(rq, 409, "DOC_ID_CONFLICT",
                            "a different document with the same ClinicalDocument/id is already "
                            "stored; a new version needs a new id (and relatedDocument RPLC)",
                            NULL);
        job_free(job);
        return;
    }
    json_error_t jerr;
    json_t *issues = json_loads(job->in.issues_json ? job->in.issues_json : "[]", 0, &jerr);
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:{s:s?, s:s?}, s:i, s:s?, s:s, s:o}", "id", job->change.uid,
        "status", job->change.outcome == CDX_STORE_CREATED ? "stored" : "already_stored", "document_id",
        job->in.unique_id, "sha256", job->in.sha256, "size", (json_int_t)job->in.size, "patient",
        "root", job->in.patient_root, "extension", job->in.patient_ext, "version",
        job->in.version, "set_id", job->in.set_id, "mapping_version",
        job->in.mapping_version ? job->in.mapping_version : "", "warnings",
        issues ? issues : json_array());
    if (body != NULL && job->decoded_as[0] != '\0')
        json_object_set_new(body, "decoded", json_string(job->decoded_as));
    if (body != NULL && job->change.refer)
        add_referrals(body, &job->change);
    if (job->change.nreferred > 0 || job->change.nsubscribed > 0)
        cdx_delivery_kick(job->app->delivery);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char location[96];
    snprintf(location, sizeof location, "Location: /v1/documents/%s\r\n", job->change.uid);
    CDX_INFO("document.stored", "req=%s doc=%s outcome=%d patient=%s facts=%zu us_parse=%llu "
             "us_validate=%llu us_normalize=%llu us_extract=%llu",
             rq->id, job->change.uid, (int)job->change.outcome, job->patient_key, job->in.nfacts,
             (unsigned long long)job->in.us_parse, (unsigned long long)job->in.us_validate,
             (unsigned long long)job->in.us_normalize, (unsigned long long)job->in.us_extract);
    if (text == NULL)
        cdx_respond_problem(rq, 503, "OVERLOADED", "out of memory; retry later", NULL);
    else
        cdx_respond(rq, (int)job->change.outcome, "application/json", text, strlen(text), location);
    free(text);
    job_free(job);
    cdx_test_crash_point("acked"); /* test builds: a power cut right after an answer left */
}

static void ingest_done(cdx_request_t *rq, void *arg)
{
    ingest_job_t *job = arg;
    if (rq == NULL) {
        /* The client left before an answer: nothing was acknowledged. */
        job_free(job);
        return;
    }
    if (job->rc != 0 && job->rc != CDX_EPARSE) {
        CDX_ERROR("document.pipeline_failed", "req=%s error=%s", rq->id,
                  cdx_log_q(cdx_strerror(job->rc)));
        cdx_respond_problem(rq, 503, "OVERLOADED",
                            "the gateway could not process the document now; retry later", NULL);
        job_free(job);
        return;
    }
    if (job->in.patient_root != NULL)
        cdx_app_patient_key(job->app->patient_key, job->in.patient_root, job->in.patient_ext,
                            job->patient_key);
    job->rejected = job->rc == CDX_EPARSE;
    if (job->rejected)
        CDX_INFO("document.rejected", "req=%s code=%s status=%d issues=%zu", rq->id,
                 job->in.diag.code, job->in.diag.status, job->in.diag.nissues);
    job->change = (cdx_ingest_change_t){
        .in = &job->in,
        .body = job->body,
        .submitter = job->submitter,
        .user = job->user,
        .peer = job->peer,
        .purpose = job->purpose,
        .patient_key = job->patient_key,
        .refer = job->app->cfg->forward_referrals != 0,
        .relay = job->relay && job->in.owner_oid != NULL &&
                         strcmp(job->in.owner_oid, job->submitter) != 0
                     ? job->submitter
                     : NULL,
    };
    job->wreq.apply = job->rejected ? apply_reject_audit : apply_store;
    job->wreq.done = ingest_written;
    job->wreq.arg = job;
    job->hold = cdx_request_hold(rq);
    if (cdx_writer_submit(job->app->writer, &job->wreq) != 0) {
        cdx_request_resume(job->hold);
        cdx_app_respond_storage_error(rq, CDX_EBUSY);
        job_free(job);
    }
}

/* The declared purpose of use (X-CDX-Purpose, TREAT when none) as the
 * table spells it, or NULL when the table has no such purpose. */
static const cdx_purpose_t *declared_purpose(const cdx_request_t *rq)
{
    return cdx_purpose_find(header_or(rq, "x-cdx-purpose", CDX_PURPOSE_DEFAULT));
}

/* Refuses a submission before its body is looked at: audited as a
 * rejection (with the purpose declared, none when it is unknown), then
 * answered. */
static void refuse_post(cdx_request_t *rq, int status, const char *code, const char *detail)
{
    const cdx_purpose_t *purpose = declared_purpose(rq);
    cdx_app_audit_reject(cdx_server_app(rq->server), rq->route, rq->peer ? rq->peer->oid : NULL,
                         rq->peer_addr, status, code, purpose ? purpose->code : NULL);
    cdx_respond_problem(rq, status, code, detail, NULL);
}

static void h_documents_post(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    const cdx_purpose_t *purpose = declared_purpose(rq);
    if (purpose == NULL) {
        char detail[384];
        cdx_purpose_unknown_detail(detail, sizeof detail);
        refuse_post(rq, 400, "PURPOSE_UNKNOWN", detail);
        return;
    }
    const char *ct = cdx_http_header(rq->http, "content-type");
    int kind = body_kind(ct);
    if (kind == BODY_UNSUPPORTED) {
        refuse_post(rq, 415, "UNSUPPORTED_MEDIA_TYPE",
                    "send the CDA document as application/xml, text/xml or "
                    "application/hl7-v3+xml (or a MIME message as message/rfc822 or "
                    "multipart/related)");
        return;
    }
    char found[96];
    if (kind == BODY_XML && rq->http->body.data != NULL &&
        cdx_mime_detect(rq->http->body.data, rq->http->body.len, found, sizeof found)) {
        /* A mail export sent as XML: say what was found rather than
         * "not well-formed XML". */
        char detail[256];
        snprintf(detail, sizeof detail,
                 "the body is a MIME message (it starts with the header \"%s\"), not XML: send "
                 "it as message/rfc822, or send the decoded document",
                 found);
        refuse_post(rq, 415, "MIME_WRAPPED", detail);
        return;
    }
    ingest_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    job->app = app;
    job->body = rq->http->body.data ? rq->http->body.data : "";
    job->len = rq->http->body.len;
    if (kind != BODY_XML) {
        job->mime = kind;
        job->mime_type = ct;
    }
    cdx_strlcpy(job->submitter, rq->peer ? rq->peer->oid : "", sizeof job->submitter);
    cdx_strlcpy(job->peer, rq->peer_addr, sizeof job->peer);
    job->policy = rq->peer ? rq->peer->policy : 0;
    job->relay = rq->peer != NULL && (rq->peer->roles & CDX_ROLE_RELAY) != 0;
    for (size_t i = 0; rq->peer != NULL && i < rq->peer->nid_roots && i < CDX_INST_MAX_ID_ROOTS;
         i++)
        cdx_strlcpy(job->id_roots[job->nid_roots++], rq->peer->id_roots[i],
                    sizeof job->id_roots[0]);
    cdx_strlcpy(job->purpose, purpose->code, sizeof job->purpose);
    const char *user = cdx_http_header(rq->http, "x-cdx-user");
    cdx_strlcpy(job->user, user ? user : "", sizeof job->user);
    int rc = cdx_submit_job(rq, ingest_work, ingest_done, job);
    if (rc != 0) {
        free(job);
        cdx_respond_overloaded(rq);
    }
}

/* ---- reads: through the disclosure sequence (disclose.h) ------------- */

typedef struct read_ctx {
    int what;     /* CDX_DOC_META_ONLY, _ORIGINAL or _NORMALIZED */
    int metadata; /* the metadata route */
    cdx_doc_row_t row;
} read_ctx_t;

static void read_ctx_free(void *arg)
{
    read_ctx_t *c = arg;
    if (c == NULL)
        return;
    cdx_doc_row_cleanup(&c->row);
    free(c);
}

static int read_document(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    read_ctx_t *c = d->ctx;
    return cdx_disclose_read_document(d, reg, c->what, &c->row);
}

static void read_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const read_ctx_t *c = d->ctx;
    const char *form = c->metadata ? "metadata"
                                   : (c->what == CDX_DOC_NORMALIZED ? "normalized" : "original");
    if (d->stage == CDX_DISCLOSE_NOT_FOUND)
        snprintf(out, outlen, "form=%s status=404 code=DOCUMENT_NOT_FOUND%s", form,
                 d->target_unknown ? " id=malformed" : "");
    else
        snprintf(out, outlen, "form=%s", form);
}

json_t *cdx_document_metadata_json(const cdx_doc_row_t *row)
{
    json_error_t jerr;
    json_t *meta = json_loads(row->meta_json, 0, &jerr);
    if (!json_is_object(meta)) {
        json_decref(meta);
        meta = json_object();
    }
    json_object_set_new(meta, "id", json_string(row->uid));
    json_object_set_new(meta, "status", json_string(row->status ? row->status : "current"));
    json_object_set_new(meta, "sha256", json_string(row->sha256));
    if (row->normalized_sha256)
        json_object_set_new(meta, "normalized_sha256", json_string(row->normalized_sha256));
    if (row->mapping_version)
        json_object_set_new(meta, "mapping_version", json_string(row->mapping_version));
    if (row->submitter_oid)
        json_object_set_new(meta, "submitter", json_string(row->submitter_oid));
    return meta;
}

static void read_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    read_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND) {
        cdx_disclose_respond_no_document(d, rq);
        return;
    }
    if (c->metadata) {
        cdx_api_respond_json(rq, 200, cdx_document_metadata_json(&c->row));
        return;
    }
    char extra[128];
    const char *etag = c->what == CDX_DOC_NORMALIZED && c->row.normalized_sha256
                           ? c->row.normalized_sha256
                           : c->row.sha256;
    snprintf(extra, sizeof extra, "ETag: \"%s\"\r\nX-CDX-Document-Status: %s\r\n", etag,
             c->row.status ? c->row.status : "current");
    cdx_respond(rq, 200, "application/xml", c->row.content, c->row.content_len, extra);
}

static const cdx_disclose_endpoint_t document_read = {
    .event = CDX_AUDIT_DOCUMENT_READ,
    .read = read_document,
    .audit_detail = read_audit_detail,
    .respond = read_respond,
    .free_ctx = read_ctx_free,
};

static void start_read(cdx_request_t *rq, int metadata)
{
    char form[32] = "";
    int q = cdx_http_query_param(rq->http->query, "form", form, sizeof form);
    if (q < 0 || (q == 1 && strcmp(form, "original") != 0 && strcmp(form, "normalized") != 0)) {
        cdx_respond_problem(rq, 400, "BAD_QUERY", "form must be 'original' or 'normalized'",
                            NULL);
        return;
    }
    read_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &document_read, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    c->metadata = metadata;
    c->what = metadata ? CDX_DOC_META_ONLY
                       : (strcmp(form, "normalized") == 0 ? CDX_DOC_NORMALIZED : CDX_DOC_ORIGINAL);
    d->target_unknown = !cdx_disclose_target_id(&rq->params, d->target_id);
    cdx_disclose_run(d);
}

static void h_documents_get(cdx_request_t *rq)
{
    start_read(rq, 0);
}

static void h_documents_metadata(cdx_request_t *rq)
{
    start_read(rq, 1);
}

const cdx_route_t cdx_document_routes[] = {
    {"documents.post", "POST", "/v1/documents", CDX_ROLE_SUBMIT, CDX_ROUTE_BODY,
     CDX_HANDLER(h_documents_post)},
    {"documents.get", "GET", "/v1/documents/{id}", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_documents_get)},
    {"documents.metadata", "GET", "/v1/documents/{id}/metadata", CDX_ROLE_QUERY,
     CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_documents_metadata)},
};
const size_t cdx_document_nroutes = CDX_ARRAY_SIZE(cdx_document_routes);
