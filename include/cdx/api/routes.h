/*
 * routes: the gateway's one route table, joined from the routes each api
 * module exports (health.h, documents.h, render.h).
 *
 * Responsible for: joining the modules' routes in one table for the
 * server (method, path pattern, the role each route needs, its flags, its
 * handler), checking at start that no two routes share a name or a
 * method and pattern, and the api's own route flag.
 * Not responsible for: matching, role checks and dispatch (net/server.h)
 * or what the handlers do.
 *
 * A new endpoint's module exports its routes as cdx_<module>_routes[] and
 * cdx_<module>_nroutes, and routes.c lists the module once.
 */
#ifndef CDX_ROUTES_H
#define CDX_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/types.h"
#include "cdx/net/router.h"
#include "cdx/net/server.h"

/* A route flag of the api's (the server's flags are the low bits): the
 * route discloses patient data, through the disclosure sequence
 * (disclose.h); a refusal of its role is audited by that sequence. */
enum { CDX_ROUTE_DISCLOSES = 1u << 8 };

/* A handler as the route table holds it. */
#define CDX_HANDLER(fn) ((void *)(uintptr_t)(cdx_handler_fn)(fn))

/* Records the start time /healthz reports and joins the table.  Call once,
 * before serving, from one thread. */
void cdx_routes_init(void);

/* The joined table (cdx_routes_init first); *n receives its length. */
const cdx_route_t *cdx_routes_table(size_t *n);

#endif
