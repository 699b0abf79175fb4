/* params: query-string parameters checked against a table (see
 * include/cdx/api/params.h). */
#include "cdx/api/params.h"
#include "cdx/api/app.h"
#include "cdx/base/common.h"
#include "cdx/net/server.h"
#include "cdx/parsers/ids.h"

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

/* Percent-decodes s[0..n) into out (NUL-terminated); '+' is a space.
 * Returns the length, or -1 for a broken escape, a NUL, or no room. */
static long decode(const char *s, size_t n, char *out, size_t outlen)
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
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
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

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, long *m, long *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* An ISO 8601 date or date-time rewritten as an HL7 TS (digits, then the
 * offset as +HHMM, Z as +0000).  Returns 0 or -1. */
static int iso_to_ts(const char *s, char *out, size_t outlen)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t o = 0, i = 0;
    for (; s[i] != '\0' && shape[i] != '\0'; i++) {
        char want = shape[i];
        if (want == 'd') {
            if (s[i] < '0' || s[i] > '9' || o + 1 >= outlen)
                return -1;
            out[o++] = s[i];
        } else if (s[i] != want) {
            break;
        }
    }
    /* Stops only after a whole field: 4, 7, 10, 13, 16 or 19 characters. */
    if (!(i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19))
        return -1;
    if (s[i] == '.' && i == 19) {
        i++;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (s[i] == 'Z' && s[i + 1] == '\0' && i >= 13) {
        if (o + 6 >= outlen)
            return -1;
        memcpy(out + o, "+0000", 6);
        return 0;
    }
    if ((s[i] == '+' || s[i] == '-') && i >= 13) {
        const char *z = s + i;
        if (strlen(z) != 6 || z[3] != ':' || o + 6 >= outlen)
            return -1;
        out[o++] = z[0];
        out[o++] = z[1];
        out[o++] = z[2];
        out[o++] = z[4];
        out[o++] = z[5];
        out[o] = '\0';
        return 0;
    }
    if (s[i] != '\0')
        return -1;
    out[o] = '\0';
    return 0;
}

int cdx_time_key(const char *s, char key[CDX_TIME_KEY_LEN])
{
    char ts[40];
    key[0] = '\0';
    if (s == NULL || strlen(s) >= sizeof ts)
        return CDX_EINVAL;
    if (strchr(s, '-') != NULL && strlen(s) >= 5 && s[4] == '-') {
        if (iso_to_ts(s, ts, sizeof ts) != 0)
            return CDX_EINVAL;
    } else if (strchr(s, 'T') != NULL || strchr(s, ':') != NULL) {
        return CDX_EINVAL;
    } else {
        memcpy(ts, s, strlen(s) + 1);
    }
    cdx_ts_t t;
    if (cdx_ts_scan(ts, &t) != 0)
        return CDX_EINVAL;
    /* A year alone with an offset, or an offset on a date, shifts nothing
     * that the precision shows: only a time of day is moved to UTC. */
    long days = days_from_civil(t.year, t.month, t.day);
    long secs = (long)t.hour * 3600 + t.minute * 60 + (t.second > 59 ? 59 : t.second);
    if (t.zone != NULL && t.digits >= 10) {
        long off = (long)t.zone_hour * 3600 + (long)t.zone_minute * 60;
        secs -= t.zone[0] == '-' ? -off : off;
    }
    while (secs < 0) {
        secs += 86400;
        days--;
    }
    while (secs >= 86400) {
        secs -= 86400;
        days++;
    }
    long y, m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return CDX_EINVAL;
    char text[48];
    snprintf(text, sizeof text, "%04ld%02ld%02ld%02ld%02ld%02ld", y, m, d, secs / 3600,
             (secs / 60) % 60, secs % 60);
    cdx_strlcpy(key, text, CDX_TIME_KEY_LEN);
    return 0;
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
    cdx_app_audit_reject(app, rq->route, rq->peer != NULL ? rq->peer->oid : NULL, e->status,
                         e->code, NULL);
    cdx_respond_problem(rq, e->status, e->code, e->detail, NULL);
}
