/* mime: a CDA document out of a MIME entity (see include/cdx/parsers/mime.h);
 * the transfer encodings are in mime_encoding.c. */
#define _GNU_SOURCE /* memmem */
#include "cdx/parsers/mime.h"
#include "cdx/base/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PARTS    1000
#define MAX_FIELD    2048 /* an unfolded Content-Type or Content-Transfer-Encoding */
#define MAX_BOUNDARY 200
#define ROOT_SCAN    65536 /* bytes looked at to find a part's root element */

/* ---- header fields ------------------------------------------------------ */

typedef struct fields {
    char content_type[MAX_FIELD];
    char encoding[64];
    int have_type, have_encoding;
} fields_t;

static int is_name_char(unsigned char c)
{
    return c > 32 && c < 127 && c != ':';
}

/* The end of the line starting at i (the index of its '\n', or len). */
static size_t line_end(const char *s, size_t len, size_t i)
{
    const char *nl = memchr(s + i, '\n', len - i);
    return nl != NULL ? (size_t)(nl - s) : len;
}

/* Length of the line [i, e) without a trailing CR. */
static size_t trim_cr(const char *s, size_t i, size_t e)
{
    return e > i && s[e - 1] == '\r' ? e - 1 - i : e - i;
}

/* Appends an unfolded value piece, one space where lines were joined. */
static int append_value(char *dst, size_t cap, const char *src, size_t n, int join)
{
    while (n > 0 && (*src == ' ' || *src == '\t'))
        src++, n--;
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t'))
        n--;
    size_t have = strlen(dst);
    size_t need = have + (join && have > 0 ? 1 : 0) + n;
    if (need >= cap)
        return -1;
    if (join && have > 0)
        dst[have++] = ' ';
    memcpy(dst + have, src, n);
    dst[have + n] = '\0';
    return 0;
}

/* Reads the header block at data[0..len): fields up to the first empty
 * line.  *body receives the offset just past that line.  Returns 0, or
 * CDX_EPARSE with the verdict in d.  what names the entity in messages. */
static int read_fields(const char *data, size_t len, const char *what, fields_t *f, size_t *body,
                       cdx_diag_t *d)
{
    memset(f, 0, sizeof *f);
    char *current = NULL; /* the value a continuation line extends */
    size_t cap = 0;
    size_t i = 0;
    for (int lineno = 1;; lineno++) {
        if (i >= len || i > CDX_MIME_MAX_HEADER_BYTES) {
            cdx_diag_reject(d, 400, "MIME_MALFORMED",
                            "the header block of %s has no empty line before its content "
                            "(within %d bytes)",
                            what, CDX_MIME_MAX_HEADER_BYTES);
            return CDX_EPARSE;
        }
        size_t e = line_end(data, len, i);
        size_t n = trim_cr(data, i, e);
        const char *line = data + i;
        size_t next = e < len ? e + 1 : len;
        if (n == 0) {
            *body = next;
            return 0;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (lineno == 1) {
                cdx_diag_reject(d, 400, "MIME_MALFORMED",
                                "the header block of %s starts with a continuation line", what);
                return CDX_EPARSE;
            }
            if (current != NULL && append_value(current, cap, line, n, 1) != 0)
                goto too_long;
            i = next;
            continue;
        }
        size_t k = 0;
        while (k < n && is_name_char((unsigned char)line[k]))
            k++;
        if (k == 0 || k >= n || line[k] != ':') {
            cdx_diag_reject(d, 400, "MIME_MALFORMED",
                            "line %d of the header block of %s is not a header field "
                            "(Name: value)",
                            lineno, what);
            return CDX_EPARSE;
        }
        current = NULL;
        if (k == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            current = f->content_type;
            cap = sizeof f->content_type;
            current[0] = '\0';
            f->have_type = 1;
        } else if (k == 25 && strncasecmp(line, "Content-Transfer-Encoding", 25) == 0) {
            current = f->encoding;
            cap = sizeof f->encoding;
            current[0] = '\0';
            f->have_encoding = 1;
        }
        if (current != NULL && append_value(current, cap, line + k + 1, n - k - 1, 0) != 0)
            goto too_long;
        i = next;
    }
too_long:
    cdx_diag_reject(d, 400, "MIME_MALFORMED", "a header field of %s is longer than %zu bytes", what,
                    cap - 1);
    return CDX_EPARSE;
}

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(const char *ct, char *out, size_t outlen)
{
    size_t n = 0;
    while (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t' && n + 1 < outlen) {
        out[n] = (char)tolower((unsigned char)ct[n]);
        n++;
    }
    out[n] = '\0';
}

