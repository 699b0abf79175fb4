/* app: shared state of the handlers (see include/cdx/api/app.h). */
#include "cdx/api/app.h"
#include "api_internal.h"
#include "cdx/api/delivery.h"
#include "cdx/api/disclose.h"
#include "cdx/api/routes.h"
#include "cdx/conf/research.h"
#include "cdx/domain/purpose.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/national.h"
#include "cdx/base/log.h"
#include "cdx/net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cdx_app_load_key(const char *path, unsigned char key[32], char *err, size_t errlen)
{
    return cdx_app_load_named_key("patient_key_file", path, key, err, errlen);
}

int cdx_app_load_named_key(const char *what, const char *path, unsigned char key[32], char *err,
                           size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, 4096, &data, &len);
    if (rc == -ENOENT) {
        unsigned char fresh[32];
        if (RAND_bytes(fresh, sizeof fresh) != 1) {
            snprintf(err, errlen, "%s: no randomness to create %s", what, path);
            return CDX_ECRYPTO;
        }
        char *copy = strdup(path), *slash = copy ? strrchr(copy, '/') : NULL;
        if (slash != NULL && slash != copy) {
            *slash = '\0';
            cdx_mkdirs(copy, 0700);
        }
        free(copy);
        rc = cdx_write_file_atomic(path, fresh, sizeof fresh, 0600);
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot create %s: %s", what, path,
                     cdx_strerror(rc));
            return rc;
        }
        memcpy(key, fresh, 32);
        CDX_INFO("keys.created", "file=%s", cdx_log_q(path));
        return 0;
    }
    if (rc != 0 || len != 32) {
        snprintf(err, errlen, "%s: %s must hold exactly 32 bytes (%s)", what, path,
                 rc != 0 ? cdx_strerror(rc) : "wrong size");
        free(data);
        return CDX_ECONFIG;
    }
    memcpy(key, data, 32);
    OPENSSL_cleanse(data, len);
    free(data);
    return 0;
}

void cdx_app_patient_key(const unsigned char key[32], const char *root, const char *ext,
                         char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s|%s", root ? root : "", ext ? ext : "");
    if (n < 0 || (size_t)n >= sizeof msg)
        n = (int)sizeof msg - 1;
    if (HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, (size_t)n, md, &mdlen) == NULL)
        memset(md, 0, sizeof md);
    cdx_hex(md, 16, out);
}

int cdx_app_pipeline_settings(const cdx_config_t *cfg, cdx_national_t *nat,
                               cdx_match_thresholds_t *t, char *err, size_t errlen)
{
    int rc = cdx_national_parse_roots(cfg->national_id_roots, nat, err, errlen);
    if (rc == 0 && nat->nroots > 0)
        rc = cdx_app_load_named_key("national_id_key_file", cfg->national_id_key_file, nat->key,
                                    err, errlen);
    if (rc != 0)
        return rc;
    *t = cdx_match_default_thresholds;
    t->off = !cfg->match_demographics;
    if (cfg->match_link_threshold[0] != '\0')
        t->link = strtod(cfg->match_link_threshold, NULL);
    if (cfg->match_review_threshold[0] != '\0')
        t->review = strtod(cfg->match_review_threshold, NULL);
    if (t->review > t->link) {
        snprintf(err, errlen, "match_review_threshold: %.2f is above match_link_threshold %.2f",
                 t->review, t->link);
        return CDX_ECONFIG;
    }
    return 0;
}

int cdx_app_stored_identity(const cdx_app_t *app, cdx_patient_ref_t *ref)
{
    char out[sizeof ref->ext];
    int rc = cdx_national_stored_ext(cdx_pipeline_national(app->pipeline), ref->root, ref->ext,
                                     out, sizeof out);
    if (rc == 1)
        memcpy(ref->ext, out, CDX_NATIONAL_EXT_SIZE);
    OPENSSL_cleanse(out, sizeof out);
    return rc < 0 ? rc : 0;
}

/* breakglass_minutes: more than 0, at most a week. */
static int breakglass_setting(const cdx_config_t *cfg, double *minutes, char *err, size_t errlen)
{
    char *end = NULL;
    double v = strtod(cfg->breakglass_minutes, &end);
    if (end == cfg->breakglass_minutes || *end != '\0' || !(v > 0.0 && v <= 10080.0)) {
        cdx_errf(err, errlen, "breakglass_minutes: '%s' must be a number of minutes above 0 and "
                              "at most 10080 (a week)",
                 cfg->breakglass_minutes);
        return CDX_ECONFIG;
    }
    *minutes = v;
    return 0;
}

