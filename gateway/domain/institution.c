/* institution: roles and the rules a complete institution entry obeys (see
 * include/cdx/domain/institution.h). */
#include "cdx/domain/institution.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- Roles ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    {"submit", CDX_ROLE_SUBMIT},
    {"query", CDX_ROLE_QUERY},
    {"research", CDX_ROLE_RESEARCH},
    {"admin", CDX_ROLE_ADMIN},
    {"relay", CDX_ROLE_RELAY},
};


static int is_role_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

/* Parses a role list; on an unknown name copies that token into bad so the caller can name it. */
int cdx_roles_parse_named(const char *s, unsigned *out, char *bad, size_t badlen)
{
    unsigned roles = 0;
    int saw_none = 0;
    const char *p = s;
    for (;;) {
        while (is_role_sep(*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && !is_role_sep(*p))
            p++;
        size_t len = (size_t)(p - start);
        int found = 0;
        for (size_t i = 0; i < CDX_ARRAY_SIZE(role_names); i++) {
            if (strlen(role_names[i].name) == len &&
                strncasecmp(role_names[i].name, start, len) == 0) {
                roles |= role_names[i].bit;
                found = 1;
                break;
            }
        }
        /* "none" is what cdx_roles_format writes for an empty set, so it must parse back. */
        if (!found && len == 4 && strncasecmp(start, "none", 4) == 0) {
            saw_none = 1;
            found = 1;
        }
        if (!found) {
            if (bad != NULL && badlen > 0)
                snprintf(bad, badlen, "%.*s", (int)CDX_MIN(len, (size_t)64), start);
            return CDX_EINVAL;
        }
    }
    if (saw_none && roles != 0) {
        if (bad != NULL && badlen > 0)
            snprintf(bad, badlen, "none");
        return CDX_EINVAL;
    }
    *out = roles;
    return 0;
}

int cdx_roles_parse(const char *s, unsigned *out)
{
    if (s == NULL || out == NULL)
        return CDX_EINVAL;
    return cdx_roles_parse_named(s, out, NULL, 0);
}

void cdx_roles_format(unsigned roles, char *out, size_t n)
{
    if (out == NULL || n == 0)
        return;
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(role_names); i++) {
        if (!(roles & role_names[i].bit))
            continue;
        int w = snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", role_names[i].name);
        if (w < 0 || (size_t)w >= n - used)
            return; /* Truncated but still NUL-terminated by snprintf. */
        used += (size_t)w;
    }
    if (used == 0)
        snprintf(out, n, "none");
}

/* ---- Institution fields ----------------------------------------------------------------- */

#define OID_EXAMPLE "digits separated by dots, e.g. 2.25.12345"

/* Validates OID syntax (parsers/ids.c): at least two arcs of digits, no leading zeros, first arc
 * 0 to 2, and at most 127 characters, the room of an institution entry. */
int cdx_institution_oid_check(const char *oid, char *why, size_t whylen)
{
    char q[CDX_EXCERPT_MAX + 4];
    size_t len = strlen(oid);
    if (len == 0) {
        cdx_errf(why, whylen, "oid: required (%s)", OID_EXAMPLE);
        return CDX_ECONFIG;
    }
    if (len > 127) {
        cdx_errf(why, whylen, "oid: '%s' is longer than 127 characters", cdx_excerpt(oid, q));
        return CDX_ECONFIG;
    }
    const char *arc = NULL;
    size_t alen = 0;
    switch (cdx_oid_check(oid, &arc, &alen)) {
    case CDX_OID_OK:
        return 0;
    case CDX_OID_NOT_DOTTED:
        cdx_errf(why, whylen, "oid: '%s' is not an OID (%s)", cdx_excerpt(oid, q), OID_EXAMPLE);
        break;
    case CDX_OID_LEADING_ZERO:
        cdx_errf(why, whylen, "oid: '%s' is not an OID: arc '%.*s' has a leading zero",
                cdx_excerpt(oid, q), (int)CDX_MIN(alen, (size_t)40), arc);
        break;
    case CDX_OID_FIRST_ARC:
        cdx_errf(why, whylen, "oid: '%s' is not an OID: the first arc must be 0, 1 or 2",
                cdx_excerpt(oid, q));
        break;
    case CDX_OID_ONE_ARC:
        cdx_errf(why, whylen, "oid: '%s' is not an OID: it needs at least two arcs (%s)",
                cdx_excerpt(oid, q), OID_EXAMPLE);
        break;
    }
    return CDX_ECONFIG;
}

