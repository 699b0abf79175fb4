/* links: the administrators' link endpoints (see include/cdx/api/links.h). */
#include "cdx/api/links.h"
#include "api_internal.h"
#include "cdx/api/app.h"
#include "cdx/api/cursor.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/api/patients.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"
#include "cdx/net/server.h"
#include "cdx/parsers/ids.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- answers ------------------------------------------------------------ */

static json_t *link_json(const cdx_link_row_t *row)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "id", json_integer((json_int_t)row->id));
    json_object_set_new(o, "a", cdx_identity_json(&row->a));
    json_object_set_new(o, "b", cdx_identity_json(&row->b));
    json_object_set_new(o, "rule", json_string(row->rule));
    json_object_set_new(o, "status", json_string(row->status));
    if (row->has_score)
        json_object_set_new(o, "score", json_real(row->score));
    if (row->breakdown != NULL) {
        json_error_t jerr;
        json_t *b = json_loads(row->breakdown, 0, &jerr);
        if (b != NULL)
            json_object_set_new(o, "breakdown", b);
    }
    if (row->reason != NULL)
        json_object_set_new(o, "reason", json_string(row->reason));
    if (row->actor != NULL)
        json_object_set_new(o, "actor", json_string(row->actor));
    json_object_set_new(o, "created_at", json_string(row->created_at));
    if (row->decided_at[0] != '\0')
        json_object_set_new(o, "decided_at", json_string(row->decided_at));
    return o;
}

/* ---- refusals before the registry ---------------------------------------- */

/* Audits a request refused before the registry was asked (event, outcome
 * 4, detail route, status, code and the field at fault), then answers. */
static void refuse(cdx_request_t *rq, int status, const char *code, const char *event,
                   const char *field, const char *detail)
{
    cdx_refusal_t r = {.status = status, .code = code, .event = event, .fault_name = "field",
                       .fault = field, .with_peer = 1};
    cdx_api_refuse(rq, &r, detail);
}

/* ---- changes through the writer ------------------------------------------ */

typedef struct link_job {
    cdx_write_req_t wreq;
    void *hold;
    int unlink;
    cdx_patient_ref_t a, b;
    char reason[CDX_LINK_REASON_MAX + 1];
    int64_t link_id;
    char actor[128];
    char user[128];
    char peer[64];
    char patient_key[33];
    cdx_link_outcome_t result;
    char missing;
    cdx_link_row_t row;
} link_job_t;

static void link_job_free(link_job_t *job)
{
    cdx_link_row_cleanup(&job->row);
    free(job);
}

static int apply_link(cdx_registry_t *reg, void *arg)
{
    link_job_t *job = arg;
    cdx_audit_event_t ev = {
        .event = job->unlink ? CDX_AUDIT_PATIENT_UNLINK : CDX_AUDIT_PATIENT_LINK,
        .actor_oid = job->actor,
        .actor_user = job->user[0] ? job->user : NULL,
        .patient_key = job->patient_key[0] ? job->patient_key : NULL,
        .peer = job->peer[0] ? job->peer : NULL,
    };
    cdx_link_row_cleanup(&job->row);
    if (job->unlink)
        return cdx_registry_unlink(reg, job->link_id, job->actor, &ev, &job->result, &job->row);
    return cdx_registry_link_admin(reg, job->a.root, job->a.ext, job->b.root, job->b.ext,
                                   job->reason, job->actor, &ev, &job->result, &job->missing,
                                   &job->row);
}