/* consent_permit_policies and consent_deny_policies: lists of OIDs. */
static int consent_policies(const cdx_config_t *cfg, cdx_consent_policies_t *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof *out);
    cdx_national_t list;
    int rc = cdx_national_parse_roots(cfg->consent_permit_policies, &list, err, errlen);
    for (size_t i = 0; rc == 0 && i < list.nroots && i < CDX_CONSENT_MAX_POLICIES; i++)
        cdx_strlcpy(out->permit[out->npermit++], list.roots[i], sizeof out->permit[0]);
    if (rc == 0)
        rc = cdx_national_parse_roots(cfg->consent_deny_policies, &list, err, errlen);
    for (size_t i = 0; rc == 0 && i < list.nroots && i < CDX_CONSENT_MAX_POLICIES; i++)
        cdx_strlcpy(out->deny[out->ndeny++], list.roots[i], sizeof out->deny[0]);
    return rc;
}

double cdx_app_breakglass_minutes(const cdx_app_t *app)
{
    return app->breakglass_minutes > 0.0 ? app->breakglass_minutes : 60.0;
}

void cdx_app_count_access(cdx_app_t *app, const cdx_access_decision_t *refused,
                          cdx_access_basis_t basis)
{
    if (refused != NULL) {
        const char *cls = cdx_access_withheld_class(refused->reason);
        if (cls != NULL && strcmp(cls, "consent") == 0)
            app->access_refused_consent++;
        else if (cls != NULL)
            app->access_refused_confidentiality++;
    } else if (basis == CDX_ACCESS_BASIS_BREAKGLASS) {
        app->access_breakglass++;
    }
}

int cdx_app_access_metrics(const cdx_app_t *app, cdx_buf_t *out)
{
    return cdx_buf_printf(
        out,
        "# HELP cdxgw_access_breakglass_total Disclosures allowed on break-glass (an emergency "
        "access or its time box).\n# TYPE cdxgw_access_breakglass_total counter\n"
        "cdxgw_access_breakglass_total %llu\n"
        "# HELP cdxgw_access_refused_total Disclosures refused after the read, by reason.\n"
        "# TYPE cdxgw_access_refused_total counter\n"
        "cdxgw_access_refused_total{reason=\"consent\"} %llu\n"
        "cdxgw_access_refused_total{reason=\"confidentiality\"} %llu\n",
        (unsigned long long)app->access_breakglass, (unsigned long long)app->access_refused_consent,
        (unsigned long long)app->access_refused_confidentiality);
}

int cdx_app_init(cdx_app_t *app, const cdx_config_t *cfg, char *err, size_t errlen)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    pthread_mutex_init(&app->mu, NULL);
    pthread_cond_init(&app->cv, NULL);
    int rc = cdx_app_load_key(cfg->patient_key_file, app->patient_key, err, errlen);
    if (rc == 0)
        rc = cdx_audit_key_load(cfg->audit_signing_key_file, 1, &app->audit_key, err, errlen);
    if (rc != 0)
        return rc;
    cdx_national_t nat;
    cdx_match_thresholds_t thresholds;
    rc = cdx_app_pipeline_settings(cfg, &nat, &thresholds, err, errlen);
    if (rc != 0)
        return rc;
    cdx_consent_policies_t policies;
    rc = consent_policies(cfg, &policies, err, errlen);
    if (rc != 0)
        return rc;
    /* A research projects file that does not read is refused at start,
     * not at the first export (its key files are read by each export). */
    cdx_research_project_t none;
    if (cfg->research_projects_file[0] != '\0' &&
        cdx_research_project_find(cfg->research_projects_file, "", &none, err, errlen) ==
            CDX_ECONFIG)
        return CDX_ECONFIG;
    cdx_pipeline_options_t opt = {
        .consent_policies = &policies,
        .mappings_dir = cfg->mappings_dir,
        .xsd_path = cfg->schema_path,
        .xml_limits = {(size_t)cfg->xml_max_nodes, (size_t)cfg->xml_max_nodes_per_kb},
        .national = &nat,
        .match = &thresholds,
    };
    rc = cdx_pipeline_new(&opt, &app->pipeline, err, errlen);
    app->national = nat;
    OPENSSL_cleanse(&nat, sizeof nat);
    if (rc == 0)
        rc = breakglass_setting(cfg, &app->breakglass_minutes, err, errlen);
    if (rc == 0)
        rc = cdx_renderer_load(cfg->mappings_dir, &app->renderer, err, errlen);
    if (rc != 0)
        return rc;
    char path[CDX_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/registry.db", cfg->data_dir);
    size_t want = (size_t)cfg->worker_threads;
    if (want > CDX_APP_MAX_READERS)
        want = CDX_APP_MAX_READERS;
    for (size_t i = 0; i < want; i++) {
        rc = cdx_registry_open_reader(path, &app->readers[i], err, errlen);
        if (rc != 0)
            return rc;
        app->nreaders++;
    }
    return 0;
}

