/* libFuzzer target: the MIME decoder (parsers/mime.c).  The first byte
 * picks the entry point: a whole entity (cdx_mime_decode), a body whose
 * Content-Type is the input's first line (cdx_mime_decode_body, as
 * POST /v1/documents uses it), or the base64 / quoted-printable decoders
 * alone.  Beyond crashes, leaks and undefined behaviour, it checks the
 * contracts: decoded output never longer than the input or the bound,
 * NUL-terminated, and every refusal a verdict with one of the documented
 * statuses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT (1u << 20)

static void check(int rc, const cdx_diag_t *d, const cdx_mime_t *m, size_t inlen)
{
    if (rc == 0) {
        if (m->data == NULL || m->len > inlen || m->len > MAX_OUT || m->data[m->len] != '\0' ||
            m->how[0] == '\0')
            abort();
        return;
    }
    if (m->data != NULL)
        abort();
    if (rc == CDX_EPARSE) {
        int s = d->status;
        if (!cdx_diag_rejected(d) || (s != 400 && s != 413 && s != 415 && s != 422))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned mode = data[0] % 4;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_mime_t m;
    char header[128];
    if (mode == 0) {
        (void)cdx_mime_detect(in, len, header, sizeof header);
        int rc = cdx_mime_decode(in, len, MAX_OUT, &d, &m);
        check(rc, &d, &m, len);
        cdx_mime_cleanup(&m);
    } else if (mode == 1) {
        const char *nl = memchr(in, '\n', len);
        size_t hl = nl != NULL ? (size_t)(nl - in) : len;
        char *ct = malloc(hl + 1);
        if (ct == NULL)
            return 0;
        memcpy(ct, in, hl);
        ct[hl] = '\0';
        size_t off = nl != NULL ? hl + 1 : len;
        int rc = cdx_mime_decode_body(ct, NULL, in + off, len - off, MAX_OUT, &d, &m);
        check(rc, &d, &m, len - off);
        cdx_mime_cleanup(&m);
        free(ct);
    } else {
        char *out = malloc(len + 1);
        if (out == NULL)
            return 0;
        size_t n = 0, bad = 0;
        int rc = mode == 2 ? cdx_mime_base64(in, len, out, &n, &bad)
                           : cdx_mime_qp(in, len, out, &n, &bad);
        if ((rc == 0 && n > len) || (rc != 0 && bad > len))
            abort();
        free(out);
    }
    cdx_diag_cleanup(&d);
    return 0;
}
