/* cohorts: POST /v1/cohorts, GET /v1/cohorts/{id} (see include/cdx/api/cohorts.h).
 *
 * POST: the definition and the breakdown are read on the loop (both are
 * small and bounded); a worker evaluates with a registry reader and
 * writes the answer; the writer, in one change, applies the differencing
 * guard and the breakdown guard against the institution's earlier cohorts
 * (one person set, one breakdown: cdx_cohort_breakdown_fixed says why),
 * keeps the person set and the answer (an earlier answer of the same set
 * and breakdown when there is one: cdx_cohort_repeats says why) and
 * appends the audit record (or the refusal's); the answer is sent once
 * that change is durable.  GET goes through the disclosure sequence. */
#include "cdx/api/cohorts.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/access.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/cohort.h"
#include "cdx/net/server.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the answer ------------------------------------------------------------ */

static json_t *count_json(int64_t count, int64_t min_cell)
{
    if (cdx_cohort_suppressed(count, min_cell))
        return json_string("suppressed");
    return json_integer((json_int_t)count);
}

static const struct dim_name {
    unsigned dim;
    const char *name;
} dim_names[] = {
    {CDX_COHORT_BY_SEX, "sex"},
    {CDX_COHORT_BY_AGE_BAND, "age_band"},
    {CDX_COHORT_BY_INSTITUTION, "institution"},
};

int cdx_cohort_dims_parse(const char *list, unsigned *dims)
{
    *dims = 0;
    unsigned shift = CDX_COHORT_ORDER_SHIFT;
    const char *p = list;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (size_t i = 0; i < CDX_ARRAY_SIZE(dim_names) && !found; i++)
            if (strlen(dim_names[i].name) == len && strncmp(dim_names[i].name, p, len) == 0) {
                /* The order asked, each dimension at its first mention. */
                if (!(*dims & dim_names[i].dim)) {
                    *dims |= (unsigned)(i + 1) << shift;
                    shift += 2;
                }
                *dims |= dim_names[i].dim;
                found = 1;
            }
        if (!found)
            return CDX_EINVAL;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static const char *dim_name(unsigned dim)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(dim_names); i++)
        if (dim_names[i].dim == dim)
            return dim_names[i].name;
    return "?";
}

void cdx_cohort_dims_text(unsigned dims, char *out, size_t outlen)
{
    unsigned order[3];
    size_t n = cdx_cohort_dims_order(dims, order), len = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (size_t j = 0; j < n; j++) {
        int w = snprintf(out + len, outlen - len, "%s%s", j ? "," : "", dim_name(order[j]));
        if (w < 0 || (size_t)w >= outlen - len)
            return;
        len += (size_t)w;
    }
}

/* A cross cell's key without its part j (the line it lies on along j). */
static void key_without(const char *key, size_t j, char *out, size_t outlen)
{
    size_t o = 0, part = 0;
    for (const char *k = key; *k != '\0'; part++) {
        size_t len = strcspn(k, "|");
        if (part != j && o + len + 2 < outlen) {
            memcpy(out + o, k, len);
            o += len;
            out[o++] = '|';
        }
        k += len + (k[len] == '|');
    }
    out[o] = '\0';
}

/* Whether cells i and k lie on one line: the same marginal dimension, or
 * cross cells alike in every part but part j. */
static int same_line(const cdx_cohort_cell_t *a, const cdx_cohort_cell_t *b, size_t j)
{
    if (a->dim != b->dim)
        return 0;
    if (a->dim != CDX_COHORT_BY_CROSS)
        return 1;
    char x[sizeof a->key], y[sizeof b->key];
    key_without(a->key, j, x, sizeof x);
    key_without(b->key, j, y, sizeof y);
    return strcmp(x, y) == 0;
}

/* Complementary suppression: the cells of a line add up to a count the
 * answer discloses (the size, or in a two-way table a marginal cell), so
 * one suppressed cell alone on its line could be had by subtraction.
 * Each such line has its smallest disclosed cell suppressed as well,
 * until no line has exactly one (ties: the first in cell order). */
