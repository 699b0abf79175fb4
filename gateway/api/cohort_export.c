/* cohort_export: GET /v1/cohorts/{id}/export (see
 * include/cdx/api/cohort_export.h).
 *
 * The export runs as the disclosure's read, on a worker with a registry
 * reader, into a spool file (unlinked at creation); the audit record,
 * with the counts, is written once it is done, and only then is the spool
 * streamed to the client as the socket drains.  So memory holds one
 * person and one chunk, and nothing leaves before its record is durable. */
#include "cdx/api/cohort_export.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/conf/research.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/cohort.h"
#include "cdx/net/server.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int refused(cdx_cohort_export_t *x, int status, const char *code)
{
    x->status = status;
    x->code = code;
    return CDX_EDENIED;
}

/* Long: the checks in the order the README gives, then the export. */
int cdx_cohort_export_run(cdx_registry_t *reg, const cdx_config_t *cfg, const char *uid,
                          const char *owner, cdx_export_format_t format, FILE *out,
                          void (*progress)(void *arg, size_t done, size_t total), void *arg,
                          cdx_cohort_export_t *x, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->format = format;
    err[0] = '\0';
    cdx_export_cohort_t co;
    int rc = cdx_registry_export_cohort(reg, uid, owner, &co);
    if (rc == CDX_ENOTFOUND)
        return refused(x, 404, "COHORT_NOT_FOUND");
    if (rc != 0) {
        snprintf(err, errlen, "%s", cdx_registry_errmsg(reg));
        return rc;
    }
    cdx_strlcpy(x->sha256, co.sha256, sizeof x->sha256);
    cdx_strlcpy(x->owner, co.owner, sizeof x->owner);
    x->opted_out = co.opted_out;
    int64_t min_cell = cfg->research_min_cell >= CDX_COHORT_MIN_CELL_FLOOR
                           ? cfg->research_min_cell
                           : CDX_COHORT_MIN_CELL_DEFAULT;
    /* Small as counted, or small once the opt-outs are left out: either
     * would disclose a group below the smallest cell. */
    if (cdx_cohort_suppressed(co.size, min_cell) || cdx_cohort_suppressed((int64_t)co.n, min_cell)) {
        cdx_export_cohort_free(&co);
        return refused(x, 403, "COHORT_TOO_SMALL");
    }
    cdx_research_project_t project;
    rc = cdx_research_project_find(cfg->research_projects_file, co.owner, &project, err, errlen);
    if (rc != 0) {
        if (rc == CDX_ECONFIG)
            CDX_ERROR("cohort.export_config", "error=%s", cdx_log_q(err));
        cdx_export_cohort_free(&co);
        return refused(x, 403, "EXPORT_NOT_CONFIGURED");
    }
    x->mode = project.mode;
    unsigned char key[32];
    rc = cdx_app_load_named_key("research_projects_file key_file", project.key_file, key, err,
                                errlen);
    if (rc != 0) {
        CDX_ERROR("cohort.export_key", "error=%s", cdx_log_q(err));
        cdx_export_cohort_free(&co);
        return refused(x, 403, "EXPORT_NOT_CONFIGURED");
    }
    cdx_export_spec_t spec = {.cohort = &co,
                              .key = key,
                              .mode = project.mode,
                              .format = format,
                              .today = (int32_t)(time(NULL) / 86400),
                              .spool_dir = cfg->data_dir,
                              .mtime = (int64_t)time(NULL),
                              .progress = progress,
                              .progress_arg = arg};
    rc = cdx_export_run(reg, &spec, out, &x->counts);
    OPENSSL_cleanse(key, sizeof key);
    if (rc != 0)
        snprintf(err, errlen, "%s", rc == CDX_EIO ? "writing the export failed"
                                                  : cdx_registry_errmsg(reg));
    cdx_export_cohort_free(&co);
    return rc;
}

void cdx_cohort_export_detail(const cdx_cohort_export_t *x, char *out, size_t n)
{
    if (x->status != 0)
        snprintf(out, n, "sha256=%s format=%s status=%d code=%s", x->sha256[0] ? x->sha256 : "-",
                 cdx_export_format_name(x->format), x->status, x->code);
    else
        snprintf(out, n,
                 "sha256=%s format=%s mode=%s persons=%lld facts=%lld dropped=%lld opted_out=%lld",
                 x->sha256, cdx_export_format_name(x->format),
                 x->mode == CDX_EXPORT_SAFE_HARBOR ? "safe_harbor" : "shift",
                 (long long)x->counts.persons, (long long)x->counts.facts,
                 (long long)x->counts.dropped, (long long)x->opted_out);
}

/* ---- GET /v1/cohorts/{id}/export ------------------------------------------ */

typedef struct export_ctx {
    cdx_app_t *app;
    cdx_export_format_t format;
    FILE *spool; /* the export, until handed to the stream */
    cdx_cohort_export_t x;
} export_ctx_t;

