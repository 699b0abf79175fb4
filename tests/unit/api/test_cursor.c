/* Unit tests of the paging cursors (gateway/api/cursor.c): a cursor
 * decodes to its payload under its key and scope only, and any change to
 * it is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/api/cursor.h"
#include "cdx/base/common.h"

static const unsigned char key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const unsigned char other_key[32] = {9, 9, 9};

static void test_round_trip(void **state)
{
    (void)state;
    char c[CDX_CURSOR_MAX], p[CDX_CURSOR_PAYLOAD_MAX + 1];
    static const char *const payloads[] = {"1", "12", "123", "1234", "9223372036854775807",
                                           "a|b=c d"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(payloads); i++) {
        assert_int_equal(cdx_cursor_encode(key, "links|status=review", payloads[i], c, sizeof c),
                         0);
        /* base64url: nothing to escape in a query string. */
        assert_int_equal(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_."),
                         strlen(c));
        assert_int_equal(cdx_cursor_decode(key, "links|status=review", c, p, sizeof p), 0);
        assert_string_equal(p, payloads[i]);
    }
}

static void test_refused(void **state)
{
    (void)state;
    char c[CDX_CURSOR_MAX], p[CDX_CURSOR_PAYLOAD_MAX + 1], t[CDX_CURSOR_MAX + 8];
    assert_int_equal(cdx_cursor_encode(key, "links|status=", "4711", c, sizeof c), 0);
    /* Another scope or key. */
    assert_int_equal(cdx_cursor_decode(key, "links|status=review", c, p, sizeof p), CDX_EINVAL);
    assert_int_equal(cdx_cursor_decode(other_key, "links|status=", c, p, sizeof p), CDX_EINVAL);
    /* Every single character changed. */
    for (size_t i = 0; c[i] != '\0'; i++) {
        strcpy(t, c);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_equal(cdx_cursor_decode(key, "links|status=", t, p, sizeof p), CDX_EINVAL);
    }
    /* Cut, extended, malformed. */
    static const char *const bad[] = {"", ".", "abc", "abc.", ".abc", "@@@@.@@@@", "a.b.c"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++)
        assert_int_equal(cdx_cursor_decode(key, "links|status=", bad[i], p, sizeof p),
                         CDX_EINVAL);
    strcpy(t, c);
    t[strlen(t) - 1] = '\0';
    assert_int_equal(cdx_cursor_decode(key, "links|status=", t, p, sizeof p), CDX_EINVAL);
    strcpy(t, c);
    strcat(t, "A");
    assert_int_equal(cdx_cursor_decode(key, "links|status=", t, p, sizeof p), CDX_EINVAL);
    /* A payload that does not fit the caller's buffer. */
    assert_int_equal(cdx_cursor_decode(key, "links|status=", c, p, 4), CDX_EINVAL);
    /* Payloads a cursor does not carry. */
    assert_int_equal(cdx_cursor_encode(key, "s", "", c, sizeof c), CDX_EINVAL);
    assert_int_equal(cdx_cursor_encode(key, "s", "a\nb", c, sizeof c), CDX_EINVAL);
    assert_int_equal(cdx_cursor_encode(key, "s", "12345", c, 8), CDX_ERANGE);
}

/* The format as documented, computed independently (Python's hmac and
 * base64): base64url(payload) "." base64url(first 16 bytes of
 * HMAC-SHA256(HMAC-SHA256(key, label), scope "\n" payload)). */
static void test_known_answer(void **state)
{
    (void)state;
    static const unsigned char k[32] = "cdxgw fuzz cursor key 0123456789";
    char c[CDX_CURSOR_MAX];
    assert_int_equal(cdx_cursor_encode(k, "links|status=review", "4711", c, sizeof c), 0);
    assert_string_equal(c, "NDcxMQ.zzDyFcCMNeZTrE7CiYeRjA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_known_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
