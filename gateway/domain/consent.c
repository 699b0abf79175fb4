/* consent: consent records and their JSON form (see include/cdx/domain/consent.h). */
#include "cdx/domain/consent.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/time_key.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 6, 7))) static int bad_member(char *member, size_t memberlen,
                                                           const char *name, char *why,
                                                           size_t whylen, const char *fmt, ...)
{
    cdx_strlcpy(member, name, memberlen);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return CDX_EPARSE;
}

/* A document type code: a LOINC code or a local code of letters, digits,
 * '.', '-' and '_'. */
static int type_code_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= CDX_CONSENT_TYPE_MAX &&
           strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_") == n;
}

static int entry_ok(const char *s, int types)
{
    return types ? type_code_ok(s) : cdx_oid_is_valid(s, CDX_CONSENT_OID_MAX);
}

/* Adds one entry to a scope list (a repeated entry once). */
static void scope_add(cdx_consent_t *c, int types, const char *s)
{
    size_t *n = types ? &c->ntypes : &c->ninstitutions;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(types ? c->types[i] : c->institutions[i], s) == 0)
            return;
    if (types)
        cdx_strlcpy(c->types[(*n)++], s, sizeof c->types[0]);
    else
        cdx_strlcpy(c->institutions[(*n)++], s, sizeof c->institutions[0]);
}

static int read_list(json_t *scope, int types, cdx_consent_t *c, char *member, size_t memberlen,
                     char *why, size_t whylen)
{
    const char *name = types ? "scope.types" : "scope.institutions";
    json_t *list = json_object_get(scope, types ? "types" : "institutions");
    if (list == NULL || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return bad_member(member, memberlen, name, why, whylen, "'%s' must be an array", name);
    if (json_array_size(list) > CDX_CONSENT_MAX_SCOPE)
        return bad_member(member, memberlen, name, why, whylen, "'%s' may list at most %d entries",
                    name, CDX_CONSENT_MAX_SCOPE);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !entry_ok(s, types))
            return bad_member(member, memberlen, name, why, whylen,
                        types ? "'%s' entries must be document type codes (LOINC, e.g. 34133-9)"
                              : "'%s' entries must be institution OIDs",
                        name);
        scope_add(c, types, s);
    }
    return 0;
}

static int read_scope(json_t *root, cdx_consent_t *c, char *member, size_t memberlen, char *why,
                      size_t whylen)
{
    json_t *scope = json_object_get(root, "scope");
    if (scope == NULL || json_is_null(scope))
        return 0;
    if (!json_is_object(scope))
        return bad_member(member, memberlen, "scope", why, whylen,
                    "'scope' must be an object with 'institutions' and/or 'types'");
    const char *key;
    json_t *v;
    json_object_foreach(scope, key, v)
    {
        if (strcmp(key, "institutions") != 0 && strcmp(key, "types") != 0)
            return bad_member(member, memberlen, "scope", why, whylen,
                        "'scope' has only 'institutions' and 'types'");
    }
    int rc = read_list(scope, 0, c, member, memberlen, why, whylen);
    return rc != 0 ? rc : read_list(scope, 1, c, member, memberlen, why, whylen);
}

/* "permit" 1, "deny" 0, else -1. */
static int permit_or_deny(json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return -1;
    return strcmp(s, "permit") == 0 ? 1 : (strcmp(s, "deny") == 0 ? 0 : -1);
}

static int read_members(json_t *root, cdx_consent_t *c, char *member, size_t memberlen, char *why,
                        size_t whylen)
{
    static const char *const known[] = {"decision", "scope", "research", "expires"};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        size_t k = 0;
        while (k < CDX_ARRAY_SIZE(known) && strcmp(key, known[k]) != 0)
            k++;
        if (k == CDX_ARRAY_SIZE(known))
            return bad_member(member, memberlen, "", why, whylen,
                        "unknown member; a consent has 'decision', 'scope', 'research' and "
                        "'expires'");
    }
    int permit = permit_or_deny(json_object_get(root, "decision"));
    if (permit < 0)
        return bad_member(member, memberlen, "decision", why, whylen,
                    "'decision' is required: \"permit\" or \"deny\"");
    c->permit = permit;
    json_t *research = json_object_get(root, "research");
    if (research != NULL && !json_is_null(research)) {
        c->research = permit_or_deny(research);
        if (c->research < 0)
            return bad_member(member, memberlen, "research", why, whylen,
                        "'research' must be \"permit\" or \"deny\"");
    }
    json_t *expires = json_object_get(root, "expires");
    if (expires != NULL && !json_is_null(expires)) {
        const char *s = json_string_value(expires);
        if (s == NULL || strlen(s) >= sizeof c->expires ||
            cdx_ts_utc_key(s, c->expires_key) != 0)
            return bad_member(member, memberlen, "expires", why, whylen,
                        "'expires' must be an ISO 8601 date or time or an HL7 timestamp");
        cdx_strlcpy(c->expires, s, sizeof c->expires);
    }
    return read_scope(root, c, member, memberlen, why, whylen);
}