static void protect(const cdx_cohort_cell_t *cells, size_t n, size_t nparts, int64_t min_cell,
                    char *sup)
{
    for (size_t i = 0; i < n; i++)
        sup[i] = (char)cdx_cohort_suppressed(cells[i].count, min_cell);
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            size_t lines = cells[i].dim == CDX_COHORT_BY_CROSS ? nparts : 1;
            for (size_t j = 0; sup[i] && j < lines; j++) {
                size_t hidden = 0, pick = n;
                for (size_t k = 0; k < n; k++) {
                    if (!same_line(&cells[i], &cells[k], j))
                        continue;
                    if (sup[k])
                        hidden++;
                    else if (cells[k].count > 0 && (pick == n || cells[k].count < cells[pick].count))
                        pick = k;
                }
                if (hidden == 1 && pick < n) {
                    sup[pick] = 1;
                    changed = 1;
                }
            }
        }
    }
}

static json_t *cell_json(const cdx_cohort_cell_t *c, int hidden)
{
    if (hidden)
        return json_string("suppressed");
    return json_integer((json_int_t)c->count);
}

static int cmp_cell(const void *a, const void *b)
{
    const cdx_cohort_cell_t *x = *(const cdx_cohort_cell_t *const *)a;
    const cdx_cohort_cell_t *y = *(const cdx_cohort_cell_t *const *)b;
    return strcmp(x->key, y->key);
}

/* "crosstab": {"dimensions": [...], "cells": [{"key": [...], "count": N}]},
 * cells in the order of their keys. */
static json_t *crosstab_json(const cdx_cohort_cell_t *cells, size_t ncells, const char *sup,
                             const unsigned *order, size_t norder)
{
    json_t *x = json_object(), *dimsj = json_array(), *list = json_array();
    const cdx_cohort_cell_t **v = calloc(ncells ? ncells : 1, sizeof *v);
    if (x == NULL || dimsj == NULL || list == NULL || v == NULL) {
        json_decref(x);
        json_decref(dimsj);
        json_decref(list);
        free(v);
        return NULL;
    }
    for (size_t j = 0; j < norder; j++)
        json_array_append_new(dimsj, json_string(dim_name(order[j])));
    size_t m = 0;
    for (size_t i = 0; i < ncells; i++)
        if (cells[i].dim == CDX_COHORT_BY_CROSS)
            v[m++] = &cells[i];
    qsort(v, m, sizeof *v, cmp_cell);
    for (size_t i = 0; i < m; i++) {
        json_t *cell = json_object(), *key = json_array();
        char part[sizeof v[i]->key];
        const char *k = v[i]->key;
        for (size_t j = 0; j < norder && key != NULL; j++) {
            size_t len = strcspn(k, "|");
            memcpy(part, k, len);
            part[len] = '\0';
            json_array_append_new(key, json_string(part));
            k += len + (k[len] == '|');
        }
        json_object_set_new(cell, "key", key ? key : json_null());
        json_object_set_new(cell, "count", cell_json(v[i], sup[v[i] - cells]));
        json_array_append_new(list, cell);
    }
    free(v);
    json_object_set_new(x, "dimensions", dimsj);
    json_object_set_new(x, "cells", list);
    return x;
}

/* Long: the fields, then each dimension's cells and the cross-tabulation,
 * all after complementary suppression. */
