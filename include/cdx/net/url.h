/*
 * url: the https URLs the gateway sends to (an institution's endpoint).
 *
 * Responsible for: parsing and checking one absolute https URL into the
 * host to resolve and verify, the port and the request target.
 * Not responsible for: other schemes, relative references, percent-
 * decoding (the target is sent as written).
 *
 * Pure; any thread.
 */
#ifndef CDX_NET_URL_H
#define CDX_NET_URL_H

#include <stddef.h>

typedef struct cdx_url {
    char host[256];    /* a DNS name (lower-cased), or an IP literal without brackets */
    int host_is_ip;    /* 4 or 6 for an IP literal, 0 for a DNS name */
    unsigned port;     /* 443 when the URL gives none */
    char target[2048]; /* path and query, "/" when the URL gives none */
} cdx_url_t;

/* Parses "https://host[:port][/path][?query]": the scheme (any case) must
 * be https; the host a DNS name (letters, digits, '-', '.', labels of 1-63
 * characters), an IPv4 literal or a bracketed IPv6 literal; the port
 * 1-65535; the path and query visible ASCII.  User information, fragments,
 * spaces and control bytes are refused.  Returns 0 and fills *out, or
 * CDX_EINVAL with a reason in err (naming the part, never echoing the
 * URL). */
int cdx_url_parse(const char *url, cdx_url_t *out, char *err, size_t errlen);

#endif