static void link_written(cdx_write_req_t *req, int status)
{
    link_job_t *job = req->arg;
    cdx_request_t *rq = cdx_request_resume(job->hold);
    if (rq == NULL) {
        link_job_free(job);
        return;
    }
    if (status != 0) {
        CDX_ERROR("links.store_failed", "req=%s error=%s", rq->id,
                  cdx_log_q(cdx_strerror(status)));
        cdx_app_respond_storage_error(rq, status == CDX_EBUSY ? CDX_EDB : status);
        link_job_free(job);
        return;
    }
    char detail[96];
    switch (job->result) {
    case CDX_LINK_DONE:
    case CDX_LINK_UNCHANGED:
        CDX_INFO(job->unlink ? "links.unlinked" : "links.linked", "req=%s link=%lld outcome=%d",
                 rq->id, (long long)job->row.id, (int)job->result);
        cdx_api_respond_json(rq, job->unlink || job->result == CDX_LINK_UNCHANGED ? 200 : 201,
                     link_json(&job->row));
        break;
    case CDX_LINK_NOT_FOUND:
        if (job->unlink) {
            cdx_respond_problem(rq, 404, "LINK_NOT_FOUND", "no link with this id", NULL);
        } else {
            snprintf(detail, sizeof detail,
                     "identity '%c' is not carried by any stored document", job->missing);
            cdx_respond_problem(rq, 404, "PATIENT_NOT_FOUND", detail, NULL);
        }
        break;
    case CDX_LINK_SAME_PERSON:
        cdx_respond_problem(rq, 409, "LINK_SAME_PERSON",
                            "a and b are already one person through other links; nothing changed",
                            NULL);
        break;
    case CDX_LINK_SAME_IDENTITY:
        cdx_respond_problem(rq, 422, "LINK_SAME_IDENTITY",
                            "a and b name the same identity; link two different identities",
                            NULL);
        break;
    }
    link_job_free(job);
}

static void submit_link_job(cdx_request_t *rq, link_job_t *job)
{
    const char *user = cdx_http_header(rq->http, "x-cdx-user");
    cdx_strlcpy(job->actor, rq->peer != NULL ? rq->peer->oid : "", sizeof job->actor);
    cdx_strlcpy(job->user, user != NULL ? user : "", sizeof job->user);
    cdx_strlcpy(job->peer, rq->peer_addr, sizeof job->peer);
    job->wreq.apply = apply_link;
    job->wreq.done = link_written;
    job->wreq.arg = job;
    job->hold = cdx_request_hold(rq);
    cdx_app_t *app = cdx_server_app(rq->server);
    if (cdx_writer_submit(app->writer, &job->wreq) != 0) {
        cdx_request_resume(job->hold);
        cdx_app_respond_storage_error(rq, CDX_EBUSY);
        link_job_free(job);
    }
}

/* ---- POST /v1/links ------------------------------------------------------- */

