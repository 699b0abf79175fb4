/* disclose: the disclosure sequence (see include/cdx/api/disclose.h). */
#include "cdx/api/disclose.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/base/log.h"
#include "cdx/domain/institution.h"

#include <string.h>
#include <time.h>

/* How each refusal of the decision is answered and recorded: one row per
 * reason (a refused access is a serious failure; a purpose that is not
 * one is a minor one, as for a request that was merely wrong). */
static const struct refusal {
    cdx_access_reason_t reason;
    int status;
    const char *code;
    int outcome;
} refusals[] = {
    {CDX_ACCESS_NO_INSTITUTION, 403, "FORBIDDEN", CDX_AUDIT_SERIOUS_FAILURE},
    {CDX_ACCESS_ROLE_MISSING, 403, "FORBIDDEN", CDX_AUDIT_SERIOUS_FAILURE},
    {CDX_ACCESS_PURPOSE_UNKNOWN, 400, "PURPOSE_UNKNOWN", CDX_AUDIT_MINOR_FAILURE},
    {CDX_ACCESS_REASON_REQUIRED, 400, "REASON_REQUIRED", CDX_AUDIT_MINOR_FAILURE},
    {CDX_ACCESS_REASON_INVALID, 400, "REASON_INVALID", CDX_AUDIT_MINOR_FAILURE},
    /* A missing consent and the person's deny answer alike. */
    {CDX_ACCESS_CONSENT_REQUIRED, 403, "CONSENT_REQUIRED", CDX_AUDIT_SERIOUS_FAILURE},
    {CDX_ACCESS_CONSENT_DENIED, 403, "CONSENT_REQUIRED", CDX_AUDIT_SERIOUS_FAILURE},
    {CDX_ACCESS_CONFIDENTIALITY, 403, "CONFIDENTIALITY", CDX_AUDIT_SERIOUS_FAILURE},
};

static const struct refusal *refusal_of(cdx_access_reason_t reason)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(refusals); i++)
        if (refusals[i].reason == reason)
            return &refusals[i];
    return &refusals[1]; /* a reason without its row is refused as a missing role */
}

void cdx_disclose_prepare(cdx_disclosure_t *d, const cdx_institution_t *institution,
                          unsigned role_needed, const char *route_name,
                          const char *purpose_header, const char *user_header)
{
    d->institution = institution;
    d->role_needed = role_needed;
    d->route_name = route_name;
    cdx_strlcpy(d->actor_oid, institution != NULL ? institution->oid : "", sizeof d->actor_oid);
    cdx_strlcpy(d->user, user_header != NULL ? user_header : "", sizeof d->user);
    memset(&d->who, 0, sizeof d->who);
    if (institution != NULL) {
        cdx_strlcpy(d->who.oid, institution->oid, sizeof d->who.oid);
        d->who.roles = institution->roles;
    }
    if (purpose_header == NULL || purpose_header[0] == '\0')
        purpose_header = CDX_PURPOSE_DEFAULT;
    d->purpose = cdx_purpose_find(purpose_header);
}

void cdx_disclose_clock(cdx_disclosure_t *d, int64_t now, double minutes)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(d->now_key, sizeof d->now_key, "%Y%m%d%H%M%S", &tm);
    t = (time_t)(now + (int64_t)(minutes * 60.0 + 0.5));
    gmtime_r(&t, &tm);
    strftime(d->until_key, sizeof d->until_key, "%Y%m%d%H%M%S", &tm);
}

int cdx_disclose_load_person(cdx_disclosure_t *d, cdx_registry_t *reg, int64_t person_id)
{
    int rc = cdx_registry_access_person(reg, person_id, d->who.oid, d->now_key, d->consents,
                                        CDX_DISCLOSE_MAX_CONSENTS, &d->nconsents, &d->care,
                                        &d->breakglass_open);
    if (rc != 0)
        return rc;
    d->person_loaded = 1;
    d->person_id = person_id;
    return 0;
}