char *cdx_cohort_answer(const char *id, const char *sha256, const cdx_cohort_eval_t *ev,
                        const cdx_cohort_cell_t *cells, size_t ncells, unsigned dims,
                        int64_t min_cell)
{
    json_t *o = json_object();
    char *sup = calloc(ncells ? ncells : 1, 1);
    if (o == NULL || sup == NULL) {
        json_decref(o);
        free(sup);
        return NULL;
    }
    unsigned order[3];
    size_t norder = cdx_cohort_dims_order(dims, order);
    protect(cells, ncells, norder, min_cell, sup);
    if (id != NULL)
        json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "definition_sha256", json_string(sha256));
    json_object_set_new(o, "size", count_json((int64_t)ev->n, min_cell));
    json_object_set_new(o, "min_cell", json_integer((json_int_t)min_cell));
    json_object_set_new(o, "skipped_values", count_json(ev->skipped, min_cell));
    if (dims != 0) {
        json_t *b = json_object();
        for (size_t d = 0; b != NULL && d < CDX_ARRAY_SIZE(dim_names); d++) {
            if (!(dims & dim_names[d].dim))
                continue;
            json_t *cellsj = json_object();
            for (size_t i = 0; cellsj != NULL && i < ncells; i++)
                if (cells[i].dim == dim_names[d].dim)
                    json_object_set_new(cellsj, cells[i].key, cell_json(&cells[i], sup[i]));
            json_object_set_new(b, dim_names[d].name, cellsj ? cellsj : json_null());
        }
        json_object_set_new(o, "breakdown", b ? b : json_null());
    }
    if (norder >= 2) {
        json_t *x = crosstab_json(cells, ncells, sup, order, norder);
        json_object_set_new(o, "crosstab", x ? x : json_null());
    }
    free(sup);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

int32_t cdx_cohort_today(void)
{
    return (int32_t)(time(NULL) / 86400);
}

/* ---- POST /v1/cohorts ------------------------------------------------------ */

typedef struct cohort_job {
    cdx_write_req_t wreq;
    void *hold;
    cdx_app_t *app;
    char actor[128], user[128];
    const char *purpose;
    cdx_cohort_def_t *def;
    unsigned dims;
    char breakdown[64]; /* dims as text, kept with the cohort */
    int64_t min_cell;
    int32_t today;
    char sha256[65];
    char uid[33];
    /* The worker's. */
    int rc;
    cdx_cohort_eval_t ev;
    cdx_cohort_cell_t *cells;
    size_t ncells;
    char *answer;
    /* The writer's. */
    cdx_cohort_refusal_t why;
    int refused; /* the registry refused the cohort (why says which guard) */
    char detail[1024];
} cohort_job_t;

static void job_free(cohort_job_t *job)
{
    if (job == NULL)
        return;
    cdx_cohort_def_free(job->def);
    cdx_cohort_eval_free(&job->ev);
    free(job->cells);
    free(job->answer);
    free(job);
}

/* Audits a request refused before evaluation (cohort.query, outcome 4),
 * then answers; the record is queued, as for every early refusal. */
static void refuse(cdx_request_t *rq, int status, const char *code, const char *detail)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    cdx_app_audit_reject(app, rq->route, rq->peer != NULL ? rq->peer->oid : NULL, rq->peer_addr,
                         status, code, NULL);
    cdx_respond_problem(rq, status, code, detail, NULL);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* A count of the answer as the audit detail writes it: N or "suppressed". */
static void count_text(json_t *v, char *out, size_t n)
{
    if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else
        cdx_strlcpy(out, json_is_string(v) ? json_string_value(v) : "none", n);
}

/* The audit detail: route, definition hash and the counts as answered. */
static void audit_detail(cohort_job_t *job, const char *route, const char *outcome)
{
    json_error_t jerr;
    json_t *a = job->answer != NULL ? json_loads(job->answer, 0, &jerr) : NULL;
    char size[24], skipped[24];
    count_text(json_object_get(a, "size"), size, sizeof size);
    count_text(json_object_get(a, "skipped_values"), skipped, sizeof skipped);
    json_t *b = json_object_get(a, "breakdown");
    char *bt = json_is_object(b) ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(job->detail, sizeof job->detail, "route=%s sha256=%s %s size=%s skipped=%s%s%.700s",
             route, job->sha256, outcome, size, skipped, bt != NULL ? " breakdown=" : "",
             bt != NULL ? bt : "");
    free(bt);
    json_decref(a);
}