/* Reads the body into job; on a fault fills field and detail. */
static int read_link_body(const char *body, size_t len, link_job_t *job, const char **field,
                          char *detail, size_t dlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = CDX_EINVAL;
    *field = NULL;
    if (!json_is_object(root)) {
        snprintf(detail, dlen, "the body must be one JSON object {\"a\", \"b\", \"reason\"}%s%s",
                 root == NULL ? ": " : "", root == NULL ? jerr.text : "");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "a") != 0 && strcmp(key, "b") != 0 && strcmp(key, "reason") != 0) {
            *field = "body";
            snprintf(detail, dlen, "unknown member in the body; the members are a, b and reason");
            goto out;
        }
    }
    static const char *const sides[] = {"a", "b"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = json_string_value(json_object_get(root, sides[i]));
        if (s == NULL || cdx_patient_ref_parse(s, i == 0 ? &job->a : &job->b) != 0) {
            *field = sides[i];
            snprintf(detail, dlen,
                     "%s must be a patient identity \"ROOT|EXT\" (root an OID or UUID, a "
                     "non-empty extension)",
                     sides[i]);
            goto out;
        }
    }
    json_t *r = json_object_get(root, "reason");
    const char *reason = json_string_value(r);
    size_t rlen = reason != NULL ? json_string_length(r) : 0;
    if (reason == NULL || rlen == 0 || rlen > CDX_LINK_REASON_MAX ||
        !cdx_utf8_is_valid(reason, rlen, CDX_UTF8_TEXT) || strlen(reason) != rlen) {
        *field = "reason";
        snprintf(detail, dlen,
                 "reason is required: text of 1 to %d bytes of UTF-8 without control characters",
                 CDX_LINK_REASON_MAX);
        goto out;
    }
    memcpy(job->reason, reason, rlen + 1);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static void h_links_post(cdx_request_t *rq)
{
    const char *ct = cdx_http_header(rq->http, "content-type");
    size_t n = ct != NULL ? strcspn(ct, "; \t") : 0;
    if (ct == NULL || n != 16 || strncasecmp(ct, "application/json", n) != 0) {
        refuse(rq, 415, "UNSUPPORTED_MEDIA_TYPE", CDX_AUDIT_PATIENT_LINK, NULL,
               "send the link as application/json");
        return;
    }
    size_t len = rq->http->body.len;
    if (len > CDX_LINK_BODY_MAX) {
        char detail[96];
        snprintf(detail, sizeof detail, "a link's body is at most %d bytes", CDX_LINK_BODY_MAX);
        refuse(rq, 413, "BODY_TOO_LARGE", CDX_AUDIT_PATIENT_LINK, NULL, detail);
        return;
    }
    link_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    const char *field = NULL;
    char detail[256];
    if (read_link_body(rq->http->body.data != NULL ? rq->http->body.data : "", len, job, &field,
                       detail, sizeof detail) != 0) {
        refuse(rq, 422, "LINK_INVALID", CDX_AUDIT_PATIENT_LINK, field, detail);
        link_job_free(job);
        return;
    }
    cdx_app_t *app = cdx_server_app(rq->server);
    if (cdx_app_stored_identity(app, &job->a) != 0 || cdx_app_stored_identity(app, &job->b) != 0) {
        link_job_free(job);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_app_patient_key(app->patient_key, job->a.root, job->a.ext, job->patient_key);
    submit_link_job(rq, job);
}

/* ---- DELETE /v1/links/{id} ------------------------------------------------ */

/* A link id as the path gives it: 1 to 18 decimal digits. */
static int64_t link_id_of(const cdx_route_params_t *params)
{
    char id[32];
    if (cdx_route_param(params, "id", id, sizeof id) != 0 || id[0] == '\0' || id[0] == '0' ||
        strlen(id) > 18 || strspn(id, "0123456789") != strlen(id))
        return 0;
    return (int64_t)strtoll(id, NULL, 10);
}

static void h_links_delete(cdx_request_t *rq)
{
    int64_t id = link_id_of(&rq->params);
    if (id == 0) {
        refuse(rq, 404, "LINK_NOT_FOUND", CDX_AUDIT_PATIENT_UNLINK, "id",
               "link ids are positive decimal numbers, as POST and GET /v1/links return them");
        return;
    }
    link_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    job->unlink = 1;
    job->link_id = id;
    submit_link_job(rq, job);
}

/* ---- GET /v1/links (a disclosure of identities) --------------------------- */

#define LIST_DEFAULT 50
#define LIST_MAX 500

typedef struct list_ctx {
    char status[16]; /* "" for any */
    int64_t before;
    size_t limit;
    char scope[48];
    cdx_link_row_t *rows;
    size_t n;
} list_ctx_t;

static void list_ctx_free(void *arg)
{
    list_ctx_t *c = arg;
    if (c == NULL)
        return;
    cdx_link_rows_free(c->rows, c->n);
    free(c);
}

static int list_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    list_ctx_t *c = d->ctx;
    /* One more than asked for tells whether a next page exists. */
    return cdx_registry_links_list(reg, c->status[0] ? c->status : NULL, c->before, c->limit + 1,
                                   &c->rows, &c->n);
}

static void list_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const list_ctx_t *c = d->ctx;
    snprintf(out, outlen, "route=links.list status=%s links=%zu", c->status[0] ? c->status : "any",
             c->n > c->limit ? c->limit : c->n);
}

