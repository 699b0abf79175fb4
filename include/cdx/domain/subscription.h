/*
 * subscription: the rules of record requests and subscriptions.
 *
 * Responsible for: what a document type asked for must look like (a LOINC
 * code: digits, '-', its check digit), whether a document's type is among
 * the types asked for (a comma-separated list as stored; "" is any), and,
 * in the transaction that stores a new document, the deliveries its
 * person's subscriptions cause: one to each subscriber (not the submitter)
 * whose types match and whom the access decision (cdx_access_decide, on
 * the subscription's purpose, the person's consents and the subscriber's
 * care relationship, never break-glass) allows to see it.
 * Not responsible for: storing subscriptions (the registry), sending
 * (api/delivery.c, which decides on consent again before each attempt).
 *
 * cdx_loinc_valid and cdx_types_match are pure (any thread);
 * cdx_subscriptions_deliver runs on the writer thread.
 */
#ifndef CDX_DOMAIN_SUBSCRIPTION_H
#define CDX_DOMAIN_SUBSCRIPTION_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/access.h"
#include "cdx/store/registry.h"

/* 1 when code is a LOINC code: 1 to 7 digits, '-', the check digit (mod
 * 10, as LOINC computes it), else 0. */
int cdx_loinc_valid(const char *code);

/* 1 when type is one of the comma-separated codes of types ("" or NULL
 * types: any type; a NULL type matches only then). */
int cdx_types_match(const char *types, const char *type);

/* The decision on sending a document to the institution that asked for it
 * (a record request or a subscription), as GET /v1/documents decides for
 * it: cdx_access_decide with the query role, purpose (NULL or "": TREAT),
 * the person p and the document t.  The delivery worker decides so again
 * before each attempt of such a delivery, with the purpose the delivery
 * was asked for.  reason is what an emergency purpose (ETREAT) stands on:
 * X-CDX-Reason when a request is made; at send time, the record request
 * that declared it (whose audit record keeps the reason), so that its
 * deliveries are decided as break-glass, as the request was (never over a
 * deny, never for V).  NULL: none, and ETREAT is refused
 * (CDX_ACCESS_REASON_REQUIRED). */
cdx_access_decision_t cdx_requested_decide(const char *oid, unsigned roles, const char *purpose,
                                           const char *reason, const cdx_access_target_t *t,
                                           const cdx_access_person_t *p, const char *now_key);

/* A document just stored, as the subscriptions see it (borrowed). */
typedef struct cdx_subscribed_doc {
    const char *uid;           /* registry id */
    const char *root, *ext;    /* its patient identity as stored */
    const char *submitter_oid; /* the institution it is filed under */
    const char *author_oid;
    const char *custodian_oid;
    const char *type_code;
    const char *confidentiality;
} cdx_subscribed_doc_t;

/* In the caller's transaction: a pending delivery (reason subscription,
 * reason_id the subscription's uid) of doc to each subscriber of its
 * person that may see it, due at now_ms; *made receives how many were
 * created.  Returns 0 or an error. */
int cdx_subscriptions_deliver(cdx_registry_t *reg, const cdx_subscribed_doc_t *doc, int64_t now_ms,
                              size_t *made);

#endif