cdx_access_decision_t cdx_disclose_decide(cdx_disclosure_t *d, const cdx_access_target_t *t)
{
    cdx_access_person_t person = {
        .consents = d->consents,
        .nconsents = d->nconsents,
        .care_relationship = d->care,
        .breakglass_open = d->breakglass_open,
    };
    cdx_access_request_t ask = {
        .institution = &d->who,
        .role_needed = d->role_needed,
        .purpose = d->purpose,
        .reason = d->reason[0] ? d->reason : NULL,
        .target = t,
        .person = d->person_loaded ? &person : NULL,
        .now_key = d->now_key,
        .breakglass_overrides_deny = d->overrides_deny,
    };
    cdx_access_decision_t dec = cdx_access_decide(&ask);
    if (dec.allow && dec.basis > d->basis)
        d->basis = dec.basis;
    if (dec.allow && dec.basis == CDX_ACCESS_BASIS_CONSENT)
        d->consent_id = dec.consent_id;
    return dec;
}

cdx_access_decision_t cdx_disclose_decide_doc(cdx_disclosure_t *d, const cdx_doc_access_t *a)
{
    cdx_access_target_t t = {
        .submitter_oid = a->submitter_oid,
        .author_oid = a->author_oid,
        .custodian_oid = a->custodian_oid,
        .type_code = a->type_code,
        .confidentiality = a->confidentiality,
    };
    return cdx_disclose_decide(d, &t);
}

cdx_access_decision_t cdx_disclose_decide_row(cdx_disclosure_t *d, const cdx_doc_row_t *row)
{
    cdx_access_target_t t = {
        .submitter_oid = row->submitter_oid,
        .author_oid = row->author_oid,
        .custodian_oid = row->custodian_oid,
        .type_code = row->type_code,
        .confidentiality = row->confidentiality,
    };
    return cdx_disclose_decide(d, &t);
}

/* Loads the person of row's identity unless it is the one loaded; a
 * document outside the patient index has no person: no consent is known. */
static int load_person_of(cdx_disclosure_t *d, cdx_registry_t *reg, const cdx_doc_row_t *row)
{
    int64_t person = 0;
    int rc = CDX_ENOTFOUND;
    if (row->patient_root != NULL)
        rc = cdx_registry_person_of(reg, row->patient_root,
                                    row->patient_ext != NULL ? row->patient_ext : "", &person);
    if (rc == CDX_ENOTFOUND) {
        d->person_loaded = 0;
        return 0;
    }
    if (rc != 0 || (d->person_loaded && d->person_id == person))
        return rc;
    return cdx_disclose_load_person(d, reg, person);
}

int cdx_disclose_decide_uid(cdx_disclosure_t *d, cdx_registry_t *reg, const char *uid,
                            cdx_access_decision_t *dec)
{
    cdx_doc_row_t row;
    memset(&row, 0, sizeof row);
    *dec = (cdx_access_decision_t){.allow = 0, .reason = CDX_ACCESS_CONSENT_REQUIRED};
    int rc = cdx_registry_get_document(reg, uid, CDX_DOC_META_ONLY, &row);
    if (rc == 0)
        rc = load_person_of(d, reg, &row);
    if (rc == 0)
        *dec = cdx_disclose_decide_row(d, &row);
    else if (rc == CDX_ENOTFOUND)
        rc = 0; /* gone: refused as a document without consent */
    cdx_doc_row_cleanup(&row);
    return rc;
}

void cdx_withheld_count(cdx_withheld_t *w, const cdx_access_decision_t *dec)
{
    const char *cls = cdx_access_withheld_class(dec->reason);
    if (cls != NULL && strcmp(cls, "confidentiality") == 0)
        w->confidentiality++;
    else
        w->consent++;
}

void cdx_withheld_json(const cdx_withheld_t *w, json_t *answer)
{
    if (w->consent + w->confidentiality == 0)
        return;
    json_t *o = json_object();
    if (w->consent > 0)
        json_object_set_new(o, "consent", json_integer((json_int_t)w->consent));
    if (w->confidentiality > 0)
        json_object_set_new(o, "confidentiality", json_integer((json_int_t)w->confidentiality));
    json_object_set_new(answer, "withheld", o);
}

