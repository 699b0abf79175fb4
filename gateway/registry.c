/* registry: the SQLite registry and the institutions directory (see include/cdx/registry.h). */
#include "cdx/registry.h"
#include "cdx/common.h"
#include "cdx/pki.h"
#include "cdx/testvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

struct cdx_registry {
    sqlite3 *db;
    int skip_check;
    int schema_version;
    int last_sqlite_rc; /* SQLite's code behind the last failure, for more specific messages */
    char errmsg[512];
};

/* ---- Small helpers ---------------------------------------------------------------------- */


/* Copies a bounded, printable excerpt of s for an error message: control bytes become '?' so a
 * binary or hostile value cannot garble the terminal or log line the message ends up in, and a
 * long value is cut at a UTF-8 character boundary. */
#define QUOTE_MAX 100
static const char *quote(const char *s, char buf[QUOTE_MAX + 4])
{
    size_t n = strlen(s);
    size_t cut = n;
    if (n > QUOTE_MAX) {
        cut = QUOTE_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (cut < n) {
        memcpy(buf + cut, "...", 4);
    } else {
        buf[cut] = '\0';
    }
    return buf;
}

/* Writes the current UTC time as RFC 3339 with milliseconds, e.g. 2024-05-01T12:00:00.123Z. */
static void now_rfc3339(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* Checks that s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF) without C0 controls, DEL or C1 controls, which have no place in a display name. */
static int utf8_text_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        unsigned cp;
        size_t extra;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F)
                return 0;
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F;
            extra = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return 0;
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((extra == 1 && cp < 0xA0) || (extra == 2 && cp < 0x800) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* ---- Roles ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    {"submit", CDX_ROLE_SUBMIT},
    {"query", CDX_ROLE_QUERY},
    {"research", CDX_ROLE_RESEARCH},
    {"admin", CDX_ROLE_ADMIN},
};

#define ROLE_ALL (CDX_ROLE_SUBMIT | CDX_ROLE_QUERY | CDX_ROLE_RESEARCH | CDX_ROLE_ADMIN)

static int is_role_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

/* Parses a role list; on an unknown name copies that token into bad so the caller can name it. */
static int roles_parse(const char *s, unsigned *out, char *bad, size_t badlen)
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
    return roles_parse(s, out, NULL, 0);
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

/* Validates OID syntax: at least two arcs of digits, no leading zeros, first arc 0 to 2. */
static int oid_check(const char *oid, char *why, size_t whylen)
{
    char q[QUOTE_MAX + 4];
    size_t len = strlen(oid);
    if (len == 0) {
        cdx_errf(why, whylen, "oid: required (%s)", OID_EXAMPLE);
        return CDX_ECONFIG;
    }
    if (len > 127) {
        cdx_errf(why, whylen, "oid: '%s' is longer than 127 characters", quote(oid, q));
        return CDX_ECONFIG;
    }
    size_t arcs = 0;
    const char *p = oid;
    for (;;) {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t alen = (size_t)(p - start);
        if (alen == 0 || (*p != '.' && *p != '\0')) {
            cdx_errf(why, whylen, "oid: '%s' is not an OID (%s)", quote(oid, q), OID_EXAMPLE);
            return CDX_ECONFIG;
        }
        if (alen > 1 && start[0] == '0') {
            cdx_errf(why, whylen, "oid: '%s' is not an OID: arc '%.*s' has a leading zero",
                    quote(oid, q), (int)CDX_MIN(alen, (size_t)40), start);
            return CDX_ECONFIG;
        }
        if (arcs == 0 && (alen > 1 || start[0] > '2')) {
            cdx_errf(why, whylen, "oid: '%s' is not an OID: the first arc must be 0, 1 or 2",
                    quote(oid, q));
            return CDX_ECONFIG;
        }
        arcs++;
        if (*p == '\0')
            break;
        p++;
    }
    if (arcs < 2) {
        cdx_errf(why, whylen, "oid: '%s' is not an OID: it needs at least two arcs (%s)",
                quote(oid, q), OID_EXAMPLE);
        return CDX_ECONFIG;
    }
    return 0;
}

static int name_check(const char *name, char *why, size_t whylen)
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
    if (!utf8_text_ok(name, len)) {
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
static int endpoint_check(const char *url, char *why, size_t whylen)
{
    char q[QUOTE_MAX + 4];
    size_t len = strlen(url);
    if (len == 0)
        return 0;
    if (len >= sizeof(((cdx_institution_t *)0)->endpoint)) {
        cdx_errf(why, whylen, "endpoint: %zu bytes is too long (at most %zu)", len,
                sizeof(((cdx_institution_t *)0)->endpoint) - 1);
        return CDX_ECONFIG;
    }
    if (strncasecmp(url, "https://", 8) != 0) {
        cdx_errf(why, whylen, "endpoint: '%s' must be an https URL (%s) or empty", quote(url, q),
                ENDPOINT_FORM);
        return CDX_ECONFIG;
    }
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7F) {
            cdx_errf(why, whylen,
                    "endpoint: '%s' contains a space, control or non-ASCII character "
                    "(percent-encode it)",
                    quote(url, q));
            return CDX_ECONFIG;
        }
    }
    const char *host = url + 8;
    const char *end = strchr(host, '/');
    if (end == NULL)
        end = url + len;
    if (memchr(host, '@', (size_t)(end - host)) != NULL) {
        cdx_errf(why, whylen, "endpoint: '%s' must not contain user information (user@)",
                quote(url, q));
        return CDX_ECONFIG;
    }
    const char *p = host;
    if (*p == '[') {
        p++;
        const char *start = p;
        while (p < end && (strchr("0123456789abcdefABCDEF:.", *p) != NULL))
            p++;
        if (p == start || p >= end || *p != ']') {
            cdx_errf(why, whylen, "endpoint: '%s' has a malformed [IPv6] host (%s)", quote(url, q),
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
            cdx_errf(why, whylen, "endpoint: '%s' has no valid host name (%s)", quote(url, q),
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
            cdx_errf(why, whylen, "endpoint: '%s' has an invalid port (1 to 65535)", quote(url, q));
            return CDX_ECONFIG;
        }
    }
    if (p != end) {
        cdx_errf(why, whylen, "endpoint: '%s' is not of the form %s", quote(url, q), ENDPOINT_FORM);
        return CDX_ECONFIG;
    }
    return 0;
}

/* Parses a SHA-256 fingerprint: 64 hex digits in either case, colons ignored (as printed by
 * `openssl x509 -fingerprint`).  Writes lower-case hex. */
static int parse_fingerprint(const char *s, char out[65])
{
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == ':')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n >= 64)
            return CDX_EINVAL;
        out[n++] = c;
    }
    if (n != 64)
        return CDX_EINVAL;
    out[64] = '\0';
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

static int add_credential(cdx_institution_t *inst, int spki, const char *hex, const char *key,
                          char *err, size_t errlen)
{
    for (size_t i = 0; i < inst->ncreds; i++) {
        if (strcmp(inst->creds[i].sha256, hex) == 0) {
            cdx_errf(err, errlen, "%s: fingerprint %s is already listed for this institution", key,
                    hex);
            return CDX_ECONFIG;
        }
    }
    if (inst->ncreds >= CDX_INST_MAX_CREDS) {
        cdx_errf(err, errlen, "%s: at most %d credentials per institution", key, CDX_INST_MAX_CREDS);
        return CDX_ECONFIG;
    }
    inst->creds[inst->ncreds].spki = spki;
    memcpy(inst->creds[inst->ncreds].sha256, hex, 65);
    inst->ncreds++;
    return 0;
}

