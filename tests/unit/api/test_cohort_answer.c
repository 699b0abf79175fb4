/* Unit tests of a cohort's answer (gateway/api/cohorts.c): the order of
 * the breakdown dimensions asked, the cross-tabulation, suppression of
 * small cells and complementary suppression, so that no suppressed count
 * can be had by subtracting disclosed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/api/cohorts.h"
#include "cdx/base/common.h"

static void test_dims_order(void **state)
{
    (void)state;
    unsigned dims, order[3];
    assert_int_equal(cdx_cohort_dims_parse("institution,sex", &dims), 0);
    assert_int_equal(dims & 7u, CDX_COHORT_BY_SEX | CDX_COHORT_BY_INSTITUTION);
    assert_int_equal(cdx_cohort_dims_order(dims, order), 2);
    assert_int_equal(order[0], CDX_COHORT_BY_INSTITUTION);
    assert_int_equal(order[1], CDX_COHORT_BY_SEX);
    assert_int_equal(cdx_cohort_dims_parse("age_band,sex,age_band,institution", &dims), 0);
    assert_int_equal(cdx_cohort_dims_order(dims, order), 3);
    assert_int_equal(order[0], CDX_COHORT_BY_AGE_BAND);
    assert_int_equal(order[2], CDX_COHORT_BY_INSTITUTION);
    /* The breakdown kept with a cohort: the order asked, repeats once. */
    char text[64];
    cdx_cohort_dims_text(dims, text, sizeof text);
    assert_string_equal(text, "age_band,sex,institution");
    assert_int_equal(cdx_cohort_dims_parse("sex,postcode", &dims), CDX_EINVAL);
    assert_int_equal(cdx_cohort_dims_parse("", &dims), 0);
    assert_int_equal(dims, 0);
    cdx_cohort_dims_text(dims, text, sizeof text);
    assert_string_equal(text, "");
}

static json_t *answer(const cdx_cohort_cell_t *cells, size_t n, const char *dims, size_t size)
{
    unsigned d = 0;
    assert_int_equal(cdx_cohort_dims_parse(dims, &d), 0);
    cdx_cohort_eval_t ev = {.n = size};
    char *text = cdx_cohort_answer("id", "sha", &ev, cells, n, d, 10);
    assert_non_null(text);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    free(text);
    return o;
}

static int is_suppressed(json_t *v)
{
    return json_is_string(v) && strcmp(json_string_value(v), "suppressed") == 0;
}

/* One small cell on a line whose total is disclosed takes the line's
 * smallest other cell with it; a line with none hidden is left alone. */
static void test_marginal_complement(void **state)
{
    (void)state;
    const cdx_cohort_cell_t cells[] = {
        {CDX_COHORT_BY_SEX, "F", 40},
        {CDX_COHORT_BY_SEX, "M", 3},
        {CDX_COHORT_BY_AGE_BAND, "40-49", 20},
        {CDX_COHORT_BY_AGE_BAND, "50-59", 12},
        {CDX_COHORT_BY_AGE_BAND, "60-69", 11},
    };
    json_t *o = answer(cells, CDX_ARRAY_SIZE(cells), "sex,age_band", 43);
    json_t *sex = json_object_get(json_object_get(o, "breakdown"), "sex");
    assert_true(is_suppressed(json_object_get(sex, "M")));
    /* 43 - 40 would give M: F goes too. */
    assert_true(is_suppressed(json_object_get(sex, "F")));
    json_t *age = json_object_get(json_object_get(o, "breakdown"), "age_band");
    assert_int_equal(json_integer_value(json_object_get(age, "60-69")), 11);
    assert_int_equal(json_integer_value(json_object_get(age, "40-49")), 20);
    assert_int_equal(json_object_get(o, "size") != NULL, 1);
    json_decref(o);
}

/* The two-way table: cells listed by key with the dimensions in the
 * order asked; a row and a column with one small cell each get a second. */
static void test_crosstab(void **state)
{
    (void)state;
    const cdx_cohort_cell_t cells[] = {
        {CDX_COHORT_BY_AGE_BAND, "40-49", 32},
        {CDX_COHORT_BY_AGE_BAND, "50-59", 34},
        {CDX_COHORT_BY_SEX, "F", 36},
        {CDX_COHORT_BY_SEX, "M", 30},
        {CDX_COHORT_BY_CROSS, "40-49|F", 30},
        {CDX_COHORT_BY_CROSS, "40-49|M", 2},
        {CDX_COHORT_BY_CROSS, "50-59|F", 6},
        {CDX_COHORT_BY_CROSS, "50-59|M", 28},
    };
    json_t *o = answer(cells, CDX_ARRAY_SIZE(cells), "age_band,sex", 66);
    json_t *x = json_object_get(o, "crosstab");
    assert_non_null(x);
    json_t *dims = json_object_get(x, "dimensions");
    assert_string_equal(json_string_value(json_array_get(dims, 0)), "age_band");
    assert_string_equal(json_string_value(json_array_get(dims, 1)), "sex");
    json_t *list = json_object_get(x, "cells");
    assert_int_equal(json_array_size(list), 4);
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "key"), 0)),
                        "40-49");
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "key"), 1)), "F");
    /* 2 and 6 are small; each row and column then holds two hidden cells,
     * so 30 and 28 go as well: nothing can be subtracted out. */
    for (size_t i = 0; i < 4; i++)
        assert_true(is_suppressed(json_object_get(json_array_get(list, i), "count")));
    /* The marginals are all 10 or more and alone on no line with a hidden one. */
    json_t *sex = json_object_get(json_object_get(o, "breakdown"), "sex");
    assert_int_equal(json_integer_value(json_object_get(sex, "F")), 36);
    json_decref(o);
}

/* One dimension asked: no cross-tabulation. */
static void test_one_dimension(void **state)
{
    (void)state;
    const cdx_cohort_cell_t cells[] = {{CDX_COHORT_BY_SEX, "F", 12}, {CDX_COHORT_BY_SEX, "M", 13}};
    json_t *o = answer(cells, CDX_ARRAY_SIZE(cells), "sex", 25);
    assert_null(json_object_get(o, "crosstab"));
    json_t *sex = json_object_get(json_object_get(o, "breakdown"), "sex");
    assert_int_equal(json_integer_value(json_object_get(sex, "M")), 13);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dims_order),
        cmocka_unit_test(test_marginal_complement),
        cmocka_unit_test(test_crosstab),
        cmocka_unit_test(test_one_dimension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
