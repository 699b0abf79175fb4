/*
 * router: the table that maps (method, path) to a handler.
 *
 * Responsible for: matching a request path against route patterns with
 * `{name}` segments, capturing those segments, and telling "no such path"
 * (404) from "path exists, other method" (405, with the allowed methods).
 * Not responsible for: authorization or calling handlers; the server does.
 */
#ifndef CDX_ROUTER_H
#define CDX_ROUTER_H

#include <stddef.h>

#define CDX_ROUTE_MAX_PARAMS 4

typedef struct cdx_route {
    const char *name;    /* stable label for metrics, e.g. "documents.get" */
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/documents/{id}/metadata" */
    unsigned role;       /* CDX_ROLE_* needed, 0 for none */
    unsigned flags;      /* owner-defined */
    void *handler;       /* owner-defined */
} cdx_route_t;

typedef struct cdx_route_params {
    size_t n;
    struct {
        const char *name; /* points into the pattern, not NUL-terminated at '}' */
        size_t name_len;
        const char *value; /* points into the path */
        size_t value_len;
    } p[CDX_ROUTE_MAX_PARAMS];
} cdx_route_params_t;

/* Returns the index of the matching route, -404 when no pattern matches
 * the path, or -405 when one matches with another method; then allow
 * (size allowlen) receives "GET, POST". */
int cdx_router_match(const cdx_route_t *routes, size_t n, const char *method, const char *path,
                     cdx_route_params_t *params, char *allow, size_t allowlen);

/* Copies parameter `name` into out; returns 0, CDX_ENOTFOUND or CDX_ERANGE. */
int cdx_route_param(const cdx_route_params_t *params, const char *name, char *out, size_t outlen);

#endif
