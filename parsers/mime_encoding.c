/* mime_encoding: the base64 and quoted-printable transfer encodings (see
 * include/cdx/parsers/mime.h). */
#include "cdx/parsers/mime.h"
#include "cdx/base/common.h"

#include <stddef.h>
#include <string.h>

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cdx_mime_base64(const char *in, size_t len, char *out, size_t *outlen, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned long acc = 0;
    int q = 0;    /* data characters in the current quantum */
    int pad = 0;  /* '=' seen */
    int done = 0; /* the padded last quantum is complete */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (done) {
            *bad = i; /* anything after the padding */
            return CDX_EPARSE;
        }
        if (c == '=') {
            /* "xx==" or "xxx=": padding only in the last two places. */
            if (q < 2 || (pad == 1 && q == 3)) {
                *bad = i;
                return CDX_EPARSE;
            }
            pad++;
            if ((q == 2 && pad == 2) || (q == 3 && pad == 1)) {
                if (q == 2) {
                    out[o++] = (char)((acc >> 4) & 0xFF);
                } else {
                    out[o++] = (char)((acc >> 10) & 0xFF);
                    out[o++] = (char)((acc >> 2) & 0xFF);
                }
                done = 1;
            }
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad > 0) {
            *bad = i;
            return CDX_EPARSE;
        }
        acc = (acc << 6) | (unsigned long)v;
        if (++q == 4) {
            out[o++] = (char)((acc >> 16) & 0xFF);
            out[o++] = (char)((acc >> 8) & 0xFF);
            out[o++] = (char)(acc & 0xFF);
            acc = 0;
            q = 0;
        }
    }
    if (!done && (q != 0 || pad != 0)) {
        *bad = len; /* a last quantum without its padding */
        return CDX_EPARSE;
    }
    *outlen = o;
    return 0;
}

int cdx_mime_qp(const char *in, size_t len, char *out, size_t *outlen, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '=') {
            size_t j = i + 1;
            while (j < len && (p[j] == ' ' || p[j] == '\t'))
                j++;
            if (j == len) { /* a soft line break at the very end */
                i = j;
                continue;
            }
            if (p[j] == '\n' || (p[j] == '\r' && j + 1 < len && p[j + 1] == '\n')) {
                i = j + (p[j] == '\r' ? 2 : 1); /* soft line break: nothing */
                continue;
            }
            /* RFC 2045 6.7: a robust decoder accepts lower-case hex too. */
            if (j != i + 1 || i + 2 >= len || cdx_hex_digit(p[i + 1]) < 0 ||
                cdx_hex_digit(p[i + 2]) < 0) {
                *bad = i;
                return CDX_EPARSE;
            }
            out[o++] = (char)(cdx_hex_digit(p[i + 1]) << 4 | cdx_hex_digit(p[i + 2]));
            i += 3;
            continue;
        }
        if (c == ' ' || c == '\t') {
            /* Whitespace at the end of a line was added in transport
             * (RFC 2045 6.7 rule 3): dropped. */
            size_t j = i;
            while (j < len && (p[j] == ' ' || p[j] == '\t'))
                j++;
            if (j == len || p[j] == '\n' || (p[j] == '\r' && j + 1 < len && p[j + 1] == '\n')) {
                i = j;
                continue;
            }
            memcpy(out + o, p + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        out[o++] = (char)c;
        i++;
    }
    *outlen = o;
    return 0;
}
