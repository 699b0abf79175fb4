/*
 * chunked: a strict, incremental check of HTTP/1.1 chunked body framing.
 *
 * Responsible for: deciding, byte by byte and in any split of the input,
 * whether a chunked body follows RFC 9112 section 7.1 exactly: hex chunk
 * sizes that do not overflow, chunk extensions made of tokens and quoted
 * strings within a length bound, CRLF (never a bare LF or CR) after every
 * size line, after every chunk's data and after every trailer line, and
 * where the body ends; refusing a body whose announced sizes pass a limit
 * as soon as the size line that passes it is read, before its data.
 * Not responsible for: decoding the data (libhttp-parser does, behind this
 * check) or the meaning of trailer fields (they are checked for form and
 * discarded).
 *
 * Pure: no I/O, no allocation; one state per body, caller storage.
 */
#ifndef CDX_CHUNKED_H
#define CDX_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* Longest chunk-size line (size, extensions) and trailer section. */
#define CDX_CHUNKED_MAX_LINE     1024
#define CDX_CHUNKED_MAX_TRAILERS 8192

typedef enum {
    CDX_CHUNKED_MORE = 0, /* all input is valid; the body goes on */
    CDX_CHUNKED_DONE,     /* the body ended; *used counts its last byte */
    CDX_CHUNKED_ERROR,    /* see status, code and detail */
} cdx_chunked_result_t;

typedef struct cdx_chunked {
    /* Private state. */
    int state;
    uint64_t size;     /* of the chunk being announced or read */
    uint64_t left;     /* data bytes of the current chunk still to come */
    uint64_t total;    /* data bytes announced so far, the current chunk included */
    uint64_t max_total;
    size_t line_len;   /* bytes of the current size line */
    size_t trailer_len;
    int digits;        /* hex digits of the current size */
    /* The verdict after CDX_CHUNKED_ERROR. */
    int status;        /* 400 or 413 */
    const char *code;  /* "HTTP_BAD_CHUNK" or "BODY_TOO_LARGE" */
    char detail[160];
} cdx_chunked_t;

/* Prepares ck for a new body whose data may not exceed max_total bytes. */
void cdx_chunked_init(cdx_chunked_t *ck, uint64_t max_total);

/* Checks the next len bytes of the body.  *used is set to the number of
 * bytes that belong to the body: all of len with CDX_CHUNKED_MORE, up to
 * and including the final LF with CDX_CHUNKED_DONE (what follows belongs
 * to the next request), the offset of the offending byte with
 * CDX_CHUNKED_ERROR.  After DONE or ERROR the result stays the same and
 * no further byte is used. */
cdx_chunked_result_t cdx_chunked_scan(cdx_chunked_t *ck, const char *data, size_t len,
                                      size_t *used);

/* Data bytes announced by the size lines read so far. */
uint64_t cdx_chunked_total(const cdx_chunked_t *ck);

#endif
