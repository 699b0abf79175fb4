/* Unit tests of fact rows (gateway/domain/facts.c): a row's data keeps only
 * what its columns do not, and cdx_fact_json puts the whole fact back,
 * equal to the extractor's, for rows stored either way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"
#include "cdx_test.h"

static const char FACTS[] =
    "{\"problems\":["
    /* columns and extras, effectiveTime left empty */
    "{\"section\":\"problems\",\"codeSystem\":\"2.16.840.1.113883.6.3\",\"code\":\"E11\","
    "\"displayName\":\"Diabetes\",\"effectiveTime\":{\"low\":\"2020\"},\"status\":\"active\","
    "\"negated\":false,\"extras\":{\"moodCode\":\"EVN\"}},"
    /* originalText only: the display column is its text */
    "{\"code\":\"X1\",\"originalText\":\"free text\"},"
    /* displayName equal to originalText */
    "{\"code\":\"X2\",\"displayName\":\"same\",\"originalText\":\"same\"},"
    /* displayName and another originalText */
    "{\"code\":\"X3\",\"displayName\":\"coded\",\"originalText\":\"typed\"},"
    /* an empty effectiveTime, one with more than low and high */
    "{\"code\":\"X4\",\"effectiveTime\":{}},"
    "{\"code\":\"X5\",\"effectiveTime\":{\"low\":\"2019\",\"high\":\"2021\",\"center\":\"2020\"}},"
    /* values that are not strings stay in data */
    "{\"code\":7,\"codeSystem\":null,\"status\":[\"a\"],\"effectiveTime\":{\"low\":2019}}],"
    "\"results\":["
    "{\"code\":\"2345-7\",\"number\":5.4,\"unit\":\"mmol/L\",\"value\":\"5.4\"},"
    "{\"code\":\"2345-7\",\"number\":5,\"unit\":\"mmol/L\"},"
    "{\"code\":\"2345-7\",\"number\":0.1,\"effectiveTime\":{\"high\":\"20240101\"}},"
    "{}]}";

/* Every fact, rebuilt from its row, equals the extractor's. */
static void test_rows_rebuild_whole(void **state)
{
    (void)state;
    json_t *facts = json_loads(FACTS, 0, NULL);
    assert_non_null(facts);
    cdx_fact_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &rows, &n), 0);
    assert_int_equal(n, 11);
    size_t k = 0, whole = 0, kept = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        json_array_foreach(list, i, f)
        {
            assert_string_equal(rows[k].kind, kind);
            char *orig = json_dumps(f, JSON_COMPACT);
            whole += strlen(orig);
            kept += strlen(rows[k].data);
            char *text = cdx_fact_json(&rows[k]);
            assert_non_null(text);
            json_t *back = json_loads(text, 0, NULL);
            if (!json_equal(back, f))
                fail_msg("fact %zu: %s rebuilt as %s (data %s)", k, orig, text, rows[k].data);
            /* A row stored whole (before data kept only extras) reads the same. */
            cdx_fact_row_t old = rows[k];
            old.data = orig;
            char *text2 = cdx_fact_json(&old);
            json_t *back2 = json_loads(text2, 0, NULL);
            assert_true(json_equal(back2, f));
            json_decref(back);
            json_decref(back2);
            free(text);
            free(text2);
            free(orig);
            k++;
        }
    }
    assert_int_equal(k, n);
    assert_string_equal(rows[n - 1].data, "{}");
    assert_string_equal(rows[0].data,
                        "{\"section\":\"problems\",\"negated\":false,"
                        "\"extras\":{\"moodCode\":\"EVN\"}}");
    assert_true(kept * 2 < whole);
    cdx_fact_rows_free(rows, n);
    json_decref(facts);
}

/* A row's json is what json_dumps(fact, JSON_COMPACT) gives, byte for
 * byte, and its data the same text as the extras built as an object:
 * the rows are written without jansson's dump, so its escapes and its
 * reals are checked here. */
static void test_rows_text_as_jansson(void **state)
{
    (void)state;
    json_t *facts = json_loads(FACTS, 0, NULL);
    assert_non_null(facts);
    json_t *odd = json_object();
    json_object_set_new(odd, "displayName",
                        json_string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xea\xb9\x80 \xe2\x80\xa8"));
    json_object_set_new(odd, "code", json_string(""));
    json_t *nums = json_array();
    const double reals[] = {0.1, 5.0, -0.0, 1e-7, 1.5e300, 123456789012345678.0, 2.5e-5,
                            -3.25, 1e21, 100.0};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        json_array_append_new(nums, json_real(reals[i]));
    json_array_append_new(nums, json_integer(-9007199254740993LL));
    json_array_append_new(nums, json_true());
    json_array_append_new(nums, json_null());
    json_array_append_new(nums, json_object());
    json_array_append_new(nums, json_array());
    json_object_set_new(odd, "values", nums);
    json_object_set_new(odd, "number", json_real(7.125));
    json_t *et = json_object();
    json_object_set_new(et, "center", json_string("2020"));
    json_object_set_new(et, "low", json_string("2019"));
    json_object_set_new(odd, "effectiveTime", et);
    json_array_append_new(json_object_get(facts, "results"), odd);
    cdx_fact_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &rows, &n), 0);
    assert_int_equal(n, 12);
    size_t k = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        json_array_foreach(list, i, f)
        {
            char *want = json_dumps(f, JSON_COMPACT);
            assert_string_equal(rows[k].json, want);
            free(want);
            k++;
        }
    }
    assert_string_equal(rows[n - 1].data,
                        "{\"values\":[0.10000000000000001,5.0,-0.0,9.9999999999999995e-8,"
                        "1.5000000000000001e300,1.2345678901234568e17,2.5000000000000001e-5,-3.25,1e21,100.0,"
                        "-9007199254740993,true,null,{},[]],\"effectiveTime\":{\"center\":\"2020\"}}");
    char *joined = cdx_fact_rows_join(facts, rows, n);
    char *whole = json_dumps(facts, JSON_COMPACT);
    assert_string_equal(joined, whole);
    free(joined);
    free(whole);
    cdx_fact_rows_free(rows, n);
    json_decref(facts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_rebuild_whole),
        cmocka_unit_test(test_rows_text_as_jansson),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