static int set_cert_file(cdx_institution_t *inst, const char *value, const char *base_dir,
                         char *err, size_t errlen)
{
    char q[QUOTE_MAX + 4];
    char path[PATH_MAX];
    if (value[0] == '\0') {
        cdx_errf(err, errlen, "cert_file: empty (give the path of a PEM certificate)");
        return CDX_ECONFIG;
    }
    int w;
    if (value[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
        w = snprintf(path, sizeof path, "%s", value);
    else
        w = snprintf(path, sizeof path, "%s/%s", base_dir, value);
    if (w < 0 || (size_t)w >= sizeof path) {
        cdx_errf(err, errlen, "cert_file: path '%s' is too long", quote(value, q));
        return CDX_ECONFIG;
    }
    /* The fingerprint function only says "I/O error", so look first to name the real reason.
     * Paths are printed whole: a shortened path would not tell the operator which file. */
    if (access(path, R_OK) != 0) {
        cdx_errf(err, errlen, "cert_file: cannot read '%s': %s", path, strerror(errno));
        return CDX_ECONFIG;
    }
    char hex[65];
    int rc = cdx_pki_fingerprint_file(path, 0, hex);
    if (rc != 0) {
        cdx_errf(err, errlen, "cert_file: '%s': %s", path,
                rc == CDX_ECRYPTO ? "no PEM certificate found in it" : cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    return add_credential(inst, 0, hex, "cert_file", err, errlen);
}

/* id_root: an OID (optional urn:oid: prefix) the institution numbers its documents under. */
static int add_id_root(cdx_institution_t *inst, const char *value, char *err, size_t errlen)
{
    char why[256];
    const char *oid = value;
    if (strncasecmp(oid, "urn:oid:", 8) == 0)
        oid += 8;
    if (oid_check(oid, why, sizeof why) != 0) {
        /* oid_check names the key "oid"; this one is id_root. */
        cdx_errf(err, errlen, "id_root: %s", strncmp(why, "oid: ", 5) == 0 ? why + 5 : why);
        return CDX_ECONFIG;
    }
    for (size_t i = 0; i < inst->nid_roots; i++) {
        if (strcmp(inst->id_roots[i], oid) == 0) {
            cdx_errf(err, errlen, "id_root: %s is already listed for this institution", oid);
            return CDX_ECONFIG;
        }
    }
    if (inst->nid_roots >= CDX_INST_MAX_ID_ROOTS) {
        cdx_errf(err, errlen, "id_root: at most %d per institution", CDX_INST_MAX_ID_ROOTS);
        return CDX_ECONFIG;
    }
    memcpy(inst->id_roots[inst->nid_roots++], oid, strlen(oid) + 1);
    return 0;
}

int cdx_institution_set_key(cdx_institution_t *inst, const char *key, const char *value,
                            const char *base_dir, char *err, size_t errlen)
{
    char q[QUOTE_MAX + 4];
    if (inst == NULL || key == NULL || value == NULL) {
        cdx_errf(err, errlen, "internal error: missing institution, key or value");
        return CDX_ECONFIG;
    }
    /* Keys accept '-' for '_' like the main configuration does. */
    char norm[32];
    size_t i = 0;
    for (; key[i] != '\0' && i < sizeof norm - 1; i++)
        norm[i] = key[i] == '-' ? '_' : key[i];
    norm[i] = '\0';
    if (key[i] != '\0')
        norm[0] = '\0';

    if (strcmp(norm, "oid") == 0) {
        const char *oid = value;
        if (strncasecmp(oid, "urn:oid:", 8) == 0)
            oid += 8;
        if (oid_check(oid, err, errlen) != 0)
            return CDX_ECONFIG;
        memcpy(inst->oid, oid, strlen(oid) + 1);
        return 0;
    }
    if (strcmp(norm, "name") == 0) {
        if (name_check(value, err, errlen) != 0)
            return CDX_ECONFIG;
        memcpy(inst->name, value, strlen(value) + 1);
        return 0;
    }
    if (strcmp(norm, "roles") == 0) {
        char bad[80];
        unsigned roles;
        if (roles_parse(value, &roles, bad, sizeof bad) != 0) {
            if (strcasecmp(bad, "none") == 0) {
                cdx_errf(err, errlen, "roles: 'none' cannot be combined with other roles");
                return CDX_ECONFIG;
            }
            cdx_errf(err, errlen,
                    "roles: unknown role '%s' (use submit, query, research, admin, separated by "
                    "commas or spaces; or none)",
                    quote(bad, q));
            return CDX_ECONFIG;
        }
        inst->roles = roles;
        return 0;
    }
    if (strcmp(norm, "endpoint") == 0) {
        if (endpoint_check(value, err, errlen) != 0)
            return CDX_ECONFIG;
        memcpy(inst->endpoint, value, strlen(value) + 1);
        return 0;
    }
    if (strcmp(norm, "cert_sha256") == 0 || strcmp(norm, "spki_sha256") == 0) {
        char hex[65];
        if (parse_fingerprint(value, hex) != 0) {
            cdx_errf(err, errlen,
                    "%s: '%s' is not a SHA-256 fingerprint (64 hex digits, colons allowed, as "
                    "printed by `openssl x509 -noout -fingerprint -sha256`)",
                    norm, quote(value, q));
            return CDX_ECONFIG;
        }
        return add_credential(inst, norm[0] == 's', hex, norm, err, errlen);
    }
    if (strcmp(norm, "cert_file") == 0)
        return set_cert_file(inst, value, base_dir, err, errlen);
    if (strcmp(norm, "id_root") == 0)
        return add_id_root(inst, value, err, errlen);
    if (strcmp(norm, "schema_policy") == 0) {
        if (strcmp(value, "strict") == 0) {
            inst->policy |= CDX_POLICY_SCHEMA_STRICT;
        } else if (strcmp(value, "standard") == 0) {
            inst->policy &= ~(unsigned)CDX_POLICY_SCHEMA_STRICT;
        } else {
            cdx_errf(err, errlen, "schema_policy: '%s' is not 'standard' or 'strict'",
                    quote(value, q));
            return CDX_ECONFIG;
        }
        return 0;
    }
    if (strcmp(norm, "identity_policy") == 0) {
        if (strcmp(value, "custodian_or_author") == 0) {
            inst->policy |= CDX_POLICY_AUTHOR_OK;
        } else if (strcmp(value, "custodian") == 0) {
            inst->policy &= ~(unsigned)CDX_POLICY_AUTHOR_OK;
        } else {
            cdx_errf(err, errlen,
                    "identity_policy: '%s' is not 'custodian' or 'custodian_or_author'",
                    quote(value, q));
            return CDX_ECONFIG;
        }
        return 0;
    }

    cdx_errf(err, errlen,
            "unknown key '%s' in [institution] (known: oid, name, roles, endpoint, cert_sha256, "
            "spki_sha256, cert_file, schema_policy, identity_policy, id_root)",
            quote(key, q));
    return CDX_ECONFIG;
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
    if (oid_check(inst->oid, err, errlen) != 0)
        return CDX_ECONFIG;
    if (inst->name[0] == '\0') {
        cdx_errf(err, errlen, "name: required in every [institution] (the display name)");
        return CDX_ECONFIG;
    }
    if (name_check(inst->name, err, errlen) != 0 ||
        endpoint_check(inst->endpoint, err, errlen) != 0)
        return CDX_ECONFIG;
    if (inst->roles & ~(unsigned)ROLE_ALL) {
        cdx_errf(err, errlen, "roles: unknown role bits 0x%x", inst->roles & ~(unsigned)ROLE_ALL);
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
            oid_check(inst->id_roots[i], why, sizeof why) != 0) {
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

/* ---- Institutions file ------------------------------------------------------------------ */

#define INST_FILE_MAX (16u << 20)
#define INST_LINE_MAX (64u << 10)

typedef struct item_lines {
    size_t header; /* line of the [institution] header */
    size_t oid;    /* line of the last oid key in the section */
} item_lines_t;

typedef struct loader {
    const char *path;
    cdx_institution_t *items;
    item_lines_t *lines;
    size_t n, cap;
    /* Open-addressing set of finished items' OIDs (index + 1; 0 is empty), so duplicate
     * detection stays linear even for a very large file. */
    size_t *slots;
    size_t nslots, nused;
} loader_t;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

/* Returns the index of a finished item with this OID, or SIZE_MAX. */
static size_t oid_set_find(const loader_t *ld, const char *oid)
{
    if (ld->nslots == 0)
        return SIZE_MAX;
    for (size_t i = (size_t)fnv1a(oid) & (ld->nslots - 1);; i = (i + 1) & (ld->nslots - 1)) {
        if (ld->slots[i] == 0)
            return SIZE_MAX;
        if (strcmp(ld->items[ld->slots[i] - 1].oid, oid) == 0)
            return ld->slots[i] - 1;
    }
}

static int oid_set_add(loader_t *ld, size_t idx)
{
    if ((ld->nused + 1) * 2 > ld->nslots) {
        size_t nslots = ld->nslots ? ld->nslots * 2 : 64;
        size_t *slots = calloc(nslots, sizeof *slots);
        if (slots == NULL)
            return CDX_ENOMEM;
        for (size_t k = 0; k < ld->nslots; k++) {
            if (ld->slots[k] == 0)
                continue;
            size_t i = (size_t)fnv1a(ld->items[ld->slots[k] - 1].oid) & (nslots - 1);
            while (slots[i] != 0)
                i = (i + 1) & (nslots - 1);
            slots[i] = ld->slots[k];
        }
        free(ld->slots);
        ld->slots = slots;
        ld->nslots = nslots;
    }
    size_t i = (size_t)fnv1a(ld->items[idx].oid) & (ld->nslots - 1);
    while (ld->slots[i] != 0)
        i = (i + 1) & (ld->nslots - 1);
    ld->slots[i] = idx + 1;
    ld->nused++;
    return 0;
}

static int loader_add(loader_t *ld, size_t header_line)
{
    if (ld->n == ld->cap) {
        size_t cap = ld->cap ? ld->cap * 2 : 8;
        cdx_institution_t *items = realloc(ld->items, cap * sizeof *items);
        if (items == NULL)
            return CDX_ENOMEM;
        ld->items = items;
        item_lines_t *lines = realloc(ld->lines, cap * sizeof *lines);
        if (lines == NULL)
            return CDX_ENOMEM;
        ld->lines = lines;
        ld->cap = cap;
    }
    memset(&ld->items[ld->n], 0, sizeof ld->items[ld->n]);
    ld->lines[ld->n].header = header_line;
    ld->lines[ld->n].oid = header_line;
    ld->n++;
    return 0;
}

/* Checks the last section once it is complete and records its OID. */
static int loader_finish(loader_t *ld, char *err, size_t errlen)
{
    char msg[512];
    size_t idx = ld->n - 1;
    const cdx_institution_t *inst = &ld->items[idx];
    if (cdx_institution_check(inst, msg, sizeof msg) != 0) {
        cdx_errf(err, errlen, "%s:%zu: this [institution] is incomplete: %s", ld->path,
                ld->lines[idx].header, msg);
        return CDX_ECONFIG;
    }
    size_t other = oid_set_find(ld, inst->oid);
    if (other != SIZE_MAX) {
        cdx_errf(err, errlen,
                "%s:%zu: duplicate oid %s (already used by the [institution] at line %zu)",
                ld->path, ld->lines[idx].oid, inst->oid, ld->lines[other].header);
        return CDX_ECONFIG;
    }
    int rc = oid_set_add(ld, idx);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: %s", ld->path, cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    return 0;
}


int cdx_institutions_file_load(const char *path, cdx_institution_t **out, size_t *n, char *err,
                               size_t errlen)
{
    char q[QUOTE_MAX + 4];
    char msg[512];
    char *text = NULL;
    char *dircopy = NULL;
    size_t len = 0;
    loader_t ld = {.path = path};
    int rc;

    if (path == NULL || out == NULL || n == NULL) {
        cdx_errf(err, errlen, "internal error: missing argument");
        return CDX_EINVAL;
    }
    *out = NULL;
    *n = 0;
    rc = cdx_read_file(path, INST_FILE_MAX, &text, &len);
    if (rc != 0) {
        if (rc == CDX_ERANGE)
            cdx_errf(err, errlen, "%s: larger than 16 MiB; is this an institutions file?", path);
        else
            cdx_errf(err, errlen, "%s: cannot read institutions file: %s", path, cdx_strerror(rc));
        rc = CDX_ECONFIG;
        goto out;
    }
    if (memchr(text, '\0', len) != NULL) {
        cdx_errf(err, errlen, "%s: contains a NUL byte; is this a text file?", path);
        rc = CDX_ECONFIG;
        goto out;
    }
    dircopy = strdup(path);
    if (dircopy == NULL) {
        cdx_errf(err, errlen, "%s: out of memory", path);
        rc = CDX_ECONFIG;
        goto out;
    }
    const char *base_dir = dirname(dircopy);

    char *line = text;
    /* A UTF-8 byte order mark is legal at the start of a UTF-8 file; skip it. */
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    size_t lineno = 0;
    int in_section = 0;
    while (line != NULL) {
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        size_t linelen = nl ? (size_t)(nl - line) : strlen(line);
        if (linelen > INST_LINE_MAX) {
            cdx_errf(err, errlen, "%s:%zu: line longer than %u bytes", path, lineno, INST_LINE_MAX);
            rc = CDX_ECONFIG;
            goto out;
        }
        char *s = cdx_trim(line);
        line = next;
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            size_t slen = strlen(s);
            char *name = NULL;
            if (s[slen - 1] == ']') {
                s[slen - 1] = '\0';
                name = cdx_trim(s + 1);
            }
            if (name == NULL || strcmp(name, "institution") != 0) {
                if (name != NULL)
                    s[slen - 1] = ']';
                cdx_errf(err, errlen, "%s:%zu: unknown section '%s' (only [institution] is allowed)",
                        path, lineno, quote(s, q));
                rc = CDX_ECONFIG;
                goto out;
            }
            if (in_section && (rc = loader_finish(&ld, err, errlen)) != 0)
                goto out;
            if (loader_add(&ld, lineno) != 0) {
                cdx_errf(err, errlen, "%s:%zu: out of memory", path, lineno);
                rc = CDX_ECONFIG;
                goto out;
            }
            in_section = 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            cdx_errf(err, errlen,
                    "%s:%zu: expected `key = value`, an [institution] header or a # comment", path,
                    lineno);
            rc = CDX_ECONFIG;
            goto out;
        }
        *eq = '\0';
        char *key = cdx_trim(s);
        char *value = cdx_trim(eq + 1);
        if (!in_section) {
            cdx_errf(err, errlen,
                    "%s:%zu: '%s = ...' before any [institution] section (start one with a "
                    "line [institution])",
                    path, lineno, quote(key, q));
            rc = CDX_ECONFIG;
            goto out;
        }
        if (*key == '\0') {
            cdx_errf(err, errlen, "%s:%zu: missing key before '='", path, lineno);
            rc = CDX_ECONFIG;
            goto out;
        }
        if (cdx_institution_set_key(&ld.items[ld.n - 1], key, value, base_dir, msg, sizeof msg) !=
            0) {
            cdx_errf(err, errlen, "%s:%zu: %s", path, lineno, msg);
            rc = CDX_ECONFIG;
            goto out;
        }
        if (strcmp(key, "oid") == 0)
            ld.lines[ld.n - 1].oid = lineno;
    }
    if (in_section && (rc = loader_finish(&ld, err, errlen)) != 0)
        goto out;
    *out = ld.items;
    *n = ld.n;
    ld.items = NULL;
    rc = 0;
out:
    free(ld.items);
    free(ld.lines);
    free(ld.slots);
    free(dircopy);
    free(text);
    return rc;
}

/* ---- SQLite plumbing -------------------------------------------------------------------- */

static int map_sqlite(int src)
{
    switch (src & 0xFF) {
    case SQLITE_FULL:
        return CDX_EFULL;
    case SQLITE_NOMEM:
        return CDX_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CDX_EBUSY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return CDX_EIO;
    case SQLITE_CONSTRAINT:
        if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
            return CDX_ECONFLICT;
        return CDX_EDB;
    default:
        return CDX_EDB;
    }
}

/* Records why a SQLite call failed in reg->errmsg and returns the project's error code. */
static int db_fail(cdx_registry_t *reg, int src, const char *what)
{
    reg->last_sqlite_rc = src;
    cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: %s (sqlite code %d)", what,
            sqlite3_errmsg(reg->db), src);
    return map_sqlite(src);
}

static int exec_sql(cdx_registry_t *reg, const char *sql, const char *what)
{
    int src = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : db_fail(reg, src, what);
}

static int prepare(cdx_registry_t *reg, const char *sql, sqlite3_stmt **st)
{
    int src = sqlite3_prepare_v2(reg->db, sql, -1, st, NULL);
    if (src != SQLITE_OK) {
        *st = NULL;
        return db_fail(reg, src, "preparing a statement");
    }
    return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Steps a statement that must finish without returning rows. */
static int step_done(cdx_registry_t *reg, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        return 0;
    if (src == SQLITE_ROW) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "%s: unexpected result row", what);
        return CDX_EDB;
    }
    return db_fail(reg, src, what);
}

/* Prepares sql, binds n text values (NULL binds SQL NULL) to ?1..?n, runs
 * it to completion and finalizes it: the common shape of a single write. */
static int exec_texts(cdx_registry_t *reg, const char *sql, const char *what,
                      const char *const *values, int n)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        return rc;
    int src = SQLITE_OK;
    for (int i = 0; i < n && src == SQLITE_OK; i++)
        src = bind_text(st, i + 1, values[i]);
    rc = src == SQLITE_OK ? step_done(reg, st, what) : db_fail(reg, src, what);
    sqlite3_finalize(st);
    return rc;
}

/* The same for statements taking an id as ?1 and a text as ?2. */
static int exec_id_text(cdx_registry_t *reg, const char *sql, const char *what, int64_t id,
                        const char *text)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, text);
    rc = src == SQLITE_OK ? step_done(reg, st, what) : db_fail(reg, src, what);
    sqlite3_finalize(st);
    return rc;
}

