/* router: pattern matching over the route table (see include/cdx/net/router.h). */
#include "cdx/net/router.h"
#include "cdx/base/common.h"

#include <string.h>

/* Matches one pattern against path, segment by segment.  A `{x}` segment
 * takes one non-empty path segment. */
static int match(const char *pattern, const char *path, cdx_route_params_t *params)
{
    params->n = 0;
    const char *a = pattern, *b = path;
    while (*a != '\0' && *b != '\0') {
        if (*a == '{') {
            const char *close = strchr(a, '}');
            if (close == NULL)
                return 0;
            size_t vlen = strcspn(b, "/");
            if (vlen == 0 || params->n >= CDX_ROUTE_MAX_PARAMS)
                return 0;
            params->p[params->n].name = a + 1;
            params->p[params->n].name_len = (size_t)(close - a - 1);
            params->p[params->n].value = b;
            params->p[params->n].value_len = vlen;
            params->n++;
            a = close + 1;
            b += vlen;
            continue;
        }
        if (*a != *b)
            return 0;
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

int cdx_router_match(const cdx_route_t *routes, size_t n, const char *method, const char *path,
                     cdx_route_params_t *params, char *allow, size_t allowlen)
{
    int path_found = 0;
    cdx_route_params_t tmp;
    if (allow != NULL && allowlen > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!match(routes[i].pattern, path, &tmp))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            if (params != NULL)
                *params = tmp;
            return (int)i;
        }
        if (allow != NULL && allowlen > 0) {
            size_t used = strlen(allow);
            snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", routes[i].method);
        }
        path_found = 1;
    }
    return path_found ? -405 : -404;
}

int cdx_route_param(const cdx_route_params_t *params, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < params->n; i++) {
        if (params->p[i].name_len == nlen && memcmp(params->p[i].name, name, nlen) == 0) {
            if (params->p[i].value_len >= outlen)
                return CDX_ERANGE;
            memcpy(out, params->p[i].value, params->p[i].value_len);
            out[params->p[i].value_len] = '\0';
            return 0;
        }
    }
    return CDX_ENOTFOUND;
}
