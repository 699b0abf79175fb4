/* http: strict request framing over libhttp-parser (see include/cdx/net/http.h). */
#include "cdx/net/http.h"
#include "cdx/parsers/chunked.h"
#include "cdx/base/common.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

enum phase { PH_HEADERS, PH_BODY, PH_COMPLETE, PH_ERROR };

struct cdx_http_parser {
    http_parser hp;
    http_parser_settings settings;
    cdx_http_limits_t lim;
    enum phase phase;
    int discard;
    int paused;

    /* Our own scan of the header bytes: line endings, folding, limits. */
    int scanning;
    size_t line_index; /* 0: request line */
    size_t cur_line_len;
    int in_name; /* inside a header field name */
    size_t header_bytes;
    char prev;
    size_t seen;
    unsigned rl_spaces; /* spaces in the request line */
    int rl_last_space;  /* the request line's last byte so far is a space */
    /* The start of the request line, kept so that a head refused after it
     * can still be attributed to its route (and audited). */
    char rl_copy[256];
    size_t rl_copy_len;
    int rl_done; /* the request line was read whole and well formed */

    /* Our own scan of a chunked body, ahead of libhttp-parser. */
    cdx_chunked_t ck;
    /* Bytes of the request head that libhttp-parser has not consumed yet
     * when it pauses after the headers (it stops before the final LF and
     * reads it again when resumed); the chunked scan skips them. */
    size_t head_left;

    cdx_buf_t url;
    cdx_buf_t name;
    cdx_buf_t value;
    int last_was_value;
    cdx_buf_t store; /* "name\0value\0" pairs */
    size_t *offsets; /* two per header, into store */
    size_t nstored;
    int saw_te;
    int saw_cl;

    cdx_http_request_t req;
    cdx_http_error_t err;
};

static void fail(cdx_http_parser_t *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(cdx_http_parser_t *p, int status, const char *code, const char *fmt, ...)
{
    if (p->phase == PH_ERROR)
        return;
    p->phase = PH_ERROR;
    p->err.status = status;
    p->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err.detail, sizeof p->err.detail, fmt, ap);
    va_end(ap);
}

static int commit_header(cdx_http_parser_t *p)
{
    if (p->name.len == 0)
        return 0;
    if (p->nstored >= p->lim.max_headers) {
        fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "more than %zu header fields", p->lim.max_headers);
        return -1;
    }
    for (size_t i = 0; i < p->name.len; i++)
        p->name.data[i] = (char)tolower((unsigned char)p->name.data[i]);
    /* Trim the value: libhttp-parser leaves trailing whitespace. */
    const char *v = p->value.data ? p->value.data : "";
    size_t vlen = p->value.len;
    while (vlen > 0 && (v[0] == ' ' || v[0] == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    size_t noff = p->store.len;
    if (cdx_buf_append(&p->store, p->name.data, p->name.len + 1) != 0)
        goto too_big;
    size_t voff = p->store.len;
    if (cdx_buf_append(&p->store, v, vlen) != 0 || cdx_buf_append(&p->store, "", 1) != 0)
        goto too_big;
    p->offsets[2 * p->nstored] = noff;
    p->offsets[2 * p->nstored + 1] = voff;
    p->nstored++;
    if (strcmp(p->name.data, "transfer-encoding") == 0)
        p->saw_te++;
    if (strcmp(p->name.data, "content-length") == 0)
        p->saw_cl++;
    cdx_buf_reset(&p->name);
    cdx_buf_reset(&p->value);
    p->last_was_value = 0;
    return 0;
too_big:
    fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "request headers exceed %zu bytes",
         p->lim.max_header_bytes);
    return -1;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    cdx_http_parser_t *p = hp->data;
    if (cdx_buf_append(&p->url, at, len) != 0) {
        fail(p, 414, "HTTP_REQUEST_LINE_TOO_LONG", "request target longer than %zu bytes",
             p->lim.max_request_line);
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    cdx_http_parser_t *p = hp->data;
    /* Trailer fields of a chunked body: checked by the chunked scan and
     * dropped; the request's headers are already handed out. */
    if (p->phase != PH_HEADERS)
        return 0;
    if (p->last_was_value && commit_header(p) != 0)
        return -1;
    if (cdx_buf_append(&p->name, at, len) != 0) {
        fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "a header name is too long");
        return -1;
    }
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    cdx_http_parser_t *p = hp->data;
    if (p->phase != PH_HEADERS)
        return 0;
    p->last_was_value = 1;
    if (cdx_buf_append(&p->value, at, len) != 0) {
        fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "a header value is too long");
        return -1;
    }
    return 0;
}

