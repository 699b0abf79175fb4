/*
 * buf: a growable byte buffer with a hard bound set at creation.
 *
 * Responsible for: appending bytes and formatted text without ever growing
 * past the bound chosen by the owner (CDX_ERANGE instead), and keeping the
 * content NUL-terminated so text can be used directly.
 * Not responsible for: thread safety; a buffer has one owner at a time.
 */
#ifndef CDX_BUF_H
#define CDX_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cdx_buf {
    char *data;  /* NUL-terminated when non-NULL; may be NULL while empty */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard limit on len */
} cdx_buf_t;

/* Caller storage.  No allocation happens until the first append. */
void cdx_buf_init(cdx_buf_t *b, size_t max);
void cdx_buf_cleanup(cdx_buf_t *b);
/* Forgets the content but keeps the allocation. */
void cdx_buf_reset(cdx_buf_t *b);

/* Return 0, CDX_ERANGE (bound reached; buffer unchanged) or CDX_ENOMEM. */
int cdx_buf_append(cdx_buf_t *b, const void *data, size_t len);
int cdx_buf_puts(cdx_buf_t *b, const char *s);
int cdx_buf_printf(cdx_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cdx_buf_vprintf(cdx_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Hands the allocation to the caller (who frees it) and resets b. */
char *cdx_buf_steal(cdx_buf_t *b, size_t *len);

#endif