/* The value of parameter name in a Content-Type value (quoted strings
 * unquoted).  Returns 1 found, 0 absent, -1 malformed or too long. */
static int parameter(const char *ct, const char *name, char *out, size_t outlen)
{
    const char *p = strchr(ct, ';');
    size_t nlen = strlen(name);
    while (p != NULL && *p == ';') {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *pn = p;
        while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t pl = (size_t)(p - pn);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=') {
            p = strchr(p, ';');
            continue;
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t o = 0;
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = *p++;
            }
            if (*p != '"')
                return -1;
            p++;
        } else {
            while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t') {
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = *p++;
            }
        }
        out[o] = '\0';
        if (pl == nlen && strncasecmp(pn, name, nlen) == 0)
            return 1;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    return 0;
}

/* ---- the document inside ------------------------------------------------ */

typedef enum { ENC_IDENTITY, ENC_QP, ENC_BASE64 } encoding_t;

static int parse_encoding(const char *value, encoding_t *enc, char *label, size_t labellen)
{
    char low[64];
    media_type(value, low, sizeof low);
    if (low[0] == '\0' || strcmp(low, "7bit") == 0 || strcmp(low, "8bit") == 0 ||
        strcmp(low, "binary") == 0) {
        *enc = ENC_IDENTITY;
        cdx_strlcpy(label, low[0] ? low : "7bit", labellen);
        return 0;
    }
    if (strcmp(low, "quoted-printable") == 0) {
        *enc = ENC_QP;
        cdx_strlcpy(label, low, labellen);
        return 0;
    }
    if (strcmp(low, "base64") == 0) {
        *enc = ENC_BASE64;
        cdx_strlcpy(label, low, labellen);
        return 0;
    }
    return -1;
}

static int is_xml_type(const char *type)
{
    size_t n = strlen(type);
    return strcmp(type, "application/xml") == 0 || strcmp(type, "text/xml") == 0 ||
           strcmp(type, "application/hl7-v3+xml") == 0 ||
           (n > 4 && strcmp(type + n - 4, "+xml") == 0);
}

static int is_encrypted_type(const char *type)
{
    return strcmp(type, "application/pkcs7-mime") == 0 ||
           strcmp(type, "application/x-pkcs7-mime") == 0 ||
           strcmp(type, "multipart/encrypted") == 0;
}

/* Whether the root element of an XML text is ClinicalDocument (any
 * prefix): the prolog (declaration, comments, processing instructions, a
 * DOCTYPE) is skipped.  UTF-8 or ASCII-compatible encodings only. */
static int is_cda_root(const char *s, size_t len)
{
    if (len > ROOT_SCAN)
        len = ROOT_SCAN;
    size_t i = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (c != '<' || i + 1 >= len)
            return 0;
        const char *close = NULL;
        if (s[i + 1] == '?')
            close = "?>";
        else if (i + 3 < len && memcmp(s + i, "<!--", 4) == 0)
            close = "-->";
        else if (s[i + 1] == '!')
            close = ">";
        if (close != NULL) {
            const char *e = memmem(s + i + 2, len - i - 2, close, strlen(close));
            if (e == NULL)
                return 0;
            i = (size_t)(e - s) + strlen(close);
            continue;
        }
        size_t b = i + 1, k = b;
        while (k < len && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-' ||
                           s[k] == '.' || s[k] == ':'))
            k++;
        const char *local = s + b;
        for (size_t m = b; m < k; m++)
            if (s[m] == ':')
                local = s + m + 1;
        size_t ln = (size_t)(s + k - local);
        return ln == 16 && memcmp(local, "ClinicalDocument", 16) == 0;
    }
    return 0;
}

