/*
 * disclose: the one sequence every request that discloses patient data
 * goes through.
 *
 * Responsible for the order of the steps, written once here:
 *
 *   1. authenticate the institution: the TLS layer has bound the
 *      connection to a registered institution (rq->peer);
 *   2. role: the route's role (routes.h); the server refuses a request
 *      whose institution lacks it before any handler runs and hands the
 *      refusal to cdx_disclose_on_deny, which audits it as step 5 would;
 *   3. access decision: cdx_access_decide (domain/access.h) on the
 *      institution, the route's role, the declared purpose of use
 *      (X-CDX-Purpose, domain/purpose.h) and its reason (X-CDX-Reason).
 *      Refused: no read; the refusal is audited, then answered (403
 *      FORBIDDEN, 400 PURPOSE_UNKNOWN, REASON_REQUIRED, REASON_INVALID);
 *   4. read: only when allowed, the endpoint's read on a worker thread
 *      with a registry reader.  A request that names no possible target
 *      (a malformed id) is not read: it is audited as an unknown target.
 *      The read decides again on each document it found, with what the
 *      registry holds of the document's person (cdx_disclose_load_person,
 *      cdx_disclose_decide): consent, confidentiality, break-glass.  A
 *      document endpoint refused there, or asked for an id no document
 *      has, returns CDX_EDENIED: the refusal (the same answer for both) is
 *      audited and answered as in step 3; a query leaves the documents
 *      out and counts them;
 *   5. audit: exactly one audit record for every outcome (disclosed,
 *      unknown target, refused) in the registry's hash chain;
 *   6. respond: only once that record is durable.  When it cannot be
 *      written, nothing is disclosed (503).
 *
 * A read the registry fails (other than "not found") is answered with a
 * storage error, unaudited, as nothing was disclosed; a client that left
 * before the read finished gets nothing and leaves no record.
 * Not responsible for: what is read and how it is answered (the endpoint:
 * documents.c), the decision itself (domain/access.c).
 *
 * Loop thread, except an endpoint's read (a worker thread) and
 * cdx_disclose_audit_event (the writer thread).  Effects (worker jobs,
 * audit writes, answers) go through cdx_disclose_io_t, so the sequence can
 * be run without a server.
 */
#ifndef CDX_DISCLOSE_H
#define CDX_DISCLOSE_H

#include "cdx/api/app.h"
#include <jansson.h>

#include "cdx/domain/access.h"
#include "cdx/net/server.h"
#include "cdx/store/writer.h"

typedef struct cdx_disclosure cdx_disclosure_t;

/* The newest consent decisions of a person the decision reads. */
#define CDX_DISCLOSE_MAX_CONSENTS 16

/* Where a disclosure stands. */
typedef enum cdx_disclose_stage {
    CDX_DISCLOSE_NEW = 0,
    CDX_DISCLOSE_READING,   /* allowed; the endpoint's read runs */
    CDX_DISCLOSE_FOUND,     /* read: the audit record of the disclosure is written */
    CDX_DISCLOSE_NOT_FOUND, /* no such target: the attempt is audited */
    CDX_DISCLOSE_REFUSED,   /* the decision refused: the refusal is audited */
} cdx_disclose_stage_t;

/* What an endpoint that discloses supplies (a constant). */
typedef struct cdx_disclose_endpoint {
    const char *event; /* the audit event of every outcome, e.g. "document.read" */
    /* Worker thread: reads the target with reg (a registry reader) into the
     * endpoint's state.  Returns 0 when found (then sets d->patient_key),
     * CDX_ENOTFOUND, or another error. */
    int (*read)(cdx_disclosure_t *d, cdx_registry_t *reg);
    /* Writer thread: the audit detail of a disclosure or of an unknown
     * target (d->stage says which); codes and forms, never content. */
    void (*audit_detail)(const cdx_disclosure_t *d, char *out, size_t outlen);
    /* Loop thread, once the audit record is durable: the answer to a
     * disclosure (FOUND) or to an unknown target (NOT_FOUND). */
    void (*respond)(cdx_disclosure_t *d, cdx_request_t *rq);
    /* Frees the endpoint's state d->ctx (NULL allowed). */
    void (*free_ctx)(void *ctx);
    /* Writer thread, optional: an endpoint whose disclosure is itself a
     * change (a record request and its deliveries) makes it here and
     * appends *ev, the audit record of the outcome, in the same
     * transaction; called for FOUND and NOT_FOUND only.  NULL: the record
     * alone is appended. */
    int (*apply)(cdx_disclosure_t *d, cdx_registry_t *reg, const cdx_audit_event_t *ev);
} cdx_disclose_endpoint_t;

