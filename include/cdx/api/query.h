/*
 * query: GET /v1/documents?patient=ROOT|EXT, the document query
 * (IHE XDS FindDocuments semantics).
 *
 * Responsible for: reading the query string against the endpoint's table
 * (params.h) and the paging cursor (cursor.h), refusing bad input with a
 * code naming the parameter (audited), turning the asked identity into
 * its stored form, and running the query through the disclosure sequence
 * (disclose.h): decided, read on a worker, audited ("document.query" with
 * the keyed patient key and the count, never an identifier), then
 * answered with the person's document entries, newest first, and the
 * cursor of the next page.
 * Not responsible for: the SQL (store/query.c), the order of a
 * disclosure's steps (disclose.c).
 */
#ifndef CDX_API_QUERY_H
#define CDX_API_QUERY_H

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_query_routes[];
extern const size_t cdx_query_nroutes;

#endif