int cdx_app_start_writer(cdx_app_t *app, void *uv_loop, cdx_registry_t *writer_reg)
{
    return cdx_writer_start(uv_loop, writer_reg, (size_t)app->cfg->write_queue, &app->writer);
}

void cdx_app_stop_writer(void *arg)
{
    cdx_app_t *app = arg;
    /* The delivery worker first: its attempts in flight are abandoned
     * (resumed at the next start) before the writer drains. */
    cdx_delivery_stop(app->delivery);
    if (app->writer == NULL)
        return;
    cdx_registry_t *reg = cdx_writer_stop(app->writer);
    app->writer = NULL;
    (void)reg; /* the caller that opened it closes it */
}

void cdx_app_cleanup(cdx_app_t *app)
{
    cdx_delivery_free(app->delivery);
    app->delivery = NULL;
    for (size_t i = 0; i < app->nreaders; i++)
        cdx_registry_close(app->readers[i]);
    app->nreaders = 0;
    cdx_pipeline_free(app->pipeline);
    app->pipeline = NULL;
    cdx_renderer_free(app->renderer);
    app->renderer = NULL;
    OPENSSL_cleanse(app->patient_key, sizeof app->patient_key);
    cdx_audit_key_free(app->audit_key);
    app->audit_key = NULL;
    OPENSSL_cleanse(&app->national, sizeof app->national);
    pthread_mutex_destroy(&app->mu);
    pthread_cond_destroy(&app->cv);
}

cdx_registry_t *cdx_app_reader_acquire(cdx_app_t *app)
{
    pthread_mutex_lock(&app->mu);
    for (;;) {
        for (size_t i = 0; i < app->nreaders; i++) {
            if (!app->reader_busy[i]) {
                app->reader_busy[i] = 1;
                pthread_mutex_unlock(&app->mu);
                return app->readers[i];
            }
        }
        pthread_cond_wait(&app->cv, &app->mu);
    }
}

void cdx_app_reader_release(cdx_app_t *app, cdx_registry_t *reg)
{
    pthread_mutex_lock(&app->mu);
    for (size_t i = 0; i < app->nreaders; i++) {
        if (app->readers[i] == reg)
            app->reader_busy[i] = 0;
    }
    pthread_cond_signal(&app->cv);
    pthread_mutex_unlock(&app->mu);
}

/* The audit event of a route of the patient index, NULL for the others. */
static const char *index_event(const char *route)
{
    if (strcmp(route, "links.post") == 0)
        return CDX_AUDIT_PATIENT_LINK;
    if (strcmp(route, "links.delete") == 0)
        return CDX_AUDIT_PATIENT_UNLINK;
    if (strcmp(route, "patients.timeline") == 0)
        return NULL; /* a read of a patient's facts: document.read */
    if (strcmp(route, "consents.put") == 0)
        return CDX_AUDIT_CONSENT_RECORD;
    if (strncmp(route, "audit.", 6) == 0)
        return CDX_AUDIT_AUDIT_READ;
    if (strncmp(route, "links.", 6) == 0 || strncmp(route, "patients.", 9) == 0 ||
        strncmp(route, "consents.", 9) == 0)
        return CDX_AUDIT_PATIENT_QUERY;
    if (strcmp(route, "cohorts.export") == 0)
        return CDX_AUDIT_COHORT_EXPORT;
    if (strncmp(route, "cohorts.", 8) == 0)
        return CDX_AUDIT_COHORT_QUERY;
    if (strcmp(route, "requests.create") == 0)
        return CDX_AUDIT_REQUEST_CREATE;
    if (strcmp(route, "requests.get") == 0)
        return CDX_AUDIT_REQUEST_READ;
    if (strcmp(route, "subscriptions.create") == 0)
        return CDX_AUDIT_SUBSCRIPTION_CREATE;
    if (strcmp(route, "subscriptions.delete") == 0)
        return CDX_AUDIT_SUBSCRIPTION_DELETE;
    if (strcmp(route, "subscriptions.list") == 0)
        return CDX_AUDIT_SUBSCRIPTION_READ;
    return NULL;
}

