/* libFuzzer target: the outbound client's response reader
 * (gateway/net/http_response.c): status line, headers, Content-Length,
 * chunked bodies, interim 1xx responses, Retry-After.
 *
 * The first three input bytes choose the body bound, whether the stream
 * then ends cleanly, and where the rest is split; the rest is what a
 * server sent.  Checked on every input:
 * - whether the response is accepted, and then its status, Retry-After,
 *   kept headers and body, do not depend on how the bytes were split into
 *   reads (fed whole, in two pieces, or a byte at a time);
 * - a complete response has a final status (200-999) and a body within the
 *   bound; a refusal has a reason; nothing but MORE changes once decided. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/net/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct outcome {
    cdx_http_response_state_t state;
    int status;
    int64_t retry_after;
    char kept[2][64];
    size_t body_len;
    char body[4200];
} outcome_t;

static const char *const keep[] = {"content-type", "x-cdx-receipt"};

static void read_out(cdx_http_response_t *r, cdx_http_response_state_t st, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    o->state = st;
    o->status = cdx_http_response_status(r);
    o->retry_after = cdx_http_response_retry_after(r);
    for (size_t i = 0; i < 2; i++) {
        const char *v = cdx_http_response_kept(r, i);
        cdx_strlcpy(o->kept[i], v ? v : "(none)", sizeof o->kept[i]);
    }
    size_t len = 0;
    const char *b = cdx_http_response_body(r, &len);
    CDX_ASSERT(b != NULL && b[len] == '\0');
    o->body_len = len;
    memcpy(o->body, b, len < sizeof o->body ? len : sizeof o->body);
    if (st != CDX_HTTP_RESPONSE_DONE && st != CDX_HTTP_RESPONSE_MORE)
        CDX_ASSERT(cdx_http_response_reason(r)[0] != '\0');
}

/* Feeds p in pieces of at most step bytes after a first piece of cut. */
static void run(const char *p, size_t len, size_t max_body, int clean, size_t cut, size_t step,
                outcome_t *o)
{
    cdx_http_response_t *r = NULL;
    if (cdx_http_response_new(1024, max_body, keep, 2, 0, &r) != 0)
        CDX_ASSERT(0);
    cdx_http_response_state_t st = CDX_HTTP_RESPONSE_MORE;
    size_t off = 0;
    while (off < len && st == CDX_HTTP_RESPONSE_MORE) {
        size_t n = off == 0 ? cut : step;
        if (n == 0 || n > len - off)
            n = len - off;
        st = cdx_http_response_feed(r, p + off, n);
        off += n;
    }
    if (st == CDX_HTTP_RESPONSE_MORE)
        st = cdx_http_response_eof(r, clean);
    else
        CDX_ASSERT(cdx_http_response_feed(r, "x", 1) == st); /* decided stays decided */
    read_out(r, st, o);
    if (st == CDX_HTTP_RESPONSE_DONE) {
        CDX_ASSERT(o->status >= 200 && o->status <= 999);
        CDX_ASSERT(o->body_len <= max_body);
    }
    cdx_http_response_free(r);
}

/* Which refusal comes first may depend on the reads (a head over its
 * bound is seen sooner byte by byte than a bad character beyond the
 * bound), but never whether the response is accepted, nor what it says. */
static int same(const outcome_t *a, const outcome_t *b)
{
    if ((a->state == CDX_HTTP_RESPONSE_DONE) != (b->state == CDX_HTTP_RESPONSE_DONE))
        return 0;
    if (a->state != CDX_HTTP_RESPONSE_DONE)
        return 1;
    return a->status == b->status && a->retry_after == b->retry_after &&
           strcmp(a->kept[0], b->kept[0]) == 0 && strcmp(a->kept[1], b->kept[1]) == 0 &&
           a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 4096 + 3)
        return 0;
    size_t max_body = 1 + (size_t)data[0] * 16; /* 1 .. 4081 */
    int clean = data[1] & 1;
    const char *p = (const char *)data + 3;
    size_t len = size - 3;
    size_t cut = len ? data[2] % (len + 1) : 0;
    static outcome_t whole, split, bytes;
    run(p, len, max_body, clean, len, len, &whole);
    run(p, len, max_body, clean, cut, len, &split);
    run(p, len, max_body, clean, 1, 1, &bytes);
    CDX_ASSERT(same(&whole, &split));
    CDX_ASSERT(same(&whole, &bytes));
    return 0;
}
