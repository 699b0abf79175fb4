/* buf: bounded growable buffer (see include/cdx/base/buf.h). */
#include "cdx/base/buf.h"
#include "cdx/base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cdx_buf_init(cdx_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void cdx_buf_cleanup(cdx_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cdx_buf_reset(cdx_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static int reserve(cdx_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return CDX_ERANGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return CDX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cdx_buf_append(cdx_buf_t *b, const void *data, size_t len)
{
    int rc = reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int cdx_buf_puts(cdx_buf_t *b, const char *s)
{
    return cdx_buf_append(b, s, strlen(s));
}

int cdx_buf_vprintf(cdx_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CDX_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cdx_buf_printf(cdx_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cdx_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *cdx_buf_steal(cdx_buf_t *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
