/* Unit tests of the pure rules of record requests and subscriptions
 * (gateway/domain/subscription.c): the shape and check digit of a LOINC
 * code, and a document type among the types asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx/domain/subscription.h"
#include "cdx_test.h"

static void test_loinc(void **state)
{
    (void)state;
    const char *good[] = {"34133-9", "11488-4", "18842-5", "34117-2", "11506-3", "1-8"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(cdx_loinc_valid(good[i]));
    const char *bad[] = {"34133-8", "34133", "34133-", "-9", "3413a-9", "34133-9 ",
                         "12345678-9", "34133--9", "", "34133-99"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cdx_loinc_valid(bad[i]));
    assert_false(cdx_loinc_valid(NULL));
}

static void test_types_match(void **state)
{
    (void)state;
    assert_true(cdx_types_match("", "34133-9"));
    assert_true(cdx_types_match(NULL, NULL));
    assert_true(cdx_types_match("11488-4,34133-9", "34133-9"));
    assert_true(cdx_types_match("11488-4,34133-9", "11488-4"));
    assert_false(cdx_types_match("11488-4,34133-9", "18842-5"));
    assert_false(cdx_types_match("11488-4", "1488-4"));
    assert_false(cdx_types_match("11488-4", "11488-40"));
    assert_false(cdx_types_match("11488-4", NULL));
    assert_false(cdx_types_match("11488-4", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loinc),
        cmocka_unit_test(test_types_match),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
