/* chunked: strict incremental chunked-framing check (see include/cdx/parsers/chunked.h).
 *
 * The grammar, RFC 9112 section 7.1 with RFC 9110 BWS, token and
 * quoted-string:
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk     = 1*"0" [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 *   trailer-section = *( field-name ":" OWS field-value CRLF )
 *
 * One state per position in that grammar; every byte moves the state or is
 * refused, so the verdict does not depend on how the input is split. */
#include "cdx/parsers/chunked.h"
#include "cdx/base/common.h"

#include <stdio.h>
#include <string.h>

enum {
    S_SIZE_FIRST,  /* the first hex digit of a size */
    S_SIZE,        /* more hex digits, BWS, ';' or CR */
    S_SIZE_BWS,    /* whitespace after the size: more of it or ';' */
    S_EXT_NAME0,   /* after ';': BWS, then the first name character */
    S_EXT_NAME,    /* in a name: more, BWS, '=', ';' or CR */
    S_EXT_NAME_WS, /* whitespace after a name: more, '=' or ';' */
    S_EXT_VALUE0,  /* after '=': BWS, then a token or a quoted string */
    S_EXT_TOKEN,   /* in a token value: more, BWS, ';' or CR */
    S_EXT_QUOTED,  /* in a quoted string */
    S_EXT_QPAIR,   /* after a backslash in a quoted string */
    S_EXT_AFTER_QUOTE, /* right after a closing quote: CR, ';' or BWS */
    S_EXT_AFTER,   /* after a value (and its whitespace): more of it or ';' */
    S_SIZE_LF,     /* the LF ending a size line */
    S_DATA,        /* chunk data */
    S_DATA_CR,     /* the CR after chunk data */
    S_DATA_LF,     /* the LF after chunk data */
    S_TRAILER0,    /* the start of a trailer line, or the final CR */
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_END_LF, /* the final LF */
    S_DONE,
    S_ERROR,
};

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext and the characters a quoted-pair may escape, less '"' and '\'. */
static int is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static cdx_chunked_result_t refuse(cdx_chunked_t *ck, int status, const char *code,
                                   const char *detail)
{
    ck->state = S_ERROR;
    ck->status = status;
    ck->code = code;
    snprintf(ck->detail, sizeof ck->detail, "%s", detail);
    return CDX_CHUNKED_ERROR;
}

static cdx_chunked_result_t bad(cdx_chunked_t *ck, const char *detail)
{
    return refuse(ck, 400, "HTTP_BAD_CHUNK", detail);
}

void cdx_chunked_init(cdx_chunked_t *ck, uint64_t max_total)
{
    memset(ck, 0, sizeof *ck);
    ck->state = S_SIZE_FIRST;
    ck->max_total = max_total;
}

uint64_t cdx_chunked_total(const cdx_chunked_t *ck)
{
    return ck->total;
}

/* The size line is complete (its CRLF read): start the data, or the
 * trailers after the last chunk.  The limit is checked here, before any
 * byte of the chunk's data is read. */
static cdx_chunked_result_t size_line_done(cdx_chunked_t *ck)
{
    if (ck->size == 0) {
        ck->state = S_TRAILER0;
        return CDX_CHUNKED_MORE;
    }
    if (ck->size > ck->max_total - ck->total) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the chunked body passes the limit of %llu bytes (a chunk of %llu bytes "
                 "after %llu)",
                 (unsigned long long)ck->max_total, (unsigned long long)ck->size,
                 (unsigned long long)ck->total);
        return refuse(ck, 413, "BODY_TOO_LARGE", detail);
    }
    ck->total += ck->size;
    ck->left = ck->size;
    ck->state = S_DATA;
    return CDX_CHUNKED_MORE;
}

/* One byte of a size line's extensions (and the whitespace before them),
 * after the size. */