int cdx_consent_parse_json(const char *body, size_t len, cdx_consent_t *out, char *member,
                           size_t memberlen, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->research = -1;
    json_error_t jerr;
    json_t *root = body != NULL ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return bad_member(member, memberlen, "", why, whylen, "the body must be one JSON object");
    }
    int rc = read_members(root, out, member, memberlen, why, whylen);
    json_decref(root);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        out->research = -1;
    }
    return rc;
}

int cdx_consent_scope_text(const cdx_consent_t *c, int types, char *out, size_t outlen)
{
    size_t n = types ? c->ntypes : c->ninstitutions;
    size_t used = 0;
    if (outlen == 0)
        return CDX_ERANGE;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *s = types ? c->types[i] : c->institutions[i];
        int w = snprintf(out + used, outlen - used, "%s%s", i ? " " : "", s);
        if (w < 0 || (size_t)w >= outlen - used) {
            out[0] = '\0';
            return CDX_ERANGE;
        }
        used += (size_t)w;
    }
    return 0;
}

int cdx_consent_scope_parse(const char *text, int types, cdx_consent_t *c)
{
    size_t *n = types ? &c->ntypes : &c->ninstitutions;
    size_t cap = types ? sizeof c->types[0] : sizeof c->institutions[0];
    *n = 0;
    const char *p = text != NULL ? text : "";
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (len >= cap)
            return CDX_ERANGE;
        if (*n < CDX_CONSENT_MAX_SCOPE) {
            char *dst = types ? c->types[*n] : c->institutions[*n];
            memcpy(dst, p, len);
            dst[len] = '\0';
            (*n)++;
        }
        p += len;
    }
    return 0;
}

static int listed(const char (*list)[CDX_CONSENT_OID_MAX + 1], size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

int cdx_consent_covers(const cdx_consent_t *c, const char *institution, const char *type)
{
    if (c->ninstitutions > 0 &&
        (institution == NULL || !listed(c->institutions, c->ninstitutions, institution)))
        return 0;
    if (c->ntypes == 0)
        return 1;
    if (type == NULL || type[0] == '\0')
        return 0;
    for (size_t i = 0; i < c->ntypes; i++)
        if (strcmp(c->types[i], type) == 0)
            return 1;
    return 0;
}

int cdx_consent_expired(const cdx_consent_t *c, const char *now_key)
{
    return c->expires_key[0] != '\0' && now_key != NULL && strcmp(c->expires_key, now_key) <= 0;
}

int cdx_consent_home_of(const char *oid, const char *const *id_roots, size_t nid_roots,
                        const char *root)
{
    if (oid == NULL || root == NULL || oid[0] == '\0')
        return 0;
    if (cdx_oid_is_at_or_under(root, oid))
        return 1;
    for (size_t i = 0; id_roots != NULL && i < nid_roots; i++)
        if (id_roots[i] != NULL && id_roots[i][0] != '\0' &&
            cdx_oid_is_at_or_under(root, id_roots[i]))
            return 1;
    return 0;
}

int cdx_consent_home(const cdx_institution_t *inst, const char *root)
{
    if (inst == NULL)
        return 0;
    const char *roots[CDX_INST_MAX_ID_ROOTS];
    size_t n = 0;
    for (size_t i = 0; i < inst->nid_roots && i < CDX_INST_MAX_ID_ROOTS; i++)
        roots[n++] = inst->id_roots[i];
    return cdx_consent_home_of(inst->oid, roots, n, root);
}
