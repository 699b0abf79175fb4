/* params: query-string parameters checked against a table (see
 * include/cdx/api/params.h). */
#include "cdx/api/params.h"
#include "cdx/api/app.h"
#include "cdx/base/common.h"
#include "cdx/net/server.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/time_key.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int param_fail(cdx_param_error_t *err, int status, const char *code, const char *param,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int param_fail(cdx_param_error_t *err, int status, const char *code, const char *param,
                      const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    cdx_strlcpy(err->param, param != NULL ? param : "", sizeof err->param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return CDX_EINVAL;
}

/* A name as it may be quoted in a detail: printable ASCII, bounded. */
static void quote_name(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen && o < 40; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c > 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    out[o] = '\0';
}

/* Percent-decodes s[0..n) into out (NUL-terminated); '+' is a space in a
 * query string (plus), itself in a path.  Returns the length, or -1 for a
 * broken escape, a NUL, or no room. */
static long decode_as(const char *s, size_t n, char *out, size_t outlen, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = cdx_hex_digit(s[i + 1]), lo = cdx_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

static long decode(const char *s, size_t n, char *out, size_t outlen)
{
    return decode_as(s, n, out, outlen, 1);
}

int cdx_params_path_patient(const cdx_route_params_t *params, const char *name,
                            cdx_patient_ref_t *out)
{
    char raw[1200], id[400];
    if (cdx_route_param(params, name, raw, sizeof raw) != 0 ||
        decode_as(raw, strlen(raw), id, sizeof id, 0) < 0 || cdx_patient_ref_parse(id, out) != 0)
        return CDX_EINVAL;
    return 0;
}

static const cdx_param_spec_t *find_spec(const cdx_param_spec_t *specs, size_t nspecs,
                                         const char *name)
{
    for (size_t i = 0; i < nspecs; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

/* Checks one decoded pair and records it. */
static int add_pair(cdx_params_t *out, const cdx_param_spec_t *specs, size_t nspecs,
                    const char *name, const char *value, size_t vlen, cdx_param_error_t *err)
{
    const cdx_param_spec_t *spec = find_spec(specs, nspecs, name);
    if (spec == NULL) {
        char known[200];
        size_t k = 0;
        known[0] = '\0';
        for (size_t i = 0; i < nspecs && k + 1 < sizeof known; i++)
            k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "",
                                  specs[i].name);
        char q[48];
        quote_name(name, strlen(name), q, sizeof q);
        return param_fail(err, 400, "PARAMETER_UNKNOWN", q,
                          "unknown query parameter '%s': this resource accepts %s", q,
                          nspecs ? known : "no parameters");
    }
    if (!(spec->flags & CDX_PARAM_REPEAT) && cdx_params_get(out, spec->name) != NULL)
        return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                          "query parameter '%s' may be given only once", spec->name);
    size_t max = spec->max_len ? spec->max_len : 256;
    if (vlen > max)
        return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                          "query parameter '%s' is longer than %zu bytes", spec->name, max);
    if (vlen == 0)
        return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                          "query parameter '%s' is empty: give a value or leave it out",
                          spec->name);
    if (!cdx_utf8_is_valid(value, vlen, CDX_UTF8_TEXT))
        return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                          "query parameter '%s' is not UTF-8 text without control characters",
                          spec->name);
    if (out->n >= CDX_PARAMS_MAX)
        return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                          "more than %d query parameters", CDX_PARAMS_MAX);
    out->p[out->n].name = spec->name;
    out->p[out->n].value = value;
    out->n++;
    return 0;
}

int cdx_params_parse(const char *query, const cdx_param_spec_t *specs, size_t nspecs,
                     cdx_params_t *out, cdx_param_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    const char *p = query != NULL ? query : "";
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t seglen = end != NULL ? (size_t)(end - p) : strlen(p);
        if (seglen > 0) {
            const char *eq = memchr(p, '=', seglen);
            size_t nlen = eq != NULL ? (size_t)(eq - p) : seglen;
            char name[64];
            if (decode(p, nlen, name, sizeof name) <= 0) {
                char q[48];
                quote_name(p, nlen, q, sizeof q);
                return param_fail(err, 400, "PARAMETER_UNKNOWN", q,
                                  "unknown or malformed query parameter name '%s'", q);
            }
            if (eq == NULL) {
                const cdx_param_spec_t *spec = find_spec(specs, nspecs, name);
                if (spec == NULL)
                    return add_pair(out, specs, nspecs, name, "", 0, err);
                return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                                  "query parameter '%s' has no value (write %s=VALUE)",
                                  spec->name, spec->name);
            }
            char *value = out->buf + out->used;
            long vlen = decode(eq + 1, seglen - nlen - 1, value, sizeof out->buf - out->used);
            const cdx_param_spec_t *spec = find_spec(specs, nspecs, name);
            if (vlen < 0 && spec != NULL)
                return param_fail(err, 400, "PARAMETER_INVALID", spec->name,
                                  "query parameter '%s' has a broken percent-escape, a NUL "
                                  "byte, or the query string is too long",
                                  spec->name);
            if (vlen < 0)
                return add_pair(out, specs, nspecs, name, "", 0, err);
            int rc = add_pair(out, specs, nspecs, name, value, (size_t)vlen, err);
            if (rc != 0)
                return rc;
            out->used += (size_t)vlen + 1;
        }
        p = end != NULL ? end + 1 : p + seglen;
    }
    return 0;
}

