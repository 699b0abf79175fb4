/*
 * common: error codes, small macros and helpers shared by every layer.
 *
 * Responsible for: the project-wide error numbering (0 ok, negative failure;
 * libuv codes pass through unchanged, ours live in a disjoint range below
 * CDX_ERR_BASE), naming any of them with cdx_strerror(), and a few
 * allocation-checked string helpers.
 * Not responsible for: data problems in client input; those are reported
 * as diagnostics, not error codes.
 */
#ifndef CDX_COMMON_H
#define CDX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CDX_ERR_BASE (-30000)

/* Error codes. libuv's UV_E* are in (-4096, 0); ours are far below. */
#define CDX_ERRORS(X)                                                                              \
    X(NOMEM, 1, "out of memory")                                                                   \
    X(INVAL, 2, "invalid argument")                                                                \
    X(IO, 3, "input/output error")                                                                 \
    X(RANGE, 4, "value out of range or limit exceeded")                                            \
    X(NOTFOUND, 5, "not found")                                                                    \
    X(CONFIG, 6, "invalid configuration")                                                          \
    X(TLS, 7, "TLS error")                                                                         \
    X(DB, 8, "registry database error")                                                            \
    X(EXISTS, 9, "already exists")                                                                 \
    X(FULL, 10, "storage full")                                                                    \
    X(BUSY, 11, "busy, try again later")                                                           \
    X(CRYPTO, 12, "cryptographic operation failed")                                                \
    X(PARSE, 13, "malformed input")                                                                \
    X(CONFLICT, 14, "conflicting data")                                                            \
    X(DENIED, 40, "access refused")

enum {
#define CDX_ERR_ENUM(name, n, msg) CDX_E##name = CDX_ERR_BASE - (n),
    CDX_ERRORS(CDX_ERR_ENUM)
#undef CDX_ERR_ENUM
};

/* Names any error this project returns: ours, libuv's, or an errno negated.
 * Returns a static string; thread-safe. */
const char *cdx_strerror(int err);

#define CDX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CDX_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define CDX_MAX(a, b)     ((a) > (b) ? (a) : (b))

/* For programmer errors only, never for anything a client can send. */
#define CDX_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cdx_assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)
_Noreturn void cdx_assert_fail(const char *expr, const char *file, int line);

/* malloc/calloc/strdup that abort on exhaustion are deliberately absent:
 * callers handle NULL.  These helpers only add bounded copying. */

/* Copies src into dst of size n, always NUL-terminating.  Returns 0, or
 * CDX_ERANGE if src did not fit (dst then holds a truncated copy). */
int cdx_strlcpy(char *dst, const char *src, size_t n);

/* Grows an array to hold at least need elements of elem_size bytes.
 * items is the address of the array's pointer (T **, the pointer NULL
 * while cap is 0) and cap its capacity in elements.  Nothing happens when
 * need <= *cap; else the capacity becomes first (when *cap is 0) or *cap,
 * doubled until it holds need (need itself once doubling would
 * overflow), and the array is realloc'd to it.  Returns 0, or CDX_ENOMEM
 * when realloc fails or the size in bytes would not fit a size_t; then
 * *items and *cap are unchanged (the array is still the caller's to
 * free).  elem_size 0 is a programmer error. */
int cdx_grow(void *items, size_t *cap, size_t need, size_t elem_size, size_t first);

/* Formats a reason into err (size errlen); NULL or 0 is a no-op. */
/* A bounded, printable excerpt of s for an error message, written into buf:
 * control bytes become '?' so a binary or hostile value cannot garble the
 * terminal or log line it ends up in, and a value longer than
 * CDX_EXCERPT_MAX bytes is cut at a UTF-8 character boundary and ends in
 * "...".  Returns buf. */
#define CDX_EXCERPT_MAX 100
const char *cdx_excerpt(const char *s, char buf[CDX_EXCERPT_MAX + 4]);
void cdx_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Strips spaces, tabs and a trailing CR in place; returns the new start. */
char *cdx_trim(char *s);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void cdx_hex(const unsigned char *in, size_t len, char *out);

/* The value of one hexadecimal digit (either case), or -1. */
int cdx_hex_digit(int c);

/* Monotonic milliseconds, for durations only. */
uint64_t cdx_now_ms(void);

/* Writes data to path atomically: a temporary file in the same folder,
 * fsync, rename, fsync of the folder.  mode is the file's permission bits.
 * Returns 0 or a negative errno. */
int cdx_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Reads a whole file of at most max bytes into a NUL-terminated heap
 * buffer *out (length in *len).  Returns 0, CDX_ERANGE if larger than max,
 * or a negative errno. */
int cdx_read_file(const char *path, size_t max, char **out, size_t *len);

/* mkdir -p with mode for each created component.  Returns 0 or -errno. */
int cdx_mkdirs(const char *path, unsigned mode);

#endif