/* Runs a one-value query; *out is "" when there is no row or the value is NULL. */
static int query_text(cdx_registry_t *reg, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        goto out;
    out[0] = '\0';
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL)
            cdx_strlcpy(out, v, n);
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            rc = db_fail(reg, sqlite3_errcode(reg->db), sql);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, sql);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static int query_int64(cdx_registry_t *reg, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, sql, &st);
    if (rc != 0)
        goto out;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (src == SQLITE_DONE)
        *out = 0;
    else
        rc = db_fail(reg, src, sql);
out:
    sqlite3_finalize(st);
    return rc;
}

static int tx_begin(cdx_registry_t *reg)
{
    /* IMMEDIATE takes the write lock up front, so a concurrent writer makes us wait (busy_timeout)
     * here instead of failing with SQLITE_BUSY halfway through the transaction. */
    return exec_sql(reg, "BEGIN IMMEDIATE", "starting a transaction");
}

static int tx_commit(cdx_registry_t *reg)
{
    return exec_sql(reg, "COMMIT", "committing");
}

/* Rolls back the transaction this module began, if SQLite has not already ended it. */
static void tx_rollback(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db))
        (void)sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- Migrations ------------------------------------------------------------------------- */

typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

static const char migration_1[] =
    "CREATE TABLE institutions ("
    "  id INTEGER PRIMARY KEY,"
    "  oid TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  roles INTEGER NOT NULL DEFAULT 0 CHECK (roles >= 0),"
    "  endpoint TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE TABLE institution_credentials ("
    "  id INTEGER PRIMARY KEY,"
    "  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('cert', 'spki')),"
    "  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64)"
    ");"
    "CREATE INDEX institution_credentials_by_institution"
    "  ON institution_credentials(institution_id);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  actor_oid TEXT,"
    "  actor_user TEXT,"
    "  purpose TEXT,"
    "  outcome INTEGER NOT NULL,"
    "  patient_key TEXT,"
    "  document_id TEXT,"
    "  detail TEXT,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");";


static const char migration_2[] =
    "ALTER TABLE institutions ADD COLUMN policy INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE documents ("
    "  id INTEGER PRIMARY KEY,"
    "  uid TEXT NOT NULL UNIQUE,"
    "  unique_id TEXT NOT NULL UNIQUE,"
    "  set_id TEXT,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  replaces TEXT,"
    "  status TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'superseded')),"
    "  submitter_id INTEGER NOT NULL REFERENCES institutions(id),"
    "  custodian_oid TEXT,"
    "  author_oid TEXT,"
    "  type_code TEXT,"
    "  type_system TEXT,"
    "  title TEXT,"
    "  creation_time TEXT,"
    "  service_start TEXT,"
    "  service_stop TEXT,"
    "  confidentiality TEXT,"
    "  language TEXT,"
    "  patient_root TEXT,"
    "  patient_ext TEXT,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  normalized_sha256 TEXT,"
    "  mapping_version TEXT,"
    "  meta_json TEXT NOT NULL,"
    "  warnings_json TEXT,"
    "  stored_at TEXT NOT NULL"
    ");"
    "CREATE INDEX documents_by_patient ON documents(patient_root, patient_ext);"
    "CREATE INDEX documents_by_sha256 ON documents(sha256);"
    "CREATE INDEX documents_by_set ON documents(set_id, version);"
    "CREATE TABLE document_content ("
    "  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
    "  original BLOB NOT NULL,"
    "  normalized BLOB"
    ");"
    "CREATE TABLE document_patient_ids ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  root TEXT NOT NULL,"
    "  extension TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (document_id, root, extension)"
    ");"
    "CREATE INDEX document_patient_ids_by_id ON document_patient_ids(root, extension);"
    "CREATE TABLE facts ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  code_system TEXT,"
    "  code TEXT,"
    "  display TEXT,"
    "  value TEXT,"
    "  value_num REAL,"
    "  unit TEXT,"
    "  time_low TEXT,"
    "  time_high TEXT,"
    "  status TEXT,"
    "  data TEXT NOT NULL"
    ");"
    "CREATE INDEX facts_by_document ON facts(document_id);"
    "CREATE INDEX facts_by_code ON facts(kind, code_system, code);"
    "CREATE TABLE state ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");";

static const char migration_3[] =
    "CREATE TABLE institution_id_roots ("
    "  id INTEGER PRIMARY KEY,"
    "  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,"
    "  root TEXT NOT NULL UNIQUE"
    ");"
    "CREATE INDEX institution_id_roots_by_institution ON institution_id_roots(institution_id);"
    "CREATE INDEX documents_by_replaces ON documents(replaces);";

