/*
 * http_response: reading one HTTP/1.1 response, for the outbound client.
 *
 * Responsible for: the status line and headers (bounded in size), the body
 * framed by Content-Length, chunked transfer coding, or the end of the
 * stream (accepted only when the stream ended cleanly), a bound on the
 * body, skipping interim 1xx responses, keeping the header values a caller
 * asked for, and reading Retry-After.
 * Not responsible for: sockets, TLS or timers (net/http_client.c feeds it).
 *
 * Any thread; one response object is used by one thread at a time.
 */
#ifndef CDX_NET_HTTP_RESPONSE_H
#define CDX_NET_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct cdx_http_response cdx_http_response_t;

typedef enum {
    CDX_HTTP_RESPONSE_MORE = 0,  /* feed more bytes */
    CDX_HTTP_RESPONSE_DONE,      /* one complete final response */
    CDX_HTTP_RESPONSE_TOO_LARGE, /* the head or the body is over its bound */
    CDX_HTTP_RESPONSE_MALFORMED, /* not a valid HTTP/1.x response */
    CDX_HTTP_RESPONSE_TRUNCATED, /* the stream ended before the response did */
} cdx_http_response_state_t;

#define CDX_HTTP_RESPONSE_MAX_KEEP 8

/* A reader with bounds on the head (status line and headers) and the body
 * in bytes.  keep names up to CDX_HTTP_RESPONSE_MAX_KEEP headers whose
 * first value to keep (compared without case; the names are copied).
 * head_only: the request was HEAD, so no body follows.  Returns 0 and sets
 * *out, CDX_EINVAL or CDX_ENOMEM. */
int cdx_http_response_new(size_t max_head, size_t max_body, const char *const *keep,
                          size_t nkeep, int head_only, cdx_http_response_t **out);
/* NULL is a no-op. */
void cdx_http_response_free(cdx_http_response_t *r);

/* Feeds bytes as they arrive.  Returns MORE until the response is complete
 * (DONE; bytes after it are ignored) or wrong (TOO_LARGE, MALFORMED); once
 * it returned anything but MORE it returns the same again. */
cdx_http_response_state_t cdx_http_response_feed(cdx_http_response_t *r, const char *data,
                                                 size_t len);

/* The stream ended.  clean: the server ended it deliberately (TLS
 * close_notify), which is the only way a response without Content-Length
 * or chunking may end; any other end before completion is TRUNCATED. */
cdx_http_response_state_t cdx_http_response_eof(cdx_http_response_t *r, int clean);

/* The status of the final response, 0 before its head arrived. */
int cdx_http_response_status(const cdx_http_response_t *r);
/* Retry-After in seconds from now, or -1 (absent or unreadable). */
int64_t cdx_http_response_retry_after(const cdx_http_response_t *r);
/* The value of keep[i], or NULL when the response had no such header. */
const char *cdx_http_response_kept(const cdx_http_response_t *r, size_t i);
/* The body so far, NUL-terminated (never NULL), and its length. */
const char *cdx_http_response_body(const cdx_http_response_t *r, size_t *len);
/* Why the response was refused ("" when it was not): short, no content. */
const char *cdx_http_response_reason(const cdx_http_response_t *r);

/* The delay a Retry-After value asks for, in seconds from now: delta-
 * seconds ("120"), or an HTTP-date in any of its three forms (IMF-fixdate,
 * RFC 850, asctime), counted from now and 0 when already past.  Returns 0
 * and sets *out, or CDX_EINVAL when the value is neither. */
int cdx_http_retry_after_parse(const char *value, time_t now, int64_t *out);

#endif
