/* libFuzzer target: the strict HTTP/1.1 request framing (gateway/net/http.c).
 *
 * The input is fed in pieces whose sizes come from its first byte, so
 * that requests split at every position are exercised; pipelined requests
 * are parsed until the first error, as the server does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cdx_http_limits_t limits = {
        .max_request_line = 512, .max_header_bytes = 2048, .max_headers = 16, .max_body = 4096};
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 64) + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    cdx_http_parser_t *parser = NULL;
    if (cdx_http_parser_new(&limits, &parser) != 0)
        return 0;
    int requests = 0;
    while (left > 0 && requests < 64) {
        size_t n = step < left ? step : left;
        size_t off = 0;
        int stop = 0;
        while (off < n && !stop) {
            size_t used = 0;
            cdx_http_event_t ev = cdx_http_parser_feed(parser, p + off, n - off, &used);
            off += used;
            switch (ev) {
            case CDX_HTTP_HEADERS: {
                cdx_http_request_t *req = cdx_http_parser_request(parser);
                /* Touch what a handler would read. */
                (void)cdx_http_header(req, "content-type");
                char out[64];
                (void)cdx_http_query_param(req->query, "patient", out, sizeof out);
                cdx_http_parser_continue(parser, req->content_length % 2 == 1);
                break;
            }
            case CDX_HTTP_COMPLETE:
                requests++;
                cdx_http_parser_next(parser);
                break;
            case CDX_HTTP_ERROR: {
                const cdx_http_error_t *e = cdx_http_parser_error(parser);
                CDX_ASSERT(e->status >= 400 && e->status < 600 && e->code != NULL);
                stop = 1;
                left = 0;
                break;
            }
            case CDX_HTTP_NEED_MORE:
                stop = used == 0 && off < n;
                break;
            }
        }
        if (left == 0)
            break;
        p += n;
        left -= n;
    }
    cdx_http_parser_free(parser);
    return 0;
}
