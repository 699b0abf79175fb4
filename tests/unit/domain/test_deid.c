/* De-identification for research: pseudonyms, date offsets, shifted or
 * year-only dates, birth years with old ages pooled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/deid.h"

static const unsigned char KEY_A[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                        12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                        23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const unsigned char KEY_B[32] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22,
                                        21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
                                        10, 9,  8,  7,  6,  5,  4,  3,  2,  1};

/* Stable within a project, different across projects and persons. */
static void test_pseudonym(void **state)
{
    (void)state;
    char a1[CDX_DEID_PSEUDONYM_SIZE], a2[CDX_DEID_PSEUDONYM_SIZE], b1[CDX_DEID_PSEUDONYM_SIZE],
        other[CDX_DEID_PSEUDONYM_SIZE];
    cdx_deid_pseudonym(KEY_A, 42, a1);
    cdx_deid_pseudonym(KEY_A, 42, a2);
    cdx_deid_pseudonym(KEY_B, 42, b1);
    cdx_deid_pseudonym(KEY_A, 43, other);
    assert_int_equal(strlen(a1), 64);
    assert_int_equal(strspn(a1, "0123456789abcdef"), 64);
    assert_string_equal(a1, a2);
    assert_string_not_equal(a1, b1);
    assert_string_not_equal(a1, other);
}

static void test_offset(void **state)
{
    (void)state;
    int seen_neg = 0, seen_pos = 0, differ = 0;
    for (int64_t p = 1; p <= 500; p++) {
        int o = cdx_deid_date_offset(KEY_A, p);
        assert_true(o != 0);
        assert_true(o >= -CDX_DEID_MAX_SHIFT_DAYS && o <= CDX_DEID_MAX_SHIFT_DAYS);
        assert_int_equal(o, cdx_deid_date_offset(KEY_A, p));
        seen_neg |= o < 0;
        seen_pos |= o > 0;
        differ += o != cdx_deid_date_offset(KEY_B, p);
    }
    assert_true(seen_neg && seen_pos);
    assert_true(differ > 450);
}

static void test_dates(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(cdx_deid_date("20240309", 10, 0, out, sizeof out), 0);
    assert_string_equal(out, "2024-03-19");
    assert_int_equal(cdx_deid_date("2024-03-09", -10, 0, out, sizeof out), 0);
    assert_string_equal(out, "2024-02-28");
    assert_int_equal(cdx_deid_date("20241225230000+0900", 7, 0, out, sizeof out), 0);
    assert_string_equal(out, "2025-01-01"); /* the local date, then the shift; no time */
    assert_int_equal(cdx_deid_date("2024-03-09T23:30:00-05:00", 1, 0, out, sizeof out), 0);
    assert_string_equal(out, "2024-03-10");
    assert_int_equal(cdx_deid_date("202403", 40, 0, out, sizeof out), 0);
    assert_string_equal(out, "2024-04"); /* month precision kept */
    assert_int_equal(cdx_deid_date("2024", 180, 0, out, sizeof out), 0);
    assert_string_equal(out, "2024"); /* a year alone never moves */
    assert_int_equal(cdx_deid_date("20241225", 30, 1, out, sizeof out), 0);
    assert_string_equal(out, "2024"); /* Safe Harbor: the year, unshifted */
    /* Intervals are kept: two dates of one person, one offset. */
    char a[16], b[16];
    assert_int_equal(cdx_deid_date("20240110", -37, 0, a, sizeof a), 0);
    assert_int_equal(cdx_deid_date("20240220", -37, 0, b, sizeof b), 0);
    assert_string_equal(a, "2023-12-04");
    assert_string_equal(b, "2024-01-14");
    assert_int_equal(cdx_deid_date("soon", 1, 0, out, sizeof out), CDX_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(cdx_deid_date("20240230", 1, 0, out, sizeof out), CDX_EINVAL);
    assert_int_equal(cdx_deid_date(NULL, 1, 0, out, sizeof out), CDX_EINVAL);
    assert_int_equal(cdx_deid_date("20240309", 1, 0, out, 5), CDX_ERANGE);
}

static void test_birth(void **state)
{
    (void)state;
    char year[5];
    int age = -1, pooled = -1;
    assert_int_equal(cdx_deid_birth("19730214", "20260101", year, &age, &pooled), 0);
    assert_string_equal(year, "1973");
    assert_int_equal(age, 52);
    assert_int_equal(pooled, 0);
    assert_int_equal(cdx_deid_birth("19730214", "20260214", year, &age, &pooled), 0);
    assert_int_equal(age, 53); /* the birthday itself counts */
    assert_int_equal(cdx_deid_birth("19360101", "20260101", year, &age, &pooled), 0);
    assert_int_equal(age, 90);
    assert_int_equal(pooled, 1);
    assert_string_equal(year, ""); /* the year would give the age away */
    assert_int_equal(cdx_deid_birth("19360102", "20260101", year, &age, &pooled), 0);
    assert_int_equal(age, 89);
    assert_int_equal(pooled, 0);
    assert_string_equal(year, "1936");
    assert_int_equal(cdx_deid_birth("20300101", "20260101", year, &age, &pooled), CDX_EINVAL);
    assert_int_equal(cdx_deid_birth("x", "20260101", year, &age, &pooled), CDX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pseudonym),
        cmocka_unit_test(test_offset),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_birth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