const char *cdx_http_header(const cdx_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

static size_t header_count(const cdx_http_request_t *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        n += strcmp(req->headers[i].name, name) == 0;
    return n;
}

static int on_headers_complete(http_parser *hp)
{
    cdx_http_parser_t *p = hp->data;
    cdx_http_request_t *req = &p->req;
    if (p->phase != PH_HEADERS)
        return 0; /* the end of a chunked body's trailer section */
    if (commit_header(p) != 0)
        return -1;
    for (size_t i = 0; i < p->nstored; i++) {
        req->headers[i].name = p->store.data + p->offsets[2 * i];
        req->headers[i].value = p->store.data + p->offsets[2 * i + 1];
    }
    req->nheaders = p->nstored;
    cdx_strlcpy(req->method, http_method_str((enum http_method)hp->method), sizeof req->method);

    if (hp->http_major != 1 || hp->http_minor > 1) {
        fail(p, 505, "HTTP_VERSION_NOT_SUPPORTED", "only HTTP/1.0 and HTTP/1.1 are served");
        return -1;
    }
    req->http_minor = hp->http_minor;
    if (p->url.len == 0 || p->url.data[0] != '/') {
        fail(p, 400, "HTTP_MALFORMED", "the request target must be a path starting with '/'");
        return -1;
    }
    req->target = p->url.data;
    req->path = p->url.data;
    char *q = strchr(p->url.data, '?');
    if (q != NULL) {
        *q = '\0';
        req->query = q + 1;
    } else {
        req->query = p->url.data + p->url.len; /* the empty string at the end */
    }
    char *hash = strchr(req->query, '#');
    if (hash != NULL)
        *hash = '\0';

    if (req->http_minor == 1 && header_count(req, "host") != 1) {
        fail(p, 400, "HTTP_MALFORMED", "an HTTP/1.1 request needs exactly one Host header");
        return -1;
    }
    size_t ncl = header_count(req, "content-length");
    size_t nte = header_count(req, "transfer-encoding");
    if (ncl > 0 && nte > 0) {
        fail(p, 400, "HTTP_CL_TE_CONFLICT",
             "Content-Length and Transfer-Encoding together are ambiguous; send one of them");
        return -1;
    }
    if (ncl > 1) {
        fail(p, 400, "HTTP_BAD_CONTENT_LENGTH", "more than one Content-Length header");
        return -1;
    }
    if (ncl == 1) {
        const char *cl = cdx_http_header(req, "content-length");
        if (*cl == '\0' || strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 19) {
            fail(p, 400, "HTTP_BAD_CONTENT_LENGTH", "Content-Length must be decimal digits only");
            return -1;
        }
        req->content_length = strtoull(cl, NULL, 10);
        req->has_body = req->content_length > 0;
    }
    if (nte > 1) {
        fail(p, 400, "HTTP_BAD_TE", "more than one Transfer-Encoding header");
        return -1;
    }
    if (nte == 1) {
        if (strcasecmp(cdx_http_header(req, "transfer-encoding"), "chunked") != 0) {
            fail(p, 400, "HTTP_BAD_TE", "the only transfer coding accepted is 'chunked'");
            return -1;
        }
        if (req->http_minor == 0) {
            fail(p, 400, "HTTP_BAD_TE", "Transfer-Encoding is not allowed in HTTP/1.0");
            return -1;
        }
        req->chunked = 1;
        req->has_body = 1;
        cdx_chunked_init(&p->ck, p->lim.max_body);
    }
    const char *expect = cdx_http_header(req, "expect");
    if (expect != NULL) {
        if (strcasecmp(expect, "100-continue") != 0) {
            fail(p, 417, "HTTP_EXPECTATION_FAILED",
                 "the only expectation supported is 100-continue");
            return -1;
        }
        req->expect_continue = req->http_minor == 1;
    }
    if (!req->chunked && req->content_length > p->lim.max_body) {
        fail(p, 413, "BODY_TOO_LARGE", "the body of %llu bytes exceeds the limit of %llu bytes",
             (unsigned long long)req->content_length, (unsigned long long)p->lim.max_body);
        return -1;
    }
    req->keep_alive = http_should_keep_alive(hp);
    p->phase = PH_BODY;
    p->paused = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    cdx_http_parser_t *p = hp->data;
    p->req.body_received += len;
    if (p->req.body_received > p->lim.max_body) {
        fail(p, 413, "BODY_TOO_LARGE", "the body exceeds the limit of %llu bytes",
             (unsigned long long)p->lim.max_body);
        return -1;
    }
    if (!p->discard && cdx_buf_append(&p->req.body, at, len) != 0) {
        fail(p, 503, "OVERLOADED", "no memory for the request body; retry later");
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    cdx_http_parser_t *p = hp->data;
    p->phase = PH_COMPLETE;
    http_parser_pause(hp, 1);
    return 0;
}

static void reset(cdx_http_parser_t *p)
{
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->phase = PH_HEADERS;
    p->discard = 0;
    p->paused = 0;
    p->scanning = 1;
    p->line_index = 0;
    p->cur_line_len = 0;
    p->header_bytes = 0;
    p->prev = 0;
    p->seen = 0;
    p->rl_spaces = 0;
    p->rl_last_space = 0;
    p->rl_copy_len = 0;
    p->rl_done = 0;
    p->head_left = 0;
    memset(&p->ck, 0, sizeof p->ck);
    cdx_buf_reset(&p->url);
    cdx_buf_reset(&p->name);
    cdx_buf_reset(&p->value);
    cdx_buf_reset(&p->store);
    p->last_was_value = 0;
    p->nstored = 0;
    p->saw_te = 0;
    p->saw_cl = 0;
    cdx_http_header_t *headers = p->req.headers;
    cdx_buf_t body = p->req.body;
    memset(&p->req, 0, sizeof p->req);
    p->req.headers = headers;
    p->req.body = body;
    /* A large body buffer is not kept for the next request. */
    if (p->req.body.cap > 65536)
        cdx_buf_cleanup(&p->req.body);
    cdx_buf_reset(&p->req.body);
    p->req.query = "";
    memset(&p->err, 0, sizeof p->err);
}

int cdx_http_parser_new(const cdx_http_limits_t *limits, cdx_http_parser_t **out)
{
    cdx_http_parser_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return CDX_ENOMEM;
    p->lim = *limits;
    p->offsets = calloc(2 * (limits->max_headers + 1), sizeof *p->offsets);
    p->req.headers = calloc(limits->max_headers + 1, sizeof *p->req.headers);
    if (p->offsets == NULL || p->req.headers == NULL) {
        cdx_http_parser_free(p);
        return CDX_ENOMEM;
    }
    http_parser_settings_init(&p->settings);
    p->settings.on_url = on_url;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_value = on_header_value;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    cdx_buf_init(&p->url, limits->max_request_line);
    cdx_buf_init(&p->name, limits->max_header_bytes);
    cdx_buf_init(&p->value, limits->max_header_bytes);
    cdx_buf_init(&p->store, limits->max_header_bytes + 2 * (limits->max_headers + 1));
    cdx_buf_init(&p->req.body, (size_t)limits->max_body);
    reset(p);
    *out = p;
    return 0;
}

void cdx_http_parser_free(cdx_http_parser_t *p)
{
    if (p == NULL)
        return;
    cdx_buf_cleanup(&p->url);
    cdx_buf_cleanup(&p->name);
    cdx_buf_cleanup(&p->value);
    cdx_buf_cleanup(&p->store);
    cdx_buf_cleanup(&p->req.body);
    free(p->offsets);
    free(p->req.headers);
    free(p);
}

/* RFC 9110 token characters, the only ones allowed in a field name. */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks header bytes before libhttp-parser sees them: CRLF line endings
 * only, no obsolete folding, and the size limits.  Returns the number of
 * bytes that belong to the header part (all of len while it goes on), or
 * -1 after fail(). */
static int scan_headers(cdx_http_parser_t *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        p->seen++;
        if (p->prev == '\r' && c != '\n') {
            fail(p, 400, "HTTP_MALFORMED", "a CR not followed by LF in the request head");
            return -1;
        }
        if (c == '\n') {
            if (p->prev != '\r') {
                fail(p, 400, "HTTP_MALFORMED", "lines must end with CRLF, not a bare LF");
                return -1;
            }
            if (p->line_index == 0 && p->cur_line_len > 0 &&
                (p->rl_spaces != 2 || p->rl_last_space)) {
                fail(p, 400, "HTTP_MALFORMED",
                     "the request line must be METHOD SP target SP HTTP-version, with single "
                     "spaces and nothing after the version");
                return -1;
            }
            if (p->cur_line_len == 0) {
                if (p->line_index == 0) {
                    fail(p, 400, "HTTP_MALFORMED", "empty request line");
                    return -1;
                }
                p->scanning = 0;
                p->prev = c;
                return (int)(i + 1);
            }
            if (p->line_index == 0)
                p->rl_done = 1;
            p->line_index++;
            p->cur_line_len = 0;
            if (p->line_index - 1 > p->lim.max_headers) {
                fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "more than %zu header fields",
                     p->lim.max_headers);
                return -1;
            }
        } else if (c != '\r') {
            if (p->cur_line_len == 0 && p->line_index > 0 && (c == ' ' || c == '\t')) {
                fail(p, 400, "HTTP_MALFORMED", "obsolete header line folding is not accepted");
                return -1;
            }
            if (c == '\0') {
                fail(p, 400, "HTTP_MALFORMED", "NUL byte in the request head");
                return -1;
            }
            if (p->line_index == 0) {
                if (p->rl_copy_len < sizeof p->rl_copy)
                    p->rl_copy[p->rl_copy_len++] = c;
                if (c == ' ') {
                    if (p->rl_last_space || p->cur_line_len == 0 || p->rl_spaces == 2) {
                        fail(p, 400, "HTTP_MALFORMED",
                             "the request line must be METHOD SP target SP HTTP-version, with "
                             "single spaces and nothing after the version");
                        return -1;
                    }
                    p->rl_spaces++;
                    p->rl_last_space = 1;
                } else if ((unsigned char)c < 0x20 || c == 0x7f) {
                    fail(p, 400, "HTTP_MALFORMED",
                         "control character (such as a tab) in the request line");
                    return -1;
                } else {
                    p->rl_last_space = 0;
                }
            } else {
                if (p->cur_line_len == 0)
                    p->in_name = 1;
                if (p->in_name && c == ':') {
                    p->in_name = 0;
                } else if (p->in_name && !is_tchar((unsigned char)c)) {
                    fail(p, 400, "HTTP_MALFORMED",
                         "invalid character in a header name (no spaces before the colon)");
                    return -1;
                }
            }
            p->cur_line_len++;
            if (p->line_index == 0) {
                if (p->cur_line_len > p->lim.max_request_line) {
                    fail(p, 414, "HTTP_REQUEST_LINE_TOO_LONG", "request line longer than %zu bytes",
                         p->lim.max_request_line);
                    return -1;
                }
            } else if (++p->header_bytes > p->lim.max_header_bytes) {
                fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "request headers exceed %zu bytes",
                     p->lim.max_header_bytes);
                return -1;
            }
        }
        p->prev = c;
    }
    return (int)len;
}

