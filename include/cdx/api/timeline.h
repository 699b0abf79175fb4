/*
 * timeline: GET /v1/patients/{patient}/timeline, a person's merged facts
 * from every institution.
 *
 * Responsible for: reading the path's identity (percent-decoded
 * "ROOT|EXT") and the query (kinds, from, to, view), refusing what is
 * malformed with 400 and a code naming the parameter, and running the
 * read through the disclosure sequence (disclose.h): decided, read on a
 * worker (the person of the identity, the facts of their current
 * documents, merged by domain/timeline.h), audited, then answered; an
 * identity no stored document carries is audited, then answered 404
 * PATIENT_NOT_FOUND.
 * Not responsible for: the merge and summary rules (domain/timeline.c),
 * the SQL (store/timeline.c), or how identities join into persons (the
 * patient index).
 */
#ifndef CDX_API_TIMELINE_H
#define CDX_API_TIMELINE_H

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_timeline_routes[];
extern const size_t cdx_timeline_nroutes;

#endif