/* Applied in order at open.  Append new migrations with the next version number; never edit
 * one that has shipped, because databases in the field have already recorded it as applied. */
static const migration_t migrations[] = {
    {1, "institutions, credentials and audit", migration_1},
    {2, "documents, content, patient ids, facts, state", migration_2},
    {3, "institution id roots, replacements index", migration_3},
};

/* Applies pending migrations one transaction each, re-reading the version inside every
 * transaction so two processes opening the same new database do not both apply a step. */
static int migrate(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    const int latest = migrations[CDX_ARRAY_SIZE(migrations) - 1].version;
    int rc = 0;
    int began = 0;
    sqlite3_stmt *st = NULL;
    for (;;) {
        rc = tx_begin(reg);
        if (rc != 0)
            goto out;
        began = 1;
        rc = exec_sql(reg,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "  version INTEGER PRIMARY KEY,"
                      "  name TEXT NOT NULL,"
                      "  applied_at TEXT NOT NULL)",
                      "creating schema_migrations");
        if (rc != 0)
            goto out;
        int64_t current = 0;
        rc = query_int64(reg, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
        if (rc != 0)
            goto out;
        if (current > latest) {
            cdx_errf(err, errlen,
                    "%s: database schema version %lld is newer than this cdxgw knows (%d); "
                    "use the cdxgw release that wrote it, or a newer one",
                    path, (long long)current, latest);
            rc = CDX_EDB;
            goto out;
        }
        const migration_t *m = NULL;
        for (size_t i = 0; i < CDX_ARRAY_SIZE(migrations); i++) {
            CDX_ASSERT(i == 0 || migrations[i].version > migrations[i - 1].version);
            if (migrations[i].version > current) {
                m = &migrations[i];
                break;
            }
        }
        if (m == NULL) {
            rc = tx_commit(reg);
            if (rc != 0)
                goto out;
            began = 0;
            reg->schema_version = (int)current;
            break;
        }
        char what[160];
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
        rc = exec_sql(reg, m->sql, what);
        if (rc != 0)
            goto out;
        char ts[32];
        now_rfc3339(ts);
        rc = prepare(
            reg, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            &st);
        if (rc != 0)
            goto out;
        int src = sqlite3_bind_int(st, 1, m->version);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, m->name);
        if (src == SQLITE_OK)
            src = bind_text(st, 3, ts);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "recording a migration");
            goto out;
        }
        rc = step_done(reg, st, "recording a migration");
        if (rc != 0)
            goto out;
        sqlite3_finalize(st);
        st = NULL;
        rc = tx_commit(reg);
        if (rc != 0)
            goto out;
        began = 0;
    }
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        if (began)
            tx_rollback(reg);
        /* Reasons set above are more specific than the SQLite message. */
        if (err != NULL && errlen > 0 && err[0] == '\0')
            cdx_errf(err, errlen, "%s: schema migration failed: %s", path, reg->errmsg);
    }
    return rc;
}

/* ---- Open and close --------------------------------------------------------------------- */

/* Creates the parent folder (0700) and the database file (0600) before SQLite does, so the
 * file never exists with the process umask's wider permissions.  SQLite gives the -wal and
 * -shm files the same mode as the database. */
static int prepare_file(const char *path, char *err, size_t errlen)
{
    int rc = 0;
    int fd = -1;
    char *copy = strdup(path);
    if (copy == NULL) {
        rc = CDX_ENOMEM;
        cdx_errf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const char *dir = dirname(copy);
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0) {
        rc = cdx_mkdirs(dir, 0700);
        if (rc != 0) {
            cdx_errf(err, errlen, "%s: cannot create folder %s: %s", path, dir, cdx_strerror(rc));
            rc = CDX_EIO;
            goto out;
        }
    }
    /* Never open() and close() an existing database file here: closing
     * any descriptor of a file drops every POSIX lock this process holds
     * on it, including those of SQLite connections already open (the
     * writer, when a reader is opened), and another process could then
     * checkpoint and remove the WAL under our feet.  Only a missing file
     * is created, and an existing one is inspected and chmod-ed by path. */
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            cdx_errf(err, errlen, "%s: %s", path, strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            cdx_errf(err, errlen, "%s: cannot create the database file: %s", path,
                    strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
        if (fd >= 0) {
            close(fd);
            fd = -1;
        }
        if (stat(path, &st) != 0) {
            cdx_errf(err, errlen, "%s: %s", path, strerror(errno));
            rc = CDX_EIO;
            goto out;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        cdx_errf(err, errlen, "%s: not a regular file", path);
        rc = CDX_EIO;
        goto out;
    }
    /* The registry holds keyed patient hashes and the audit trail: only the owner may read it,
     * also when an older installation created it with wider permissions. */
    if ((st.st_mode & 07777) != 0600 && chmod(path, 0600) != 0) {
        cdx_errf(err, errlen, "%s: cannot set mode 0600: %s", path, strerror(errno));
        rc = CDX_EIO;
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int configure(cdx_registry_t *reg, const char *path, char *err, size_t errlen)
{
    /* busy_timeout comes first so that switching to WAL waits for another process's lock. */
    static const char *const pragmas[] = {
        "PRAGMA busy_timeout = 5000",  "PRAGMA synchronous = FULL",   "PRAGMA foreign_keys = ON",
        "PRAGMA trusted_schema = OFF", "PRAGMA cell_size_check = ON", "PRAGMA secure_delete = ON",
        "PRAGMA temp_store = MEMORY",
    };
    int rc = 0;
    char value[256];

    int src = sqlite3_db_config(reg->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "enabling defensive mode");
        goto fail;
    }
    rc = exec_sql(reg, pragmas[0], pragmas[0]);
    if (rc != 0)
        goto fail;
    rc = query_text(reg, "PRAGMA journal_mode = WAL", value, sizeof value);
    if (rc != 0)
        goto fail;
    if (strcmp(value, "wal") != 0) {
        cdx_errf(err, errlen,
                "%s: journal_mode is '%s', not 'wal' (WAL needs a local file system with shared "
                "memory; is the data folder on a network file system?)",
                path, value);
        return CDX_EDB;
    }
    for (size_t i = 1; i < CDX_ARRAY_SIZE(pragmas); i++) {
        rc = exec_sql(reg, pragmas[i], pragmas[i]);
        if (rc != 0)
            goto fail;
    }
    /* PRAGMA foreign_keys silently does nothing in some builds; ON DELETE CASCADE relies on it. */
    int64_t fk = 0;
    rc = query_int64(reg, "PRAGMA foreign_keys", &fk);
    if (rc != 0)
        goto fail;
    if (fk != 1) {
        cdx_errf(err, errlen, "%s: this SQLite does not enforce foreign keys", path);
        return CDX_EDB;
    }
    /* quick_check reads the whole file; once per process and path is
     * enough (the readers opened after the writer skip it). */
    if (reg->skip_check)
        return 0;
    rc = query_text(reg, "PRAGMA quick_check", value, sizeof value);
    if (rc != 0)
        goto fail;
    if (strcmp(value, "ok") != 0) {
        cdx_errf(err, errlen, "%s: database is damaged (quick_check: %s); restore it from a backup",
                path, value);
        return CDX_EDB;
    }
    return 0;
fail:
    if ((reg->last_sqlite_rc & 0xFF) == SQLITE_NOTADB)
        cdx_errf(err, errlen, "%s: not a SQLite database (wrong path, or a damaged file?)", path);
    else
        cdx_errf(err, errlen, "%s: %s", path, reg->errmsg);
    return rc;
}

static int registry_open(const char *path, int skip_check, cdx_registry_t **out, char *err,
                         size_t errlen);

int cdx_registry_open(const char *path, cdx_registry_t **out, char *err, size_t errlen)
{
    return registry_open(path, 0, out, err, errlen);
}

int cdx_registry_open_reader(const char *path, cdx_registry_t **out, char *err, size_t errlen)
{
    return registry_open(path, 1, out, err, errlen);
}

static int registry_open(const char *path, int skip_check, cdx_registry_t **out, char *err,
                         size_t errlen)
{
    int rc = 0;
    cdx_registry_t *reg = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || path[0] == '\0' || out == NULL) {
        cdx_errf(err, errlen, "registry: no database path given");
        return CDX_EINVAL;
    }
    *out = NULL;
    reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        cdx_errf(err, errlen, "%s: out of memory", path);
        return CDX_ENOMEM;
    }
    reg->skip_check = skip_check;
    rc = prepare_file(path, err, errlen);
    if (rc != 0)
        goto out;
    int src = sqlite3_open_v2(path, &reg->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                  SQLITE_OPEN_EXRESCODE,
                              cdx_testvfs_name()); /* NULL (the default VFS) but in tests */
    if (src != SQLITE_OK) {
        cdx_errf(err, errlen, "%s: cannot open database: %s", path,
                reg->db != NULL ? sqlite3_errmsg(reg->db) : sqlite3_errstr(src));
        rc = map_sqlite(src);
        goto out;
    }
    rc = configure(reg, path, err, errlen);
    if (rc != 0)
        goto out;
    rc = migrate(reg, path, err, errlen);
    if (rc != 0)
        goto out;
    reg->errmsg[0] = '\0';
    *out = reg;
    reg = NULL;
out:
    cdx_registry_close(reg);
    return rc;
}

void cdx_registry_close(cdx_registry_t *reg)
{
    if (reg == NULL)
        return;
    /* close_v2 defers the close should a statement still be open instead of leaking the db. */
    if (reg->db != NULL)
        (void)sqlite3_close_v2(reg->db);
    free(reg);
}

int cdx_registry_schema_version(cdx_registry_t *reg)
{
    return reg != NULL ? reg->schema_version : 0;
}

const char *cdx_registry_errmsg(const cdx_registry_t *reg)
{
    return reg != NULL ? reg->errmsg : "no registry";
}

/* ---- Audit chain ------------------------------------------------------------------------ */

#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* A string field as stored: p == NULL is SQL NULL, distinct from "". */
typedef struct span {
    const char *p;
    size_t n;
} span_t;

typedef struct audit_row {
    int64_t seq;
    span_t ts, event, actor_oid, actor_user, purpose;
    int64_t outcome;
    span_t patient_key, document_id, detail;
} audit_row_t;

static span_t span_of(const char *s)
{
    span_t sp = {s, s != NULL ? strlen(s) : 0};
    return sp;
}

static void hash_bytes(EVP_MD_CTX *ctx, int *ok, const void *p, size_t n)
{
    if (*ok && n > 0 && EVP_DigestUpdate(ctx, p, n) != 1)
        *ok = 0;
}

static void hash_u64(EVP_MD_CTX *ctx, int *ok, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    hash_bytes(ctx, ok, b, sizeof b);
}

/* A string is a presence byte (0 NULL, 1 present) then, if present, its length as 8 big-endian
 * bytes and its bytes, so no two different field sequences encode the same. */
static void hash_span(EVP_MD_CTX *ctx, int *ok, span_t s)
{
    unsigned char present = s.p != NULL;
    hash_bytes(ctx, ok, &present, 1);
    if (present) {
        hash_u64(ctx, ok, (uint64_t)s.n);
        hash_bytes(ctx, ok, s.p, s.n);
    }
}

/* hash = SHA-256(tag, prev_hash, seq, ts, event, actor_oid, actor_user, purpose, outcome,
 * patient_key, document_id, detail), integers as 8 big-endian bytes, strings as above.  The
 * sequence number is covered so that renumbering rows breaks the chain too. */
static int audit_hash(const char *prev_hash, const audit_row_t *r, char out[65])
{
    static const char tag[] = "cdx.audit.v1";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CDX_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        ok = 0;
    hash_span(ctx, &ok, span_of(tag));
    hash_span(ctx, &ok, span_of(prev_hash));
    hash_u64(ctx, &ok, (uint64_t)r->seq);
    hash_span(ctx, &ok, r->ts);
    hash_span(ctx, &ok, r->event);
    hash_span(ctx, &ok, r->actor_oid);
    hash_span(ctx, &ok, r->actor_user);
    hash_span(ctx, &ok, r->purpose);
    hash_u64(ctx, &ok, (uint64_t)r->outcome);
    hash_span(ctx, &ok, r->patient_key);
    hash_span(ctx, &ok, r->document_id);
    hash_span(ctx, &ok, r->detail);
    if (ok && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
        ok = 0;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return CDX_ECRYPTO;
    cdx_hex(md, 32, out);
    return 0;
}

static int audit_event_ok(const cdx_audit_event_t *ev)
{
    return ev != NULL && ev->event != NULL && ev->event[0] != '\0' &&
           (ev->outcome == 0 || ev->outcome == 4 || ev->outcome == 8 || ev->outcome == 12);
}

/* Appends ev to the chain.  Must run inside a transaction this module began, so that the row
 * read as "previous" is still the last one when the new row is inserted and so that the audit
 * row commits or rolls back together with the change it records. */
static int audit_append(cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    CDX_ASSERT(!sqlite3_get_autocommit(reg->db));
    sqlite3_stmt *st = NULL;
    char prev[65] = AUDIT_ZERO_HASH;
    char hash[65];
    char ts[32];
    audit_row_t row;
    int rc;

    if (!audit_event_ok(ev)) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg,
                "audit: an event name and an outcome of 0, 4, 8 or 12 are required");
        return CDX_EINVAL;
    }
    rc = prepare(reg, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st);
    if (rc != 0)
        goto out;
    int64_t last = 0;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (h == NULL || strlen(h) != 64) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "audit: row %lld has a malformed hash; run the audit verification",
                    (long long)last);
            rc = CDX_EDB;
            goto out;
        }
        memcpy(prev, h, 65);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "reading the last audit row");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (last == INT64_MAX) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: sequence exhausted");
        rc = CDX_ERANGE;
        goto out;
    }

    now_rfc3339(ts);
    row = (audit_row_t){
        .seq = last + 1,
        .ts = span_of(ts),
        .event = span_of(ev->event),
        .actor_oid = span_of(ev->actor_oid),
        .actor_user = span_of(ev->actor_user),
        .purpose = span_of(ev->purpose),
        .outcome = ev->outcome,
        .patient_key = span_of(ev->patient_key),
        .document_id = span_of(ev->document_id),
        .detail = span_of(ev->detail),
    };
    rc = audit_hash(prev, &row, hash);
    if (rc != 0) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s", cdx_strerror(rc));
        goto out;
    }
    rc = prepare(reg,
                 "INSERT INTO audit (seq, ts, event, actor_oid, actor_user, purpose, outcome,"
                 " patient_key, document_id, detail, prev_hash, hash)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, row.seq);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, ts);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, ev->event);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, ev->actor_oid);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, ev->actor_user);
    if (src == SQLITE_OK)
        src = bind_text(st, 6, ev->purpose);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 7, ev->outcome);
    if (src == SQLITE_OK)
        src = bind_text(st, 8, ev->patient_key);
    if (src == SQLITE_OK)
        src = bind_text(st, 9, ev->document_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 10, ev->detail);
    if (src == SQLITE_OK)
        src = bind_text(st, 11, prev);
    if (src == SQLITE_OK)
        src = bind_text(st, 12, hash);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an audit row");
        goto out;
    }
    rc = step_done(reg, st, "writing an audit row");
