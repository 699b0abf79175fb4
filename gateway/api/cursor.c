/* cursor: keyset positions as HMAC-protected base64url text (see
 * include/cdx/api/cursor.h). */
#include "cdx/api/cursor.h"
#include "cdx/base/common.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define VERSION 1
#define TAG_LEN 8
#define MAC_LEN 16
#define RAW_MAX (1 + TAG_LEN + 1 + CDX_CURSOR_SORT_MAX + 8 + MAC_LEN)

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void cdx_cursor_key(const unsigned char secret[32], unsigned char key[32])
{
    static const char label[] = "cdxgw cursor key v1";
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret, 32, (const unsigned char *)label, sizeof label - 1, key, &len) ==
        NULL)
        memset(key, 0, 32);
}

static void scope_tag(const char *scope, unsigned char tag[TAG_LEN])
{
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_Digest(scope ? scope : "", strlen(scope ? scope : ""), md, &len, EVP_sha256(), NULL) !=
        1)
        memset(md, 0, sizeof md);
    memcpy(tag, md, TAG_LEN);
}

static int mac(const unsigned char key[32], const unsigned char *data, size_t n,
               unsigned char out[MAC_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key, 32, data, n, md, &len) == NULL || len < MAC_LEN)
        return CDX_EINVAL;
    memcpy(out, md, MAC_LEN);
    return 0;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64[v & 63];
    }
    out[o] = '\0';
}

static int b64_value(char c)
{
    const char *p = c != '\0' ? strchr(B64, c) : NULL;
    return p != NULL ? (int)(p - B64) : -1;
}

/* Decodes canonical unpadded base64url (unused bits zero).  Returns the
 * length, or -1. */
static long unb64url(const char *s, unsigned char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t chunk = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < chunk ? b64_value(s[i + j]) : 0;
            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        size_t bytes = chunk - 1;
        if (o + bytes > outlen)
            return -1;
        unsigned char b[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
        for (size_t j = bytes; j < 3; j++)
            if (b[j] != 0)
                return -1; /* bits past the end: not the canonical text */
        memcpy(out + o, b, bytes);
        o += bytes;
    }
    return (long)o;
}

int cdx_cursor_encode(const unsigned char key[32], const char *scope, const cdx_cursor_t *pos,
                      char out[CDX_CURSOR_TEXT_MAX])
{
    out[0] = '\0';
    size_t klen = strnlen(pos->sort, sizeof pos->sort);
    if (klen > CDX_CURSOR_SORT_MAX)
        return CDX_EINVAL;
    for (size_t i = 0; i < klen; i++)
        if (pos->sort[i] < 0x21 || pos->sort[i] > 0x7e)
            return CDX_EINVAL;
    unsigned char raw[RAW_MAX];
    size_t n = 0;
    raw[n++] = VERSION;
    scope_tag(scope, raw + n);
    n += TAG_LEN;
    raw[n++] = (unsigned char)klen;
    memcpy(raw + n, pos->sort, klen);
    n += klen;
    uint64_t id = (uint64_t)pos->id;
    for (int i = 7; i >= 0; i--)
        raw[n++] = (unsigned char)(id >> (8 * i));
    if (mac(key, raw, n, raw + n) != 0)
        return CDX_EINVAL;
    n += MAC_LEN;
    b64url(raw, n, out);
    return 0;
}

int cdx_cursor_decode(const unsigned char key[32], const char *scope, const char *text,
                      cdx_cursor_t *pos)
{
    memset(pos, 0, sizeof *pos);
    if (text == NULL || strlen(text) >= CDX_CURSOR_TEXT_MAX)
        return CDX_EINVAL;
    unsigned char raw[RAW_MAX];
    long n = unb64url(text, raw, sizeof raw);
    if (n < 1 + TAG_LEN + 1 + 8 + MAC_LEN || raw[0] != VERSION)
        return CDX_EINVAL;
    size_t klen = raw[1 + TAG_LEN];
    if (klen > CDX_CURSOR_SORT_MAX || (size_t)n != 1 + TAG_LEN + 1 + klen + 8 + MAC_LEN)
        return CDX_EINVAL;
    size_t body = (size_t)n - MAC_LEN;
    unsigned char want[MAC_LEN];
    if (mac(key, raw, body, want) != 0 || CRYPTO_memcmp(want, raw + body, MAC_LEN) != 0)
        return CDX_EINVAL;
    unsigned char tag[TAG_LEN];
    scope_tag(scope, tag);
    if (memcmp(tag, raw + 1, TAG_LEN) != 0)
        return CDX_ECONFLICT;
    const unsigned char *k = raw + 1 + TAG_LEN + 1;
    for (size_t i = 0; i < klen; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return CDX_EINVAL;
    memcpy(pos->sort, k, klen);
    pos->sort[klen] = '\0';
    uint64_t id = 0;
    for (size_t i = 0; i < 8; i++)
        id = id << 8 | k[klen + i];
    pos->id = (int64_t)id;
    return 0;
}
