/*
 * consents: the patient's consent as the home institution records it.
 *
 *   PUT /v1/consents/{ROOT|EXT}   {"decision", "scope", "research", "expires"}
 *   GET /v1/consents/{ROOT|EXT}
 *
 * Responsible for: reading the identity and the body, checking that the
 * identity is in the caller's numbering (its OID, a registered id root,
 * or under them: the patient's home institution), mapping a national id
 * to its keyed form, handing the record to the registry writer (record and
 * audit commit together) and answering once it is durable; the GET shows
 * the person's current decision and history through the disclosure
 * sequence (disclose.h).  PUT needs the submit role; GET the submit or
 * the query role.
 * Not responsible for: what a consent allows (domain/access.c).
 */
#ifndef CDX_API_CONSENTS_H
#define CDX_API_CONSENTS_H

#include <stddef.h>

#include "cdx/api/routes.h"

/* The longest body PUT /v1/consents reads. */
#define CDX_CONSENT_BODY_MAX 8192

extern const cdx_route_t cdx_consent_routes[];
extern const size_t cdx_consent_nroutes;

#endif