int cdx_disclose_check_row(cdx_disclosure_t *d, cdx_registry_t *reg, int rc,
                           const cdx_doc_row_t *row)
{
    if (rc == CDX_ENOTFOUND) {
        /* The same refusal as a document of a person without consent:
         * an id tells nothing of what is stored. */
        d->decision = (cdx_access_decision_t){.allow = 0, .reason = CDX_ACCESS_CONSENT_REQUIRED};
        return CDX_EDENIED;
    }
    if (rc != 0)
        return rc;
    int64_t person = 0;
    rc = cdx_registry_person_of(reg, row->patient_root, row->patient_ext != NULL ? row->patient_ext : "",
                                &person);
    if (rc == 0)
        rc = cdx_disclose_load_person(d, reg, person);
    else if (rc == CDX_ENOTFOUND)
        rc = 0; /* a document outside the patient index: no consent is known */
    if (rc != 0)
        return rc;
    cdx_access_decision_t dec = cdx_disclose_decide_row(d, row);
    if (!dec.allow) {
        d->decision = dec;
        return CDX_EDENIED;
    }
    return 0;
}

int cdx_disclose_read_document(cdx_disclosure_t *d, cdx_registry_t *reg, int what,
                               cdx_doc_row_t *row)
{
    int rc = cdx_registry_get_document(reg, d->target_id, what, row);
    if (rc == 0 || rc == CDX_ENOTFOUND)
        rc = cdx_disclose_check_row(d, reg, rc, row);
    if (rc == 0 || (rc == CDX_EDENIED && row->patient_root != NULL))
        cdx_app_patient_key(d->app->patient_key, row->patient_root, row->patient_ext,
                            d->patient_key);
    return rc;
}

void cdx_disclose_respond_no_document(const cdx_disclosure_t *d, cdx_request_t *rq)
{
    cdx_respond_problem(rq, 404, "DOCUMENT_NOT_FOUND",
                        d->target_unknown ? "document ids are 32 lower-case hex digits, as "
                                            "returned by POST /v1/documents"
                                          : "no document with this id",
                        NULL);
}

int cdx_disclose_target_id(const cdx_route_params_t *params, char out[33])
{
    char id[64];
    out[0] = '\0';
    if (cdx_route_param(params, "id", id, sizeof id) != 0 || strlen(id) != 32 ||
        strspn(id, "0123456789abcdef") != 32)
        return 0;
    memcpy(out, id, 33);
    return 1;
}

/* ---- the sequence ------------------------------------------------------ */

/* Step 5, and step 6 once it is durable (cdx_disclose_audit_done). */
static void audit_then_answer(cdx_disclosure_t *d)
{
    if (d->io->audit(d) != 0) {
        /* No audit record, no answer but the writer's refusal. */
        d->io->storage_error(d, CDX_EBUSY);
        d->io->finish(d);
    }
}

void cdx_disclose_run(cdx_disclosure_t *d)
{
    if (d->event == NULL && d->endpoint != NULL)
        d->event = d->endpoint->event;
    cdx_access_request_t ask = {.institution = d->institution,
                                .role_needed = d->role_needed,
                                .purpose = d->purpose,
                                .reason = d->reason[0] ? d->reason : NULL};
    d->decision = cdx_access_decide(&ask);
    d->institution = NULL; /* not kept beyond the decision: d->who holds what the reads need */
    if (!d->decision.allow) {
        d->stage = CDX_DISCLOSE_REFUSED;
        audit_then_answer(d);
        return;
    }
    if (d->target_unknown) {
        d->stage = CDX_DISCLOSE_NOT_FOUND;
        audit_then_answer(d);
        return;
    }
    d->stage = CDX_DISCLOSE_READING;
    if (d->io->read(d) != 0) {
        d->io->overloaded(d);
        d->io->finish(d);
    }
}

