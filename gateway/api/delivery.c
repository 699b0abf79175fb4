/* delivery: the delivery worker (see include/cdx/api/delivery.h).
 *
 * One attempt: launch() reads the row's document and destination, writes
 * "attempt started" through the writer (not waited for: the writer keeps
 * order, so the outcome is written after it), and starts the HTTPS
 * request; its callback decides the outcome (cdx/domain/delivery.h) and
 * writes it with its audit record; the write's completion logs, counts
 * and frees the attempt.  An attempt holds one reference for that path
 * and one for its start write, and is freed when both have ended. */
#include "cdx/api/delivery.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/access.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/delivery.h"
#include "cdx/domain/subscription.h"
#include "cdx/net/http_client.h"
#include "cdx/parsers/ids.h"
#include "cdx/store/outbox.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define MAX_DESTS   1024
#define MAX_DUE     512 /* rows read for one destination in one look */
#define RECEIPT_MAX (64u * 1024u)

typedef struct dest {
    char oid[128];
    int inflight;
    unsigned long long delivered, dead, retried, attempts;
    double latency_sum; /* seconds, of delivered ones */
} dest_t;

typedef struct attempt attempt_t;

struct cdx_delivery_worker {
    cdx_app_t *app;
    uv_loop_t *loop;
    uv_timer_t timer;
    int timer_open;
    int stopping;
    cdx_registry_t *reader;
    cdx_tls_client_t *tls;
    cdx_delivery_policy_t policy;
    int concurrency;
    cdx_institution_t *insts;
    size_t ninsts;
    dest_t *dests;
    size_t ndests;
    attempt_t *flying; /* every attempt not yet freed */
    cdx_delivery_t *due;
};

struct attempt {
    cdx_delivery_worker_t *w;
    size_t dest;
    cdx_delivery_t row;
    cdx_http_client_req_t *req; /* while the request runs */
    int refs;
    uint64_t started; /* uv_now */
    char patient_key[33];
    cdx_write_req_t wstart, wfinish;
    cdx_outbox_outcome_t out;
    cdx_delivery_verdict_t verdict;
    int changed;
    int64_t delay_ms; /* before the next attempt, when retried */
    char error[256];
    int receipt_status;
    char receipt_sha256[65];
    char receipt_summary[256];
    char detail[640];
    /* The send-time access decision on what an institution asked for, for
     * the outcome's audit record; NULL and "" for a referral. */
    const char *purpose;  /* the purpose it was decided with */
    const char *decision; /* cdx_access_decision_name, static */
    int breakglass;       /* 1: allowed on break-glass (counted once sent) */
    char consent_ref[32]; /* "consent:ID" relied on or refusing, "" for none */
    attempt_t *prev, *next;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double jitter(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)rand();
    return (double)r / 4294967296.0;
}

static dest_t *dest_get(cdx_delivery_worker_t *w, const char *oid, size_t *index)
{
    for (size_t i = 0; i < w->ndests; i++) {
        if (strcmp(w->dests[i].oid, oid) == 0) {
            *index = i;
            return &w->dests[i];
        }
    }
    if (w->ndests >= MAX_DESTS)
        return NULL;
    dest_t *d = &w->dests[w->ndests];
    memset(d, 0, sizeof *d);
    cdx_strlcpy(d->oid, oid, sizeof d->oid);
    *index = w->ndests++;
    return d;
}

static const cdx_institution_t *institution(const cdx_delivery_worker_t *w, const char *oid)
{
    for (size_t i = 0; i < w->ninsts; i++)
        if (strcmp(w->insts[i].oid, oid) == 0)
            return &w->insts[i];
    return NULL;
}

static int flying(const cdx_delivery_worker_t *w, int64_t id)
{
    for (const attempt_t *a = w->flying; a != NULL; a = a->next)
        if (a->row.id == id)
            return 1;
    return 0;
}

static void attempt_unref(attempt_t *a)
{
    if (--a->refs > 0)
        return;
    cdx_delivery_worker_t *w = a->w;
    if (a->prev)
        a->prev->next = a->next;
    else
        w->flying = a->next;
    if (a->next)
        a->next->prev = a->prev;
    if (a->dest < w->ndests)
        w->dests[a->dest].inflight--;
    free(a);
}

