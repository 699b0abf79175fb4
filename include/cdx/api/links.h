/*
 * links: the administrators' endpoints of the patient index.
 *
 *   POST   /v1/links        {"a": "ROOT|EXT", "b": "ROOT|EXT", "reason": "..."}
 *   DELETE /v1/links/{id}
 *   GET    /v1/links?status=&limit=&cursor=
 *
 * Responsible for: reading and checking the body and the parameters,
 * handing the change to the registry writer (the link or unlink and its
 * audit record commit together; a refusal decided by the registry, such
 * as an unknown identity, is audited in the same way) and answering only
 * once it is durable; the listing goes through the disclosure sequence
 * (disclose.h).  Every route needs the admin role.
 * Not responsible for: what a link does to persons (store/links.c).
 */
#ifndef CDX_API_LINKS_H
#define CDX_API_LINKS_H

#include <stddef.h>

#include "cdx/api/routes.h"

/* The longest body POST /v1/links reads, and the longest reason. */
#define CDX_LINK_BODY_MAX 4096
#define CDX_LINK_REASON_MAX 500

extern const cdx_route_t cdx_link_routes[];
extern const size_t cdx_link_nroutes;

#endif
