/*
 * cursor: the opaque position of a paged list, as a client carries it
 * from one page to the next.
 *
 * Responsible for: writing a keyset position (a sort key and a row id)
 * as base64url text protected by an HMAC-SHA256 under a key of the
 * gateway, bound to a scope (the endpoint and its filters), and reading
 * it back: a cursor that was altered, cut short, made under another key
 * or for another scope is refused.
 * Not responsible for: what the position means (the endpoint's store
 * query) or answering a refusal (the handler: 400 CURSOR_INVALID).
 *
 * Layout before base64url (no padding): version (1), SHA-256 of the scope
 * (first 8 bytes), sort key length (1), sort key (printable ASCII, up to
 * CDX_CURSOR_SORT_MAX), row id (8, big-endian), HMAC-SHA256 of all that
 * (first 16 bytes).  Pure functions: any thread.
 */
#ifndef CDX_API_CURSOR_H
#define CDX_API_CURSOR_H

#include <stdint.h>

#define CDX_CURSOR_SORT_MAX 32
#define CDX_CURSOR_TEXT_MAX 128 /* the text with its NUL, at most */

typedef struct cdx_cursor {
    char sort[CDX_CURSOR_SORT_MAX + 1]; /* the last row's sort key ("" when the order is by id) */
    int64_t id;                         /* the last row's id */
} cdx_cursor_t;

/* The cursor key derived from a gateway secret (the patient-hash key):
 * HMAC-SHA256(secret, "cdxgw cursor key v1"), so that neither key can be
 * learned from the other's uses. */
void cdx_cursor_key(const unsigned char secret[32], unsigned char key[32]);

/* Writes pos for scope into out.  Returns 0, or CDX_EINVAL when the sort
 * key is too long or not printable ASCII. */
int cdx_cursor_encode(const unsigned char key[32], const char *scope, const cdx_cursor_t *pos,
                      char out[CDX_CURSOR_TEXT_MAX]);

/* Reads text made for scope into *pos.  Returns 0; CDX_EINVAL when it is
 * not a cursor of this gateway (malformed, altered, truncated, another
 * key); CDX_ECONFLICT when it is one, made for another scope (the same
 * list with other filters). */
int cdx_cursor_decode(const unsigned char key[32], const char *scope, const char *text,
                      cdx_cursor_t *pos);

#endif