/* ---- outcome ------------------------------------------------------------ */

static int apply_started(cdx_registry_t *reg, void *arg)
{
    return cdx_outbox_started(reg, ((attempt_t *)arg)->row.id);
}

static void started_done(cdx_write_req_t *req, int status)
{
    (void)status; /* a lost start only undercounts the attempts */
    attempt_unref(req->arg);
}

static int apply_finish(cdx_registry_t *reg, void *arg)
{
    attempt_t *a = arg;
    int dead = a->verdict == CDX_DELIVERY_DEAD;
    int sent = a->verdict == CDX_DELIVERY_DELIVERED;
    cdx_audit_event_t ev = {
        .event = sent ? CDX_AUDIT_DELIVERY_SENT : CDX_AUDIT_DELIVERY_DEAD,
        .actor_oid = "local:delivery",
        .outcome = sent ? CDX_AUDIT_SUCCESS : CDX_AUDIT_SERIOUS_FAILURE,
        .patient_key = a->patient_key[0] ? a->patient_key : NULL,
        .document_id = a->row.document_uid,
        .detail = a->detail,
        .purpose = a->purpose,
        .decision = a->decision,
        .consent = a->consent_ref[0] ? a->consent_ref : NULL,
    };
    return cdx_outbox_finish(reg, &a->out, sent || dead ? &ev : NULL, &a->changed);
}

static void finish_done(cdx_write_req_t *req, int status)
{
    attempt_t *a = req->arg;
    cdx_delivery_worker_t *w = a->w;
    dest_t *d = a->dest < w->ndests ? &w->dests[a->dest] : NULL;
    if (status != 0) {
        CDX_ERROR("delivery.write_failed", "delivery=%lld error=%s", (long long)a->row.id,
                  cdx_log_q(cdx_strerror(status)));
    } else if (a->changed && d != NULL) {
        if (a->verdict == CDX_DELIVERY_DELIVERED) {
            d->delivered++;
            /* A disclosure on break-glass, as a read on one is counted. */
            if (a->breakglass)
                cdx_app_count_access(w->app, NULL, CDX_ACCESS_BASIS_BREAKGLASS);
            d->latency_sum += (double)a->out.latency_ms / 1000.0;
            CDX_INFO("delivery.delivered",
                     "delivery=%lld doc=%s destination=%s status=%d "
                     "attempts=%d latency_ms=%lld",
                     (long long)a->row.id, a->row.document_uid, d->oid, a->out.receipt_status,
                     a->row.attempts + 1, (long long)a->out.latency_ms);
        } else if (a->verdict == CDX_DELIVERY_DEAD) {
            /* The one alert of a delivery given up (log, metric, audit). */
            d->dead++;
            CDX_ERROR("delivery.dead",
                      "delivery=%lld doc=%s destination=%s attempts=%d "
                      "reason=%s",
                      (long long)a->row.id, a->row.document_uid, d->oid, a->row.attempts + 1,
                      cdx_log_q(a->error));
        } else {
            d->retried++;
            CDX_INFO("delivery.retry",
                     "delivery=%lld destination=%s attempts=%d delay_ms=%lld "
                     "error=%s",
                     (long long)a->row.id, d->oid, a->row.attempts + 1, (long long)a->delay_ms,
                     cdx_log_q(a->error));
        }
    }
    attempt_unref(a);
    if (!w->stopping)
        cdx_delivery_kick(w);
}

