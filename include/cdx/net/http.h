/*
 * http: strict HTTP/1.1 request framing on top of libhttp-parser.
 *
 * Responsible for: turning a byte stream into requests, one at a time,
 * with every limit enforced before memory is spent (request line, header
 * count and bytes, body size), rejecting ambiguous framing that enables
 * request smuggling (Content-Length with Transfer-Encoding, bare LF,
 * obsolete line folding, odd Content-Length forms, codings other than
 * chunked), and stopping after the headers so the caller can decide
 * (limits, 100-continue, routing) before any body byte is consumed.
 * Not responsible for: sockets, TLS or writing responses; after an error
 * the caller must close the connection, and nothing further is parsed.
 *
 * Single-threaded: a parser belongs to one connection.
 */
#ifndef CDX_HTTP_H
#define CDX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/base/buf.h"

typedef struct cdx_http_limits {
    size_t max_request_line; /* bytes of the request line, CRLF excluded */
    size_t max_header_bytes; /* bytes of all header lines together */
    size_t max_headers;      /* number of header fields */
    uint64_t max_body;       /* bytes of body */
} cdx_http_limits_t;

typedef struct cdx_http_header {
    const char *name;  /* lower-cased */
    const char *value; /* leading/trailing whitespace removed */
} cdx_http_header_t;

typedef struct cdx_http_request {
    char method[16];
    char *target;        /* request target as sent (origin-form) */
    char *path;          /* target up to '?' */
    char *query;         /* after '?', or "" */
    int http_minor;      /* 0 or 1 */
    cdx_http_header_t *headers;
    size_t nheaders;
    int has_body;        /* Content-Length > 0 or chunked */
    int chunked;
    uint64_t content_length; /* when !chunked */
    int expect_continue;
    int keep_alive;      /* after this request, per HTTP version and Connection */
    cdx_buf_t body;      /* the body, unless the caller chose to discard it */
    uint64_t body_received; /* bytes of body seen, stored or discarded */
} cdx_http_request_t;

typedef enum {
    CDX_HTTP_NEED_MORE = 0, /* all input consumed, request not complete */
    CDX_HTTP_HEADERS,       /* headers done; call cdx_http_parser_continue() */
    CDX_HTTP_COMPLETE,      /* request complete; cdx_http_parser_next() for the next */
    CDX_HTTP_ERROR,         /* see cdx_http_parser_error(); close the connection */
} cdx_http_event_t;

typedef struct cdx_http_error {
    int status;         /* 400, 413, 414, 431, 501, 505 */
    const char *code;   /* stable machine code, e.g. "HTTP_CL_TE_CONFLICT" */
    char detail[256];   /* human explanation */
} cdx_http_error_t;

typedef struct cdx_http_parser cdx_http_parser_t;

/* Allocates a parser with the given limits.  Returns 0 or CDX_ENOMEM. */
int cdx_http_parser_new(const cdx_http_limits_t *limits, cdx_http_parser_t **out);
/* NULL is a no-op. */
void cdx_http_parser_free(cdx_http_parser_t *p);

/* Feeds len bytes.  *consumed is set to the bytes used; the rest must be
 * fed again after the caller acts on the event. */
cdx_http_event_t cdx_http_parser_feed(cdx_http_parser_t *p, const char *data, size_t len,
                                      size_t *consumed);

/* After CDX_HTTP_HEADERS: go on with the body.  With discard set, body
 * bytes are counted and dropped instead of stored. */
void cdx_http_parser_continue(cdx_http_parser_t *p, int discard_body);

/* After CDX_HTTP_COMPLETE: forget the request and get ready for the next. */
void cdx_http_parser_next(cdx_http_parser_t *p);

/* The request being parsed (valid from CDX_HTTP_HEADERS until _next). */
cdx_http_request_t *cdx_http_parser_request(cdx_http_parser_t *p);
/* The error after CDX_HTTP_ERROR. */
const cdx_http_error_t *cdx_http_parser_error(const cdx_http_parser_t *p);
/* Bytes of the current request seen so far (0: idle between requests). */
size_t cdx_http_parser_bytes_seen(const cdx_http_parser_t *p);
/* Whether the parser is still in the header part of a request. */
int cdx_http_parser_in_headers(const cdx_http_parser_t *p);

/* The method and path (without the query) of the current request's line
 * once it was read whole and well formed, also when the head fails after
 * it (so the refusal can be attributed to its route).  1 when both were
 * copied (NUL-terminated) into method and path, 0 otherwise. */
int cdx_http_parser_request_line(const cdx_http_parser_t *p, char *method, size_t mlen,
                                 char *path, size_t plen);

/* Looks a header up by lower-case name; NULL when absent. */
const char *cdx_http_header(const cdx_http_request_t *req, const char *name);

/* Finds key in a query string and percent-decodes its value into out
 * (size outlen).  Returns 1 found, 0 absent, CDX_EINVAL malformed or too
 * long. */
int cdx_http_query_param(const char *query, const char *key, char *out, size_t outlen);

/* The reason phrase of a status code ("Not Found"). */
const char *cdx_http_reason(int status);

#endif
