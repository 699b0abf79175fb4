/*
 * params: the query string of a read endpoint, checked against the
 * endpoint's table of parameters.
 *
 * Responsible for: splitting and percent-decoding a query string, refusing
 * a parameter the endpoint does not know, a repeated one that may appear
 * once, a value that is too long, not UTF-8 or holds a control character;
 * and reading typed values: a patient identity "ROOT|EXT" (root an OID or a
 * UUID), a bounded integer, a point in time (HL7 TS or ISO 8601, any
 * precision) as a UTC key that compares as text.
 * Not responsible for: what a parameter means to its endpoint.
 *
 * Every refusal fills a cdx_param_error_t: 400, a code of the catalogue
 * (PARAMETER_UNKNOWN, PARAMETER_INVALID, PATIENT_ID_INVALID, DATE_INVALID)
 * and a detail that names the parameter.  Pure functions: any thread.
 */
#ifndef CDX_API_PARAMS_H
#define CDX_API_PARAMS_H

#include "cdx/net/router.h"

#include <stddef.h>

enum {
    CDX_PARAM_REPEAT = 1u << 0, /* may appear several times */
};

typedef struct cdx_param_spec {
    const char *name;
    unsigned flags;  /* CDX_PARAM_* */
    size_t max_len;  /* of one decoded value; 0: 256 */
} cdx_param_spec_t;

#define CDX_PARAMS_MAX 32
#define CDX_PARAMS_BYTES 8192

typedef struct cdx_params {
    size_t n;
    struct {
        const char *name; /* the spec's name */
        const char *value; /* decoded, NUL-terminated, in buf */
    } p[CDX_PARAMS_MAX];
    char buf[CDX_PARAMS_BYTES];
    size_t used;
} cdx_params_t;

typedef struct cdx_param_error {
    int status;       /* 400 */
    const char *code; /* a catalogue code */
    char param[64];   /* the parameter at fault, "" when none */
    char detail[320]; /* names the parameter and what is expected */
} cdx_param_error_t;

/* Parses query (without '?', "" allowed) against specs.  Returns 0, or
 * CDX_EINVAL with *err filled. */
int cdx_params_parse(const char *query, const cdx_param_spec_t *specs, size_t nspecs,
                     cdx_params_t *out, cdx_param_error_t *err);

/* The (first) value of name, or NULL when absent. */
const char *cdx_params_get(const cdx_params_t *p, const char *name);

/* Up to max values of name, in order; returns how many there are. */
size_t cdx_params_all(const cdx_params_t *p, const char *name, const char **vals, size_t max);

/* name as a decimal integer in [min, max]; def when absent.  Returns 0, or
 * CDX_EINVAL with *err filled (PARAMETER_INVALID). */
int cdx_params_int(const cdx_params_t *p, const char *name, long min, long max, long def,
                   long *out, cdx_param_error_t *err);

/* A patient identity: the assigning authority (OID or UUID) and the
 * extension (1 to 256 bytes, no control characters). */
typedef struct cdx_patient_ref {
    char root[128];
    char ext[257];
} cdx_patient_ref_t;

/* Parses "ROOT|EXT".  Returns 0 or CDX_EINVAL. */
int cdx_patient_ref_parse(const char *s, cdx_patient_ref_t *out);

/* The path parameter name (e.g. "patient" of /v1/patients/{patient}/...)
 * as a patient identity: percent-decoded ('|' may come as %7C; '+' stays
 * itself; an encoded NUL or a broken escape is refused), then "ROOT|EXT".
 * Returns 0 or CDX_EINVAL. */
int cdx_params_path_patient(const cdx_route_params_t *params, const char *name,
                            cdx_patient_ref_t *out);

/* name as a patient identity; *present says whether it was given.
 * Returns 0, or CDX_EINVAL with *err filled (PATIENT_ID_INVALID). */
int cdx_params_patient(const cdx_params_t *p, const char *name, cdx_patient_ref_t *out,
                       int *present, cdx_param_error_t *err);

/* A point in time as "YYYYMMDDHHMMSS" in UTC (15 bytes with the NUL): the
 * start of the period the value names at its precision (2026 is
 * 20260101000000).  A value without an offset is taken as UTC. */
#define CDX_TIME_KEY_LEN 15

/* Converts an HL7 TS (2026, 202611, 20261104153012+0900) or an ISO 8601
 * date or date-time (2026-11-04, 2026-11-04T15:30:12+09:00, ...Z) to its
 * key.  Returns 0 or CDX_EINVAL. */
int cdx_time_key(const char *s, char key[CDX_TIME_KEY_LEN]);

/* name as a time key; key[0] is '\0' when absent.  Returns 0, or
 * CDX_EINVAL with *err filled (DATE_INVALID). */
int cdx_params_time(const cdx_params_t *p, const char *name, char key[CDX_TIME_KEY_LEN],
                    cdx_param_error_t *err);

/* Answers a refused query string (*e) and audits the refusal
 * ("document.reject", or the event of a patient index route, with the
 * route, status and code; the parameter's
 * value is never recorded). */
struct cdx_app;
struct cdx_request;
void cdx_params_refuse(struct cdx_app *app, struct cdx_request *rq, const cdx_param_error_t *e);

#endif