static void ctx_free(void *arg)
{
    export_ctx_t *c = arg;
    if (c != NULL && c->spool != NULL)
        fclose(c->spool);
    free(c);
}

static int export_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    export_ctx_t *c = d->ctx;
    char err[512];
    c->spool = cdx_export_spool(c->app->cfg->data_dir);
    if (c->spool == NULL)
        return CDX_EIO;
    /* The owner is part of the key: another institution's cohort is not found. */
    int rc = cdx_cohort_export_run(reg, c->app->cfg, d->target_id, d->actor_oid, c->format,
                                   c->spool, NULL, NULL, &c->x, err, sizeof err);
    if (rc == CDX_EDENIED)
        return CDX_ENOTFOUND; /* answered by export_respond with the refusal's code */
    if (rc != 0) {
        CDX_ERROR("cohort.export_failed", "error=%s", cdx_log_q(err));
        return rc;
    }
    if (fflush(c->spool) != 0 || fseek(c->spool, 0, SEEK_SET) != 0)
        return CDX_EIO;
    return 0;
}

static void export_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const export_ctx_t *c = d->ctx;
    if (d->stage != CDX_DISCLOSE_FOUND && c->x.status == 0) {
        /* No read (a malformed id): an unknown cohort. */
        snprintf(out, outlen, "format=%s status=404 code=COHORT_NOT_FOUND",
                 cdx_export_format_name(c->format));
        return;
    }
    cdx_cohort_export_detail(&c->x, out, outlen);
}

static int pull(void *arg, char *buf, size_t cap, size_t *len)
{
    FILE *f = arg;
    *len = fread(buf, 1, cap, f);
    return *len == 0 && ferror(f) ? CDX_EIO : 0;
}

static void release(void *arg)
{
    fclose(arg);
}

static void export_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    export_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_FOUND && c->spool != NULL) {
        static const char *const ext[] = {"ndjson", "csv", "tar"};
        char extra[128];
        snprintf(extra, sizeof extra, "Content-Disposition: attachment; filename=\"cohort-%s.%s\"\r\n",
                 d->target_id, ext[c->format]);
        FILE *f = c->spool;
        c->spool = NULL;
        CDX_INFO("cohort.exported", "req=%s cohort=%s format=%s persons=%lld", rq->id,
                 d->target_id, cdx_export_format_name(c->format), (long long)c->x.counts.persons);
        cdx_respond_stream(rq, 200, cdx_export_media_type(c->format), extra, pull, release, f);
        return;
    }
    if (c->x.status == 403 && strcmp(c->x.code, "COHORT_TOO_SMALL") == 0)
        cdx_respond_problem(rq, 403, "COHORT_TOO_SMALL",
                            "this cohort's size is below research_min_cell: its persons are not "
                            "exported",
                            NULL);
    else if (c->x.status == 403)
        cdx_respond_problem(rq, 403, "EXPORT_NOT_CONFIGURED",
                            "no research project (key) is configured for this institution in "
                            "research_projects_file",
                            NULL);
    else
        cdx_respond_problem(rq, 404, "COHORT_NOT_FOUND",
                            "no cohort of this institution has this id", NULL);
}

static const cdx_disclose_endpoint_t cohort_export = {
    .event = CDX_AUDIT_COHORT_EXPORT,
    .read = export_read,
    .audit_detail = export_audit_detail,
    .respond = export_respond,
    .free_ctx = ctx_free,
};

static const cdx_param_spec_t export_params[] = {{"format", 0, 16}};

static void h_cohort_export(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    cdx_params_t p;
    cdx_param_error_t e;
    if (cdx_params_parse(rq->http->query, export_params, CDX_ARRAY_SIZE(export_params), &p, &e) !=
        0) {
        cdx_params_refuse(app, rq, &e);
        return;
    }
    const char *f = cdx_params_get(&p, "format");
    cdx_export_format_t format = CDX_EXPORT_NDJSON;
    if (f != NULL && cdx_export_format_parse(f, &format) != 0) {
        cdx_app_audit_reject(app, rq->route, rq->peer != NULL ? rq->peer->oid : NULL,
                             rq->peer_addr, 400, "PARAMETER_INVALID", NULL);
        cdx_respond_problem(rq, 400, "PARAMETER_INVALID", "format is one of ndjson, csv, omop",
                            NULL);
        return;
    }
    export_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &cohort_export, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    c->app = app;
    c->format = format;
    c->x.format = format;
    d->target_unknown = !cdx_disclose_target_id(&rq->params, d->target_id);
    cdx_disclose_run(d);
}

const cdx_route_t cdx_cohort_export_routes[] = {
    {"cohorts.export", "GET", "/v1/cohorts/{id}/export", CDX_ROLE_RESEARCH, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_cohort_export)},
};
const size_t cdx_cohort_export_nroutes = CDX_ARRAY_SIZE(cdx_cohort_export_routes);
