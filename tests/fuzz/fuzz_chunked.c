/* libFuzzer target: the strict chunked-framing check (parsers/chunked.c).
 *
 * The first two input bytes choose the limit and where the rest is split;
 * the rest is a chunked body.  Checked on every input:
 * - the verdict, the body's end and the error do not depend on the split;
 * - an accepted body is accepted by libhttp-parser too, which decodes
 *   exactly the announced number of data bytes and ends where the check
 *   says the body ends (so the two can never disagree on framing);
 * - a refusal has a 400 or 413 status, a code and a detail. */
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cdx/parsers/chunked.h"
#include "cdx/base/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct verdict {
    cdx_chunked_result_t result;
    size_t end;
    uint64_t total;
    int status;
    const char *code;
} verdict_t;

static verdict_t scan(const char *p, size_t len, uint64_t max, size_t cut)
{
    cdx_chunked_t ck;
    cdx_chunked_init(&ck, max);
    verdict_t v = {CDX_CHUNKED_MORE, len, 0, 0, NULL};
    size_t used = 0;
    v.result = cdx_chunked_scan(&ck, p, cut, &used);
    if (v.result == CDX_CHUNKED_MORE) {
        CDX_ASSERT(used == cut);
        v.result = cdx_chunked_scan(&ck, p + cut, len - cut, &used);
        used += cut;
    }
    if (v.result != CDX_CHUNKED_MORE)
        v.end = used;
    v.total = cdx_chunked_total(&ck);
    if (v.result == CDX_CHUNKED_ERROR) {
        CDX_ASSERT(ck.status == 400 || ck.status == 413);
        CDX_ASSERT(ck.code != NULL && ck.detail[0] != '\0');
        v.status = ck.status;
        v.code = ck.code;
    }
    return v;
}

typedef struct decoded {
    uint64_t body;
    int complete;
} decoded_t;

static int on_body(http_parser *hp, const char *at, size_t len)
{
    (void)at;
    ((decoded_t *)hp->data)->body += len;
    return 0;
}

static int on_complete(http_parser *hp)
{
    ((decoded_t *)hp->data)->complete = 1;
    http_parser_pause(hp, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t max = data[0] & 1 ? UINT64_MAX : (uint64_t)data[0] * 16;
    const char *p = (const char *)data + 2;
    size_t len = size - 2;
    size_t cut = len ? data[1] % (len + 1) : 0;

    verdict_t whole = scan(p, len, max, len);
    verdict_t split = scan(p, len, max, cut);
    CDX_ASSERT(whole.result == split.result && whole.end == split.end &&
               whole.status == split.status && whole.total == split.total);
    if (whole.result != CDX_CHUNKED_DONE)
        return 0;

    /* The oracle: libhttp-parser, given the same body behind a head. */
    static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_parser hp;
    http_parser_settings settings;
    decoded_t d = {0, 0};
    http_parser_init(&hp, HTTP_REQUEST);
    http_parser_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    hp.data = &d;
    size_t n = http_parser_execute(&hp, &settings, head, sizeof head - 1);
    CDX_ASSERT(n == sizeof head - 1 && HTTP_PARSER_ERRNO(&hp) == HPE_OK);
    n = http_parser_execute(&hp, &settings, p, whole.end);
    CDX_ASSERT(d.complete && n == whole.end);
    CDX_ASSERT(d.body == whole.total);
    return 0;
}