int cdx_institution_name_check(const char *name, char *why, size_t whylen)
{
    size_t len = strlen(name);
    if (len == 0) {
        cdx_errf(why, whylen, "name: required (the institution's display name)");
        return CDX_ECONFIG;
    }
    if (len > 255) {
        cdx_errf(why, whylen, "name: %zu bytes is too long (at most 255 bytes of UTF-8)", len);
        return CDX_ECONFIG;
    }
    if (!cdx_utf8_is_valid(name, len, CDX_UTF8_TEXT)) {
        cdx_errf(why, whylen,
                "name: must be valid UTF-8 text without control characters (is the file saved "
                "as UTF-8?)");
        return CDX_ECONFIG;
    }
    return 0;
}

#define ENDPOINT_FORM "https://host[:port][/path]"

/* Accepts "" or https://host[:port][/path] where host is a DNS name, an IPv4 address or a
 * bracketed IPv6 address; user information is refused because credentials in a URL end up in
 * logs and configuration backups. */
int cdx_institution_endpoint_check(const char *url, char *why, size_t whylen)
{
    char q[CDX_EXCERPT_MAX + 4];
    size_t len = strlen(url);
    if (len == 0)
        return 0;
    if (len >= sizeof(((cdx_institution_t *)0)->endpoint)) {
        cdx_errf(why, whylen, "endpoint: %zu bytes is too long (at most %zu)", len,
                sizeof(((cdx_institution_t *)0)->endpoint) - 1);
        return CDX_ECONFIG;
    }
    if (strncasecmp(url, "https://", 8) != 0) {
        cdx_errf(why, whylen, "endpoint: '%s' must be an https URL (%s) or empty", cdx_excerpt(url, q),
                ENDPOINT_FORM);
        return CDX_ECONFIG;
    }
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7F) {
            cdx_errf(why, whylen,
                    "endpoint: '%s' contains a space, control or non-ASCII character "
                    "(percent-encode it)",
                    cdx_excerpt(url, q));
            return CDX_ECONFIG;
        }
    }
    const char *host = url + 8;
    const char *end = strchr(host, '/');
    if (end == NULL)
        end = url + len;
    if (memchr(host, '@', (size_t)(end - host)) != NULL) {
        cdx_errf(why, whylen, "endpoint: '%s' must not contain user information (user@)",
                cdx_excerpt(url, q));
        return CDX_ECONFIG;
    }
    const char *p = host;
    if (*p == '[') {
        p++;
        const char *start = p;
        while (p < end && (strchr("0123456789abcdefABCDEF:.", *p) != NULL))
            p++;
        if (p == start || p >= end || *p != ']') {
            cdx_errf(why, whylen, "endpoint: '%s' has a malformed [IPv6] host (%s)", cdx_excerpt(url, q),
                    ENDPOINT_FORM);
            return CDX_ECONFIG;
        }
        p++;
    } else {
        const char *start = p;
        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            p++;
        if (p == start || start[0] == '.' || start[0] == '-' || p[-1] == '-') {
            cdx_errf(why, whylen, "endpoint: '%s' has no valid host name (%s)", cdx_excerpt(url, q),
                    ENDPOINT_FORM);
            return CDX_ECONFIG;
        }
    }
    if (p < end && *p == ':') {
        p++;
        long port = 0;
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9' && p - start < 6) {
            port = port * 10 + (*p - '0');
            p++;
        }
        if (p == start || p != end || port < 1 || port > 65535) {
            cdx_errf(why, whylen, "endpoint: '%s' has an invalid port (1 to 65535)", cdx_excerpt(url, q));
            return CDX_ECONFIG;
        }
    }
    if (p != end) {
        cdx_errf(why, whylen, "endpoint: '%s' is not of the form %s", cdx_excerpt(url, q), ENDPOINT_FORM);
        return CDX_ECONFIG;
    }
    return 0;
}

