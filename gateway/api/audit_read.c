/* audit_read (api): a page of the audit trail, and a patient's access log
 * (see include/cdx/api/audit_read.h). */
#include "cdx/api/audit_read.h"
#include "api_internal.h"
#include "cdx/api/cursor.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/audit_format.h"
#include "cdx/domain/institution.h"
#include "cdx/domain/national.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_ACCESS_LOG "audit.access_log"

void cdx_audit_page_free(void *arg)
{
    cdx_audit_page_req_t *r = arg;
    if (r == NULL)
        return;
    free(r->ctx.keys_json);
    json_decref(r->ctx.records);
    OPENSSL_cleanse(r->ctx.cursor_key, sizeof r->ctx.cursor_key);
    free(r);
}

int cdx_audit_param_invalid(cdx_param_error_t *e, const char *param, const char *detail)
{
    e->status = 400;
    e->code = "PARAMETER_INVALID";
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

int cdx_audit_page_cursor(cdx_app_t *app, const cdx_params_t *p, cdx_audit_page_ctx_t *c,
                          cdx_param_error_t *e)
{
    cdx_cursor_key(app->patient_key, c->cursor_key);
    const char *text = cdx_params_get(p, "cursor");
    if (text == NULL)
        return 0;
    cdx_cursor_t pos;
    int rc = cdx_cursor_decode(c->cursor_key, c->scope, text, &pos);
    if (rc != 0 || pos.sort[0] != '\0' || pos.id < 0) {
        e->status = 400;
        e->code = "CURSOR_INVALID";
        cdx_strlcpy(e->param, "cursor", sizeof e->param);
        cdx_strlcpy(e->detail,
                    rc == CDX_ECONFLICT
                        ? "query parameter 'cursor' belongs to a query with other filters: repeat "
                          "the query that returned it, changing only 'limit' and 'cursor'"
                        : "query parameter 'cursor' is not a cursor this gateway returned: pass "
                          "the 'next' value of the previous page unchanged",
                    sizeof e->detail);
        return CDX_EINVAL;
    }
    c->f.after_seq = pos.id;
    return 0;
}

/* ---- the read ------------------------------------------------------------- */

/* The keyed hashes of every identity of the person behind c->who, and of
 * the one asked for as written and as stored (a national id is stored only
 * as its keyed hash: never looked up, nor kept, in clear), as a JSON
 * array. */
static int person_keys(cdx_disclosure_t *d, cdx_registry_t *reg, cdx_audit_page_ctx_t *c)
{
    char asked[sizeof c->who.root + sizeof c->who.ext + 2], stored[sizeof asked + 96];
    snprintf(asked, sizeof asked, "%s|%s", c->who.root, c->who.ext);
    if (cdx_national_ref_stored(&d->app->national, asked, stored, sizeof stored) != 0)
        return CDX_EINVAL;
    OPENSSL_cleanse(asked, sizeof asked);
    const char *ext = strchr(stored, '|') + 1;
    cdx_person_row_t *rows = NULL;
    size_t n = 0;
    int rc = cdx_registry_persons_by_identity(reg, c->who.root, ext, &rows, &n);
    if (rc != 0)
        return rc;
    json_t *keys = json_array();
    char key[33];
    cdx_app_patient_key(d->app->patient_key, c->who.root, c->who.ext, key);
    json_array_append_new(keys, json_string(key));
    cdx_app_patient_key(d->app->patient_key, c->who.root, ext, key);
    memcpy(d->patient_key, key, sizeof key);
    json_array_append_new(keys, json_string(key));
    for (size_t p = 0; p < n; p++) {
        for (size_t i = 0; i < rows[p].nids; i++) {
            cdx_app_patient_key(d->app->patient_key, rows[p].ids[i].root, rows[p].ids[i].ext, key);
            json_array_append_new(keys, json_string(key));
        }
    }
    cdx_person_rows_free(rows, n);
    c->keys_json = keys != NULL ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(keys);
    if (c->keys_json == NULL)
        return CDX_ENOMEM;
    c->f.patient_keys_json = c->keys_json;
    return 0;
}

/* An access log entry: who looked, at what, when, why, under what. */
static json_t *access_json(const cdx_audit_record_t *r)
{
    return json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "seq",
                     (json_int_t)r->seq, "ts", r->ts, "institution", r->actor_oid, "user",
                     r->actor_user, "event", r->event, "document_id", r->document_id, "purpose",
                     r->purpose, "reason", r->reason, "decision", r->decision, "consent",
                     r->consent);
}

static int collect(void *arg, const cdx_audit_record_t *rec)
{
    cdx_audit_page_ctx_t *c = arg;
    if (json_array_size(c->records) >= c->limit) {
        c->more = 1;
        return 1; /* one beyond the page: there is a next one */
    }
    json_t *o = c->access_log ? access_json(rec) : cdx_audit_record_json(rec);
    if (o == NULL || json_array_append_new(c->records, o) != 0)
        return CDX_ENOMEM;
    c->last_seq = rec->seq;
    return 0;
}

