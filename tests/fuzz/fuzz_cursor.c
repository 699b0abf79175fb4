/* Fuzz target: the paging cursors a client hands back (gateway/api/cursor.c).
 * Any input is decoded under a fixed key and scope; one that decodes must
 * encode back to itself, and any input taken as a payload must round-trip
 * when it is one a cursor may carry. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/api/cursor.h"
#include "cdx/base/common.h"

static const unsigned char key[32] = "cdxgw fuzz cursor key 0123456789";
static const char scope[] = "links|status=review";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[CDX_CURSOR_MAX + 64], payload[CDX_CURSOR_PAYLOAD_MAX + 1], again[CDX_CURSOR_MAX];
    if (size >= sizeof in)
        size = sizeof in - 1;
    memcpy(in, data, size);
    in[size] = '\0';
    if (cdx_cursor_decode(key, scope, in, payload, sizeof payload) == 0) {
        if (cdx_cursor_encode(key, scope, payload, again, sizeof again) != 0 ||
            strcmp(again, in) != 0)
            abort();
    }
    if (cdx_cursor_encode(key, scope, in, again, sizeof again) == 0) {
        if (cdx_cursor_decode(key, scope, again, payload, sizeof payload) != 0 ||
            strcmp(payload, in) != 0)
            abort();
        if (cdx_cursor_decode(key, "links|status=linked", again, payload, sizeof payload) == 0)
            abort();
    }
    return 0;
}
