/*
 * cursor: the opaque cursors of keyset paging.
 *
 * Responsible for: turning an endpoint's position (a short text such as
 * the last id answered) into a cursor a client hands back unchanged, and
 * refusing one it changed.  A cursor is base64url(payload) "." base64url
 * (tag), the tag being the first 128 bits of HMAC-SHA256 under a key
 * derived from the gateway's key, over the scope and the payload.  The
 * scope names the endpoint and the filters the cursor was made for
 * ("links|status=review"), so a cursor of one listing is refused by
 * another.  The payload is readable by whoever holds the cursor: put
 * positions in it, never patient data.
 * Not responsible for: what the position means (the endpoint).
 *
 * Pure functions: any thread.
 */
#ifndef CDX_API_CURSOR_H
#define CDX_API_CURSOR_H

#include <stddef.h>

/* The longest cursor and payload accepted. */
#define CDX_CURSOR_MAX 256
#define CDX_CURSOR_PAYLOAD_MAX 128

/* Writes the cursor of payload (printable ASCII, at most
 * CDX_CURSOR_PAYLOAD_MAX bytes) for scope into out.  Returns 0, or
 * CDX_EINVAL (payload too long or not printable) or CDX_ERANGE (out too
 * small). */
int cdx_cursor_encode(const unsigned char key[32], const char *scope, const char *payload,
                      char *out, size_t outlen);

/* Checks cursor against scope and writes its payload into payload (size
 * n).  Returns 0, or CDX_EINVAL when it is malformed, was changed, or was
 * made for another scope or key. */
int cdx_cursor_decode(const unsigned char key[32], const char *scope, const char *cursor,
                      char *payload, size_t n);

#endif
