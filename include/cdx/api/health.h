/*
 * health: the gateway's own endpoints, GET /healthz (liveness, version,
 * uptime) and GET /metrics (Prometheus text).
 *
 * Responsible for: their handlers and their routes.
 * Not responsible for: the metrics themselves (the server counts them).
 */
#ifndef CDX_HEALTH_H
#define CDX_HEALTH_H

#include "cdx/api/routes.h"

/* Records the start time that /healthz reports uptime from. */
void cdx_health_init(void);

extern const cdx_route_t cdx_health_routes[];
extern const size_t cdx_health_nroutes;

#endif