void cdx_disclose_read_done(cdx_disclosure_t *d, int rc)
{
    CDX_ASSERT(d->stage == CDX_DISCLOSE_READING);
    if (rc == 0) {
        d->stage = CDX_DISCLOSE_FOUND;
    } else if (rc == CDX_EDENIED) {
        d->stage = CDX_DISCLOSE_REFUSED;
    } else if (rc == CDX_ENOTFOUND) {
        d->stage = CDX_DISCLOSE_NOT_FOUND;
    } else {
        d->io->storage_error(d, rc);
        d->io->finish(d);
        return;
    }
    audit_then_answer(d);
}

static void answer_refusal(cdx_disclosure_t *d)
{
    const struct refusal *r = refusal_of(d->decision.reason);
    char detail[384];
    if (d->decision.reason == CDX_ACCESS_PURPOSE_UNKNOWN) {
        cdx_purpose_unknown_detail(detail, sizeof detail);
    } else if (d->decision.reason == CDX_ACCESS_REASON_REQUIRED) {
        cdx_strlcpy(detail,
                    "purpose ETREAT (break-glass) needs the reason for the emergency access in "
                    "X-CDX-Reason",
                    sizeof detail);
    } else if (d->decision.reason == CDX_ACCESS_REASON_INVALID) {
        snprintf(detail, sizeof detail,
                 "X-CDX-Reason must be at most %d bytes of UTF-8 text without control characters",
                 CDX_ACCESS_REASON_MAX);
    } else if (d->decision.reason == CDX_ACCESS_CONSENT_REQUIRED ||
               d->decision.reason == CDX_ACCESS_CONSENT_DENIED) {
        cdx_strlcpy(detail,
                    "no consent of the patient allows this institution to see this document "
                    "(or no such document)",
                    sizeof detail);
    } else if (d->decision.reason == CDX_ACCESS_CONFIDENTIALITY) {
        cdx_strlcpy(detail,
                    "the document's confidentiality does not allow this institution to see it",
                    sizeof detail);
    } else {
        char role[64];
        cdx_roles_format(d->role_needed, role, sizeof role);
        snprintf(detail, sizeof detail,
                 "this institution's certificate lacks the '%s' role needed here", role);
    }
    d->io->refuse(d, r->status, r->code, detail);
}

void cdx_disclose_audit_done(cdx_disclosure_t *d, int status)
{
    if (status != 0)
        /* The record is not durable: nothing is disclosed.  A busy
         * database past busy_timeout is the registry unavailable, not the
         * gateway overloaded. */
        d->io->storage_error(d, status == CDX_EBUSY ? CDX_EDB : status);
    else if (d->stage == CDX_DISCLOSE_REFUSED)
        answer_refusal(d);
    else
        d->io->respond(d);
    d->io->finish(d);
}

void cdx_disclose_audit_event(cdx_disclosure_t *d, cdx_audit_event_t *ev)
{
    *ev = (cdx_audit_event_t){
        .event = d->event,
        .actor_oid = d->actor_oid[0] ? d->actor_oid : NULL,
        .actor_user = d->user[0] ? d->user : NULL,
        .document_id = d->target_id[0] ? d->target_id : NULL,
        .detail = d->detail,
        .reason = d->reason[0] && d->decision.reason != CDX_ACCESS_REASON_INVALID ? d->reason : NULL,
        .peer = d->peer[0] ? d->peer : NULL,
    };
    int64_t consent = d->decision.allow ? d->consent_id : d->decision.consent_id;
    if (consent > 0) {
        snprintf(d->consent_ref, sizeof d->consent_ref, "consent:%lld", (long long)consent);
        ev->consent = d->consent_ref;
    }
    if (d->stage == CDX_DISCLOSE_REFUSED) {
        /* A refusal records no purpose: the one sent may be no purpose. */
        const struct refusal *r = refusal_of(d->decision.reason);
        snprintf(d->detail, sizeof d->detail, "route=%s status=%d code=%s", d->route_name,
                 r->status, r->code);
        ev->outcome = r->outcome;
        ev->decision = cdx_access_reason_name(d->decision.reason);
        if (d->decision.reason >= CDX_ACCESS_CONSENT_REQUIRED) {
            ev->purpose = d->purpose != NULL ? d->purpose->code : NULL;
            ev->patient_key = d->patient_key[0] ? d->patient_key : NULL;
        }
        return;
    }
    cdx_access_decision_t shown = {.allow = 1, .basis = d->basis};
    ev->decision = cdx_access_decision_name(&shown);
    ev->purpose = d->purpose != NULL ? d->purpose->code : NULL;
    d->endpoint->audit_detail(d, d->detail, sizeof d->detail);
    if (d->stage == CDX_DISCLOSE_FOUND) {
        ev->outcome = CDX_AUDIT_SUCCESS;
        ev->patient_key = d->patient_key;
    } else {
        /* An unknown target is an access attempt too (probing ids is what
         * an attacker does): a minor failure, naming no patient. */
        ev->outcome = CDX_AUDIT_MINOR_FAILURE;
    }
}