out:
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_audit(cdx_registry_t *reg, const cdx_audit_event_t *ev)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (!audit_event_ok(ev)) {
        cdx_errf(reg->errmsg, sizeof reg->errmsg,
                "audit: an event name and an outcome of 0, 4, 8 or 12 are required");
        return CDX_EINVAL;
    }
    /* Inside the caller's transaction (the writer's batch) or one of its own. */
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = audit_append(reg, ev);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

static span_t column_span(sqlite3_stmt *st, int col)
{
    span_t s = {NULL, 0};
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return s;
    s.p = (const char *)sqlite3_column_text(st, col);
    s.n = (size_t)sqlite3_column_bytes(st, col);
    if (s.p == NULL)
        s.p = "";
    return s;
}

/* Whether every column of an audit row has the type audit_append stores: the hash reads text and
 * integers, and a BLOB with the same bytes as a text, or a text such as '4 (amended)' where an
 * integer belongs, would read back the same while not being what was recorded. */
static int stored_types_ok(sqlite3_stmt *st)
{
    for (int col = 1; col <= 11; col++) {
        int type = sqlite3_column_type(st, col);
        int nullable = col >= 3 && col <= 9 && col != 6;
        if (col == 6 ? type != SQLITE_INTEGER
                     : !(type == SQLITE_TEXT || (nullable && type == SQLITE_NULL)))
            return 0;
    }
    return 1;
}

int cdx_registry_audit_verify(cdx_registry_t *reg, int64_t *bad_seq)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (bad_seq != NULL)
        *bad_seq = 0;
    sqlite3_stmt *st = NULL;
    char expected_prev[65] = AUDIT_ZERO_HASH;
    int rc = prepare(reg,
                     "SELECT seq, ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
                     " document_id, detail, prev_hash, hash FROM audit ORDER BY seq",
                     &st);
    if (rc != 0)
        goto out;
    /* One statement reads one consistent snapshot even while others append. */
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "reading the audit trail");
            goto out;
        }
        /* Before any column is read: reading converts a value's type in place. */
        int types_ok = stored_types_ok(st);
        audit_row_t row = {
            .seq = sqlite3_column_int64(st, 0),
            .ts = column_span(st, 1),
            .event = column_span(st, 2),
            .actor_oid = column_span(st, 3),
            .actor_user = column_span(st, 4),
            .purpose = column_span(st, 5),
            .outcome = sqlite3_column_int64(st, 6),
            .patient_key = column_span(st, 7),
            .document_id = column_span(st, 8),
            .detail = column_span(st, 9),
        };
        span_t prev = column_span(st, 10);
        span_t stored = column_span(st, 11);
        char computed[65];
        rc = audit_hash(expected_prev, &row, computed);
        if (rc != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "audit: hashing failed: %s", cdx_strerror(rc));
            goto out;
        }
        if (!types_ok || prev.p == NULL || prev.n != 64 ||
            memcmp(prev.p, expected_prev, 64) != 0 ||
            stored.p == NULL || stored.n != 64 || memcmp(stored.p, computed, 64) != 0) {
            if (bad_seq != NULL)
                *bad_seq = row.seq;
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "audit: chain broken at seq %lld (row changed, removed or inserted)",
                    (long long)row.seq);
            rc = CDX_ECONFLICT;
            goto out;
        }
        memcpy(expected_prev, computed, 65);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- Institutions ----------------------------------------------------------------------- */

/* Replaces the id roots of institution `id`.  A root another institution holds is refused, so
 * that the id-ownership check at ingest never has two owners to choose from. */