static int page_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    cdx_audit_page_ctx_t *c = d->ctx;
    if (c->by_patient) {
        int rc = person_keys(d, reg, c);
        if (rc != 0)
            return rc;
    }
    c->records = json_array();
    if (c->records == NULL)
        return CDX_ENOMEM;
    c->f.limit = c->limit + 1;
    int rc = cdx_registry_audit_each(reg, &c->f, collect, c);
    return rc == 1 ? 0 : rc;
}

static void page_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const cdx_audit_page_ctx_t *c = d->ctx;
    snprintf(out, outlen, "route=%s count=%zu more=%d%s%s%s%s%s",
             c->access_log ? ROUTE_ACCESS_LOG : "audit.query",
             c->records ? json_array_size(c->records) : 0, c->more, c->from[0] ? " from" : "",
             c->before[0] ? " to" : "", c->by_patient ? " patient" : "", c->f.event ? " event" : "",
             c->f.breakglass ? " breakglass" : "");
}

static void page_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    cdx_audit_page_ctx_t *c = d->ctx;
    json_t *body = json_object();
    size_t n = json_array_size(c->records);
    json_object_set_new(body, "count", json_integer((json_int_t)n));
    json_object_set(body, c->access_log ? "accesses" : "records",
                    c->records ? c->records : json_array());
    char next[CDX_CURSOR_TEXT_MAX];
    cdx_cursor_t pos = {.id = c->last_seq};
    if (c->more && n > 0 && cdx_cursor_encode(c->cursor_key, c->scope, &pos, next) == 0)
        json_object_set_new(body, "next", json_string(next));
    cdx_api_respond_json(rq, 200, body);
}

const cdx_disclose_endpoint_t cdx_audit_page_endpoint = {
    .event = CDX_AUDIT_AUDIT_READ,
    .read = page_read,
    .audit_detail = page_audit_detail,
    .respond = page_respond,
    .free_ctx = cdx_audit_page_free,
};

/* ---- GET /v1/patients/{ROOT|EXT}/access-log --------------------------------- */

static const cdx_param_spec_t access_specs[] = {
    {"limit", 0, 8},
    {"cursor", 0, 512},
};

/* The reads of a person's records by institutions: document reads and
 * queries that disclosed something. */
static const char ACCESS_EVENTS[] =
    "[\"" CDX_AUDIT_DOCUMENT_READ "\",\"" CDX_AUDIT_DOCUMENT_QUERY "\"]";

void cdx_audit_h_access_log(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    cdx_audit_page_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_audit_page_ctx_t *c = &r->ctx;
    cdx_param_error_t e;
    const char *query = rq->http->query != NULL ? rq->http->query : "";
    if (cdx_params_path_patient(&rq->params, "patient", &c->who) != 0) {
        e = (cdx_param_error_t){.status = 400, .code = "PATIENT_ID_INVALID"};
        cdx_strlcpy(e.param, "id", sizeof e.param);
        cdx_strlcpy(e.detail,
                    "the path must name the patient as ROOT|EXT (the assigning authority's OID, "
                    "'|', the id)",
                    sizeof e.detail);
        cdx_audit_page_free(r);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    if (rq->peer != NULL && !cdx_institution_is_home_of(rq->peer, c->who.root)) {
        /* Only the institution that numbers the id answers for its patient. */
        cdx_audit_page_free(r);
        cdx_app_audit_reject(app, rq->route, rq->peer->oid, rq->peer_addr, 403,
                             "ACCESS_LOG_NOT_HOME", NULL);
        cdx_respond_problem(rq, 403, "ACCESS_LOG_NOT_HOME",
                            "a patient's access log is given only to the home institution of "
                            "the id: the institution whose OID or registered id root the id's "
                            "root is, or is under",
                            NULL);
        return;
    }
    long limit = 0;
    if (cdx_params_parse(query, access_specs, CDX_ARRAY_SIZE(access_specs), &r->params, &e) != 0 ||
        cdx_params_int(&r->params, "limit", 1, CDX_AUDIT_PAGE_MAX, 100, &limit, &e) != 0) {
        cdx_audit_page_free(r);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    c->limit = (size_t)limit;
    c->access_log = 1;
    c->by_patient = 1;
    c->f.events_json = ACCESS_EVENTS;
    c->f.successes_only = 1;
    c->f.institutions_only = 1;
    snprintf(c->scope, sizeof c->scope, "%s\npatient=%s|%s\n", ROUTE_ACCESS_LOG, c->who.root,
             c->who.ext);
    if (cdx_audit_page_cursor(app, &r->params, c, &e) != 0) {
        cdx_audit_page_free(r);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    cdx_disclose_start(rq, &cdx_audit_page_endpoint, r);
}