/* ---- the server's effects ---------------------------------------------- */

static void server_finish(cdx_disclosure_t *d)
{
    if (d->endpoint != NULL && d->endpoint->free_ctx != NULL)
        d->endpoint->free_ctx(d->ctx);
    free(d);
}

static void read_work(void *arg)
{
    cdx_disclosure_t *d = arg;
    cdx_registry_t *reg = cdx_app_reader_acquire(d->app);
    d->read_rc = d->endpoint->read(d, reg);
    cdx_app_reader_release(d->app, reg);
}

static void read_done(cdx_request_t *rq, void *arg)
{
    cdx_disclosure_t *d = arg;
    if (rq == NULL) {
        /* The client left: nothing is disclosed, nothing recorded. */
        server_finish(d);
        return;
    }
    d->rq = rq;
    cdx_disclose_read_done(d, d->read_rc);
}

static int server_read(cdx_disclosure_t *d)
{
    return cdx_submit_job(d->rq, read_work, read_done, d);
}

/* 1 when the disclosure opens (or extends) a break-glass time box: an
 * emergency request that disclosed on break-glass. */
static int opens_time_box(const cdx_disclosure_t *d)
{
    cdx_access_request_t ask = {.purpose = d->purpose};
    return d->stage == CDX_DISCLOSE_FOUND && d->basis == CDX_ACCESS_BASIS_BREAKGLASS &&
           d->person_loaded && cdx_access_emergency(&ask);
}

static int apply_audit(cdx_registry_t *reg, void *arg)
{
    cdx_disclosure_t *d = arg;
    cdx_audit_event_t ev;
    cdx_disclose_audit_event(d, &ev);
    /* The time box and the record of the access that opened it, together. */
    int rc = opens_time_box(d)
                 ? cdx_registry_breakglass_open(reg, d->actor_oid, d->person_id, d->until_key)
                 : 0;
    if (rc == 0 && d->endpoint != NULL && d->endpoint->apply != NULL &&
        d->stage != CDX_DISCLOSE_REFUSED)
        return d->endpoint->apply(d, reg, &ev);
    return rc != 0 ? rc : cdx_registry_audit(reg, &ev);
}

static void audit_written(cdx_write_req_t *req, int status)
{
    cdx_disclosure_t *d = req->arg;
    cdx_request_t *rq = cdx_request_resume(d->hold);
    if (rq == NULL) {
        server_finish(d);
        return;
    }
    d->rq = rq;
    if (status == 0)
        cdx_app_count_access(d->app, d->stage == CDX_DISCLOSE_REFUSED ? &d->decision : NULL,
                             d->basis);
    cdx_disclose_audit_done(d, status);
}

static int server_audit(cdx_disclosure_t *d)
{
    d->wreq.apply = apply_audit;
    d->wreq.done = audit_written;
    d->wreq.arg = d;
    d->hold = cdx_request_hold(d->rq);
    if (cdx_writer_submit(d->app->writer, &d->wreq) != 0) {
        cdx_request_resume(d->hold);
        return CDX_EBUSY;
    }
    return 0;
}