/* The effects of the sequence.  cdx_disclose_new uses the server's; a test
 * passes its own. */
typedef struct cdx_disclose_io {
    /* Runs the endpoint's read on a worker, then cdx_disclose_read_done.
     * Returns 0, or CDX_EBUSY when no job can start. */
    int (*read)(cdx_disclosure_t *d);
    /* Appends the record cdx_disclose_audit_event builds, durably, then
     * calls cdx_disclose_audit_done.  Returns 0, or CDX_EBUSY when the
     * write queue is full. */
    int (*audit)(cdx_disclosure_t *d);
    /* Answers: the endpoint's answer; a refusal (problem code and
     * detail); a storage error (cdx_app_respond_storage_error's status);
     * no job could start (503 OVERLOADED). */
    void (*respond)(cdx_disclosure_t *d);
    void (*refuse)(cdx_disclosure_t *d, int status, const char *code, const char *detail);
    void (*storage_error)(cdx_disclosure_t *d, int err);
    void (*overloaded)(cdx_disclosure_t *d);
    /* The sequence is over: frees d (after d->endpoint->free_ctx). */
    void (*finish)(cdx_disclosure_t *d);
} cdx_disclose_io_t;

struct cdx_disclosure {
    /* Set by the endpoint before cdx_disclose_run. */
    const cdx_disclose_endpoint_t *endpoint;
    const char *event;      /* the endpoint's audit event (set from endpoint) */
    void *ctx;              /* the endpoint's state, freed with free_ctx */
    char target_id[33];     /* the id asked for when well-formed (recorded), else "" */
    int target_unknown;     /* the request names no possible target: not read */
    /* Set by cdx_disclose_prepare from the request. */
    const cdx_institution_t *institution; /* read by the decision only */
    unsigned role_needed;
    const char *route_name; /* a constant of the route table */
    char actor_oid[128];
    char user[128];         /* X-CDX-User as asserted, "" when none */
    char peer[64];          /* the client's network address, "" when not known */
    const cdx_purpose_t *purpose; /* NULL: the value sent is not accepted */
    /* X-CDX-Reason as sent, cut one byte past the longest accepted so
     * that a longer one is still refused. */
    char reason[CDX_ACCESS_REASON_MAX + 2];
    cdx_institution_t who;  /* the institution's OID and roles, for the decisions on the worker */
    char now_key[16];       /* the request's time, a UTC key */
    char until_key[16];     /* the end of a break-glass time box opened now */
    int overrides_deny;     /* breakglass_overrides_deny */
    /* The person read (cdx_disclose_load_person). */
    int person_loaded;
    int64_t person_id;
    cdx_consent_t consents[CDX_DISCLOSE_MAX_CONSENTS];
    size_t nconsents;
    int care;
    int breakglass_open;
    /* What the disclosure stood on (cdx_disclose_decide): the strongest
     * basis of the documents disclosed and the consent relied on. */
    cdx_access_basis_t basis;
    int64_t consent_id;
    char consent_ref[32];   /* "consent:ID" for the audit record */
    /* Set by the sequence. */
    cdx_disclose_stage_t stage;
    cdx_access_decision_t decision;
    char patient_key[33];   /* set by the endpoint's read when found */
    int read_rc;
    char detail[256];       /* the audit detail, built with the record */
    /* The effects and what the server's effects need. */
    const cdx_disclose_io_t *io;
    cdx_app_t *app;
    cdx_request_t *rq; /* valid between the steps on the loop thread */
    void *hold;
    cdx_write_req_t wreq;
};

/* Fills the request's part of d (institution, role, route name, actor,
 * purpose and user headers; purpose_header NULL or "" means
 * CDX_PURPOSE_DEFAULT).  Pure: copies what it keeps, except institution,
 * which must stay valid until cdx_disclose_run returns. */
void cdx_disclose_prepare(cdx_disclosure_t *d, const cdx_institution_t *institution,
                          unsigned role_needed, const char *route_name,
                          const char *purpose_header, const char *user_header);

/* Sets the request's time and the end of a time box opened now (minutes
 * from then).  cdx_disclose_new calls it with the clock and the
 * configuration. */
void cdx_disclose_clock(cdx_disclosure_t *d, int64_t now, double minutes);

/* Worker thread: reads what the decision needs of person_id (consents,
 * care relationship, break-glass time box).  Returns 0 or an error. */
int cdx_disclose_load_person(cdx_disclosure_t *d, cdx_registry_t *reg, int64_t person_id);

/* Worker thread: the decision on one document of the loaded person
 * (cdx_access_decide with the target); an allowed one raises d->basis
 * (owner < consent < break-glass) and records the consent relied on. */
cdx_access_decision_t cdx_disclose_decide(cdx_disclosure_t *d, const cdx_access_target_t *t);