/* Writes the outcome now decided (verdict, error, receipt). */
static void conclude(attempt_t *a, cdx_delivery_verdict_t v, int64_t retry_after_s)
{
    cdx_delivery_worker_t *w = a->w;
    int64_t now = now_ms();
    int attempts = a->row.attempts + 1;
    a->out = (cdx_outbox_outcome_t){.id = a->row.id, .error = a->error[0] ? a->error : NULL};
    if (v == CDX_DELIVERY_RETRY) {
        a->delay_ms = cdx_delivery_backoff(&w->policy, attempts, retry_after_s, jitter());
        int64_t next = now + a->delay_ms;
        if (cdx_delivery_exhausted(&w->policy, attempts, a->row.created_ms, next)) {
            v = CDX_DELIVERY_DEAD;
            char last[200];
            cdx_strlcpy(last, a->error, sizeof last);
            snprintf(a->error, sizeof a->error, "given up after %d attempts: %s", attempts, last);
        }
        a->out.next_ms = next;
    }
    a->verdict = v;
    a->out.state = v == CDX_DELIVERY_DELIVERED ? "delivered"
                   : v == CDX_DELIVERY_DEAD    ? "dead"
                                               : "pending";
    if (v == CDX_DELIVERY_DELIVERED) {
        a->out.receipt_status = a->receipt_status;
        a->out.receipt_sha256 = a->receipt_sha256;
        a->out.receipt_summary = a->receipt_summary;
        a->out.latency_ms = (int64_t)(uv_now(w->loop) - a->started);
        snprintf(a->detail, sizeof a->detail,
                 "delivery=%lld destination=%s reason=%s status=%d attempts=%d latency_ms=%lld",
                 (long long)a->row.id, a->row.destination, a->row.reason, a->out.receipt_status,
                 attempts, (long long)a->out.latency_ms);
    } else {
        snprintf(a->detail, sizeof a->detail, "delivery=%lld destination=%s reason=%s error=%s",
                 (long long)a->row.id, a->row.destination, a->row.reason, a->error);
    }
    a->wfinish = (cdx_write_req_t){.apply = apply_finish, .done = finish_done, .arg = a};
    if (w->app->writer == NULL || cdx_writer_submit(w->app->writer, &a->wfinish) != 0) {
        /* Not written: the row stays pending and in flight, and is tried
         * again at the next look. */
        attempt_unref(a);
    }
}

static void fail_now(attempt_t *a, cdx_delivery_verdict_t v, const char *why, const char *arg)
{
    snprintf(a->error, sizeof a->error, "%s%s", why, arg);
    conclude(a, v, -1);
}

/* The receipt: the status, the SHA-256 of the answer's body and its first
 * printable characters. */
