/* Unit tests of the shared helpers of parsers/base/common.c: the array
 * growth every list of the project goes through (cdx_grow), its
 * doubling, its first capacity, and its refusal of a size that would
 * overflow, which leaves the array as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx_test.h"

typedef struct pair {
    int64_t a, b;
} pair_t;

static void test_grow_first_and_doubling(void **state)
{
    (void)state;
    pair_t *v = NULL;
    size_t cap = 0;
    assert_int_equal(cdx_grow(&v, &cap, 1, sizeof *v, 16), 0);
    assert_non_null(v);
    assert_int_equal(cap, 16);
    for (size_t i = 0; i < cap; i++)
        v[i] = (pair_t){(int64_t)i, -(int64_t)i};
    /* Room enough: nothing moves. */
    pair_t *before = v;
    assert_int_equal(cdx_grow(&v, &cap, 16, sizeof *v, 16), 0);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 16);
    /* One more doubles; far more doubles until it fits. */
    assert_int_equal(cdx_grow(&v, &cap, 17, sizeof *v, 16), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(cdx_grow(&v, &cap, 200, sizeof *v, 16), 0);
    assert_int_equal(cap, 256);
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(v[i].a, (int64_t)i);
        assert_int_equal(v[i].b, -(int64_t)i);
    }
    free(v);
    /* A first capacity below need, or none, still ends at need or more. */
    char **s = NULL;
    cap = 0;
    assert_int_equal(cdx_grow(&s, &cap, 5, sizeof *s, 4), 0);
    assert_int_equal(cap, 8);
    free(s);
    s = NULL;
    cap = 0;
    assert_int_equal(cdx_grow(&s, &cap, 3, sizeof *s, 0), 0);
    assert_int_equal(cap, 4);
    free(s);
}

static void test_grow_overflow(void **state)
{
    (void)state;
    int64_t *v = NULL;
    size_t cap = 0;
    /* need * elem_size would wrap: refused before any allocation. */
    assert_int_equal(cdx_grow(&v, &cap, SIZE_MAX / sizeof *v + 1, sizeof *v, 16), CDX_ENOMEM);
    assert_null(v);
    assert_int_equal(cap, 0);
    /* Doubling past SIZE_MAX: the same refusal, the array kept as it was. */
    assert_int_equal(cdx_grow(&v, &cap, 4, sizeof *v, 4), 0);
    v[3] = 42;
    int64_t *kept = v;
    assert_int_equal(cdx_grow(&v, &cap, SIZE_MAX, sizeof *v, 4), CDX_ENOMEM);
    assert_ptr_equal(v, kept);
    assert_int_equal(cap, 4);
    assert_int_equal(v[3], 42);
    size_t big = SIZE_MAX / 2 + 2;
    assert_int_equal(cdx_grow(&v, &cap, big, 2, 4), CDX_ENOMEM);
    assert_ptr_equal(v, kept);
    assert_int_equal(cap, 4);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_first_and_doubling),
        cmocka_unit_test(test_grow_overflow),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