static int put_id_roots(cdx_registry_t *reg, const cdx_institution_t *inst, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT i.oid FROM institution_id_roots AS r"
                     " JOIN institutions AS i ON i.id = r.institution_id"
                     " WHERE r.root = ?1 AND r.institution_id <> ?2",
                     &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = bind_text(st, 1, inst->id_roots[i]);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 2, id);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding an id root");
            break;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "id_root %s already belongs to institution %s",
                     inst->id_roots[i], owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
        } else if (src != SQLITE_DONE) {
            rc = db_fail(reg, src, "checking id roots");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "DELETE FROM institution_id_roots WHERE institution_id = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(reg, st, "removing old id roots");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "INSERT INTO institution_id_roots (institution_id, root) VALUES (?1, ?2)",
                 &st);
    for (size_t i = 0; rc == 0 && i < inst->nid_roots; i++) {
        int src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->id_roots[i]);
        rc = src == SQLITE_OK ? step_done(reg, st, "writing an id root")
                              : db_fail(reg, src, "binding an id root");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int put_institution_tx(cdx_registry_t *reg, const cdx_institution_t *inst, const char *actor)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    int rc = 0;
    int src;

    /* Checked before any write so that the operator learns which institution holds the key. */
    rc = prepare(reg,
                 "SELECT i.oid FROM institution_credentials AS c"
                 " JOIN institutions AS i ON i.id = c.institution_id"
                 " WHERE c.sha256 = ?1 AND i.oid <> ?2",
                 &st);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < inst->ncreds; i++) {
        src = bind_text(st, 1, inst->creds[i].sha256);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->oid);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding a credential");
            goto out;
        }
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "credential %s already belongs to institution %s", inst->creds[i].sha256,
                    owner != NULL ? owner : "?");
            rc = CDX_ECONFLICT;
            goto out;
        }
        if (src != SQLITE_DONE) {
            rc = db_fail(reg, src, "checking credentials");
            goto out;
        }
        src = sqlite3_reset(st);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "checking credentials");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;

    now_rfc3339(ts);
    rc = prepare(reg,
                 "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at,"
                 " policy)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
                 " ON CONFLICT (oid) DO UPDATE SET name = excluded.name,"
                 " roles = excluded.roles, endpoint = excluded.endpoint,"
                 " updated_at = excluded.updated_at, policy = excluded.policy"
                 " RETURNING id",
                 &st);
    if (rc != 0)
        goto out;
    src = bind_text(st, 1, inst->oid);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, inst->name);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, (int64_t)inst->roles);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, inst->endpoint);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, ts);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 6, (int64_t)inst->policy);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an institution");
        goto out;
    }
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CDX_EDB : db_fail(reg, src, "writing an institution");
        if (src == SQLITE_DONE)
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "writing an institution: no id returned");
        goto out;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    rc = step_done(reg, st, "writing an institution");
    if (rc != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg, "DELETE FROM institution_credentials WHERE institution_id = ?1", &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, id);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding an institution id");
        goto out;
    }
    rc = step_done(reg, st, "removing old credentials");
    if (rc != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg,
                 "INSERT INTO institution_credentials (institution_id, kind, sha256)"
                 " VALUES (?1, ?2, ?3)",
                 &st);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < inst->ncreds; i++) {
        src = sqlite3_bind_int64(st, 1, id);
        if (src == SQLITE_OK)
            src = bind_text(st, 2, inst->creds[i].spki ? "spki" : "cert");
        if (src == SQLITE_OK)
            src = bind_text(st, 3, inst->creds[i].sha256);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "binding a credential");
            goto out;
        }
        rc = step_done(reg, st, "writing a credential");
        if (rc != 0)
            goto out;
        src = sqlite3_reset(st);
        if (src != SQLITE_OK) {
            rc = db_fail(reg, src, "writing a credential");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = put_id_roots(reg, inst, id);
    if (rc != 0)
        goto out;

    char roles[64];
    char detail[256];
    cdx_roles_format(inst->roles, roles, sizeof roles);
    snprintf(detail, sizeof detail, "oid=%s roles=%s creds=%zu id_roots=%zu", inst->oid, roles,
             inst->ncreds, inst->nid_roots);
    cdx_audit_event_t ev = {
        .event = "institution.upsert",
        .actor_oid = actor,
        .outcome = 0,
        .detail = detail,
    };
    rc = audit_append(reg, &ev);
out:
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_put_institution(cdx_registry_t *reg, const cdx_institution_t *inst,
                                 const char *actor)
{
    if (reg == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    if (inst == NULL || cdx_institution_check(inst, reg->errmsg, sizeof reg->errmsg) != 0)
        return CDX_EINVAL;
    int rc = tx_begin(reg);
    if (rc != 0)
        return rc;
    rc = put_institution_tx(reg, inst, actor);
    if (rc == 0)
        rc = tx_commit(reg);
    if (rc != 0)
        tx_rollback(reg);
    return rc;
}

static int copy_column(sqlite3_stmt *st, int col, char *dst, size_t n)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return cdx_strlcpy(dst, v != NULL ? v : "", n);
}

/* Adds the id roots to items (sorted by OID, as listed). */
static int list_id_roots(cdx_registry_t *reg, cdx_institution_t *items, size_t count)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT i.oid, r.root FROM institution_id_roots AS r"
                     " JOIN institutions AS i ON i.id = r.institution_id ORDER BY i.oid, r.id",
                     &st);
    size_t k = 0;
    while (rc == 0) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "listing id roots");
            break;
        }
        const char *oid = (const char *)sqlite3_column_text(st, 0);
        while (oid != NULL && k < count && strcmp(items[k].oid, oid) < 0)
            k++;
        if (oid == NULL || k == count || strcmp(items[k].oid, oid) != 0)
            continue; /* registered after the institutions were read */
        cdx_institution_t *inst = &items[k];
        if (inst->nid_roots >= CDX_INST_MAX_ID_ROOTS ||
            copy_column(st, 1, inst->id_roots[inst->nid_roots], sizeof inst->id_roots[0]) != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                     "institution %s has too many or malformed id roots", inst->oid);
            rc = CDX_EDB;
            break;
        }
        inst->nid_roots++;
    }
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_list_institutions(cdx_registry_t *reg, cdx_institution_t **out, size_t *n)
{
    if (reg == NULL || out == NULL || n == NULL)
        return CDX_EINVAL;
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    cdx_institution_t *items = NULL;
    size_t count = 0, cap = 0;
    int64_t last_id = 0;
    sqlite3_stmt *st = NULL;
    /* One joined statement, so institutions and credentials come from one snapshot. */
    int rc = prepare(reg,
                     "SELECT i.id, i.oid, i.name, i.roles, i.endpoint, c.kind, c.sha256, i.policy"
                     " FROM institutions AS i"
                     " LEFT JOIN institution_credentials AS c ON c.institution_id = i.id"
                     " ORDER BY i.oid, c.id",
                     &st);
    if (rc != 0)
        goto out;
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "listing institutions");
            goto out;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        if (count == 0 || id != last_id) {
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                cdx_institution_t *grown = realloc(items, ncap * sizeof *items);
                if (grown == NULL) {
                    rc = CDX_ENOMEM;
                    goto out;
                }
                items = grown;
                cap = ncap;
            }
            cdx_institution_t *inst = &items[count++];
            memset(inst, 0, sizeof *inst);
            last_id = id;
            int64_t roles = sqlite3_column_int64(st, 3);
            if (copy_column(st, 1, inst->oid, sizeof inst->oid) != 0 ||
                copy_column(st, 2, inst->name, sizeof inst->name) != 0 ||
                copy_column(st, 4, inst->endpoint, sizeof inst->endpoint) != 0 || roles < 0 ||
                roles > (int64_t)ROLE_ALL) {
                cdx_errf(reg->errmsg, sizeof reg->errmsg,
                        "institution id %lld has a field out of range", (long long)id);
                rc = CDX_EDB;
                goto out;
            }
            inst->roles = (unsigned)roles;
            inst->policy = (unsigned)sqlite3_column_int64(st, 7);
        }
        if (sqlite3_column_type(st, 6) == SQLITE_NULL)
            continue;
        cdx_institution_t *inst = &items[count - 1];
        const char *kind = (const char *)sqlite3_column_text(st, 5);
        if (inst->ncreds >= CDX_INST_MAX_CREDS || kind == NULL ||
            copy_column(st, 6, inst->creds[inst->ncreds].sha256, 65) != 0) {
            cdx_errf(reg->errmsg, sizeof reg->errmsg,
                    "institution %s has too many or malformed credentials", inst->oid);
            rc = CDX_EDB;
            goto out;
        }
        inst->creds[inst->ncreds].spki = strcmp(kind, "spki") == 0;
        inst->ncreds++;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = list_id_roots(reg, items, count);
    if (rc != 0)
        goto out;
    *out = items;
    *n = count;
    items = NULL;
out:
    sqlite3_finalize(st);
    free(items);
    return rc;
}

/* ---- Transactions for the writer ----------------------------------------------------------- */

int cdx_registry_begin(cdx_registry_t *reg)
{
    return tx_begin(reg);
}

int cdx_registry_commit(cdx_registry_t *reg)
{
    return tx_commit(reg);
}

void cdx_registry_rollback(cdx_registry_t *reg)
{
    tx_rollback(reg);
}

int cdx_registry_savepoint(cdx_registry_t *reg)
{
    return exec_sql(reg, "SAVEPOINT change", "opening a savepoint");
}

int cdx_registry_release(cdx_registry_t *reg)
{
    return exec_sql(reg, "RELEASE change", "releasing a savepoint");
}

void cdx_registry_rollback_savepoint(cdx_registry_t *reg)
{
    if (!sqlite3_get_autocommit(reg->db)) {
        (void)sqlite3_exec(reg->db, "ROLLBACK TO change", NULL, NULL, NULL);
        (void)sqlite3_exec(reg->db, "RELEASE change", NULL, NULL, NULL);
    }
}

int cdx_registry_manual_checkpoints(cdx_registry_t *reg)
{
    return exec_sql(reg, "PRAGMA wal_autocheckpoint = 0", "turning automatic checkpoints off");
}

int cdx_registry_checkpoint(cdx_registry_t *reg)
{
    int src = sqlite3_wal_checkpoint_v2(reg->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return src == SQLITE_OK || src == SQLITE_BUSY ? 0 : db_fail(reg, src, "checkpointing");
}

int cdx_registry_last_sqlite_code(const cdx_registry_t *reg)
{
    return reg->last_sqlite_rc;
}

int cdx_registry_ensure_institution(cdx_registry_t *reg, const char *oid, const char *name)
{
    if (oid == NULL || oid[0] == '\0') {
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "registering an institution: no OID");
        return CDX_EINVAL;
    }
    char ts[32];
    now_rfc3339(ts);
    const char *values[] = {oid, name && name[0] ? name : oid, ts};
    return exec_texts(reg,
                      "INSERT INTO institutions (oid, name, roles, endpoint, created_at, updated_at)"
                      " VALUES (?1, ?2, 0, '', ?3, ?3) ON CONFLICT (oid) DO NOTHING",
                      "registering an institution", values, 3);
}

/* ---- Documents --------------------------------------------------------------------------- */

void cdx_registry_doc_uid(const char *unique_id, char out[33])
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(unique_id, strlen(unique_id), md, &len, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof md);
    cdx_hex(md, 16, out);
}

