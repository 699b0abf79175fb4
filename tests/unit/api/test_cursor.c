/* Unit tests of the paging cursor (gateway/api/cursor.c): a cursor reads
 * back as written; any byte changed, a cut, another key or another scope
 * is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/api/cursor.h"
#include "cdx/base/common.h"

static const unsigned char SECRET[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                         12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                         23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const char SCOPE[] = "documents.find\npatient=2.25.1|A\n";

static void make(unsigned char key[32], char text[CDX_CURSOR_TEXT_MAX])
{
    cdx_cursor_key(SECRET, key);
    cdx_cursor_t pos = {.sort = "20240105003000", .id = 123456789012345};
    assert_int_equal(cdx_cursor_encode(key, SCOPE, &pos, text), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char key[32];
    char text[CDX_CURSOR_TEXT_MAX];
    make(key, text);
    assert_true(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                strlen(text));
    cdx_cursor_t pos;
    assert_int_equal(cdx_cursor_decode(key, SCOPE, text, &pos), 0);
    assert_string_equal(pos.sort, "20240105003000");
    assert_int_equal(pos.id, 123456789012345);
    /* An empty sort key (a list ordered by id) and a negative id. */
    cdx_cursor_t by_id = {.sort = "", .id = -5};
    assert_int_equal(cdx_cursor_encode(key, "links", &by_id, text), 0);
    assert_int_equal(cdx_cursor_decode(key, "links", text, &pos), 0);
    assert_string_equal(pos.sort, "");
    assert_int_equal(pos.id, -5);
    /* A sort key the layout cannot carry. */
    cdx_cursor_t bad = {.sort = "with space", .id = 1};
    assert_int_equal(cdx_cursor_encode(key, SCOPE, &bad, text), CDX_EINVAL);
}

/* Every character of the text replaced by every other of the alphabet. */
static void test_any_change_refused(void **state)
{
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.!~ ";
    unsigned char key[32];
    char text[CDX_CURSOR_TEXT_MAX], bad[CDX_CURSOR_TEXT_MAX];
    make(key, text);
    size_t n = strlen(text);
    cdx_cursor_t pos;
    for (size_t i = 0; i < n; i++) {
        for (const char *c = alphabet; *c != '\0'; c++) {
            if (*c == text[i])
                continue;
            memcpy(bad, text, n + 1);
            bad[i] = *c;
            assert_int_not_equal(cdx_cursor_decode(key, SCOPE, bad, &pos), 0);
        }
    }
    /* Cut short at every length, and lengthened. */
    for (size_t len = 0; len < n; len++) {
        memcpy(bad, text, len);
        bad[len] = '\0';
        assert_int_equal(cdx_cursor_decode(key, SCOPE, bad, &pos), CDX_EINVAL);
    }
    memcpy(bad, text, n);
    memcpy(bad + n, "AA", 3);
    assert_int_equal(cdx_cursor_decode(key, SCOPE, bad, &pos), CDX_EINVAL);
    assert_int_equal(cdx_cursor_decode(key, SCOPE, NULL, &pos), CDX_EINVAL);
}

static void test_foreign_key_and_scope(void **state)
{
    (void)state;
    unsigned char key[32], other[32];
    char text[CDX_CURSOR_TEXT_MAX];
    make(key, text);
    unsigned char secret2[32];
    memcpy(secret2, SECRET, 32);
    secret2[31] ^= 1;
    cdx_cursor_key(secret2, other);
    cdx_cursor_t pos;
    assert_int_equal(cdx_cursor_decode(other, SCOPE, text, &pos), CDX_EINVAL);
    assert_int_equal(cdx_cursor_decode(key, "documents.find\npatient=2.25.1|B\n", text, &pos),
                     CDX_ECONFLICT);
    /* The cursor key is not the secret itself. */
    assert_memory_not_equal(key, SECRET, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_any_change_refused),
        cmocka_unit_test(test_foreign_key_and_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
