/*
 * mime: a CDA document out of a MIME entity (RFC 2045, 2046), the way files
 * exported from mail-based exchange (Direct messaging) arrive.
 *
 * Responsible for: recognizing a MIME header block at the start of a body;
 * header fields (folded lines, case-insensitive names, parameters with
 * quoted strings); the transfer encodings 7bit, 8bit, binary,
 * quoted-printable (soft line breaks, =XX, a bad escape refused with its
 * place) and base64 (whitespace tolerated, a bad character or bad padding
 * refused with its place); any multipart type with its boundary, nested
 * up to CDX_MIME_MAX_DEPTH, from which exactly one CDA part is taken.  Output is
 * bounded by the caller; the work is linear in the input.
 * Not responsible for: parsing the XML (xml), S/MIME (signatures are not
 * checked; encrypted content is refused), any I/O.
 *
 * Verdicts are left in a cdx_diag_t:
 *   400 MIME_MALFORMED        a broken header block, a multipart without
 *                             boundary or closing delimiter, too deep
 *   400 MIME_BAD_ENCODING     bad base64 or quoted-printable (with the offset)
 *   413 BODY_TOO_LARGE        the decoded document exceeds the bound
 *   415 MIME_UNSUPPORTED      an unknown transfer encoding, encrypted or
 *                             other non-XML content
 *   422 MIME_NO_CDA           no part is a CDA document
 *   422 MIME_MULTIPLE_CDA     more than one part is a CDA document
 * Pure functions; any thread.
 */
#ifndef CDX_MIME_H
#define CDX_MIME_H

#include <stddef.h>

#include "cdx/parsers/diag.h"

#define CDX_MIME_MAX_DEPTH 4
/* A header block longer than this is not a MIME header block. */
#define CDX_MIME_MAX_HEADER_BYTES 65536

typedef struct cdx_mime {
    char *data; /* the document, NUL-terminated (malloc) */
    size_t len;
    char how[48];          /* what was decoded: "mime-base64", "multipart-quoted-printable", ... */
    char content_type[96]; /* the media type of the part taken (lower case, no parameters) */
    int part;              /* its position in the multipart (1-based), 0 for a single part */
} cdx_mime_t;

/* Whether data starts with a MIME header block: a header field line at
 * byte 0 and, before the first empty line, a Content-Type,
 * Content-Transfer-Encoding or MIME-Version field.  On 1, header receives
 * the first such field as found ("Content-Type: application/xml",
 * truncated to hlen). */
int cdx_mime_detect(const char *data, size_t len, char *header, size_t hlen);

/* Decodes an entity: its header block, an empty line, its body.  On
 * success returns 0 and fills *out (cdx_mime_cleanup frees it).  On failure
 * returns CDX_EPARSE with the verdict in d, or CDX_ENOMEM.  max_out bounds
 * the decoded document. */
int cdx_mime_decode(const char *data, size_t len, size_t max_out, cdx_diag_t *d, cdx_mime_t *out);

/* Decodes a body whose header fields came elsewhere (an HTTP request's
 * Content-Type such as `multipart/related; boundary="b1"`, and its
 * Content-Transfer-Encoding or NULL).  Same results as cdx_mime_decode. */
int cdx_mime_decode_body(const char *content_type, const char *transfer_encoding, const char *data,
                         size_t len, size_t max_out, cdx_diag_t *d, cdx_mime_t *out);

void cdx_mime_cleanup(cdx_mime_t *m);

/* The building blocks, for tests and fuzzing.  Each decodes len bytes into
 * out (room for len bytes), sets *outlen, and returns 0, or CDX_EPARSE with
 * the offset of the first bad byte in *bad. */
int cdx_mime_base64(const char *in, size_t len, char *out, size_t *outlen, size_t *bad);
int cdx_mime_qp(const char *in, size_t len, char *out, size_t *outlen, size_t *bad);

#endif