static void map_parser_error(cdx_http_parser_t *p)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    const char *desc = http_errno_description(e);
    int in_body = p->phase == PH_BODY;
    /* The header being parsed when the error struck is not committed yet. */
    const char *cur = p->name.data ? p->name.data : "";
    int te = p->saw_te || strcasecmp(cur, "transfer-encoding") == 0;
    int cl = p->saw_cl || strcasecmp(cur, "content-length") == 0;
    if (te && cl) {
        fail(p, 400, "HTTP_CL_TE_CONFLICT",
             "Content-Length and Transfer-Encoding together are ambiguous; send one of them");
        return;
    }
    if (in_body && p->req.chunked) {
        /* The chunked scan refuses what libhttp-parser would (it reports a
         * chunk-size overflow as a Content-Length error); should it ever
         * disagree, every framing error in a chunked body is a chunk error. */
        if (e == HPE_INVALID_CONTENT_LENGTH)
            fail(p, 400, "HTTP_BAD_CHUNK", "bad chunked framing: the chunk size overflows");
        else
            fail(p, 400, "HTTP_BAD_CHUNK", "bad chunked framing: %s", desc);
        return;
    }
    switch (e) {
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        fail(p, 400, "HTTP_BAD_CONTENT_LENGTH", "bad Content-Length: %s", desc);
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(p, 400, "HTTP_BAD_TE", "bad Transfer-Encoding: %s", desc);
        break;
    case HPE_INVALID_CHUNK_SIZE:
        fail(p, 400, "HTTP_BAD_CHUNK", "bad chunk: %s", desc);
        break;
    case HPE_HEADER_OVERFLOW:
        fail(p, 431, "HTTP_HEADERS_TOO_LARGE", "request headers too large");
        break;
    case HPE_INVALID_VERSION:
        fail(p, 505, "HTTP_VERSION_NOT_SUPPORTED", "only HTTP/1.0 and HTTP/1.1 are served");
        break;
    default:
        if (in_body && p->req.chunked)
            fail(p, 400, "HTTP_BAD_CHUNK", "bad chunked framing: %s", desc);
        else
            fail(p, 400, "HTTP_MALFORMED", "malformed request: %s", desc);
        break;
    }
}