static int apply_cohort(cdx_registry_t *reg, void *arg)
{
    cohort_job_t *job = arg;
    cdx_cohort_put_t put = {.uid = job->uid,
                            .institution_oid = job->actor,
                            .definition_sha256 = job->sha256,
                            .persons = job->ev.persons,
                            .n = job->ev.n,
                            .answer = job->answer,
                            .threshold = job->min_cell,
                            .breakdown = job->breakdown};
    int rc = cdx_registry_cohort_put(reg, &put, &job->why);
    if (rc != 0 && rc != CDX_ECONFLICT)
        return rc;
    job->refused = rc == CDX_ECONFLICT;
    cdx_audit_event_t ev = {.event = CDX_AUDIT_COHORT_QUERY,
                            .actor_oid = job->actor,
                            .actor_user = job->user[0] ? job->user : NULL,
                            .purpose = job->purpose,
                            .decision = cdx_access_reason_name(CDX_ACCESS_ALLOWED)};
    if (rc == CDX_ECONFLICT && job->why.difference == 0) {
        /* Nothing was stored; the refusal is recorded without counts. */
        snprintf(job->detail, sizeof job->detail,
                 "route=cohorts.post sha256=%s status=409 code=COHORT_BREAKDOWN_FIXED"
                 " breakdown=%s earlier=%s earlier_breakdown=%s",
                 job->sha256, job->breakdown, job->why.earlier_uid, job->why.earlier_breakdown);
        ev.outcome = CDX_AUDIT_MINOR_FAILURE;
    } else if (rc == CDX_ECONFLICT) {
        snprintf(job->detail, sizeof job->detail,
                 "route=cohorts.post sha256=%s status=409 code=COHORT_DIFFERENCING", job->sha256);
        ev.outcome = CDX_AUDIT_MINOR_FAILURE;
    } else {
        char outcome[64] = "status=201";
        if (job->why.repeats[0] != '\0') {
            /* The answer kept is the earlier one's: send and audit that. */
            free(job->answer);
            job->answer = NULL;
            rc = cdx_registry_cohort_get(reg, job->uid, job->actor, &job->answer);
            if (rc != 0)
                return rc;
            snprintf(outcome, sizeof outcome, "status=201 repeats=%s", job->why.repeats);
        }
        audit_detail(job, "cohorts.post", outcome);
        ev.outcome = CDX_AUDIT_SUCCESS;
    }
    ev.detail = job->detail;
    return cdx_registry_audit(reg, &ev);
}

static void cohort_written(cdx_write_req_t *req, int status)
{
    cohort_job_t *job = req->arg;
    cdx_request_t *rq = cdx_request_resume(job->hold);
    if (rq == NULL) {
        job_free(job);
        return;
    }
    if (status != 0) {
        cdx_app_respond_storage_error(rq, status == CDX_EBUSY ? CDX_EDB : status);
    } else if (job->refused && cdx_cohort_too_close(job->why.difference, job->min_cell)) {
        cdx_respond_problem(rq, 409, "COHORT_DIFFERENCING",
                            "this cohort's persons differ from an earlier cohort of this "
                            "institution by fewer than research_min_cell persons; counting both "
                            "would single those persons out. Nothing was counted",
                            NULL);
    } else if (job->refused) {
        char detail[512];
        snprintf(detail, sizeof detail,
                 "this cohort's persons are those of cohort %s of this institution, answered "
                 "with breakdown=%s; the same persons are answered only with that breakdown "
                 "(or the size alone), since two breakdowns of one set give suppressed cells "
                 "away by subtraction. Read GET /v1/cohorts/%s or ask again with "
                 "breakdown=%s. Nothing was counted",
                 job->why.earlier_uid, job->why.earlier_breakdown, job->why.earlier_uid,
                 job->why.earlier_breakdown);
        cdx_respond_problem(rq, 409, "COHORT_BREAKDOWN_FIXED", detail, NULL);
    } else {
        CDX_INFO("cohort.counted", "req=%s cohort=%s repeats=%s", rq->id, job->uid,
                 job->why.repeats[0] ? job->why.repeats : "-");
        cdx_respond(rq, 201, "application/json", job->answer, strlen(job->answer), NULL);
    }
    job_free(job);
}

