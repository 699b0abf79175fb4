/*
 * deliveries: GET /v1/deliveries, the outbox as operators see it.
 *
 * Responsible for: listing deliveries newest first, filtered by state
 * and destination, paged by cursor (api/cursor.h); role admin.  The rows
 * name documents by registry id and institutions by OID: no patient data.
 * Not responsible for: delivering (api/delivery.h).
 *
 * Loop thread; the read runs as a job with a reader connection.
 */
#ifndef CDX_API_DELIVERIES_H
#define CDX_API_DELIVERIES_H

#include <stddef.h>

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_delivery_routes[];
extern const size_t cdx_delivery_nroutes;

/* One delivery as JSON text fields, shared with `cdxgw deliveries list`. */
struct cdx_delivery;
struct json_t;
struct json_t *cdx_delivery_json(const struct cdx_delivery *d);

#endif