static int is_lower_hex64(const char *s)
{
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[64] == '\0';
}

int cdx_institution_check(const cdx_institution_t *inst, char *err, size_t errlen)
{
    if (inst == NULL) {
        cdx_errf(err, errlen, "internal error: no institution");
        return CDX_ECONFIG;
    }
    if (memchr(inst->oid, '\0', sizeof inst->oid) == NULL ||
        memchr(inst->name, '\0', sizeof inst->name) == NULL ||
        memchr(inst->endpoint, '\0', sizeof inst->endpoint) == NULL) {
        cdx_errf(err, errlen, "internal error: unterminated institution field");
        return CDX_ECONFIG;
    }
    if (inst->oid[0] == '\0') {
        cdx_errf(err, errlen, "oid: required in every [institution] (%s)", OID_EXAMPLE);
        return CDX_ECONFIG;
    }
    if (cdx_institution_oid_check(inst->oid, err, errlen) != 0)
        return CDX_ECONFIG;
    if (inst->name[0] == '\0') {
        cdx_errf(err, errlen, "name: required in every [institution] (the display name)");
        return CDX_ECONFIG;
    }
    if (cdx_institution_name_check(inst->name, err, errlen) != 0 ||
        cdx_institution_endpoint_check(inst->endpoint, err, errlen) != 0)
        return CDX_ECONFIG;
    if (inst->roles & ~(unsigned)CDX_ROLE_ALL) {
        cdx_errf(err, errlen, "roles: unknown role bits 0x%x", inst->roles & ~(unsigned)CDX_ROLE_ALL);
        return CDX_ECONFIG;
    }
    if (inst->ncreds > CDX_INST_MAX_CREDS) {
        cdx_errf(err, errlen, "at most %d credentials per institution", CDX_INST_MAX_CREDS);
        return CDX_ECONFIG;
    }
    if (inst->nid_roots > CDX_INST_MAX_ID_ROOTS) {
        cdx_errf(err, errlen, "at most %d id_root per institution", CDX_INST_MAX_ID_ROOTS);
        return CDX_ECONFIG;
    }
    for (size_t i = 0; i < inst->nid_roots; i++) {
        char why[256];
        if (memchr(inst->id_roots[i], '\0', sizeof inst->id_roots[i]) == NULL ||
            cdx_institution_oid_check(inst->id_roots[i], why, sizeof why) != 0) {
            cdx_errf(err, errlen, "id_root %zu is not an OID", i + 1);
            return CDX_ECONFIG;
        }
    }
    for (size_t i = 0; i < inst->ncreds; i++) {
        const cdx_credential_t *c = &inst->creds[i];
        if ((c->spki != 0 && c->spki != 1) || !is_lower_hex64(c->sha256)) {
            cdx_errf(err, errlen, "credential %zu is not a lower-case SHA-256 fingerprint", i + 1);
            return CDX_ECONFIG;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(inst->creds[j].sha256, c->sha256) == 0) {
                cdx_errf(err, errlen, "credential %s is listed twice", c->sha256);
                return CDX_ECONFIG;
            }
        }
    }
    return 0;
}

int cdx_institution_is_home_of(const cdx_institution_t *inst, const char *root)
{
    if (inst == NULL || root == NULL || root[0] == '\0')
        return 0;
    if (cdx_oid_is_at_or_under(root, inst->oid))
        return 1;
    for (size_t i = 0; i < inst->nid_roots && i < CDX_INST_MAX_ID_ROOTS; i++)
        if (cdx_oid_is_at_or_under(root, inst->id_roots[i]))
            return 1;
    return 0;
}
