/* deliveries: GET /v1/deliveries (see include/cdx/api/deliveries.h). */
#include "cdx/api/deliveries.h"
#include "cdx/api/app.h"
#include "cdx/api/cursor.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/net/server.h"
#include "cdx/parsers/ids.h"
#include "cdx/store/outbox.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define LIST_DEFAULT 50
#define LIST_MAX     500

typedef struct list_job {
    cdx_app_t *app;
    char state[16];
    char destination[128];
    int64_t before;
    size_t limit;
    char scope[200];
    int rc;
    cdx_delivery_t *rows;
    size_t n;
} list_job_t;

json_t *cdx_delivery_json(const cdx_delivery_t *d)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "id",
                          (json_int_t)d->id, "document", d->document_uid, "destination",
                          d->destination, "state", d->state, "reason", d->reason, "reason_id",
                          d->reason_id, "attempts", d->attempts, "created_at", d->created_at,
                          "updated_at", d->updated_at);
    if (o == NULL)
        return NULL;
    if (d->purpose[0] != '\0')
        json_object_set_new(o, "purpose", json_string(d->purpose));
    if (strcmp(d->state, "pending") == 0)
        json_object_set_new(o, "next_attempt_ms", json_integer((json_int_t)d->next_attempt_ms));
    if (d->last_error[0] != '\0')
        json_object_set_new(o, "last_error", json_string(d->last_error));
    if (d->receipt_status != 0) {
        json_object_set_new(o, "receipt",
                            json_pack("{s:i, s:s, s:s, s:I}", "status", d->receipt_status,
                                      "sha256", d->receipt_sha256, "summary",
                                      d->receipt_summary, "latency_ms",
                                      (json_int_t)d->latency_ms));
    }
    return o;
}

static void list_work(void *arg)
{
    list_job_t *job = arg;
    job->rows = calloc(job->limit + 1, sizeof *job->rows);
    if (job->rows == NULL) {
        job->rc = CDX_ENOMEM;
        return;
    }
    cdx_registry_t *reg = cdx_app_reader_acquire(job->app);
    if (reg == NULL) {
        job->rc = CDX_EDB;
        return;
    }
    job->rc = cdx_outbox_list(reg, job->state[0] ? job->state : NULL,
                              job->destination[0] ? job->destination : NULL, job->before,
                              job->rows, job->limit + 1, &job->n);
    cdx_app_reader_release(job->app, reg);
}

static void list_done(cdx_request_t *rq, void *arg)
{
    list_job_t *job = arg;
    if (rq == NULL)
        goto out;
    if (job->rc != 0) {
        cdx_app_respond_storage_error(rq, job->rc);
        goto out;
    }
    size_t shown = job->n > job->limit ? job->limit : job->n;
    json_t *items = json_array();
    for (size_t i = 0; i < shown && items != NULL; i++)
        json_array_append_new(items, cdx_delivery_json(&job->rows[i]));
    json_t *o = json_pack("{s:o}", "items", items ? items : json_array());
    if (o != NULL && job->n > job->limit) {
        unsigned char key[32];
        char cursor[CDX_CURSOR_TEXT_MAX];
        cdx_cursor_t pos = {.id = job->rows[shown - 1].id};
        cdx_cursor_key(job->app->patient_key, key);
        if (cdx_cursor_encode(key, job->scope, &pos, cursor) == 0)
            json_object_set_new(o, "next_cursor", json_string(cursor));
        OPENSSL_cleanse(key, sizeof key);
    }
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        cdx_respond_overloaded(rq);
    else
        cdx_respond(rq, 200, "application/json", text, strlen(text), NULL);
    free(text);
out:
    free(job->rows);
    free(job);
}

static const cdx_param_spec_t list_params[] = {
    {"status", 0, 16},
    {"destination", 0, 127},
    {"limit", 0, 8},
    {"cursor", 0, CDX_CURSOR_TEXT_MAX},
};

static int param_fail(cdx_param_error_t *e, const char *code, const char *param,
                      const char *detail)
{
    *e = (cdx_param_error_t){.status = 400, .code = code};
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

static int list_params_read(list_job_t *job, const char *query, cdx_param_error_t *e)
{
    cdx_params_t p;
    if (cdx_params_parse(query, list_params, CDX_ARRAY_SIZE(list_params), &p, e) != 0)
        return CDX_EINVAL;
    const char *status = cdx_params_get(&p, "status");
    if (status != NULL && strcmp(status, "pending") != 0 && strcmp(status, "delivered") != 0 &&
        strcmp(status, "dead") != 0)
        return param_fail(e, "PARAMETER_INVALID", "status",
                          "status must be pending, delivered or dead (or absent for all)");
    cdx_strlcpy(job->state, status ? status : "", sizeof job->state);
    const char *dest = cdx_params_get(&p, "destination");
    if (dest != NULL && !cdx_oid_is_valid(dest, 127))
        return param_fail(e, "PARAMETER_INVALID", "destination",
                          "destination must be an institution's OID");
    cdx_strlcpy(job->destination, dest ? dest : "", sizeof job->destination);
    long limit = 0;
    if (cdx_params_int(&p, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit, e) != 0)
        return CDX_EINVAL;
    job->limit = (size_t)limit;
    snprintf(job->scope, sizeof job->scope, "deliveries|status=%s|destination=%s", job->state,
             job->destination);
    const char *cursor = cdx_params_get(&p, "cursor");
    if (cursor == NULL)
        return 0;
    unsigned char key[32];
    cdx_cursor_t pos;
    cdx_cursor_key(job->app->patient_key, key);
    int rc = cdx_cursor_decode(key, job->scope, cursor, &pos);
    OPENSSL_cleanse(key, sizeof key);
    if (rc == 0 && pos.sort[0] == '\0' && pos.id > 0) {
        job->before = pos.id;
        return 0;
    }
    return param_fail(e, "CURSOR_INVALID", "cursor",
                      "cursor is not one this listing gave out (changed, or made for other "
                      "filters); start again without it");
}

static void h_deliveries_list(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    list_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    job->app = app;
    cdx_param_error_t e;
    if (list_params_read(job, rq->http->query, &e) != 0) {
        free(job);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    if (cdx_submit_job(rq, list_work, list_done, job) != 0) {
        free(job);
        cdx_respond_overloaded(rq);
    }
}

const cdx_route_t cdx_delivery_routes[] = {
    {"deliveries.list", "GET", "/v1/deliveries", CDX_ROLE_ADMIN, 0,
     CDX_HANDLER(h_deliveries_list)},
};
const size_t cdx_delivery_nroutes = CDX_ARRAY_SIZE(cdx_delivery_routes);