static void list_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    list_ctx_t *c = d->ctx;
    json_t *o = json_object(), *links = json_array();
    size_t shown = c->n > c->limit ? c->limit : c->n;
    for (size_t i = 0; links != NULL && i < shown; i++)
        json_array_append_new(links, link_json(&c->rows[i]));
    json_object_set_new(o, "links", links);
    if (c->n > c->limit && shown > 0) {
        char cursor[CDX_CURSOR_TEXT_MAX];
        unsigned char key[32];
        cdx_cursor_t pos = {.id = c->rows[shown - 1].id};
        cdx_cursor_key(d->app->patient_key, key);
        int rc = cdx_cursor_encode(key, c->scope, &pos, cursor);
        OPENSSL_cleanse(key, sizeof key);
        if (rc == 0)
            json_object_set_new(o, "next_cursor", json_string(cursor));
    }
    cdx_api_respond_json(rq, 200, o);
}

static const cdx_disclose_endpoint_t links_list = {
    .event = CDX_AUDIT_PATIENT_QUERY,
    .read = list_read,
    .audit_detail = list_audit_detail,
    .respond = list_respond,
    .free_ctx = list_ctx_free,
};

static const cdx_param_spec_t list_params[] = {
    {"status", 0, 16},
    {"limit", 0, 8},
    {"cursor", 0, CDX_CURSOR_TEXT_MAX},
};

static int param_fail(cdx_param_error_t *e, int status, const char *code, const char *param,
                      const char *detail)
{
    *e = (cdx_param_error_t){.status = status, .code = code};
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

/* Reads the listing's parameters into c.  Returns 0, or CDX_EINVAL with
 * *e filled. */
static int list_params_read(cdx_app_t *app, const char *query, list_ctx_t *c,
                            cdx_param_error_t *e)
{
    cdx_params_t p;
    if (cdx_params_parse(query, list_params, CDX_ARRAY_SIZE(list_params), &p, e) != 0)
        return CDX_EINVAL;
    const char *status = cdx_params_get(&p, "status");
    if (status != NULL && strcmp(status, "review") != 0 && strcmp(status, "linked") != 0 &&
        strcmp(status, "unlinked") != 0 && strcmp(status, "distinct") != 0) {
            return param_fail(e, 400, "PARAMETER_INVALID", "status",
                          "status must be review, linked, unlinked or distinct (or absent for "
                          "all)");
    }
    cdx_strlcpy(c->status, status != NULL ? status : "", sizeof c->status);
    long limit = 0;
    if (cdx_params_int(&p, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit, e) != 0)
        return CDX_EINVAL;
    c->limit = (size_t)limit;
    snprintf(c->scope, sizeof c->scope, "links|status=%s", c->status);
    const char *cursor = cdx_params_get(&p, "cursor");
    if (cursor == NULL)
        return 0;
    unsigned char key[32];
    cdx_cursor_t pos;
    cdx_cursor_key(app->patient_key, key);
    int rc = cdx_cursor_decode(key, c->scope, cursor, &pos);
    OPENSSL_cleanse(key, sizeof key);
    if (rc == 0 && pos.sort[0] == '\0' && pos.id > 0) {
        c->before = pos.id;
        return 0;
    }
    return param_fail(e, 400, "CURSOR_INVALID", "cursor",
                      "cursor is not one this listing gave out (changed, or made for other "
                      "filters); start again without it");
}

static void h_links_list(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    list_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_param_error_t e;
    if (list_params_read(app, rq->http->query, c, &e) != 0) {
        free(c);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    cdx_disclose_start(rq, &links_list, c);
}

const cdx_route_t cdx_link_routes[] = {
    {"links.post", "POST", "/v1/links", CDX_ROLE_ADMIN, CDX_ROUTE_BODY,
     CDX_HANDLER(h_links_post)},
    {"links.delete", "DELETE", "/v1/links/{id}", CDX_ROLE_ADMIN, 0, CDX_HANDLER(h_links_delete)},
    {"links.list", "GET", "/v1/links", CDX_ROLE_ADMIN, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_links_list)},
};
const size_t cdx_link_nroutes = CDX_ARRAY_SIZE(cdx_link_routes);