/* Worker thread: the decision on one document of the loaded person as
 * cdx_registry_person_documents lists it (cdx_disclose_decide). */
cdx_access_decision_t cdx_disclose_decide_doc(cdx_disclosure_t *d, const cdx_doc_access_t *a);

/* Worker thread: the same for a document row the registry read. */
cdx_access_decision_t cdx_disclose_decide_row(cdx_disclosure_t *d, const cdx_doc_row_t *row);

/* Worker thread: the decision now on document uid, for an endpoint that
 * lists documents it disclosed before (a record request's): reads the
 * document's access fields and, unless it is the one loaded, its person
 * (a link made or undone since counts), then cdx_disclose_decide.  A
 * document the registry no longer has is refused as one without consent
 * (CDX_ACCESS_CONSENT_REQUIRED).  Returns 0 with *dec set, or the read's
 * error. */
int cdx_disclose_decide_uid(cdx_disclosure_t *d, cdx_registry_t *reg, const char *uid,
                            cdx_access_decision_t *dec);

/* What a query or a timeline left out, by class (cdx_access_withheld_class). */
typedef struct cdx_withheld {
    size_t consent;
    size_t confidentiality;
} cdx_withheld_t;

/* Counts the refused decision dec into w under its class. */
void cdx_withheld_count(cdx_withheld_t *w, const cdx_access_decision_t *dec);

/* Sets "withheld": {"consent": N, "confidentiality": N} on answer, each
 * count only when not 0, nothing when nothing was withheld. */
void cdx_withheld_json(const cdx_withheld_t *w, json_t *answer);

/* Worker thread, for the endpoints of one document: after reading row
 * (rc the read's result), loads its person and decides.  Returns 0 when
 * it may be disclosed, CDX_EDENIED with d->decision set when refused or
 * when rc is CDX_ENOTFOUND (an unknown id is refused the same way), or
 * rc when the read failed otherwise. */
int cdx_disclose_check_row(cdx_disclosure_t *d, cdx_registry_t *reg, int rc,
                           const cdx_doc_row_t *row);

/* Worker thread, for the endpoints of one document: reads the document
 * d->target_id (what: CDX_DOC_META_ONLY, _ORIGINAL or _NORMALIZED) into
 * row (the caller cleans it up) and decides on it with
 * cdx_disclose_check_row; sets d->patient_key when it is disclosed or
 * refused for its person.  Returns what cdx_disclose_check_row returns. */
int cdx_disclose_read_document(cdx_disclosure_t *d, cdx_registry_t *reg, int what,
                               cdx_doc_row_t *row);

/* Loop thread: the answer of a document endpoint to an id no document
 * has, or to one that cannot be an id (404 DOCUMENT_NOT_FOUND). */
void cdx_disclose_respond_no_document(const cdx_disclosure_t *d, cdx_request_t *rq);

/* Copies the route's {id} parameter into out when it is a well-formed
 * registry id (32 lower-case hex digits) and returns 1; else leaves out
 * "" and returns 0.  Only such an id is recorded: the path is the
 * client's text. */
int cdx_disclose_target_id(const cdx_route_params_t *params, char out[33]);

/* A disclosure for rq with the server's effects, prepared from rq.
 * Returns NULL when out of memory (the caller answers 503). */
cdx_disclosure_t *cdx_disclose_new(cdx_request_t *rq, const cdx_disclose_endpoint_t *endpoint,
                                   void *ctx);

/* Loop thread: cdx_disclose_new and cdx_disclose_run, or, when out of
 * memory, endpoint->free_ctx(ctx) and 503 OVERLOADED. */
void cdx_disclose_start(cdx_request_t *rq, const cdx_disclose_endpoint_t *endpoint, void *ctx);

/* Runs the sequence from step 3; d belongs to the sequence from now on
 * and is freed by io->finish when it is over. */
void cdx_disclose_run(cdx_disclosure_t *d);

/* The effects report back (loop thread): the read's result, the audit
 * write's status (0 durable). */
void cdx_disclose_read_done(cdx_disclosure_t *d, int rc);
void cdx_disclose_audit_done(cdx_disclosure_t *d, int status);

/* The audit record of d's outcome (strings point into d; d->detail is
 * written).  Writer thread in the server; pure otherwise. */
void cdx_disclose_audit_event(cdx_disclosure_t *d, cdx_audit_event_t *ev);

/* The server's deny hook for a disclosing route (step 2): decides as step
 * 3 does and queues the refusal's audit record (event, as the route's
 * endpoint records it); the server answers 403 itself. */
void cdx_disclose_on_deny(cdx_app_t *app, const cdx_request_t *rq, const char *event);

#endif