static void eval_work(void *arg)
{
    cohort_job_t *job = arg;
    cdx_registry_t *reg = cdx_app_reader_acquire(job->app);
    job->rc = cdx_registry_cohort_eval(reg, job->def, job->today, &job->ev);
    if (job->rc == 0 && job->dims != 0)
        job->rc = cdx_registry_cohort_breakdown(reg, job->ev.persons, job->ev.n, job->dims,
                                                job->today, &job->cells, &job->ncells);
    cdx_app_reader_release(job->app, reg);
    if (job->rc == 0) {
        job->answer = cdx_cohort_answer(job->uid, job->sha256, &job->ev, job->cells, job->ncells,
                                        job->dims, job->min_cell);
        if (job->answer == NULL)
            job->rc = CDX_ENOMEM;
    }
}

static void eval_done(cdx_request_t *rq, void *arg)
{
    cohort_job_t *job = arg;
    if (rq == NULL) {
        job_free(job);
        return;
    }
    if (job->rc != 0) {
        CDX_ERROR("cohort.eval_failed", "req=%s error=%s", rq->id,
                  cdx_log_q(cdx_strerror(job->rc)));
        cdx_app_respond_storage_error(rq, job->rc == CDX_EBUSY ? CDX_EDB : job->rc);
        job_free(job);
        return;
    }
    job->wreq.apply = apply_cohort;
    job->wreq.done = cohort_written;
    job->wreq.arg = job;
    job->hold = cdx_request_hold(rq);
    if (cdx_writer_submit(job->app->writer, &job->wreq) != 0) {
        cdx_request_resume(job->hold);
        cdx_app_respond_storage_error(rq, CDX_EBUSY);
        job_free(job);
    }
}

static const cdx_param_spec_t post_params[] = {{"breakdown", 0, 64}};

/* The checks before evaluation; returns 0 or has answered. */
static int post_read(cdx_request_t *rq, cohort_job_t *job)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    const char *purpose = cdx_http_header(rq->http, "x-cdx-purpose");
    const cdx_purpose_t *pu =
        cdx_purpose_find(purpose != NULL && purpose[0] ? purpose : CDX_PURPOSE_DEFAULT);
    cdx_access_request_t ask = {
        .institution = rq->peer, .role_needed = CDX_ROLE_RESEARCH, .purpose = pu};
    cdx_access_decision_t dec = cdx_access_decide(&ask);
    if (!dec.allow) {
        char detail[384];
        cdx_purpose_unknown_detail(detail, sizeof detail);
        if (dec.reason == CDX_ACCESS_PURPOSE_UNKNOWN)
            refuse(rq, 400, "PURPOSE_UNKNOWN", detail);
        else
            refuse(rq, 403, "FORBIDDEN",
                   "this institution's certificate lacks the 'research' role");
        return CDX_EINVAL;
    }
    job->purpose = pu->code;
    cdx_params_t p;
    cdx_param_error_t e;
    if (cdx_params_parse(rq->http->query, post_params, CDX_ARRAY_SIZE(post_params), &p, &e) != 0) {
        cdx_params_refuse(app, rq, &e);
        return CDX_EINVAL;
    }
    const char *b = cdx_params_get(&p, "breakdown");
    if (b != NULL && cdx_cohort_dims_parse(b, &job->dims) != 0) {
        refuse(rq, 400, "PARAMETER_INVALID",
               "breakdown is a comma-separated list of sex, age_band and institution");
        return CDX_EINVAL;
    }
    cdx_cohort_dims_text(job->dims, job->breakdown, sizeof job->breakdown);
    const char *ct = cdx_http_header(rq->http, "content-type");
    size_t n = ct != NULL ? strcspn(ct, "; \t") : 0;
    if (ct == NULL || n != 16 || strncasecmp(ct, "application/json", n) != 0) {
        refuse(rq, 415, "UNSUPPORTED_MEDIA_TYPE", "send the cohort definition as application/json");
        return CDX_EINVAL;
    }
    const char *body = rq->http->body.data != NULL ? rq->http->body.data : "";
    size_t len = rq->http->body.len;
    cdx_cohort_error_t err;
    int rc = cdx_cohort_parse(body, len, &job->def, &err);
    if (rc == CDX_ENOMEM) {
        cdx_respond_overloaded(rq);
        return rc;
    }
    if (rc != 0) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s: %s", err.path, err.detail);
        refuse(rq, 422, "COHORT_INVALID", detail);
        return rc;
    }
    unsigned char md[32], id[16];
    unsigned mdlen = 0;
    if (EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32 ||
        RAND_bytes(id, sizeof id) != 1) {
        cdx_respond_overloaded(rq);
        return CDX_ECRYPTO;
    }
    hex(md, 32, job->sha256);
    hex(id, 16, job->uid);
    return 0;
}

