/* query: GET /v1/documents?patient=ROOT|EXT (see include/cdx/api/query.h). */
#include "cdx/api/query.h"
#include "api_internal.h"
#include "cdx/api/app.h"
#include "cdx/api/cursor.h"
#include "cdx/api/disclose.h"
#include "cdx/api/documents.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/doc_class.h"
#include "cdx/net/server.h"
#include "cdx/parsers/ids.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_NAME "documents.find"

static const cdx_param_spec_t find_specs[] = {
    {"patient", 0, 400},
    {"type", CDX_PARAM_REPEAT, 64},
    {"class", 0, 64},
    {"from", 0, 40},
    {"to", 0, 40},
    {"service_from", 0, 40},
    {"service_to", 0, 40},
    {"institution", 0, 128},
    {"status", 0, 16},
    {"limit", 0, 8},
    /* Longer than any cursor: a cursor too long is refused as a cursor. */
    {"cursor", 0, 512},
};

/* One query: what the loop read from the request, the worker's page. */
typedef struct find_ctx {
    cdx_patient_ref_t asked; /* as the client wrote it */
    char root[128];          /* the identity as stored */
    char ext[300];
    cdx_doc_query_t q;
    char keys[4][CDX_TIME_KEY_LEN]; /* from, to, service_from, service_to */
    char after_key[CDX_CURSOR_SORT_MAX + 1];
    char scope[2048]; /* the route and its filters, which a cursor is bound to */
    unsigned char cursor_key[32];
    cdx_doc_page_t page;
    char filters[96]; /* the names of the filters used, for the audit detail */
    /* The page's last row read, withheld or not: where the next page starts. */
    char last_key[CDX_CURSOR_SORT_MAX + 1];
    int64_t last_id;
    cdx_withheld_t withheld;
} find_ctx_t;

/* arg is the find_req_t of the request (its first member is the context). */
static void find_ctx_free(void *arg)
{
    find_ctx_t *c = arg;
    if (c == NULL)
        return;
    cdx_doc_page_cleanup(&c->page);
    OPENSSL_cleanse(c->cursor_key, sizeof c->cursor_key);
    free(c);
}

/* ---- the disclosure's steps --------------------------------------------- */

/* A page reads at most this many rows per entry asked for (limit) while it
 * fills with entries the access decision lets through; past that it stops
 * with a cursor, so that a person of many withheld documents costs a
 * bounded read. */
#define FILL_ROWS_PER_ENTRY 4

/* Leaves out of page what the access decision withholds, counting it by
 * class; the cursor still moves past it (c->last_key, c->last_id: the
 * page's last row read, withheld or not). */
static void withhold(cdx_disclosure_t *d, find_ctx_t *c, cdx_doc_page_t *page)
{
    size_t kept = 0;
    if (page->n > 0) {
        const cdx_doc_hit_t *last = &page->hits[page->n - 1];
        cdx_strlcpy(c->last_key, last->creation_key, sizeof c->last_key);
        c->last_id = last->row.id;
    }
    for (size_t i = 0; i < page->n; i++) {
        cdx_doc_hit_t *h = &page->hits[i];
        cdx_access_decision_t dec = cdx_disclose_decide_row(d, &h->row);
        if (dec.allow) {
            if (kept != i)
                page->hits[kept] = *h;
            kept++;
            continue;
        }
        cdx_withheld_count(&c->withheld, &dec);
        cdx_doc_row_cleanup(&h->row);
        free(h->institution);
    }
    for (size_t i = kept; i < page->n; i++)
        memset(&page->hits[i], 0, sizeof page->hits[i]);
    page->n = kept;
}

/* Reads on after the page's last row while the page holds fewer entries
 * than asked, more rows remain and the row budget lasts; each row read
 * is shown or counted as withheld, and the cursor follows the last. */