cdx_http_event_t cdx_http_parser_feed(cdx_http_parser_t *p, const char *data, size_t len,
                                      size_t *consumed)
{
    *consumed = 0;
    if (p->phase == PH_ERROR)
        return CDX_HTTP_ERROR;
    if (p->phase == PH_COMPLETE)
        return CDX_HTTP_COMPLETE;
    if (p->paused)
        return CDX_HTTP_HEADERS;
    if (len == 0)
        return CDX_HTTP_NEED_MORE;
    int head_bytes = 0;
    if (p->scanning && (head_bytes = scan_headers(p, data, len)) < 0)
        return CDX_HTTP_ERROR;
    /* A chunked body is checked by our own scan before libhttp-parser,
     * which is not built strict, decodes it; libhttp-parser sees only the
     * bytes of this body, and both must agree on where it ends. */
    int chunked = p->phase == PH_BODY && p->req.chunked;
    cdx_chunked_result_t cr = CDX_CHUNKED_MORE;
    if (chunked) {
        size_t skip = CDX_MIN(p->head_left, len), n = 0;
        p->head_left -= skip;
        cr = cdx_chunked_scan(&p->ck, data + skip, len - skip, &n);
        if (cr == CDX_CHUNKED_ERROR) {
            fail(p, p->ck.status, p->ck.code, "%s", p->ck.detail);
            return CDX_HTTP_ERROR;
        }
        len = skip + n;
    }
    size_t n = len > 0 ? http_parser_execute(&p->hp, &p->settings, data, len) : 0;
    *consumed = n;
    if (p->phase == PH_ERROR)
        return CDX_HTTP_ERROR;
    if (!chunked && p->phase == PH_BODY && head_bytes > 0 && (size_t)head_bytes > n)
        p->head_left = (size_t)head_bytes - n;
    enum http_errno he = HTTP_PARSER_ERRNO(&p->hp);
    if (chunked && (he == HPE_OK || he == HPE_PAUSED) &&
        (cr == CDX_CHUNKED_DONE) != (p->phase == PH_COMPLETE)) {
        fail(p, 400, "HTTP_BAD_CHUNK", "bad chunked framing: the end of the body is ambiguous");
        return CDX_HTTP_ERROR;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e == HPE_PAUSED) {
        if (p->phase == PH_COMPLETE)
            return CDX_HTTP_COMPLETE;
        return CDX_HTTP_HEADERS;
    }
    if (e != HPE_OK) {
        map_parser_error(p);
        return CDX_HTTP_ERROR;
    }
    if (p->hp.upgrade) {
        fail(p, 400, "HTTP_MALFORMED", "protocol upgrades are not supported");
        return CDX_HTTP_ERROR;
    }
    return CDX_HTTP_NEED_MORE;
}