static int bind_all_text(sqlite3_stmt *st, const char *const *values, int n)
{
    for (int i = 0; i < n; i++) {
        int src = bind_text(st, i + 1, values[i]);
        if (src != SQLITE_OK)
            return src;
    }
    return SQLITE_OK;
}


static int bind_fact(sqlite3_stmt *st, int64_t doc_id, const cdx_fact_row_t *f)
{
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, f->kind);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, f->code_system);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, f->code);
    if (src == SQLITE_OK)
        src = bind_text(st, 5, f->display);
    if (src == SQLITE_OK)
        src = bind_text(st, 6, f->value);
    if (src == SQLITE_OK)
        src = f->has_number ? sqlite3_bind_double(st, 7, f->number) : sqlite3_bind_null(st, 7);
    if (src == SQLITE_OK)
        src = bind_text(st, 8, f->unit);
    if (src == SQLITE_OK)
        src = bind_text(st, 9, f->time_low);
    if (src == SQLITE_OK)
        src = bind_text(st, 10, f->time_high);
    if (src == SQLITE_OK)
        src = bind_text(st, 11, f->status);
    if (src == SQLITE_OK)
        src = bind_text(st, 12, f->data ? f->data : "{}");
    return src;
}

/* Inserts the facts of a document: rows prepared by the pipeline on a
 * worker thread (the writer only binds), or else the extractor's JSON
 * grouping read here (older callers, tests). */
static int insert_facts(cdx_registry_t *reg, int64_t doc_id, const char *facts_json,
                        const cdx_fact_row_t *rows, size_t nrows)
{
    json_t *root = NULL;
    cdx_fact_row_t *parsed = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (rows == NULL && facts_json != NULL) {
        json_error_t jerr;
        root = json_loads(facts_json, 0, &jerr);
        if (!json_is_object(root)) {
            json_decref(root);
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "facts: not a JSON object");
            return CDX_EINVAL;
        }
        rc = cdx_fact_rows_from_json(root, &parsed, &nrows);
        if (rc != 0)
            goto out;
        rows = parsed;
    }
    if (rows == NULL || nrows == 0)
        goto out;
    rc = prepare(reg,
                 "INSERT INTO facts (document_id, kind, code_system, code, display, value,"
                 " value_num, unit, time_low, time_high, status, data)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 &st);
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        int src = bind_fact(st, doc_id, &rows[i]);
        rc = src == SQLITE_OK ? step_done(reg, st, "storing a fact")
                              : db_fail(reg, src, "binding a fact");
        sqlite3_reset(st);
    }
out:
    sqlite3_finalize(st);
    cdx_fact_rows_free(parsed, nrows);
    json_decref(root);
    return rc;
}

static const char *json_str(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (!json_is_string(v) && k2 != NULL)
        v = json_object_get(o, k2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cdx_fact_rows_from_json(json_t *facts, cdx_fact_row_t **out, size_t *n)
{
    size_t total = 0;
    const char *kind;
    json_t *list;
    *out = NULL;
    *n = 0;
    json_object_foreach(facts, kind, list)
    {
        if (json_is_array(list))
            total += json_array_size(list);
    }
    if (total == 0)
        return 0;
    cdx_fact_row_t *rows = calloc(total, sizeof *rows);
    if (rows == NULL)
        return CDX_ENOMEM;
    size_t k = 0;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, f)
        {
            if (!json_is_object(f) || k >= total)
                continue;
            cdx_fact_row_t *r = &rows[k];
            r->data = json_dumps(f, JSON_COMPACT);
            if (r->data == NULL) {
                cdx_fact_rows_free(rows, k);
                return CDX_ENOMEM;
            }
            json_t *num = json_object_get(f, "number");
            json_t *et = json_object_get(f, "effectiveTime");
            r->kind = kind;
            r->code_system = json_str(f, "codeSystem", NULL);
            r->code = json_str(f, "code", NULL);
            r->display = json_str(f, "displayName", "originalText");
            r->value = json_str(f, "value", NULL);
            r->has_number = json_is_number(num);
            r->number = r->has_number ? json_number_value(num) : 0;
            r->unit = json_str(f, "unit", NULL);
            r->time_low = json_is_object(et) ? json_str(et, "low", NULL) : NULL;
            r->time_high = json_is_object(et) ? json_str(et, "high", NULL) : NULL;
            r->status = json_str(f, "status", NULL);
            k++;
        }
    }
    *out = rows;
    *n = k;
    return 0;
}

void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free((char *)rows[i].data);
    free(rows);
}

/* Whether rec may replace its parent: the parent is not stored yet, or it
 * was submitted by rec's submitter, or its custodian is rec's submitter. */
static int replacement_allowed(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                               int64_t submitter, int *allowed)
{
    sqlite3_stmt *st = NULL;
    *allowed = 1;
    int rc = prepare(reg,
                     "SELECT submitter_id = ?2 OR coalesce(custodian_oid = ?3, 0)"
                     " FROM documents WHERE unique_id = ?1",
                     &st);
    if (rc != 0)
        return rc;
    int src = bind_text(st, 1, rec->replaces);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, submitter);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, rec->submitter_oid);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *allowed = sqlite3_column_int(st, 0) != 0;
    else if (src != SQLITE_DONE)
        rc = db_fail(reg, src, "checking the replaced document");
    sqlite3_finalize(st);
    return rc;
}

/* Marks document doc_id (unique id unique_id, submitted by submitter,
 * custodian custodian_oid) superseded when a replacement of it is stored
 * already from its submitter or its custodian. */
static int supersede_if_replaced(cdx_registry_t *reg, int64_t doc_id, const char *unique_id,
                                 int64_t submitter, const char *custodian_oid)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "UPDATE documents SET status = 'superseded' WHERE id = ?1 AND EXISTS"
                     " (SELECT 1 FROM documents AS r WHERE r.replaces = ?2 AND r.id <> ?1"
                     "  AND (r.submitter_id = ?3 OR r.submitter_id IN"
                     "   (SELECT id FROM institutions WHERE oid = ?4)))",
                     &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, unique_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, submitter);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, custodian_oid);
    rc = src == SQLITE_OK ? step_done(reg, st, "checking replacements")
                          : db_fail(reg, src, "checking replacements");
    sqlite3_finalize(st);
    return rc;
}