static int fill_page(cdx_disclosure_t *d, cdx_registry_t *reg, find_ctx_t *c, size_t read)
{
    size_t budget = c->q.limit * FILL_ROWS_PER_ENTRY;
    while (c->page.n < c->q.limit && c->page.more && read < budget) {
        cdx_doc_query_t q = c->q;
        char after[CDX_CURSOR_SORT_MAX + 1];
        cdx_strlcpy(after, c->last_key, sizeof after);
        q.after_key = after;
        q.after_id = c->last_id;
        q.limit = c->q.limit - c->page.n;
        if (q.limit > budget - read)
            q.limit = budget - read;
        cdx_doc_page_t next;
        int rc = cdx_registry_find_documents(reg, &q, &next);
        if (rc != 0)
            return rc;
        read += next.n;
        withhold(d, c, &next);
        /* The page's array holds limit + 1 hits: there is room. */
        memcpy(c->page.hits + c->page.n, next.hits, next.n * sizeof *next.hits);
        c->page.n += next.n;
        c->page.more = next.more;
        next.n = 0;
        cdx_doc_page_cleanup(&next);
    }
    return 0;
}

static int find_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    find_ctx_t *c = d->ctx;
    int rc = cdx_registry_find_documents(reg, &c->q, &c->page);
    if (rc != 0)
        return rc;
    if (!c->page.person_found)
        return CDX_ENOTFOUND;
    int64_t person = 0;
    rc = cdx_registry_person_of(reg, c->root, c->ext, &person);
    if (rc == 0)
        rc = cdx_disclose_load_person(d, reg, person);
    if (rc != 0)
        return rc == CDX_ENOTFOUND ? CDX_ENOTFOUND : rc;
    size_t read = c->page.n;
    withhold(d, c, &c->page);
    rc = fill_page(d, reg, c, read);
    if (rc != 0)
        return rc;
    cdx_app_patient_key(d->app->patient_key, c->root, c->ext, d->patient_key);
    return 0;
}

static void find_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const find_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND)
        snprintf(out, outlen, "count=0 patient=unknown filters=%s", c->filters);
    else
        snprintf(out, outlen, "count=%zu more=%d withheld=%zu/%zu filters=%s", c->page.n,
                 c->page.more, c->withheld.consent, c->withheld.confidentiality, c->filters);
}

/* The cursor after the page's last hit, or "" when none remain. */
static int next_cursor(const find_ctx_t *c, char out[CDX_CURSOR_TEXT_MAX])
{
    out[0] = '\0';
    if (!c->page.more || c->last_id == 0)
        return 0;
    cdx_cursor_t pos = {.id = c->last_id};
    cdx_strlcpy(pos.sort, c->last_key, sizeof pos.sort);
    return cdx_cursor_encode(c->cursor_key, c->scope, &pos, out);
}

static json_t *page_json(const find_ctx_t *c)
{
    json_t *docs = json_array();
    json_t *body = json_object();
    if (docs == NULL || body == NULL) {
        json_decref(docs);
        json_decref(body);
        return NULL;
    }
    for (size_t i = 0; i < c->page.n; i++) {
        const cdx_doc_hit_t *h = &c->page.hits[i];
        json_t *meta = cdx_document_metadata_json(&h->row);
        if (meta == NULL)
            continue;
        json_object_set_new(meta, "institution", json_string(h->institution));
        if (h->class_code[0] != '\0')
            json_object_set_new(meta, "class", json_string(h->class_code));
        json_array_append_new(docs, meta);
    }
    json_object_set_new(body, "count", json_integer((json_int_t)json_array_size(docs)));
    json_object_set_new(body, "documents", docs);
    cdx_withheld_json(&c->withheld, body);
    char next[CDX_CURSOR_TEXT_MAX];
    if (next_cursor(c, next) == 0 && next[0] != '\0')
        json_object_set_new(body, "next", json_string(next));
    return body;
}

static void find_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    cdx_api_respond_json(rq, 200, page_json(d->ctx));
}