void cdx_http_parser_continue(cdx_http_parser_t *p, int discard_body)
{
    if (!p->paused || p->phase != PH_BODY)
        return;
    p->discard = discard_body;
    p->paused = 0;
    http_parser_pause(&p->hp, 0);
}

void cdx_http_parser_next(cdx_http_parser_t *p)
{
    reset(p);
}

cdx_http_request_t *cdx_http_parser_request(cdx_http_parser_t *p)
{
    return &p->req;
}

const cdx_http_error_t *cdx_http_parser_error(const cdx_http_parser_t *p)
{
    return &p->err;
}

size_t cdx_http_parser_bytes_seen(const cdx_http_parser_t *p)
{
    return p->seen;
}

int cdx_http_parser_in_headers(const cdx_http_parser_t *p)
{
    return p->phase == PH_HEADERS;
}

int cdx_http_parser_request_line(const cdx_http_parser_t *p, char *method, size_t mlen, char *path,
                                 size_t plen)
{
    if (!p->rl_done)
        return 0;
    const char *s = p->rl_copy, *end = s + p->rl_copy_len;
    const char *sp1 = memchr(s, ' ', (size_t)(end - s));
    if (sp1 == NULL)
        return 0;
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (sp2 == NULL)
        return 0; /* the target is longer than what was kept */
    size_t ml = (size_t)(sp1 - s), tl = 0;
    while (t + tl < sp2 && t[tl] != '?' && t[tl] != '#')
        tl++;
    if (ml == 0 || ml >= mlen || tl == 0 || tl >= plen || t[0] != '/')
        return 0;
    memcpy(method, s, ml);
    method[ml] = '\0';
    memcpy(path, t, tl);
    path[tl] = '\0';
    return 1;
}

int cdx_http_query_param(const char *query, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = query;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t seglen = end ? (size_t)(end - p) : strlen(p);
        if (seglen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t vlen = seglen - klen - 1, o = 0;
            for (size_t i = 0; i < vlen; i++) {
                int c = (unsigned char)v[i];
                if (c == '%') {
                    if (i + 2 >= vlen)
                        return CDX_EINVAL;
                    int hi = cdx_hex_digit(v[i + 1]), lo = cdx_hex_digit(v[i + 2]);
                    if (hi < 0 || lo < 0)
                        return CDX_EINVAL;
                    c = hi * 16 + lo;
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (c == 0 || o + 1 >= outlen)
                    return CDX_EINVAL;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

const char *cdx_http_reason(int status)
{
    switch (status) {
#define CDX_HTTP_REASON(num, name, string)                                                         \
    case num:                                                                                      \
        return #string;
        HTTP_STATUS_MAP(CDX_HTTP_REASON)
#undef CDX_HTTP_REASON
    default:
        return "Unknown";
    }
}
