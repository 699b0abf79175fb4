/*
 * access: who may see what: the one decision on every disclosure of
 * patient data.
 *
 * Responsible for: deciding, from what is known of a request (the
 * authenticated institution, the role the route needs, the declared
 * purpose of use and its reason) and, once read, of the document asked
 * for (who submitted and wrote it, its type and confidentiality) and of
 * its person (their consent decisions, whether the institution cares for
 * them, an open break-glass time box), whether the data may be disclosed,
 * with a reason that says why not, or on what it was allowed:
 *
 *   - the institution that submitted, wrote or keeps (custodian) a
 *     document always sees it;
 *   - confidentiality V: never outside those;
 *   - confidentiality R: only to an institution that has itself submitted
 *     a document for the person (a care relationship), and under consent;
 *   - N (and any other or no code): under consent: the person's current
 *     permit whose scope covers the institution and the document type;
 *   - the person's consent is read newest first over all their
 *     identities: a deny without scope withdraws everything, a deny with
 *     a scope withdraws what it covers and leaves older decisions for the
 *     rest; a permit states the whole consent (an institution or type
 *     outside its scope has none); an expired permit is none;
 *   - break-glass: purpose ETREAT with a reason (X-CDX-Reason) stands in
 *     for a missing consent and for the care relationship of R, never for
 *     V and never for a deny (unless breakglass_overrides_deny); it opens
 *     a time box (per institution and person) in which the institution's
 *     plain requests are decided the same way, flagged.
 * Not responsible for: reading the data, auditing or answering (the
 * disclosure sequence in api/disclose.h does, around this decision).
 *
 * A pure function of its input: no I/O, no clock, no state; any thread.
 */
#ifndef CDX_DOMAIN_ACCESS_H
#define CDX_DOMAIN_ACCESS_H

#include "cdx/domain/consent.h"
#include "cdx/domain/purpose.h"
#include "cdx/domain/types.h"

/* The longest X-CDX-Reason accepted (bytes). */
#define CDX_ACCESS_REASON_MAX 256
/* The purpose of use that asks for break-glass. */
#define CDX_PURPOSE_EMERGENCY "ETREAT"

typedef enum cdx_access_reason {
    CDX_ACCESS_ALLOWED = 0,          /* every rule is met */
    CDX_ACCESS_NO_INSTITUTION = 1,   /* no authenticated institution */
    CDX_ACCESS_ROLE_MISSING = 2,     /* the institution lacks the role the route needs */
    CDX_ACCESS_PURPOSE_UNKNOWN = 3,  /* the declared purpose is not an accepted one */
    CDX_ACCESS_REASON_REQUIRED = 4,  /* ETREAT without a reason */
    CDX_ACCESS_REASON_INVALID = 5,   /* a reason too long, not UTF-8, or with control characters */
    CDX_ACCESS_CONSENT_REQUIRED = 6, /* no current permit covers the institution and type */
    CDX_ACCESS_CONSENT_DENIED = 7,   /* the person's decision denies it */
    CDX_ACCESS_CONFIDENTIALITY = 8,  /* R without a care relationship; V outside its owner */
} cdx_access_reason_t;

/* On what an allowed access stands. */
typedef enum cdx_access_basis {
    CDX_ACCESS_BASIS_NONE = 0,   /* refused, or decided before the data was read */
    CDX_ACCESS_BASIS_OWNER,      /* the institution's own document */
    CDX_ACCESS_BASIS_CONSENT,    /* the person's permit (consent_id) */
    CDX_ACCESS_BASIS_BREAKGLASS, /* an emergency request, or within its time box */
} cdx_access_basis_t;

/* The document asked for (borrowed strings; NULL when unknown). */
typedef struct cdx_access_target {
    const char *submitter_oid;
    const char *author_oid;
    const char *custodian_oid;
    const char *type_code;       /* LOINC */
    const char *confidentiality; /* "N", "R", "V" */
} cdx_access_target_t;

/* What is known of the document's person. */
typedef struct cdx_access_person {
    const cdx_consent_t *consents; /* their decisions, newest first */
    size_t nconsents;
    int care_relationship; /* the institution has submitted a document for the person */
    int breakglass_open;   /* the institution's break-glass time box for the person is open */
} cdx_access_person_t;

/* What the decision is made on.  Borrowed pointers, read during the call. */
typedef struct cdx_access_request {
    const cdx_institution_t *institution; /* authenticated; NULL when none */
    unsigned role_needed;                 /* CDX_ROLE_* bits the route needs, 0 for none */
    const cdx_purpose_t *purpose;         /* the declared purpose, NULL when not accepted */
    const char *reason;                   /* X-CDX-Reason as sent, NULL when none */
    /* The document and its person, once read; NULL target: the decision
     * on the request alone (before any read). */
    const cdx_access_target_t *target;
    const cdx_access_person_t *person; /* NULL: nothing known (no consent) */
    const char *now_key;               /* the time, a UTC key "YYYYMMDDHHMMSS" */
    int breakglass_overrides_deny;     /* configuration */
} cdx_access_request_t;

typedef struct cdx_access_decision {
    int allow;                  /* 1: disclose; 0: refuse */
    cdx_access_reason_t reason; /* CDX_ACCESS_ALLOWED exactly when allow */
    cdx_access_basis_t basis;   /* when allowed on a target */
    int64_t consent_id;         /* the consent relied on, or that refused; 0 when none */
} cdx_access_decision_t;

/* Decides.  The first rule broken is the reason, in this order:
 * institution, role, purpose, reason; then, with a target: owner,
 * confidentiality V, consent, break-glass, confidentiality R. */
cdx_access_decision_t cdx_access_decide(const cdx_access_request_t *rq);

/* Whether a document of type (confidentiality conf) may be delivered now
 * to institution `to` (a referral its author addressed): refused when the
 * person's current decision denies `to` for that type (the patient
 * withdrew; CDX_ACCESS_CONSENT_DENIED with the record's id), or when the
 * document is `V` (CDX_ACCESS_CONFIDENTIALITY); allowed otherwise, a
 * referral being the care it asks for.  The delivery worker decides so at
 * every attempt, so a withdrawal stops a delivery still pending. */
cdx_access_decision_t cdx_access_delivery(const cdx_access_person_t *p, const char *to,
                                          const char *type, const char *conf,
                                          const char *now_key);

/* 1 when the request declares the emergency purpose. */
int cdx_access_emergency(const cdx_access_request_t *rq);

/* A stable lower-case name of a reason ("allowed", "role_missing", ...). */
const char *cdx_access_reason_name(cdx_access_reason_t reason);

/* The name the audit records for a decision: the basis of an allowed one
 * ("owner", "consent", "breakglass"; "allowed" before a read), else the
 * reason's name. */
const char *cdx_access_decision_name(const cdx_access_decision_t *d);

/* The class a withheld document is counted under in a query's answer:
 * "consent" (required or denied) or "confidentiality"; NULL for others. */
const char *cdx_access_withheld_class(cdx_access_reason_t reason);

#endif