static void keep_receipt(attempt_t *a, const cdx_http_client_result_t *res)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(res->body, res->body_len, md, &mdlen, EVP_sha256(), NULL);
    cdx_hex(md, 32, a->receipt_sha256);
    size_t j = 0;
    for (size_t i = 0; i < res->body_len && j + 1 < sizeof a->receipt_summary; i++) {
        unsigned char ch = (unsigned char)res->body[i];
        a->receipt_summary[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    a->receipt_summary[j] = '\0';
    a->receipt_status = res->status;
}

static void on_response(const cdx_http_client_result_t *res, void *data)
{
    attempt_t *a = data;
    a->req = NULL;
    cdx_delivery_transport_t t = CDX_DELIVERY_TRANSPORT_FAILED;
    if (res->error == CDX_HTTP_CLIENT_OK)
        t = CDX_DELIVERY_TRANSPORT_OK;
    else if (res->error == CDX_HTTP_CLIENT_TLS_CHAIN || res->error == CDX_HTTP_CLIENT_TLS_HOST ||
             res->error == CDX_HTTP_CLIENT_TLS_INSTITUTION)
        t = CDX_DELIVERY_TRANSPORT_TLS_PEER;
    cdx_delivery_verdict_t v = cdx_delivery_classify(t, res->status);
    if (t == CDX_DELIVERY_TRANSPORT_OK)
        snprintf(a->error, sizeof a->error, "http %d", res->status);
    else
        snprintf(a->error, sizeof a->error, "%s: %s", cdx_http_client_error_label(res->error),
                 res->reason ? res->reason : "");
    if (v == CDX_DELIVERY_DELIVERED) {
        a->error[0] = '\0';
        keep_receipt(a, res);
        conclude(a, v, -1);
        return;
    }
    conclude(a, v, t == CDX_DELIVERY_TRANSPORT_OK ? res->retry_after : -1);
}

/* ---- launching ---------------------------------------------------------- */

/* The receiver's own id for the document's patient: an identity of the
 * same person under the destination's OID or one of its id roots, or
 * that the destination itself first sent; never a national id.  "" when
 * none is linked. */
static void receiver_patient(cdx_delivery_worker_t *w, const cdx_institution_t *to,
                             const cdx_doc_row_t *doc, char *out, size_t n)
{
    out[0] = '\0';
    if (doc->patient_root == NULL || doc->patient_ext == NULL)
        return;
    cdx_person_row_t *rows = NULL;
    size_t nrows = 0;
    if (cdx_registry_persons_by_identity(w->reader, doc->patient_root, doc->patient_ext, &rows,
                                         &nrows) != 0 ||
        nrows == 0) {
        cdx_person_rows_free(rows, nrows);
        return;
    }
    for (size_t i = 0; i < rows[0].nids && out[0] == '\0'; i++) {
        const cdx_identity_t *id = &rows[0].ids[i];
        int theirs =
            cdx_oid_is_at_or_under(id->root, to->oid) || strcmp(id->institution, to->oid) == 0;
        for (size_t r = 0; r < to->nid_roots && !theirs; r++)
            theirs = cdx_oid_is_at_or_under(id->root, to->id_roots[r]);
        if (theirs && !id->national && id->ext[0] != '\0')
            snprintf(out, n, "%s|%s", id->root, id->ext);
    }
    cdx_person_rows_free(rows, nrows);
}

/* The access check at send time: 0 when the document may leave for
 * institution to, else why not in why.  A referral is decided by
 * cdx_access_delivery (a withdrawal, V); what an institution asked for (a
 * record request, a subscription) as its query would be decided now
 * (cdx_requested_decide: its role, a current permit, confidentiality),
 * with the purpose the delivery was asked for (a request's X-CDX-Purpose,
 * stored with the row; none: TREAT), and that decision and purpose are
 * kept on a for the outcome's audit record.  A request made as an
 * emergency (ETREAT) stands on the reason that request declared and is
 * decided as break-glass (never over a deny, never for V); any request's
 * open break-glass time box still counts. */
static int access_refuses(attempt_t *a, const cdx_institution_t *to, const cdx_doc_row_t *doc,
                          char *why, size_t n)
{
    cdx_delivery_worker_t *w = a->w;
    const char *reason = a->row.reason;
    int64_t person = 0;
    cdx_consent_t consents[16];
    size_t nconsents = 0;
    int care = 0, glass = 0;
    char now_key[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now_key, sizeof now_key, "%Y%m%d%H%M%S", &tm);
    if (doc->patient_root != NULL &&
        cdx_registry_person_of(w->reader, doc->patient_root,
                               doc->patient_ext ? doc->patient_ext : "", &person) == 0 &&
        cdx_registry_access_person(w->reader, person, to->oid, now_key, consents,
                                   CDX_ARRAY_SIZE(consents), &nconsents, &care, &glass) != 0)
        nconsents = 0;
    int request = strcmp(reason, "request") == 0;
    int asked = request || strcmp(reason, "subscription") == 0;
    cdx_access_person_t p = {consents, nconsents, care, request ? glass : 0};
    cdx_access_target_t target = {.submitter_oid = doc->submitter_oid,
                                  .author_oid = doc->author_oid,
                                  .custodian_oid = doc->custodian_oid,
                                  .type_code = doc->type_code,
                                  .confidentiality = doc->confidentiality};
    /* A request's emergency stands on the request that declared it. */
    char declared[80];
    snprintf(declared, sizeof declared, "record request %s", a->row.reason_id);
    const char *purpose = request && a->row.purpose[0] ? a->row.purpose : CDX_PURPOSE_DEFAULT;
    cdx_access_decision_t d =
        asked ? cdx_requested_decide(to->oid, to->roles, purpose, request ? declared : NULL,
                                     &target, &p, now_key)
              : cdx_access_delivery(&p, to->oid, doc->type_code, doc->confidentiality, now_key);
    if (asked) {
        /* What was asked for records the query's decision; a referral,
         * the care it asks for, records none (as before). */
        a->purpose = purpose;
        a->decision = cdx_access_decision_name(&d);
        a->breakglass = d.allow && d.basis == CDX_ACCESS_BASIS_BREAKGLASS;
        if (d.consent_id > 0)
            snprintf(a->consent_ref, sizeof a->consent_ref, "consent:%lld",
                     (long long)d.consent_id);
    }
    if (d.allow)
        return 0;
    if (d.reason == CDX_ACCESS_CONFIDENTIALITY)
        snprintf(why, n, "confidentiality %s: the document may not leave for this destination",
                 doc->confidentiality != NULL ? doc->confidentiality : "");
    else if (d.reason == CDX_ACCESS_CONSENT_DENIED)
        snprintf(why, n, "the patient's consent denies this destination (consent:%lld)",
                 (long long)d.consent_id);
    else if (d.reason == CDX_ACCESS_CONSENT_REQUIRED)
        snprintf(why, n, "no current consent of the patient allows this destination");
    else
        snprintf(why, n, "the destination may no longer ask (%s)",
                 cdx_access_reason_name(d.reason));
    return 1;
}

/* Starts the request of attempt a to institution to with the document's
 * bytes, or concludes the attempt when it cannot start. */
static void send_document(attempt_t *a, const cdx_institution_t *to, const cdx_doc_row_t *doc)
{
    cdx_delivery_worker_t *w = a->w;
    char delivery_id[32], patient[400];
    snprintf(delivery_id, sizeof delivery_id, "%lld", (long long)a->row.id);
    receiver_patient(w, to, doc, patient, sizeof patient);
    cdx_http_client_header_t headers[4] = {
        {"Content-Type", "application/xml"},
        {"X-CDX-Document-Id", doc->unique_id},
        {"X-CDX-Delivery-Id", delivery_id},
        {"X-CDX-Patient", patient},
    };
    uint64_t timeout = (uint64_t)w->app->cfg->delivery_timeout_ms;
    cdx_http_client_request_t req = {
        .method = "POST",
        .url = to->endpoint,
        .headers = headers,
        .nheaders = patient[0] ? 4 : 3,
        .body = doc->content,
        .body_len = doc->content_len,
        .peer = to,
        .limits = {.connect_ms = (uint64_t)w->app->cfg->delivery_connect_timeout_ms,
                   .write_ms = timeout,
                   .read_ms = timeout,
                   .deadline_ms = timeout,
                   .max_body = RECEIPT_MAX},
    };
    char err[256] = "";
    a->started = uv_now(w->loop);
    int rc = cdx_http_client_start(w->loop, w->tls, &req, on_response, a, &a->req, err, sizeof err);
    if (rc == CDX_EINVAL)
        fail_now(a, CDX_DELIVERY_DEAD, "the endpoint cannot be used: ", err);
    else if (rc != 0)
        fail_now(a, CDX_DELIVERY_RETRY, "cannot start the request: ", cdx_strerror(rc));
}

/* One attempt of delivery row (copied). */
static void launch(cdx_delivery_worker_t *w, size_t dest, const cdx_delivery_t *row)
{
    attempt_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return;
    a->w = w;
    a->dest = dest;
    a->row = *row;
    a->refs = 1;
    a->next = w->flying;
    if (w->flying)
        w->flying->prev = a;
    w->flying = a;
    w->dests[dest].inflight++;
    w->dests[dest].attempts++;
    const cdx_institution_t *to = institution(w, row->destination);
    if (to == NULL) {
        fail_now(a, CDX_DELIVERY_DEAD,
                 "destination is not a registered institution: ", row->destination);
        return;
    }
    if (to->endpoint[0] == '\0') {
        fail_now(a, CDX_DELIVERY_DEAD,
                 "no endpoint for the destination (set `endpoint` in its [institution] entry): ",
                 row->destination);
        return;
    }
    cdx_doc_row_t doc;
    memset(&doc, 0, sizeof doc);
    int rc = cdx_registry_get_document(w->reader, row->document_uid, CDX_DOC_ORIGINAL, &doc);
    if (rc != 0) {
        cdx_doc_row_cleanup(&doc);
        fail_now(a, rc == CDX_ENOTFOUND ? CDX_DELIVERY_DEAD : CDX_DELIVERY_RETRY,
                 "cannot read the document: ", cdx_strerror(rc));
        return;
    }
    if (doc.patient_root != NULL)
        cdx_app_patient_key(w->app->patient_key, doc.patient_root,
                            doc.patient_ext ? doc.patient_ext : "", a->patient_key);
    char why[160];
    if (access_refuses(a, to, &doc, why, sizeof why)) {
        cdx_doc_row_cleanup(&doc);
        fail_now(a, CDX_DELIVERY_DEAD, "not sent: ", why);
        return;
    }
    a->wstart = (cdx_write_req_t){.apply = apply_started, .done = started_done, .arg = a};
    a->refs++;
    if (cdx_writer_submit(w->app->writer, &a->wstart) != 0)
        a->refs--;
    send_document(a, to, &doc);
    cdx_doc_row_cleanup(&doc);
}

/* Looks at one destination: starts what its free slots allow. */
static void look_at(cdx_delivery_worker_t *w, const char *oid, int64_t now)
{
    size_t di = 0;
    dest_t *d = dest_get(w, oid, &di);
    if (d == NULL || d->inflight >= w->concurrency)
        return;
    size_t want = (size_t)(w->concurrency + d->inflight);
    if (want > MAX_DUE)
        want = MAX_DUE;
    size_t n = 0;
    if (cdx_outbox_due(w->reader, oid, now, w->due, want, &n) != 0)
        return;
    for (size_t i = 0; i < n && w->dests[di].inflight < w->concurrency; i++) {
        if (!flying(w, w->due[i].id))
            launch(w, di, &w->due[i]);
    }
}

static void look(cdx_delivery_worker_t *w)
{
    if (w->stopping || w->app->writer == NULL)
        return;
    free(w->insts);
    w->insts = NULL;
    w->ninsts = 0;
    static char oids[256][128];
    size_t n = 0;
    int64_t now = now_ms();
    if (cdx_registry_list_institutions(w->reader, &w->insts, &w->ninsts) != 0 ||
        cdx_outbox_due_destinations(w->reader, now, oids, CDX_ARRAY_SIZE(oids), &n) != 0) {
        /* Tried again at the next look. */
        CDX_WARN("delivery.read_failed", "detail=%s", cdx_log_q(cdx_registry_errmsg(w->reader)));
        return;
    }
    for (size_t i = 0; i < n && !w->stopping; i++)
        look_at(w, oids[i], now);
}

static void on_timer(uv_timer_t *t)
{
    look(t->data);
}

void cdx_delivery_kick(cdx_delivery_worker_t *w)
{
    if (w != NULL && !w->stopping && w->timer_open)
        uv_timer_start(&w->timer, on_timer, 0, (uint64_t)w->app->cfg->delivery_poll_ms);
}

/* ---- life --------------------------------------------------------------- */

static int open_parts(cdx_delivery_worker_t *w, const cdx_config_t *cfg, char *err, size_t errlen)
{
    char path[CDX_PATH_MAX + 32], why[512] = "";
    snprintf(path, sizeof path, "%s/registry.db", cfg->data_dir);
    int rc = cdx_registry_open_reader(path, &w->reader, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "delivery worker: cannot open the registry: %s", why);
        return rc;
    }
    cdx_tls_client_options_t opt = {
        .ca_file = cfg->delivery_ca[0] ? cfg->delivery_ca : cfg->tls_client_ca,
        .cert_file = cfg->delivery_cert[0] ? cfg->delivery_cert : cfg->tls_cert,
        .key_file = cfg->delivery_key[0] ? cfg->delivery_key : cfg->tls_key,
        .use_system_store = cfg->delivery_system_store != 0,
    };
    rc = cdx_tls_client_new(&opt, &w->tls, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "delivery worker: %s", why);
    return rc;
}

