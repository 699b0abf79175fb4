/* http_response: one HTTP/1.1 response read with http_parser (see
 * include/cdx/net/http_response.h). */
#define _XOPEN_SOURCE 700 /* strptime */
#include "cdx/net/http_response.h"
#include "cdx/base/common.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct cdx_http_response {
    http_parser parser;
    size_t max_head;
    size_t max_body;
    int head_only;
    cdx_http_response_state_t state;
    size_t head_bytes;
    int in_value; /* the last header callback was a value */
    char *field;  /* the header name being read (max_head + 1) */
    size_t field_len;
    char *value; /* its value (max_head + 1) */
    size_t value_len;
    int headers_done;
    int until_eof; /* the body runs to the end of the stream */
    int status;
    int64_t retry_after;
    size_t nkeep;
    char keep_names[CDX_HTTP_RESPONSE_MAX_KEEP][64];
    char *kept[CDX_HTTP_RESPONSE_MAX_KEEP];
    char *body;
    size_t body_len;
    size_t body_cap;
    char reason[128];
};

static cdx_http_response_t *of(http_parser *p)
{
    return p->data;
}

static int refuse(cdx_http_response_t *r, cdx_http_response_state_t state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(cdx_http_response_t *r, cdx_http_response_state_t state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->state = state;
    return 1; /* stops http_parser */
}

/* Counts head bytes against the bound (each header line adds ": " and
 * CRLF, which the callbacks do not see). */
static int count_head(cdx_http_response_t *r, size_t n)
{
    r->head_bytes += n;
    if (r->head_bytes > r->max_head)
        return refuse(r, CDX_HTTP_RESPONSE_TOO_LARGE, "response head over %zu bytes", r->max_head);
    return 0;
}

static void forget_headers(cdx_http_response_t *r)
{
    for (size_t i = 0; i < r->nkeep; i++) {
        free(r->kept[i]);
        r->kept[i] = NULL;
    }
    r->retry_after = -1;
    r->field_len = r->value_len = 0;
    r->in_value = 0;
    r->head_bytes = 0;
}

/* One header is complete: keep it if it was asked for. */
static int finish_header(cdx_http_response_t *r)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (r->field_len == 0)
        return 0;
    r->field[r->field_len] = '\0';
    for (size_t i = 0; i < r->field_len; i++) {
        unsigned char ch = (unsigned char)r->field[i];
        if (!isalnum(ch) && (ch == '\0' || strchr(tchar, ch) == NULL))
            return refuse(r, CDX_HTTP_RESPONSE_MALFORMED, "invalid header name");
    }
    r->value[r->value_len] = '\0';
    char *v = cdx_trim(r->value);
    if (strcasecmp(r->field, "Retry-After") == 0 && r->retry_after < 0) {
        int64_t secs;
        if (cdx_http_retry_after_parse(v, time(NULL), &secs) == 0)
            r->retry_after = secs;
    }
    for (size_t i = 0; i < r->nkeep; i++) {
        if (r->kept[i] == NULL && strcasecmp(r->field, r->keep_names[i]) == 0) {
            r->kept[i] = strdup(v);
            if (r->kept[i] == NULL)
                return refuse(r, CDX_HTTP_RESPONSE_TOO_LARGE, "out of memory for headers");
        }
    }
    r->field_len = r->value_len = 0;
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t len)
{
    return count_head(of(p), len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    cdx_http_response_t *r = of(p);
    if (count_head(r, len + (r->in_value ? 4 : 0)) != 0)
        return 1;
    if (r->in_value && finish_header(r) != 0)
        return 1;
    r->in_value = 0;
    memcpy(r->field + r->field_len, at, len);
    r->field_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    cdx_http_response_t *r = of(p);
    if (count_head(r, len) != 0)
        return 1;
    r->in_value = 1;
    memcpy(r->value + r->value_len, at, len);
    r->value_len += len;
    return 0;
}

/* Returns -1 to stop the parser: 1 and 2 mean "no body follows" here. */
static int on_headers_complete(http_parser *p)
{
    cdx_http_response_t *r = of(p);
    if (r->in_value && finish_header(r) != 0)
        return -1;
    r->in_value = 0;
    int status = p->status_code;
    if (status < 100 || status > 599) {
        refuse(r, CDX_HTTP_RESPONSE_MALFORMED, "status %d out of range", status);
        return -1;
    }
    if (status == 101 || p->upgrade) {
        refuse(r, CDX_HTTP_RESPONSE_MALFORMED, "unexpected protocol switch");
        return -1;
    }
    r->status = status;
    if (status >= 200) {
        r->headers_done = 1;
        r->until_eof = !r->head_only && status != 204 && status != 304 &&
                       !(p->flags & (F_CHUNKED | F_CONTENTLENGTH));
        if ((p->flags & F_CONTENTLENGTH) && !r->head_only && p->content_length > r->max_body) {
            refuse(r, CDX_HTTP_RESPONSE_TOO_LARGE, "response body over %zu bytes", r->max_body);
            return -1;
        }
    }
    return r->head_only && status >= 200 ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    cdx_http_response_t *r = of(p);
    if (len > r->max_body - r->body_len)
        return refuse(r, CDX_HTTP_RESPONSE_TOO_LARGE, "response body over %zu bytes", r->max_body);
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        cap = CDX_MIN(cap, r->max_body + 1);
        char *grown = realloc(r->body, cap);
        if (grown == NULL)
            return refuse(r, CDX_HTTP_RESPONSE_TOO_LARGE, "out of memory for the body");
        r->body = grown;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    cdx_http_response_t *r = of(p);
    if (r->status < 200) {
        /* An interim response (100 Continue, 103 Early Hints): the final
         * one follows on the same stream. */
        forget_headers(r);
        r->status = 0;
        return 0;
    }
    r->state = CDX_HTTP_RESPONSE_DONE;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int cdx_http_response_new(size_t max_head, size_t max_body, const char *const *keep, size_t nkeep,
                          int head_only, cdx_http_response_t **out)
{
    if (nkeep > CDX_HTTP_RESPONSE_MAX_KEEP || max_head == 0 || max_body >= SIZE_MAX / 2)
        return CDX_EINVAL;
    cdx_http_response_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CDX_ENOMEM;
    for (size_t i = 0; i < nkeep; i++) {
        if (keep[i] == NULL || cdx_strlcpy(r->keep_names[i], keep[i], sizeof r->keep_names[i])) {
            free(r);
            return CDX_EINVAL;
        }
    }
    r->field = malloc(max_head + 1);
    r->value = malloc(max_head + 1);
    r->body = malloc(1);
    if (r->field == NULL || r->value == NULL || r->body == NULL) {
        cdx_http_response_free(r);
        return CDX_ENOMEM;
    }
    r->body[0] = '\0';
    r->body_cap = 1;
    r->nkeep = nkeep;
    r->max_head = max_head;
    r->max_body = max_body;
    r->head_only = head_only;
    r->retry_after = -1;
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    *out = r;
    return 0;
}

void cdx_http_response_free(cdx_http_response_t *r)
{
    if (r == NULL)
        return;
    forget_headers(r);
    free(r->field);
    free(r->value);
    free(r->body);
    free(r);
}

cdx_http_response_state_t cdx_http_response_feed(cdx_http_response_t *r, const char *data,
                                                 size_t len)
{
    if (r->state != CDX_HTTP_RESPONSE_MORE || len == 0)
        return r->state;
    size_t used = http_parser_execute(&r->parser, &settings, data, len);
    if (r->state != CDX_HTTP_RESPONSE_MORE)
        return r->state;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e != HPE_OK || used != len)
        refuse(r, CDX_HTTP_RESPONSE_MALFORMED, "%s",
               e != HPE_OK ? http_errno_description(e) : "unparsed bytes");
    return r->state;
}

cdx_http_response_state_t cdx_http_response_eof(cdx_http_response_t *r, int clean)
{
    if (r->state != CDX_HTTP_RESPONSE_MORE)
        return r->state;
    if (r->headers_done && r->until_eof && clean) {
        http_parser_execute(&r->parser, &settings, NULL, 0);
        if (r->state == CDX_HTTP_RESPONSE_DONE)
            return r->state;
    }
    if (!r->headers_done)
        refuse(r, CDX_HTTP_RESPONSE_TRUNCATED, "connection closed before the response head");
    else if (r->until_eof)
        refuse(r, CDX_HTTP_RESPONSE_TRUNCATED, "connection closed without close_notify");
    else
        refuse(r, CDX_HTTP_RESPONSE_TRUNCATED, "connection closed %zu bytes into the body",
               r->body_len);
    return r->state;
}

int cdx_http_response_status(const cdx_http_response_t *r)
{
    return r->status >= 200 ? r->status : 0;
}

int64_t cdx_http_response_retry_after(const cdx_http_response_t *r)
{
    return r->retry_after;
}

const char *cdx_http_response_kept(const cdx_http_response_t *r, size_t i)
{
    return i < r->nkeep ? r->kept[i] : NULL;
}

const char *cdx_http_response_body(const cdx_http_response_t *r, size_t *len)
{
    if (len != NULL)
        *len = r->body_len;
    return r->body;
}

const char *cdx_http_response_reason(const cdx_http_response_t *r)
{
    return r->reason;
}

/* delta-seconds: digits only, saturated at about 68 years. */
static int parse_delta(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (*s == '\0')
        return CDX_EINVAL;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return CDX_EINVAL;
        v = v * 10 + (*s - '0');
        if (v > INT32_MAX)
            v = INT32_MAX;
    }
    *out = v;
    return 0;
}

int cdx_http_retry_after_parse(const char *value, time_t now, int64_t *out)
{
    /* IMF-fixdate, then the two obsolete forms a recipient must accept. */
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    };
    char buf[64];
    if (value == NULL || cdx_strlcpy(buf, value, sizeof buf) != 0)
        return CDX_EINVAL;
    const char *s = cdx_trim(buf);
    if (isdigit((unsigned char)s[0]))
        return parse_delta(s, out);
    for (size_t i = 0; i < CDX_ARRAY_SIZE(formats); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        time_t at = timegm(&tm);
        if (at == (time_t)-1)
            return CDX_EINVAL;
        *out = at > now ? (int64_t)(at - now) : 0;
        return 0;
    }
    return CDX_EINVAL;
}