static void h_cohorts_post(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    cohort_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (post_read(rq, job) != 0) {
        job_free(job);
        return;
    }
    const char *user = cdx_http_header(rq->http, "x-cdx-user");
    job->app = app;
    cdx_strlcpy(job->actor, rq->peer->oid, sizeof job->actor);
    cdx_strlcpy(job->user, user != NULL ? user : "", sizeof job->user);
    job->min_cell = app->cfg != NULL && app->cfg->research_min_cell >= CDX_COHORT_MIN_CELL_FLOOR
                        ? app->cfg->research_min_cell
                        : CDX_COHORT_MIN_CELL_DEFAULT;
    job->today = cdx_cohort_today();
    if (cdx_submit_job(rq, eval_work, eval_done, job) != 0) {
        cdx_respond_overloaded(rq);
        job_free(job);
    }
}

/* ---- GET /v1/cohorts/{id} -------------------------------------------------- */

typedef struct get_ctx {
    char *answer;
} get_ctx_t;

static void get_ctx_free(void *arg)
{
    get_ctx_t *c = arg;
    if (c != NULL)
        free(c->answer);
    free(c);
}

static int get_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    get_ctx_t *c = d->ctx;
    /* Another institution's cohort is not found: its owner is part of the key. */
    return cdx_registry_cohort_get(reg, d->target_id, d->actor_oid, &c->answer);
}

static void get_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    snprintf(out, outlen, "route=cohorts.get status=%d",
             d->stage == CDX_DISCLOSE_FOUND ? 200 : 404);
}

static void get_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    get_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_FOUND && c->answer != NULL)
        cdx_respond(rq, 200, "application/json", c->answer, strlen(c->answer), NULL);
    else
        cdx_respond_problem(rq, 404, "COHORT_NOT_FOUND",
                            "no cohort of this institution has this id", NULL);
}

static const cdx_disclose_endpoint_t cohort_get = {
    .event = CDX_AUDIT_COHORT_QUERY,
    .read = get_read,
    .audit_detail = get_audit_detail,
    .respond = get_respond,
    .free_ctx = get_ctx_free,
};

static void h_cohorts_get(cdx_request_t *rq)
{
    get_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &cohort_get, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    d->target_unknown = !cdx_disclose_target_id(&rq->params, d->target_id);
    cdx_disclose_run(d);
}

/* The only routes of the research role: nothing here names a patient. */
const cdx_route_t cdx_cohort_routes[] = {
    {"cohorts.post", "POST", "/v1/cohorts", CDX_ROLE_RESEARCH, CDX_ROUTE_BODY | CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_cohorts_post)},
    {"cohorts.get", "GET", "/v1/cohorts/{id}", CDX_ROLE_RESEARCH, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_cohorts_get)},
};
const size_t cdx_cohort_nroutes = CDX_ARRAY_SIZE(cdx_cohort_routes);