static cdx_chunked_result_t ext_byte(cdx_chunked_t *ck, unsigned char c)
{
    switch (ck->state) {
    case S_SIZE_BWS:
    case S_EXT_NAME_WS:
    case S_EXT_AFTER:
        if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (c == '=' && ck->state == S_EXT_NAME_WS)
            ck->state = S_EXT_VALUE0;
        else if (!is_ws(c))
            return bad(ck, "invalid character in a chunk extension (whitespace only before ';')");
        return CDX_CHUNKED_MORE;
    case S_EXT_NAME0:
        if (is_tchar(c))
            ck->state = S_EXT_NAME;
        else if (!is_ws(c))
            return bad(ck, "a chunk extension name must be a token");
        return CDX_CHUNKED_MORE;
    case S_EXT_NAME:
        if (is_tchar(c))
            return CDX_CHUNKED_MORE;
        if (is_ws(c))
            ck->state = S_EXT_NAME_WS;
        else if (c == '=')
            ck->state = S_EXT_VALUE0;
        else if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (c == '\r')
            ck->state = S_SIZE_LF;
        else
            return bad(ck, "invalid character in a chunk extension name");
        return CDX_CHUNKED_MORE;
    case S_EXT_VALUE0:
        if (is_tchar(c))
            ck->state = S_EXT_TOKEN;
        else if (c == '"')
            ck->state = S_EXT_QUOTED;
        else if (!is_ws(c))
            return bad(ck, "a chunk extension value must be a token or a quoted string");
        return CDX_CHUNKED_MORE;
    case S_EXT_TOKEN:
        if (is_tchar(c))
            return CDX_CHUNKED_MORE;
        if (is_ws(c))
            ck->state = S_EXT_AFTER;
        else if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (c == '\r')
            ck->state = S_SIZE_LF;
        else
            return bad(ck, "invalid character in a chunk extension value");
        return CDX_CHUNKED_MORE;
    case S_EXT_QUOTED:
        if (c == '"')
            ck->state = S_EXT_AFTER_QUOTE;
        else if (c == '\\')
            ck->state = S_EXT_QPAIR;
        else if (!is_qdtext(c))
            return bad(ck, "invalid character in a quoted chunk extension value");
        return CDX_CHUNKED_MORE;
    case S_EXT_QPAIR:
        if (!is_qdtext(c) && c != '"' && c != '\\')
            return bad(ck, "invalid escaped character in a quoted chunk extension value");
        ck->state = S_EXT_QUOTED;
        return CDX_CHUNKED_MORE;
    case S_EXT_AFTER_QUOTE:
        if (c == '\r')
            ck->state = S_SIZE_LF;
        else if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (is_ws(c))
            ck->state = S_EXT_AFTER;
        else
            return bad(ck, "invalid character after a quoted chunk extension value");
        return CDX_CHUNKED_MORE;
    default:
        return bad(ck, "internal state error in the chunked framing check");
    }
}

/* One byte of a size line, from the first digit to the CR. */
static cdx_chunked_result_t size_line_byte(cdx_chunked_t *ck, unsigned char c)
{
    if (++ck->line_len > CDX_CHUNKED_MAX_LINE) {
        return bad(ck, ck->state >= S_EXT_NAME0 && ck->state <= S_EXT_AFTER
                           ? "a chunk extension is too long (the size line exceeds 1024 bytes)"
                           : "a chunk size line is longer than 1024 bytes");
    }
    if (c == '\n')
        return bad(ck, "bare LF in a chunk size line or extension; lines end with CRLF");
    int h;
    switch (ck->state) {
    case S_SIZE_FIRST:
        if ((h = cdx_hex_digit(c)) < 0)
            return bad(ck, "a chunk size must start with a hexadecimal digit");
        ck->size = (uint64_t)h;
        ck->digits = 1;
        ck->state = S_SIZE;
        return CDX_CHUNKED_MORE;
    case S_SIZE:
        if ((h = cdx_hex_digit(c)) >= 0) {
            if (ck->size > (UINT64_MAX >> 4))
                return bad(ck, "the chunk size overflows (more than 64 bits)");
            ck->size = (ck->size << 4) | (uint64_t)h;
            ck->digits++;
            return CDX_CHUNKED_MORE;
        }
        /* RFC 9112 allows a tab here too, but libhttp-parser, which
         * decodes behind this check, refuses it: the two must agree. */
        if (c == ' ')
            ck->state = S_SIZE_BWS;
        else if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (c == '\r')
            ck->state = S_SIZE_LF;
        else if (c == '\t')
            return bad(ck, "a tab after a chunk size is not accepted; use ';' or a space");
        else
            return bad(ck, "invalid character after a chunk size");
        return CDX_CHUNKED_MORE;
    default:
        return ext_byte(ck, c);
    }
}

