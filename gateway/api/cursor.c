/* cursor: HMAC-protected base64url paging cursors (see
 * include/cdx/api/cursor.h). */
#include "cdx/api/cursor.h"
#include "cdx/base/common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define TAG_LEN 16

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; returns the length written or -1. */
static long b64_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t take = n - i < 3 ? n - i : 3;
        if (take > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (take > 2)
            v |= in[i + 2];
        size_t chars = take + 1;
        if (o + chars >= outlen)
            return -1;
        for (size_t c = 0; c < chars; c++)
            out[o++] = b64url[(v >> (18 - 6 * c)) & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static int b64_value(char c)
{
    const char *p = c != '\0' ? strchr(b64url, c) : NULL;
    return p != NULL ? (int)(p - b64url) : -1;
}

/* Decodes s[0..n) (base64url, no padding); returns the length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t outlen)
{
    size_t o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        size_t take = n - i < 4 ? n - i : 4;
        unsigned v = 0;
        for (size_t c = 0; c < 4; c++) {
            int d = c < take ? b64_value(s[i + c]) : 0;
            if (d < 0)
                return -1;
            v = (v << 6) | (unsigned)d;
        }
        size_t bytes = take - 1;
        if (o + bytes > outlen)
            return -1;
        for (size_t b = 0; b < bytes; b++)
            out[o++] = (unsigned char)(v >> (16 - 8 * b));
        /* Bits beyond the last byte must be zero: one text per payload. */
        if (take < 4 && (v & ((1u << (8 * (3 - bytes))) - 1u)) != 0)
            return -1;
    }
    return (long)o;
}

/* The tag of scope and payload under a key derived from key. */
static int tag_of(const unsigned char key[32], const char *scope, const char *payload,
                  unsigned char tag[TAG_LEN])
{
    static const char label[] = "cdxgw paging cursor v1";
    unsigned char sub[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
    unsigned int sublen = 0, mdlen = 0;
    if (HMAC(EVP_sha256(), key, 32, (const unsigned char *)label, sizeof label - 1, sub,
             &sublen) == NULL)
        return CDX_ECRYPTO;
    char msg[512];
    int m = snprintf(msg, sizeof msg, "%s\n%s", scope, payload);
    int ok = m > 0 && (size_t)m < sizeof msg &&
             HMAC(EVP_sha256(), sub, (int)sublen, (const unsigned char *)msg, (size_t)m, md,
                  &mdlen) != NULL;
    OPENSSL_cleanse(sub, sizeof sub);
    if (!ok)
        return CDX_ECRYPTO;
    memcpy(tag, md, TAG_LEN);
    return 0;
}

static int printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

int cdx_cursor_encode(const unsigned char key[32], const char *scope, const char *payload,
                      char *out, size_t outlen)
{
    size_t n = strlen(payload);
    if (n == 0 || n > CDX_CURSOR_PAYLOAD_MAX || !printable(payload))
        return CDX_EINVAL;
    unsigned char tag[TAG_LEN];
    int rc = tag_of(key, scope, payload, tag);
    if (rc != 0)
        return rc;
    long m = b64_encode((const unsigned char *)payload, n, out, outlen);
    if (m < 0 || (size_t)m + 2 >= outlen)
        return CDX_ERANGE;
    out[m] = '.';
    if (b64_encode(tag, TAG_LEN, out + m + 1, outlen - (size_t)m - 1) < 0)
        return CDX_ERANGE;
    return 0;
}

int cdx_cursor_decode(const unsigned char key[32], const char *scope, const char *cursor,
                      char *payload, size_t n)
{
    size_t len = strnlen(cursor, CDX_CURSOR_MAX + 1);
    const char *dot = memchr(cursor, '.', len);
    if (len > CDX_CURSOR_MAX || dot == NULL || n == 0)
        return CDX_EINVAL;
    unsigned char buf[CDX_CURSOR_PAYLOAD_MAX + 1], got[TAG_LEN + 3], want[TAG_LEN];
    long plen = b64_decode(cursor, (size_t)(dot - cursor), buf, CDX_CURSOR_PAYLOAD_MAX);
    long tlen = b64_decode(dot + 1, len - (size_t)(dot - cursor) - 1, got, sizeof got);
    if (plen <= 0 || tlen != TAG_LEN || (size_t)plen >= n)
        return CDX_EINVAL;
    buf[plen] = '\0';
    if (strlen((const char *)buf) != (size_t)plen || !printable((const char *)buf))
        return CDX_EINVAL;
    if (tag_of(key, scope, (const char *)buf, want) != 0 || CRYPTO_memcmp(want, got, TAG_LEN) != 0)
        return CDX_EINVAL;
    memcpy(payload, buf, (size_t)plen + 1);
    return 0;
}
