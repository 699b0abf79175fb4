/* url: https URL parsing and checking (see include/cdx/net/url.h). */
#include "cdx/net/url.h"
#include "cdx/base/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* A DNS name: dot-separated labels of letters, digits and inner hyphens,
 * 1-63 characters each; one trailing dot is not accepted (certificates do
 * not carry it). */
static int valid_dns_name(const char *s, size_t len)
{
    size_t label = 0;
    int alpha = 0;
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!isalnum(ch) && ch != '-')
            return 0;
        if (ch == '-' && label == 0)
            return 0;
        alpha |= isalpha(ch) || ch == '-';
        if (++label > 63)
            return 0;
    }
    /* All digits and dots is a malformed IPv4 literal, not a name. */
    return label > 0 && s[len - 1] != '-' && alpha;
}

static int parse_host(const char *s, size_t len, cdx_url_t *out, char *err, size_t errlen)
{
    unsigned char addr[16];
    if (len >= sizeof out->host) {
        cdx_errf(err, errlen, "URL host is too long");
        return CDX_EINVAL;
    }
    if (len > 0 && s[0] == '[') {
        if (len < 3 || s[len - 1] != ']') {
            cdx_errf(err, errlen, "URL IPv6 host lacks its closing bracket");
            return CDX_EINVAL;
        }
        memcpy(out->host, s + 1, len - 2);
        out->host[len - 2] = '\0';
        if (inet_pton(AF_INET6, out->host, addr) != 1) {
            cdx_errf(err, errlen, "URL host is not a valid IPv6 address");
            return CDX_EINVAL;
        }
        out->host_is_ip = 6;
        return 0;
    }
    memcpy(out->host, s, len);
    out->host[len] = '\0';
    if (inet_pton(AF_INET, out->host, addr) == 1) {
        out->host_is_ip = 4;
        return 0;
    }
    if (!valid_dns_name(s, len)) {
        cdx_errf(err, errlen, "URL host is neither a DNS name nor an IP address");
        return CDX_EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        out->host[i] = (char)tolower((unsigned char)out->host[i]);
    out->host_is_ip = 0;
    return 0;
}

static int parse_port(const char *s, size_t len, unsigned *out, char *err, size_t errlen)
{
    unsigned long v = 0;
    if (len == 0 || len > 5) {
        cdx_errf(err, errlen, "URL port must be 1 to 65535");
        return CDX_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            cdx_errf(err, errlen, "URL port must be decimal digits");
            return CDX_EINVAL;
        }
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535) {
        cdx_errf(err, errlen, "URL port must be 1 to 65535");
        return CDX_EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

/* The path and query: visible ASCII, no fragment. */
static int parse_target(const char *s, cdx_url_t *out, char *err, size_t errlen)
{
    if (s[0] == '\0')
        s = "/";
    else if (s[0] == '?') {
        out->target[0] = '/';
        if (cdx_strlcpy(out->target + 1, s, sizeof out->target - 1) != 0)
            goto too_long;
        s = out->target;
    }
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f) {
            cdx_errf(err, errlen, "URL path holds a space, control or non-ASCII byte");
            return CDX_EINVAL;
        }
        if (ch == '#') {
            cdx_errf(err, errlen, "URL must not carry a fragment");
            return CDX_EINVAL;
        }
    }
    if (s != out->target && cdx_strlcpy(out->target, s, sizeof out->target) != 0)
        goto too_long;
    return 0;
too_long:
    cdx_errf(err, errlen, "URL path is too long");
    return CDX_EINVAL;
}

int cdx_url_parse(const char *url, cdx_url_t *out, char *err, size_t errlen)
{
    static const char scheme[] = "https://";
    cdx_url_t u;
    memset(&u, 0, sizeof u);
    if (url == NULL || strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        cdx_errf(err, errlen, "URL must start with https://");
        return CDX_EINVAL;
    }
    const char *auth = url + sizeof scheme - 1;
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen) != NULL) {
        cdx_errf(err, errlen, "URL must not carry user information");
        return CDX_EINVAL;
    }
    /* The port follows the last colon outside an IPv6 literal's brackets. */
    const char *close = auth[0] == '[' ? memchr(auth, ']', alen) : NULL;
    const char *from = close ? close : auth;
    const char *colon = memchr(from, ':', alen - (size_t)(from - auth));
    size_t hlen = colon ? (size_t)(colon - auth) : alen;
    if (hlen == 0) {
        cdx_errf(err, errlen, "URL has no host");
        return CDX_EINVAL;
    }
    int rc = parse_host(auth, hlen, &u, err, errlen);
    if (rc != 0)
        return rc;
    u.port = 443;
    if (colon != NULL && (rc = parse_port(colon + 1, alen - hlen - 1, &u.port, err, errlen)) != 0)
        return rc;
    if ((rc = parse_target(auth + alen, &u, err, errlen)) != 0)
        return rc;
    *out = u;
    return 0;
}
