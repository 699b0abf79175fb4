/* common: error names and small helpers (see include/cdx/base/common.h). */
#include "cdx/base/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *cdx_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define CDX_ERR_CASE(name, n, msg)                                                                 \
    case CDX_E##name:                                                                              \
        return msg;
        CDX_ERRORS(CDX_ERR_CASE)
#undef CDX_ERR_CASE
    default:
        break;
    }
    /* libuv's codes are negated errno values on Unix, so strerror names them. */
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

_Noreturn void cdx_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "level=fatal event=assert expr=\"%s\" file=%s line=%d\n", expr, file, line);
    abort();
}

int cdx_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n == 0)
        return CDX_ERANGE;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return CDX_ERANGE;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

int cdx_grow(void *items, size_t *cap, size_t need, size_t elem_size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    CDX_ASSERT(elem_size > 0);
    if (ncap > SIZE_MAX / elem_size)
        return CDX_ENOMEM;
    /* The caller's pointer is read and written as bytes: items may point
     * to a pointer of any object type. */
    void *old;
    memcpy(&old, items, sizeof old);
    void *grown = realloc(old, ncap * elem_size);
    if (grown == NULL)
        return CDX_ENOMEM;
    memcpy(items, &grown, sizeof grown);
    *cap = ncap;
    return 0;
}

void cdx_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

char *cdx_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

void cdx_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int cdx_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint64_t cdx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int cdx_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return -ENOMEM;
    snprintf(tmp, plen + 16, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == 0 && fchmod(fd, (mode_t)mode) != 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_dir_of(path);
    if (rc != 0)
        unlink(tmp);
out:
    free(tmp);
    return rc;
}

int cdx_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int rc = 0;
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = CDX_ERANGE;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    data = malloc(cap);
    if (data == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    for (;;) {
        if (used + 1 >= cap) {
            /* The file grew while we read it. */
            if (cap > max) {
                rc = CDX_ERANGE;
                goto out;
            }
            char *bigger = realloc(data, cap * 2);
            if (bigger == NULL) {
                rc = CDX_ENOMEM;
                goto out;
            }
            data = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, data + used, cap - used - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max) {
        rc = CDX_ERANGE;
        goto out;
    }
    data[used] = '\0';
    *out = data;
    *len = used;
    data = NULL;
out:
    free(data);
    close(fd);
    return rc;
}

int cdx_mkdirs(const char *path, unsigned mode)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return CDX_ENOMEM;
    int rc = 0;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    return rc;
}

/* Copies a bounded, printable excerpt of s for an error message: control bytes become '?' so a
 * binary or hostile value cannot garble the terminal or log line the message ends up in, and a
 * long value is cut at a UTF-8 character boundary. */
const char *cdx_excerpt(const char *s, char buf[CDX_EXCERPT_MAX + 4])
{
    size_t n = strlen(s);
    size_t cut = n;
    if (n > CDX_EXCERPT_MAX) {
        cut = CDX_EXCERPT_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (cut < n) {
        memcpy(buf + cut, "...", 4);
    } else {
        buf[cut] = '\0';
    }
    return buf;
}