static const cdx_disclose_endpoint_t document_query = {
    .event = CDX_AUDIT_DOCUMENT_QUERY,
    .read = find_read,
    .audit_detail = find_audit_detail,
    .respond = find_respond,
    .free_ctx = find_ctx_free,
};

/* ---- the request --------------------------------------------------------- */

static int invalid(cdx_param_error_t *e, int status, const char *code, const char *param,
                   const char *detail)
{
    e->status = status;
    e->code = code;
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

static int compare_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends "name=value\n" to the scope and the name to the filters used. */
static void scope_add(find_ctx_t *c, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    size_t used = strlen(c->scope);
    snprintf(c->scope + used, sizeof c->scope - used, "%s=%s\n", name, value);
    used = strlen(c->filters);
    if (strstr(c->filters, name) == NULL)
        snprintf(c->filters + used, sizeof c->filters - used, "%s%s", used ? "," : "", name);
}

/* type (repeatable, at most CDX_QUERY_MAX_TYPES), class, status. */
static int read_codes(const cdx_params_t *p, find_ctx_t *c, cdx_param_error_t *e)
{
    const char *types[CDX_QUERY_MAX_TYPES + 1];
    size_t n = cdx_params_all(p, "type", types, CDX_ARRAY_SIZE(types));
    if (n > CDX_QUERY_MAX_TYPES)
        return invalid(e, 400, "PARAMETER_INVALID", "type",
                       "query parameter 'type' may be given at most 16 times");
    /* The order the types come in does not change the list. */
    qsort(types, n, sizeof types[0], compare_text);
    for (size_t i = 0; i < n; i++) {
        c->q.types[i] = types[i];
        scope_add(c, "type", types[i]);
    }
    c->q.ntypes = n;
    c->q.class_code = cdx_params_get(p, "class");
    if (c->q.class_code != NULL && !cdx_doc_class_known(c->q.class_code)) {
        char detail[400];
        snprintf(detail, sizeof detail, "query parameter 'class' must be one of: %s",
                 cdx_doc_class_names());
        return invalid(e, 400, "PARAMETER_INVALID", "class", detail);
    }
    scope_add(c, "class", c->q.class_code);
    const char *status = cdx_params_get(p, "status");
    if (status == NULL || strcmp(status, "current") == 0)
        c->q.status = CDX_QUERY_CURRENT;
    else if (strcmp(status, "superseded") == 0)
        c->q.status = CDX_QUERY_SUPERSEDED;
    else if (strcmp(status, "all") == 0)
        c->q.status = CDX_QUERY_ALL;
    else
        return invalid(e, 400, "PARAMETER_INVALID", "status",
                       "query parameter 'status' must be 'current' (the default), "
                       "'superseded' or 'all'");
    /* The scope holds the status meant, so that leaving it out and
     * writing the default are the same query. */
    static const char *const names[] = {"current", "superseded", "all"};
    size_t used = strlen(c->scope);
    snprintf(c->scope + used, sizeof c->scope - used, "status=%s\n", names[c->q.status]);
    if (status != NULL && strstr(c->filters, "status") == NULL) {
        used = strlen(c->filters);
        snprintf(c->filters + used, sizeof c->filters - used, "%sstatus", used ? "," : "");
    }
    return 0;
}

/* from, to, service_from, service_to, institution. */
static int read_bounds(const cdx_params_t *p, find_ctx_t *c, cdx_param_error_t *e)
{
    static const char *const names[] = {"from", "to", "service_from", "service_to"};
    const char **into[] = {&c->q.from, &c->q.to, &c->q.service_from, &c->q.service_to};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(names); i++) {
        if (cdx_params_time(p, names[i], c->keys[i], e) != 0)
            return CDX_EINVAL;
        *into[i] = c->keys[i][0] != '\0' ? c->keys[i] : NULL;
        scope_add(c, names[i], c->keys[i]);
    }
    const char *inst = cdx_params_get(p, "institution");
    if (inst != NULL && !cdx_oid_is_valid(inst, 127))
        return invalid(e, 400, "PARAMETER_INVALID", "institution",
                       "query parameter 'institution' must be an institution's OID");
    c->q.institution = inst;
    scope_add(c, "institution", inst);
    return 0;
}

