/*
 * access: who may see what: the one decision on every disclosure of
 * patient data.
 *
 * Responsible for: deciding, from what is known of a request (the
 * authenticated institution, the role the route needs, the declared
 * purpose of use), whether the data may be disclosed, with a reason that
 * says why not.  Today every authenticated institution that holds the
 * route's role and declares a known purpose is allowed; patient consent
 * and confidentiality rules are to be decided here as well, and nowhere
 * else.
 * Not responsible for: reading the data, auditing or answering (the
 * disclosure sequence in api/disclose.h does, around this decision).
 *
 * A pure function of its input: no I/O, no state; any thread.
 */
#ifndef CDX_DOMAIN_ACCESS_H
#define CDX_DOMAIN_ACCESS_H

#include "cdx/domain/purpose.h"
#include "cdx/domain/types.h"

typedef enum cdx_access_reason {
    CDX_ACCESS_ALLOWED = 0,         /* every rule is met */
    CDX_ACCESS_NO_INSTITUTION = 1,  /* no authenticated institution */
    CDX_ACCESS_ROLE_MISSING = 2,    /* the institution lacks the role the route needs */
    CDX_ACCESS_PURPOSE_UNKNOWN = 3, /* the declared purpose is not an accepted one */
} cdx_access_reason_t;

/* What the decision is made on.  Borrowed pointers, read during the call. */
typedef struct cdx_access_request {
    const cdx_institution_t *institution; /* authenticated; NULL when none */
    unsigned role_needed;                 /* CDX_ROLE_* bits the route needs, 0 for none */
    const cdx_purpose_t *purpose;         /* the declared purpose, NULL when not accepted */
} cdx_access_request_t;

typedef struct cdx_access_decision {
    int allow;                  /* 1: disclose; 0: refuse */
    cdx_access_reason_t reason; /* CDX_ACCESS_ALLOWED exactly when allow */
} cdx_access_decision_t;

/* Decides.  The first rule broken is the reason, in this order:
 * institution, role, purpose. */
cdx_access_decision_t cdx_access_decide(const cdx_access_request_t *rq);

/* A stable lower-case name of a reason ("allowed", "role_missing", ...). */
const char *cdx_access_reason_name(cdx_access_reason_t reason);

#endif