int cdx_delivery_start(cdx_app_t *app, void *uv_loop, char *err, size_t errlen)
{
    const cdx_config_t *cfg = app->cfg;
    cdx_delivery_worker_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return CDX_ENOMEM;
    w->app = app;
    w->loop = uv_loop;
    w->policy = (cdx_delivery_policy_t){.max_attempts = cfg->delivery_max_attempts,
                                        .max_age_ms = cfg->delivery_max_age_ms,
                                        .backoff_min_ms = cfg->delivery_backoff_min_ms,
                                        .backoff_max_ms = cfg->delivery_backoff_max_ms};
    w->concurrency = (int)cfg->delivery_concurrency;
    w->dests = calloc(MAX_DESTS, sizeof *w->dests);
    w->due = calloc(MAX_DUE, sizeof *w->due);
    int rc = w->dests && w->due ? open_parts(w, cfg, err, errlen) : CDX_ENOMEM;
    if (rc == 0 && uv_timer_init(w->loop, &w->timer) != 0)
        rc = CDX_ENOMEM;
    if (rc != 0) {
        cdx_delivery_free(w);
        return rc;
    }
    w->timer.data = w;
    w->timer_open = 1;
    app->delivery = w;
    cdx_delivery_kick(w);
    return 0;
}

void cdx_delivery_stop(cdx_delivery_worker_t *w)
{
    if (w == NULL || w->stopping)
        return;
    w->stopping = 1;
    if (w->timer_open) {
        uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, NULL);
    }
    /* Abandon the requests in flight: no callback will come for them. */
    attempt_t *a = w->flying;
    while (a != NULL) {
        attempt_t *next = a->next;
        if (a->req != NULL) {
            cdx_http_client_cancel(a->req);
            a->req = NULL;
            attempt_unref(a);
        }
        a = next;
    }
}