static int store_document_tx(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                             const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                             char uid[33])
{
    sqlite3_stmt *st = NULL;
    int rc;
    int src;
    char ts[32];
    cdx_registry_doc_uid(rec->unique_id, uid);

    /* Idempotency: the same id with the same bytes is the same document. */
    rc = prepare(reg, "SELECT sha256 FROM documents WHERE unique_id = ?1", &st);
    if (rc != 0)
        goto out;
    src = bind_text(st, 1, rec->unique_id);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding a document id");
        goto out;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(st, 0);
        *outcome = sha != NULL && strcmp(sha, rec->sha256) == 0 ? CDX_STORE_IDENTICAL
                                                                : CDX_STORE_CONFLICT;
        sqlite3_finalize(st);
        st = NULL;
        if (audit != NULL) {
            /* A conflict is a refused import; a repeat is recorded as such. */
            cdx_audit_event_t ev = *audit;
            char detail[256];
            snprintf(detail, sizeof detail, "%s %s", *outcome == CDX_STORE_CONFLICT ?
                     "result=conflict" : "result=identical", audit->detail ? audit->detail : "");
            ev.detail = detail;
            if (*outcome == CDX_STORE_CONFLICT) {
                ev.event = "document.conflict";
                ev.outcome = 4;
            }
            rc = audit_append(reg, &ev);
        }
        goto out;
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "looking a document up");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = prepare(reg, "SELECT id FROM institutions WHERE oid = ?1", &st);
    if (rc != 0)
        goto out;
    bind_text(st, 1, rec->submitter_oid);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : db_fail(reg, src, "finding the submitter");
        if (src == SQLITE_DONE)
            cdx_errf(reg->errmsg, sizeof reg->errmsg, "submitter %s is not registered",
                    rec->submitter_oid);
        goto out;
    }
    int64_t submitter = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    if (rec->replaces != NULL) {
        int allowed = 1;
        rc = replacement_allowed(reg, rec, submitter, &allowed);
        if (rc != 0)
            goto out;
        if (!allowed) {
            *outcome = CDX_STORE_FORBIDDEN;
            if (audit != NULL) {
                cdx_audit_event_t ev = *audit;
                char detail[256];
                snprintf(detail, sizeof detail, "code=REPLACEMENT_FORBIDDEN %s",
                         audit->detail ? audit->detail : "");
                ev.event = "security.alert";
                ev.outcome = 8;
                ev.detail = detail;
                rc = audit_append(reg, &ev);
            }
            goto out;
        }
    }

    now_rfc3339(ts);
    rc = prepare(reg,
                 "INSERT INTO documents (uid, unique_id, set_id, replaces, custodian_oid,"
                 " author_oid, type_code, type_system, title, creation_time, service_start,"
                 " service_stop, confidentiality, language, patient_root, patient_ext, sha256,"
                 " normalized_sha256, mapping_version, meta_json, warnings_json, stored_at,"
                 " version, submitter_id, size)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                 " ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) RETURNING id",
                 &st);
    if (rc != 0)
        goto out;
    const char *texts[] = {uid,
                           rec->unique_id,
                           rec->set_id,
                           rec->replaces,
                           rec->custodian_oid,
                           rec->author_oid,
                           rec->type_code,
                           rec->type_system,
                           rec->title,
                           rec->creation_time,
                           rec->service_start,
                           rec->service_stop,
                           rec->confidentiality,
                           rec->language,
                           rec->patient_root,
                           rec->patient_ext,
                           rec->sha256,
                           rec->normalized_sha256,
                           rec->mapping_version,
                           rec->meta_json ? rec->meta_json : "{}",
                           rec->warnings_json,
                           ts};
    src = bind_all_text(st, texts, (int)CDX_ARRAY_SIZE(texts));
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 23, rec->version > 0 ? rec->version : 1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 24, submitter);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 25, (int64_t)rec->size);
    if (src != SQLITE_OK) {
        rc = db_fail(reg, src, "binding a document");
        goto out;
    }
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = db_fail(reg, src, "storing a document");
        goto out;
    }
    int64_t doc_id = sqlite3_column_int64(st, 0);
    rc = step_done(reg, st, "storing a document");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        goto out;

    rc = prepare(reg,
                 "INSERT INTO document_content (document_id, original, normalized)"
                 " VALUES (?1, ?2, ?3)",
                 &st);
    if (rc != 0)
        goto out;
    src = sqlite3_bind_int64(st, 1, doc_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob64(st, 2, rec->original ? rec->original : "", rec->size,
                                  SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = rec->normalized ? sqlite3_bind_blob64(st, 3, rec->normalized, rec->normalized_size,
                                                    SQLITE_STATIC)
                              : sqlite3_bind_null(st, 3);
    rc = src == SQLITE_OK ? step_done(reg, st, "storing document content")
                          : db_fail(reg, src, "binding document content");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        goto out;

    if (rec->npatient_ids > 0) {
        rc = prepare(reg,
                     "INSERT OR IGNORE INTO document_patient_ids (document_id, root, extension)"
                     " VALUES (?1, ?2, ?3)",
                     &st);
        for (size_t i = 0; rc == 0 && i < rec->npatient_ids; i++) {
            const char *root = rec->patient_ids[2 * i];
            const char *ext = rec->patient_ids[2 * i + 1];
            if (root == NULL)
                continue;
            src = sqlite3_bind_int64(st, 1, doc_id);
            if (src == SQLITE_OK)
                src = bind_text(st, 2, root);
            if (src == SQLITE_OK)
                src = bind_text(st, 3, ext ? ext : "");
            rc = src == SQLITE_OK ? step_done(reg, st, "storing a patient id")
                                  : db_fail(reg, src, "binding a patient id");
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != 0)
            goto out;
    }

    rc = insert_facts(reg, doc_id, rec->facts_json, rec->fact_rows, rec->nfact_rows);
    if (rc != 0)
        goto out;

    /* A replacement supersedes its parent (checked above to be one of
     * its submitter's), which stays retrievable; a document whose
     * replacement arrived first is superseded at once, but only by a
     * replacement its submitter or its custodian sent. */
    if (rec->replaces != NULL)
        rc = exec_id_text(reg,
                          "UPDATE documents SET status = 'superseded' WHERE unique_id = ?2"
                          " AND id <> ?1",
                          "superseding a document", doc_id, rec->replaces);
    if (rc == 0)
        rc = supersede_if_replaced(reg, doc_id, rec->unique_id, submitter, rec->custodian_oid);
    if (rc != 0)
        goto out;

    if (audit != NULL) {
        rc = audit_append(reg, audit);
        if (rc != 0)
            goto out;
    }
    *outcome = CDX_STORE_CREATED;
out:
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_store_document(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                                const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                                char doc_uid[33])
{
    reg->errmsg[0] = '\0';
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = store_document_tx(reg, rec, audit, outcome, doc_uid);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    return v ? strdup((const char *)v) : NULL;
}

void cdx_doc_row_cleanup(cdx_doc_row_t *row)
{
    free(row->unique_id);
    free(row->status);
    free(row->sha256);
    free(row->normalized_sha256);
    free(row->mapping_version);
    free(row->meta_json);
    free(row->submitter_oid);
    free(row->patient_root);
    free(row->patient_ext);
    free(row->content);
    memset(row, 0, sizeof *row);
}

#define DOC_COLUMNS                                                                                \
    "d.id, d.uid, d.unique_id, d.status, d.sha256, d.normalized_sha256, d.mapping_version,"       \
    " d.meta_json, i.oid, d.patient_root, d.patient_ext"

static int read_row(sqlite3_stmt *st, cdx_doc_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    const char *uid = (const char *)sqlite3_column_text(st, 1);
    cdx_strlcpy(row->uid, uid ? uid : "", sizeof row->uid);
    row->unique_id = column_dup(st, 2);
    row->status = column_dup(st, 3);
    row->sha256 = column_dup(st, 4);
    row->normalized_sha256 = column_dup(st, 5);
    row->mapping_version = column_dup(st, 6);
    row->meta_json = column_dup(st, 7);
    row->submitter_oid = column_dup(st, 8);
    row->patient_root = column_dup(st, 9);
    row->patient_ext = column_dup(st, 10);
    if (row->unique_id == NULL || row->sha256 == NULL || row->meta_json == NULL) {
        cdx_doc_row_cleanup(row);
        return CDX_ENOMEM;
    }
    return 0;
}

static int read_blob(sqlite3_stmt *st, int col, cdx_doc_row_t *row)
{
    const void *blob = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (blob == NULL && sqlite3_column_type(st, col) == SQLITE_NULL)
        return CDX_ENOTFOUND;
    row->content = malloc((size_t)n + 1);
    if (row->content == NULL)
        return CDX_ENOMEM;
    if (n > 0)
        memcpy(row->content, blob, (size_t)n);
    row->content[n] = '\0';
    row->content_len = (size_t)n;
    return 0;
}

int cdx_registry_get_document(cdx_registry_t *reg, const char *uid, int what, cdx_doc_row_t *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int rc = prepare(reg,
                     "SELECT " DOC_COLUMNS ", c.original, c.normalized FROM documents AS d"
                     " JOIN institutions AS i ON i.id = d.submitter_id"
                     " JOIN document_content AS c ON c.document_id = d.id WHERE d.uid = ?1",
                     &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, uid);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = CDX_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = db_fail(reg, src, "reading a document");
    } else {
        rc = read_row(st, out);
        if (rc == 0 && what == CDX_DOC_ORIGINAL)
            rc = read_blob(st, 11, out);
        else if (rc == 0 && what == CDX_DOC_NORMALIZED)
            rc = read_blob(st, 12, out);
        if (rc != 0)
            cdx_doc_row_cleanup(out);
    }
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_has_sha256(cdx_registry_t *reg, const char *sha256, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg, "SELECT 1 FROM documents WHERE sha256 = ?1 LIMIT 1", &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, sha256);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *found = 1;
    else if (src == SQLITE_DONE)
        *found = 0;
    else
        rc = db_fail(reg, src, "looking a hash up");
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_each_document(cdx_registry_t *reg, int64_t after_id, size_t limit,
                               int (*fn)(const cdx_doc_row_t *row, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "SELECT " DOC_COLUMNS ", c.original FROM documents AS d"
                     " JOIN institutions AS i ON i.id = d.submitter_id"
                     " JOIN document_content AS c ON c.document_id = d.id"
                     " WHERE d.id > ?1 ORDER BY d.id LIMIT ?2",
                     &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    for (;;) {
        int src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(reg, src, "reading documents");
            break;
        }
        cdx_doc_row_t row;
        rc = read_row(st, &row);
        if (rc == 0)
            rc = read_blob(st, 11, &row);
        if (rc == 0)
            rc = fn(&row, arg);
        cdx_doc_row_cleanup(&row);
        if (rc != 0)
            break;
    }
    sqlite3_finalize(st);
    return rc;
}

static int update_normalized_tx(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                const void *normalized, size_t normalized_size,
                                const char *mapping_version, const char *meta_json,
                                const char *facts_json, const cdx_fact_row_t *rows, size_t nrows)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(reg,
                     "UPDATE documents SET normalized_sha256 = ?2, mapping_version = ?3,"
                     " meta_json = ?4 WHERE id = ?1",
                     &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = bind_text(st, 2, normalized_sha256);
    if (src == SQLITE_OK)
        src = bind_text(st, 3, mapping_version);
    if (src == SQLITE_OK)
        src = bind_text(st, 4, meta_json ? meta_json : "{}");
    rc = src == SQLITE_OK ? step_done(reg, st, "updating a document")
                          : db_fail(reg, src, "binding a document");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "UPDATE document_content SET normalized = ?2 WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
        src = normalized ? sqlite3_bind_blob64(st, 2, normalized, normalized_size, SQLITE_STATIC)
                         : sqlite3_bind_null(st, 2);
    rc = src == SQLITE_OK ? step_done(reg, st, "updating document content")
                          : db_fail(reg, src, "binding document content");
    sqlite3_finalize(st);
    st = NULL;
    if (rc != 0)
        return rc;
    rc = prepare(reg, "DELETE FROM facts WHERE document_id = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(reg, st, "removing old facts");
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    return insert_facts(reg, id, facts_json, rows, nrows);
}

int cdx_registry_update_normalized(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                   const void *normalized, size_t normalized_size,
                                   const char *mapping_version, const char *meta_json,
                                   const char *facts_json, const cdx_fact_row_t *rows,
                                   size_t nrows)
{
    int own = sqlite3_get_autocommit(reg->db);
    int rc = own ? tx_begin(reg) : 0;
    if (rc != 0)
        return rc;
    rc = update_normalized_tx(reg, id, normalized_sha256, normalized, normalized_size,
                              mapping_version, meta_json, facts_json, rows, nrows);
    if (own) {
        if (rc == 0)
            rc = tx_commit(reg);
        if (rc != 0)
            tx_rollback(reg);
    }
    return rc;
}

int cdx_registry_count(cdx_registry_t *reg, const char *table, int64_t *n)
{
    static const char *const allowed[] = {"documents", "facts", "audit", "institutions",
                                          "document_patient_ids"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(allowed); i++) {
        if (strcmp(table, allowed[i]) == 0) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", allowed[i]);
            return query_int64(reg, sql, n);
        }
    }
    return CDX_EINVAL;
}

int cdx_registry_state_get(cdx_registry_t *reg, const char *key, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = prepare(reg, "SELECT value FROM state WHERE key = ?1", &st);
    if (rc != 0)
        return rc;
    bind_text(st, 1, key);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        cdx_strlcpy(out, v ? v : "", n);
    } else if (src != SQLITE_DONE) {
        rc = db_fail(reg, src, "reading state");
    }
    sqlite3_finalize(st);
    return rc;
}

int cdx_registry_state_set(cdx_registry_t *reg, const char *key, const char *value)
{
    char ts[32];
    now_rfc3339(ts);
    const char *values[] = {key, value, ts};
    return exec_texts(reg,
                      "INSERT INTO state (key, value, updated_at) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at",
                      "writing state", values, 3);
}