static int read_cursor(const cdx_params_t *p, find_ctx_t *c, cdx_param_error_t *e)
{
    const char *text = cdx_params_get(p, "cursor");
    if (text == NULL)
        return 0;
    cdx_cursor_t pos;
    int rc = cdx_cursor_decode(c->cursor_key, c->scope, text, &pos);
    if (rc == CDX_ECONFLICT)
        return invalid(e, 400, "CURSOR_INVALID", "cursor",
                       "query parameter 'cursor' belongs to a query with other filters: "
                       "repeat the query that returned it, changing only 'limit' and 'cursor'");
    if (rc != 0 || (pos.sort[0] != '\0' && strlen(pos.sort) != CDX_TIME_KEY_LEN - 1))
        return invalid(e, 400, "CURSOR_INVALID", "cursor",
                       "query parameter 'cursor' is not a cursor this gateway returned: pass "
                       "the 'next' value of the previous page unchanged");
    cdx_strlcpy(c->after_key, pos.sort, sizeof c->after_key);
    c->q.after_key = c->after_key;
    c->q.after_id = pos.id;
    return 0;
}

/* Reads every parameter of the query into c.  Returns 0, or CDX_EINVAL
 * with *e filled. */
static int read_query(cdx_app_t *app, const cdx_params_t *p, find_ctx_t *c, cdx_param_error_t *e)
{
    int present = 0;
    if (cdx_params_patient(p, "patient", &c->asked, &present, e) != 0)
        return CDX_EINVAL;
    if (!present)
        return invalid(e, 400, "PARAMETER_INVALID", "patient",
                       "query parameter 'patient' is required: the patient's id as ROOT|EXT "
                       "(the assigning authority's OID, '|', the id)");
    if (cdx_app_stored_identity(app, &c->asked) != 0 ||
        cdx_strlcpy(c->root, c->asked.root, sizeof c->root) != 0 ||
        cdx_strlcpy(c->ext, c->asked.ext, sizeof c->ext) != 0)
        return invalid(e, 400, "PATIENT_ID_INVALID", "patient",
                       "query parameter 'patient' could not be read as a patient id");
    c->q.root = c->root;
    c->q.ext = c->ext;
    snprintf(c->scope, sizeof c->scope, "%s\npatient=%s|%s\n", ROUTE_NAME, c->root, c->ext);
    long limit = 0;
    if (cdx_params_int(p, "limit", 1, CDX_QUERY_MAX_LIMIT, 50, &limit, e) != 0)
        return CDX_EINVAL;
    c->q.limit = (size_t)limit;
    if (read_codes(p, c, e) != 0 || read_bounds(p, c, e) != 0)
        return CDX_EINVAL;
    cdx_cursor_key(app->patient_key, c->cursor_key);
    return read_cursor(p, c, e);
}

/* The filters' values point into params, which the context keeps. */
typedef struct find_req {
    find_ctx_t ctx;
    cdx_params_t params;
} find_req_t;

static void h_documents_find(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    find_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_param_error_t e;
    const char *query = rq->http->query != NULL ? rq->http->query : "";
    if (cdx_params_parse(query, find_specs, CDX_ARRAY_SIZE(find_specs), &r->params, &e) != 0 ||
        read_query(app, &r->params, &r->ctx, &e) != 0) {
        find_ctx_free(r);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    cdx_disclose_start(rq, &document_query, r);
}

const cdx_route_t cdx_query_routes[] = {
    {ROUTE_NAME, "GET", "/v1/documents", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_documents_find)},
};
const size_t cdx_query_nroutes = CDX_ARRAY_SIZE(cdx_query_routes);