/* One byte of the trailer section, after the last chunk's size line. */
static cdx_chunked_result_t trailer_byte(cdx_chunked_t *ck, unsigned char c)
{
    if (++ck->trailer_len > CDX_CHUNKED_MAX_TRAILERS)
        return bad(ck, "the trailer section is longer than 8192 bytes");
    switch (ck->state) {
    case S_TRAILER0:
        if (c == '\r')
            ck->state = S_END_LF;
        else if (c == '\n')
            return bad(ck, "bare LF after the last chunk; lines end with CRLF");
        else if (is_tchar(c))
            ck->state = S_TRAILER_NAME;
        else
            return bad(ck, "invalid trailer field (a name token, then ':')");
        return CDX_CHUNKED_MORE;
    case S_TRAILER_NAME:
        if (c == ':')
            ck->state = S_TRAILER_VALUE;
        else if (!is_tchar(c))
            return bad(ck, "invalid character in a trailer field name");
        return CDX_CHUNKED_MORE;
    case S_TRAILER_VALUE:
        if (c == '\r')
            ck->state = S_TRAILER_LF;
        else if (c == '\n')
            return bad(ck, "bare LF in a trailer field; lines end with CRLF");
        else if (c < 0x20 && c != '\t')
            return bad(ck, "control character in a trailer field value");
        else if (c == 0x7f)
            return bad(ck, "control character in a trailer field value");
        return CDX_CHUNKED_MORE;
    case S_TRAILER_LF:
        if (c != '\n')
            return bad(ck, "CR not followed by LF in the trailer section");
        ck->state = S_TRAILER0;
        return CDX_CHUNKED_MORE;
    default:
        return bad(ck, "internal state error in the chunked framing check");
    }
}

cdx_chunked_result_t cdx_chunked_scan(cdx_chunked_t *ck, const char *data, size_t len,
                                      size_t *used)
{
    size_t i = 0;
    cdx_chunked_result_t r = CDX_CHUNKED_MORE;
    while (i < len) {
        unsigned char c = (unsigned char)data[i];
        switch (ck->state) {
        case S_DONE:
            *used = i;
            return CDX_CHUNKED_DONE;
        case S_ERROR:
            *used = i;
            return CDX_CHUNKED_ERROR;
        case S_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > ck->left)
                n = (size_t)ck->left;
            ck->left -= n;
            i += n;
            if (ck->left == 0)
                ck->state = S_DATA_CR;
            continue;
        }
        case S_DATA_CR:
            if (c != '\r')
                r = bad(ck, "chunk data not followed by CRLF (the data is longer than its "
                            "announced size)");
            else
                ck->state = S_DATA_LF;
            break;
        case S_DATA_LF:
            if (c != '\n') {
                r = bad(ck, "chunk data not followed by CRLF (CR without LF)");
            } else {
                ck->state = S_SIZE_FIRST;
                ck->line_len = 0;
                ck->size = 0;
                ck->digits = 0;
            }
            break;
        case S_SIZE_LF:
            if (c != '\n')
                r = bad(ck, "CR not followed by LF after a chunk size line");
            else
                r = size_line_done(ck);
            break;
        case S_END_LF:
            if (c != '\n') {
                r = bad(ck, "CR not followed by LF at the end of the chunked body");
            } else {
                ck->state = S_DONE;
                *used = i + 1;
                return CDX_CHUNKED_DONE;
            }
            break;
        case S_TRAILER0:
        case S_TRAILER_NAME:
        case S_TRAILER_VALUE:
        case S_TRAILER_LF:
            r = trailer_byte(ck, c);
            break;
        default:
            r = size_line_byte(ck, c);
            break;
        }
        if (r == CDX_CHUNKED_ERROR) {
            *used = i;
            return r;
        }
        i++;
    }
    *used = i;
    if (ck->state == S_DONE)
        return CDX_CHUNKED_DONE;
    if (ck->state == S_ERROR)
        return CDX_CHUNKED_ERROR;
    return CDX_CHUNKED_MORE;
}