void cdx_app_on_reject(void *app, const cdx_route_t *route, const char *peer_oid,
                       const char *peer_addr, int status, const char *code)
{
    /* Refused while the head was read: the purpose was not looked at. */
    cdx_app_audit_reject(app, route, peer_oid, peer_addr, status, code, CDX_PURPOSE_DEFAULT);
}

void cdx_app_audit_reject(cdx_app_t *app, const cdx_route_t *route, const char *peer_oid,
                          const char *peer_addr, int status, const char *code,
                          const char *purpose)
{
    /* A refusal on a route of the patient index is recorded as that
     * route's event; a missing role there is a denied access. */
    cdx_audit_event_t ev = {.event = index_event(route->name),
                            .outcome = CDX_AUDIT_MINOR_FAILURE,
                            .actor_oid = peer_oid,
                            .peer = peer_addr,
                            .purpose = purpose};
    if (ev.event == NULL) {
        ev.event = CDX_AUDIT_DOCUMENT_REJECT;
    } else if (status == 403) {
        ev.event = CDX_AUDIT_ACCESS_DENIED;
        ev.outcome = CDX_AUDIT_SERIOUS_FAILURE;
    }
    char detail[96];
    snprintf(detail, sizeof detail, "route=%s status=%d code=%s", route->name, status, code);
    ev.detail = detail;
    cdx_api_audit_queue(app, &ev);
}

void cdx_app_on_deny(void *arg, const cdx_request_t *rq)
{
    cdx_app_t *app = arg;
    if (app->writer == NULL || rq->route == NULL)
        return;
    if (rq->route->flags & CDX_ROUTE_DISCLOSES) {
        /* The disclosing routes are the document reads (a timeline is
         * one), the document query, and the patient index's reads. */
        const char *event = strcmp(rq->route->name, "documents.find") == 0
                                ? CDX_AUDIT_DOCUMENT_QUERY
                                : index_event(rq->route->name);
        cdx_disclose_on_deny(app, rq, event != NULL ? event : CDX_AUDIT_DOCUMENT_READ);
        return;
    }
    char detail[96];
    snprintf(detail, sizeof detail, "route=%s status=403 code=FORBIDDEN", rq->route->name);
    cdx_audit_event_t ev = {.event = CDX_AUDIT_ACCESS_DENIED,
                            .actor_oid = rq->peer ? rq->peer->oid : NULL,
                            .outcome = CDX_AUDIT_SERIOUS_FAILURE,
                            .detail = detail,
                            .peer = rq->peer_addr};
    cdx_api_audit_queue(app, &ev);
}

/* status: CDX_EBUSY when the write queue refused the change (OVERLOADED),
 * or the writer's result, which callers pass on as CDX_EDB when it was
 * CDX_EBUSY: a commit that found the database locked by another process
 * past busy_timeout means the registry is unavailable, not the gateway
 * overloaded. */
void cdx_app_respond_storage_error(cdx_request_t *rq, int status)
{
    if (status == CDX_EFULL)
        cdx_respond_problem(rq, 507, "STORAGE_FULL",
                            "the registry's disk is full; nothing was stored; retry once an "
                            "operator has freed space",
                            NULL);
    else if (status == CDX_EBUSY)
        cdx_respond_problem(rq, 503, "OVERLOADED",
                            "the registry writer is saturated; nothing was stored; retry", NULL);
    else
        cdx_respond_problem(rq, 503, "STORAGE_UNAVAILABLE",
                            "the registry could not store the document; nothing was stored; "
                            "retry later",
                            NULL);
}