typedef struct ctx {
    cdx_diag_t *d;
    size_t max_out;
    size_t total_out;
    int nparts;      /* leaf parts seen, numbered from 1 */
    int ncda;        /* of them, CDA documents */
    int nxml;        /* of them, XML but not CDA */
    char *cda, *xml; /* the first of each (owned) */
    size_t cda_len, xml_len;
    int cda_part, xml_part;
    char cda_type[96], xml_type[96];
    char cda_enc[24], xml_enc[24];
    char cda_list[64]; /* positions of the CDA parts, for the message */
    char others[160];  /* the types of the other parts, for the message */
} ctx_t;

/* Decodes body with enc into a new buffer (NUL-terminated), within the
 * output bound.  what names the part in messages. */
static int decode(ctx_t *c, encoding_t enc, const char *body, size_t len, const char *what,
                  char **out, size_t *outlen)
{
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return CDX_ENOMEM;
    size_t n = 0, bad = 0;
    int rc = 0;
    if (enc == ENC_BASE64) {
        rc = cdx_mime_base64(body, len, buf, &n, &bad);
        if (rc != 0) {
            if (bad < len)
                cdx_diag_reject(c->d, 400, "MIME_BAD_ENCODING",
                                "%s: invalid base64 at byte %zu of its content (character 0x%02X "
                                "%s)",
                                what, bad, (unsigned char)body[bad],
                                body[bad] == '=' ? "where no padding may be"
                                                 : "outside the base64 alphabet");
            else
                cdx_diag_reject(c->d, 400, "MIME_BAD_ENCODING",
                                "%s: the base64 content ends inside a quantum (missing '=' "
                                "padding or truncated)",
                                what);
        }
    } else if (enc == ENC_QP) {
        rc = cdx_mime_qp(body, len, buf, &n, &bad);
        if (rc != 0)
            cdx_diag_reject(c->d, 400, "MIME_BAD_ENCODING",
                            "%s: invalid quoted-printable escape at byte %zu of its content ('=' "
                            "must be followed by two hex digits or a line break)",
                            what, bad);
    } else {
        memcpy(buf, body, len);
        n = len;
    }
    if (rc == 0 && (n > c->max_out || c->total_out + n > c->max_out)) {
        cdx_diag_reject(c->d, 413, "BODY_TOO_LARGE",
                        "the decoded document exceeds the limit of %zu bytes", c->max_out);
        rc = CDX_EPARSE;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    c->total_out += n;
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static void note_other(ctx_t *c, const char *type)
{
    size_t have = strlen(c->others);
    if (have + strlen(type) + 3 < sizeof c->others)
        snprintf(c->others + have, sizeof c->others - have, "%s%s", have ? ", " : "", type);
}

static int entity(ctx_t *c, const fields_t *f, const char *body, size_t len, int depth);

/* One part of a multipart: decoded if it may be the document. */
static int leaf(ctx_t *c, const char *type, encoding_t enc, const char *enc_label, const char *body,
                size_t len)
{
    int pos = ++c->nparts;
    int octets = strcmp(type, "application/octet-stream") == 0;
    if (!is_xml_type(type) && !octets) {
        note_other(c, type);
        return 0;
    }
    char what[128];
    snprintf(what, sizeof what, "part %d (%s)", pos, type);
    char *doc = NULL;
    size_t n = 0;
    int rc = decode(c, enc, body, len, what, &doc, &n);
    if (rc != 0)
        return rc;
    if (is_cda_root(doc, n)) {
        size_t have = strlen(c->cda_list);
        if (have + 16 < sizeof c->cda_list)
            snprintf(c->cda_list + have, sizeof c->cda_list - have, "%s%d", have ? ", " : "", pos);
        if (++c->ncda == 1) {
            c->cda = doc;
            c->cda_len = n;
            c->cda_part = pos;
            cdx_strlcpy(c->cda_type, type, sizeof c->cda_type);
            cdx_strlcpy(c->cda_enc, enc_label, sizeof c->cda_enc);
            return 0;
        }
    } else if (!octets) {
        if (++c->nxml == 1) {
            c->xml = doc;
            c->xml_len = n;
            c->xml_part = pos;
            cdx_strlcpy(c->xml_type, type, sizeof c->xml_type);
            cdx_strlcpy(c->xml_enc, enc_label, sizeof c->xml_enc);
            return 0;
        }
    } else {
        note_other(c, type);
    }
    c->total_out -= n; /* not kept */
    free(doc);
    return 0;
}

/* Is there a delimiter line "--boundary" at i (a line start)?  Returns 1
 * (a part follows: *next is the start of the part), 2 (the close
 * delimiter), or 0 (not a delimiter: text that starts like one). */
static int delimiter_at(const char *s, size_t len, size_t i, const char *b, size_t blen,
                        size_t *next)
{
    size_t k = i + 2 + blen;
    int close = 0;
    if (k + 2 <= len && s[k] == '-' && s[k + 1] == '-') {
        close = 1;
        k += 2;
    }
    while (k < len && (s[k] == ' ' || s[k] == '\t'))
        k++;
    if (k < len && s[k] == '\r')
        k++;
    if (k < len && s[k] != '\n')
        return 0;
    if (k >= len && !close)
        return 0;
    *next = k < len ? k + 1 : len;
    return close ? 2 : 1;
}

/* The next delimiter line at or after from: its start in *at (the CRLF or
 * LF before it belongs to it).  Returns what delimiter_at returns, or -1
 * when there is none. */
static int next_delimiter(const char *s, size_t len, size_t from, const char *b, size_t blen,
                          size_t *at, size_t *next)
{
    char pat[MAX_BOUNDARY + 4];
    pat[0] = '-';
    pat[1] = '-';
    memcpy(pat + 2, b, blen);
    size_t plen = blen + 2;
    size_t i = from;
    while (i + plen <= len) {
        const char *hit = memmem(s + i, len - i, pat, plen);
        if (hit == NULL)
            return -1;
        size_t h = (size_t)(hit - s);
        if (h == 0 || s[h - 1] == '\n') {
            int kind = delimiter_at(s, len, h, b, blen, next);
            if (kind != 0) {
                *at = h;
                return kind;
            }
        }
        i = h + 1;
    }
    return -1;
}

static int multipart(ctx_t *c, const char *ct, const char *body, size_t len, int depth)
{
    char boundary[MAX_BOUNDARY + 1];
    int have = parameter(ct, "boundary", boundary, sizeof boundary);
    if (have < 0) {
        cdx_diag_reject(c->d, 400, "MIME_MALFORMED",
                        "the multipart boundary is malformed or longer than %d characters",
                        MAX_BOUNDARY);
        return CDX_EPARSE;
    }
    if (have == 0 || boundary[0] == '\0') {
        cdx_diag_reject(c->d, 400, "MIME_MALFORMED",
                        "the multipart Content-Type has no boundary parameter");
        return CDX_EPARSE;
    }
    size_t blen = strlen(boundary);
    size_t at = 0, next = 0;
    int kind = next_delimiter(body, len, 0, boundary, blen, &at, &next);
    if (kind < 0) {
        cdx_diag_reject(c->d, 400, "MIME_MALFORMED",
                        "the multipart body never has the delimiter line --%s", boundary);
        return CDX_EPARSE;
    }
    int parts = 0;
    while (kind == 1) {
        size_t start = next;
        kind = next_delimiter(body, len, start, boundary, blen, &at, &next);
        if (kind < 0) {
            cdx_diag_reject(c->d, 400, "MIME_MALFORMED",
                            "the multipart body is unterminated: no closing delimiter --%s--",
                            boundary);
            return CDX_EPARSE;
        }
        /* The line break before the delimiter is the delimiter's. */
        size_t end = at;
        if (end > start && body[end - 1] == '\n')
            end--;
        if (end > start && body[end - 1] == '\r')
            end--;
        if (++parts > MAX_PARTS) {
            cdx_diag_reject(c->d, 400, "MIME_MALFORMED", "more than %d MIME parts", MAX_PARTS);
            return CDX_EPARSE;
        }
        fields_t pf;
        size_t off = 0;
        char what[48];
        snprintf(what, sizeof what, "part %d", c->nparts + 1);
        /* A part with no header fields starts with its empty line. */
        int rc = read_fields(body + start, end - start, what, &pf, &off, c->d);
        if (rc != 0)
            return rc;
        rc = entity(c, &pf, body + start + off, end - start - off, depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* An entity of header fields f and body: a multipart, a message, or a leaf. */
static int entity(ctx_t *c, const fields_t *f, const char *body, size_t len, int depth)
{
    if (depth > CDX_MIME_MAX_DEPTH) {
        cdx_diag_reject(c->d, 400, "MIME_MALFORMED", "MIME parts nested deeper than %d",
                        CDX_MIME_MAX_DEPTH);
        return CDX_EPARSE;
    }
    char type[96];
    /* RFC 2045 5.2: no Content-Type means text/plain; inside a multipart
     * that is not a document, at the top it is read as one. */
    if (f->have_type)
        media_type(f->content_type, type, sizeof type);
    else
        cdx_strlcpy(type, depth == 0 ? "application/xml" : "text/plain", sizeof type);
    encoding_t enc;
    char enc_label[24];
    if (parse_encoding(f->have_encoding ? f->encoding : "", &enc, enc_label, sizeof enc_label) !=
        0) {
        cdx_diag_reject(c->d, 415, "MIME_UNSUPPORTED",
                        "the Content-Transfer-Encoding '%s' is not supported (7bit, 8bit, binary, "
                        "quoted-printable, base64)",
                        f->encoding);
        return CDX_EPARSE;
    }
    if (is_encrypted_type(type)) {
        cdx_diag_reject(c->d, 415, "MIME_UNSUPPORTED",
                        "the message is encrypted (%s); decrypt it before sending the document",
                        type);
        return CDX_EPARSE;
    }
    if (strncmp(type, "multipart/", 10) == 0) {
        if (enc != ENC_IDENTITY) {
            cdx_diag_reject(c->d, 400, "MIME_MALFORMED",
                            "a multipart entity must not be %s-encoded (RFC 2045 6.4)", enc_label);
            return CDX_EPARSE;
        }
        return multipart(c, f->content_type, body, len, depth);
    }
    if (strcmp(type, "message/rfc822") == 0 && depth > 0) {
        fields_t inner;
        size_t off = 0;
        int rc = read_fields(body, len, "the enclosed message", &inner, &off, c->d);
        return rc != 0 ? rc : entity(c, &inner, body + off, len - off, depth + 1);
    }
    if (depth == 0 && !is_xml_type(type) && strcmp(type, "application/octet-stream") != 0) {
        cdx_diag_reject(c->d, 415, "MIME_UNSUPPORTED",
                        "the MIME entity is %s, not an XML document (application/xml, text/xml "
                        "or application/hl7-v3+xml)",
                        type);
        return CDX_EPARSE;
    }
    if (depth == 0) {
        /* A single entity: its content is the document, whatever its root
         * (the XML parser judges it). */
        char *doc = NULL;
        size_t n = 0;
        int rc = decode(c, enc, body, len, "the MIME entity", &doc, &n);
        if (rc != 0)
            return rc;
        c->cda = doc;
        c->cda_len = n;
        c->ncda = 1;
        cdx_strlcpy(c->cda_type, type, sizeof c->cda_type);
        cdx_strlcpy(c->cda_enc, enc_label, sizeof c->cda_enc);
        return 0;
    }
    return leaf(c, type, enc, enc_label, body, len);
}

/* The verdict over all parts, and the document taken. */
static int conclude(ctx_t *c, int multi, cdx_mime_t *out)
{
    if (c->ncda > 1) {
        cdx_diag_reject(c->d, 422, "MIME_MULTIPLE_CDA",
                        "the message carries %d CDA documents (parts %s); send one document per "
                        "request",
                        c->ncda, c->cda_list);
        return CDX_EPARSE;
    }
    const char *type = c->cda_type, *enc = c->cda_enc;
    int part = c->cda_part;
    if (c->ncda == 1) {
        out->data = c->cda;
        out->len = c->cda_len;
        c->cda = NULL;
    } else if (c->nxml == 1) {
        out->data = c->xml;
        out->len = c->xml_len;
        c->xml = NULL;
        type = c->xml_type;
        enc = c->xml_enc;
        part = c->xml_part;
    } else if (c->nxml > 1) {
        cdx_diag_reject(c->d, 422, "MIME_NO_CDA",
                        "the message has %d XML parts and none is a ClinicalDocument; send the CDA "
                        "document alone",
                        c->nxml);
        return CDX_EPARSE;
    } else {
        cdx_diag_reject(c->d, 422, "MIME_NO_CDA",
                        "the message has no CDA document: no XML part among its %d parts (%s)",
                        c->nparts, c->others[0] ? c->others : "none");
        return CDX_EPARSE;
    }
    snprintf(out->how, sizeof out->how, "%s-%s", multi ? "multipart" : "mime", enc);
    cdx_strlcpy(out->content_type, type, sizeof out->content_type);
    out->part = multi ? part : 0;
    return 0;
}

static int run(const fields_t *f, const char *body, size_t len, size_t max_out, cdx_diag_t *d,
               cdx_mime_t *out)
{
    memset(out, 0, sizeof *out);
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.max_out = max_out;
    int rc = entity(&c, f, body, len, 0);
    if (rc == 0) {
        char type[96];
        media_type(f->content_type, type, sizeof type);
        rc = conclude(&c, f->have_type && strncmp(type, "multipart/", 10) == 0, out);
    }
    free(c.cda);
    free(c.xml);
    return rc;
}

int cdx_mime_decode(const char *data, size_t len, size_t max_out, cdx_diag_t *d, cdx_mime_t *out)
{
    fields_t f;
    size_t off = 0;
    memset(out, 0, sizeof *out);
    int rc = read_fields(data, len, "the MIME message", &f, &off, d);
    if (rc != 0)
        return rc;
    return run(&f, data + off, len - off, max_out, d, out);
}

int cdx_mime_decode_body(const char *content_type, const char *transfer_encoding, const char *data,
                         size_t len, size_t max_out, cdx_diag_t *d, cdx_mime_t *out)
{
    fields_t f;
    memset(&f, 0, sizeof f);
    memset(out, 0, sizeof *out);
    if (content_type != NULL) {
        if (cdx_strlcpy(f.content_type, content_type, sizeof f.content_type) != 0) {
            cdx_diag_reject(d, 400, "MIME_MALFORMED", "the Content-Type is longer than %zu bytes",
                            sizeof f.content_type - 1);
            return CDX_EPARSE;
        }
        f.have_type = 1;
    }
    if (transfer_encoding != NULL) {
        cdx_strlcpy(f.encoding, transfer_encoding, sizeof f.encoding);
        f.have_encoding = 1;
    }
    return run(&f, data, len, max_out, d, out);
}

void cdx_mime_cleanup(cdx_mime_t *m)
{
    if (m == NULL)
        return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

int cdx_mime_detect(const char *data, size_t len, char *header, size_t hlen)
{
    size_t i = 0;
    int lineno = 0;
    if (hlen > 0)
        header[0] = '\0';
    while (i < len && i <= CDX_MIME_MAX_HEADER_BYTES) {
        size_t e = line_end(data, len, i);
        size_t n = trim_cr(data, i, e);
        const char *line = data + i;
        lineno++;
        if (n == 0)
            break; /* the end of the header block */
        if (line[0] == ' ' || line[0] == '\t') {
            if (lineno == 1)
                return 0;
        } else {
            size_t k = 0;
            while (k < n && is_name_char((unsigned char)line[k]))
                k++;
            if (k == 0 || k >= n || line[k] != ':')
                return 0;
            if ((k == 12 && strncasecmp(line, "Content-Type", 12) == 0) ||
                (k == 25 && strncasecmp(line, "Content-Transfer-Encoding", 25) == 0) ||
                (k == 12 && strncasecmp(line, "MIME-Version", 12) == 0)) {
                size_t m = n < hlen ? n : hlen - 1;
                memcpy(header, line, m);
                header[m] = '\0';
                for (size_t x = 0; x < m; x++)
                    if ((unsigned char)header[x] < 32 || (unsigned char)header[x] > 126)
                        header[x] = '?';
                return 1;
            }
        }
        i = e < len ? e + 1 : len;
    }
    return 0;
}