const char *cdx_params_get(const cdx_params_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->p[i].name, name) == 0)
            return p->p[i].value;
    return NULL;
}

size_t cdx_params_all(const cdx_params_t *p, const char *name, const char **vals, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->p[i].name, name) != 0)
            continue;
        if (k < max)
            vals[k] = p->p[i].value;
        k++;
    }
    return k;
}

int cdx_params_int(const cdx_params_t *p, const char *name, long min, long max, long def,
                   long *out, cdx_param_error_t *err)
{
    const char *v = cdx_params_get(p, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    long n = 0;
    size_t i = 0;
    for (; v[i] >= '0' && v[i] <= '9' && i < 10; i++)
        n = n * 10 + (v[i] - '0');
    if (i == 0 || v[i] != '\0' || n < min || n > max)
        return param_fail(err, 400, "PARAMETER_INVALID", name,
                          "query parameter '%s' must be a whole number from %ld to %ld", name,
                          min, max);
    *out = n;
    return 0;
}

int cdx_patient_ref_parse(const char *s, cdx_patient_ref_t *out)
{
    const char *bar = s != NULL ? strchr(s, '|') : NULL;
    if (bar == NULL || strchr(bar + 1, '|') != NULL)
        return CDX_EINVAL;
    size_t rlen = (size_t)(bar - s), elen = strlen(bar + 1);
    if (rlen == 0 || rlen >= sizeof out->root || elen == 0 || elen >= sizeof out->ext)
        return CDX_EINVAL;
    memcpy(out->root, s, rlen);
    out->root[rlen] = '\0';
    memcpy(out->ext, bar + 1, elen + 1);
    if (!cdx_oid_is_valid(out->root, sizeof out->root - 1) && !cdx_uuid_is_valid(out->root))
        return CDX_EINVAL;
    if (!cdx_utf8_is_valid(out->ext, elen, CDX_UTF8_TEXT))
        return CDX_EINVAL;
    return 0;
}

int cdx_params_patient(const cdx_params_t *p, const char *name, cdx_patient_ref_t *out,
                       int *present, cdx_param_error_t *err)
{
    const char *v = cdx_params_get(p, name);
    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (cdx_patient_ref_parse(v, out) != 0)
        return param_fail(err, 400, "PATIENT_ID_INVALID", name,
                          "query parameter '%s' must be ROOT|EXT: the assigning authority's OID "
                          "(or a UUID), a '|', and the patient's id at that authority",
                          name);
    return 0;
}

int cdx_time_key(const char *s, char key[CDX_TIME_KEY_LEN])
{
    return cdx_ts_utc_key(s, key);
}

int cdx_params_time(const cdx_params_t *p, const char *name, char key[CDX_TIME_KEY_LEN],
                    cdx_param_error_t *err)
{
    const char *v = cdx_params_get(p, name);
    key[0] = '\0';
    if (v == NULL)
        return 0;
    if (cdx_time_key(v, key) != 0)
        return param_fail(err, 400, "DATE_INVALID", name,
                          "query parameter '%s' must be a date or time: an HL7 timestamp "
                          "(2026, 20261104, 20261104153000+0900) or ISO 8601 (2026-11-04, "
                          "2026-11-04T15:30:00+09:00)",
                          name);
    return 0;
}

void cdx_params_refuse(cdx_app_t *app, cdx_request_t *rq, const cdx_param_error_t *e)
{
    cdx_app_audit_reject(app, rq->route, rq->peer != NULL ? rq->peer->oid : NULL, rq->peer_addr,
                         e->status, e->code, NULL);
    cdx_respond_problem(rq, e->status, e->code, e->detail, NULL);
}