static void server_respond(cdx_disclosure_t *d)
{
    d->endpoint->respond(d, d->rq);
}

static void server_refuse(cdx_disclosure_t *d, int status, const char *code, const char *detail)
{
    cdx_respond_problem(d->rq, status, code, detail, NULL);
}

static void server_storage_error(cdx_disclosure_t *d, int err)
{
    cdx_app_respond_storage_error(d->rq, err);
}

static void server_overloaded(cdx_disclosure_t *d)
{
    cdx_respond_overloaded(d->rq);
}

static const cdx_disclose_io_t server_io = {
    .read = server_read,
    .audit = server_audit,
    .respond = server_respond,
    .refuse = server_refuse,
    .storage_error = server_storage_error,
    .overloaded = server_overloaded,
    .finish = server_finish,
};

cdx_disclosure_t *cdx_disclose_new(cdx_request_t *rq, const cdx_disclose_endpoint_t *endpoint,
                                   void *ctx)
{
    cdx_disclosure_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->endpoint = endpoint;
    d->event = endpoint->event;
    d->ctx = ctx;
    d->io = &server_io;
    d->app = cdx_server_app(rq->server);
    d->rq = rq;
    cdx_disclose_prepare(d, rq->peer, rq->route->role, rq->route->name,
                         cdx_http_header(rq->http, "x-cdx-purpose"),
                         cdx_http_header(rq->http, "x-cdx-user"));
    const char *reason = cdx_http_header(rq->http, "x-cdx-reason");
    cdx_strlcpy(d->reason, reason != NULL ? reason : "", sizeof d->reason);
    d->overrides_deny = (int)d->app->cfg->breakglass_overrides_deny;
    cdx_disclose_clock(d, (int64_t)time(NULL), cdx_app_breakglass_minutes(d->app));
    cdx_strlcpy(d->peer, rq->peer_addr, sizeof d->peer);
    return d;
}

/* ---- refusals decided by the server (step 2) --------------------------- */

static void deny_written(cdx_write_req_t *req, int status)
{
    cdx_disclosure_t *d = req->arg;
    if (status != 0)
        CDX_WARN("audit.write_failed", "event=%s error=%s", d->event,
                 cdx_log_q(cdx_strerror(status)));
    free(d);
}

void cdx_disclose_on_deny(cdx_app_t *app, const cdx_request_t *rq, const char *event)
{
    if (app->writer == NULL)
        return;
    cdx_disclosure_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return;
    d->event = event;
    cdx_disclose_prepare(d, rq->peer, rq->route->role, rq->route->name, NULL, NULL);
    cdx_strlcpy(d->peer, rq->peer_addr, sizeof d->peer);
    cdx_access_request_t ask = {
        .institution = d->institution, .role_needed = d->role_needed, .purpose = d->purpose};
    d->decision = cdx_access_decide(&ask);
    d->institution = NULL;
    if (d->decision.allow) {
        /* The server refused for the route's role; record it so. */
        d->decision = (cdx_access_decision_t){.allow = 0, .reason = CDX_ACCESS_ROLE_MISSING};
    }
    d->stage = CDX_DISCLOSE_REFUSED;
    cdx_disclose_target_id(&rq->params, d->target_id);
    d->wreq.apply = apply_audit;
    d->wreq.done = deny_written;
    d->wreq.arg = d;
    if (cdx_writer_submit(app->writer, &d->wreq) != 0) {
        CDX_WARN("audit.write_failed", "event=%s error=queue_full", event);
        free(d);
    }
}

void cdx_disclose_start(cdx_request_t *rq, const cdx_disclose_endpoint_t *endpoint, void *ctx)
{
    cdx_disclosure_t *d = cdx_disclose_new(rq, endpoint, ctx);
    if (d == NULL) {
        endpoint->free_ctx(ctx);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_disclose_run(d);
}