void cdx_delivery_free(cdx_delivery_worker_t *w)
{
    if (w == NULL)
        return;
    while (w->flying != NULL) {
        attempt_t *a = w->flying;
        w->flying = a->next;
        free(a);
    }
    cdx_tls_client_free(w->tls);
    cdx_registry_close(w->reader);
    free(w->insts);
    free(w->dests);
    free(w->due);
    free(w);
}

static void count_state(void *arg, const char *destination, const char *state, int64_t count)
{
    cdx_buf_t *out = arg;
    cdx_buf_printf(out, "cdxgw_deliveries{destination=\"%s\",state=\"%s\"} %lld\n", destination,
                   state, (long long)count);
}

int cdx_delivery_metrics(cdx_delivery_worker_t *w, cdx_buf_t *out)
{
    if (w == NULL)
        return 0;
    int rc = cdx_buf_puts(out, "# HELP cdxgw_deliveries Deliveries in the outbox, by destination "
                               "and state (pending, delivered, dead).\n"
                               "# TYPE cdxgw_deliveries gauge\n");
    if (rc == 0 && cdx_outbox_counts(w->reader, count_state, out) != 0)
        rc = CDX_EDB;
    rc |= cdx_buf_puts(out, "# HELP cdxgw_delivery_inflight Deliveries being sent now.\n"
                            "# TYPE cdxgw_delivery_inflight gauge\n");
    for (size_t i = 0; i < w->ndests; i++)
        rc |= cdx_buf_printf(out, "cdxgw_delivery_inflight{destination=\"%s\"} %d\n",
                             w->dests[i].oid, w->dests[i].inflight);
    rc |= cdx_buf_puts(out, "# HELP cdxgw_delivery_attempts_total Attempts since start, by "
                            "destination and result.\n"
                            "# TYPE cdxgw_delivery_attempts_total counter\n");
    for (size_t i = 0; i < w->ndests; i++) {
        const dest_t *d = &w->dests[i];
        rc |= cdx_buf_printf(
            out,
            "cdxgw_delivery_attempts_total{destination=\"%s\",result=\"delivered\"} %llu\n"
            "cdxgw_delivery_attempts_total{destination=\"%s\",result=\"retry\"} %llu\n"
            "cdxgw_delivery_attempts_total{destination=\"%s\",result=\"dead\"} %llu\n",
            d->oid, d->delivered, d->oid, d->retried, d->oid, d->dead);
    }
    rc |= cdx_buf_puts(out, "# HELP cdxgw_delivery_dead_total Deliveries given up since start "
                            "(one alert each).\n# TYPE cdxgw_delivery_dead_total counter\n");
    for (size_t i = 0; i < w->ndests; i++)
        rc |= cdx_buf_printf(out, "cdxgw_delivery_dead_total{destination=\"%s\"} %llu\n",
                             w->dests[i].oid, w->dests[i].dead);
    rc |= cdx_buf_puts(out, "# HELP cdxgw_delivery_latency_seconds Time from the start of a "
                            "successful attempt to its receipt, by destination.\n"
                            "# TYPE cdxgw_delivery_latency_seconds summary\n");
    for (size_t i = 0; i < w->ndests; i++)
        rc |= cdx_buf_printf(out,
                             "cdxgw_delivery_latency_seconds_sum{destination=\"%s\"} %.6f\n"
                             "cdxgw_delivery_latency_seconds_count{destination=\"%s\"} %llu\n",
                             w->dests[i].oid, w->dests[i].latency_sum, w->dests[i].oid,
                             w->dests[i].delivered);
    return rc;
}
