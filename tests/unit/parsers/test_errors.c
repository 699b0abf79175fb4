/* Unit tests of the problem-code catalogue (parsers/base/errors.c) and of
 * problem rendering taking its title from it (parsers/base/problem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/base/errors.h"
#include "cdx/base/problem.h"

static void test_table_is_well_formed(void **state)
{
    (void)state;
    size_t n = 0;
    const cdx_error_t *t = cdx_error_table(&n);
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        assert_true(t[i].status >= 400 && t[i].status <= 599);
        assert_true(strlen(t[i].code) > 3);
        assert_int_equal(strspn(t[i].code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
                         strlen(t[i].code));
        assert_true(strlen(t[i].title) > 3 && strlen(t[i].title) < 64);
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(t[i].code, t[j].code) == 0)
                fail_msg("%s is listed twice", t[i].code);
        assert_ptr_equal(cdx_error_find(t[i].code), &t[i]);
    }
}

static void test_find(void **state)
{
    (void)state;
    const cdx_error_t *e = cdx_error_find("PURPOSE_UNKNOWN");
    assert_non_null(e);
    assert_int_equal(e->status, 400);
    assert_int_equal(cdx_error_find("DOCUMENT_NOT_FOUND")->status, 404);
    assert_int_equal(cdx_error_find("STORAGE_FULL")->status, 507);
    assert_null(cdx_error_find("document_not_found"));
    assert_null(cdx_error_find("NO_SUCH_CODE"));
    assert_null(cdx_error_find(""));
    assert_null(cdx_error_find(NULL));
}

static json_t *render(int status, const char *title, const char *code)
{
    cdx_buf_t b;
    cdx_buf_init(&b, 65536);
    assert_int_equal(cdx_problem_render(&b, status, title, code, "d", "1-0", NULL), 0);
    json_error_t jerr;
    json_t *o = json_loads(b.data, 0, &jerr);
    cdx_buf_cleanup(&b);
    assert_non_null(o);
    return o;
}

/* The title names the code's problem type, whatever the caller passed;
 * a code outside the catalogue keeps the caller's. */
static void test_render_takes_the_title(void **state)
{
    (void)state;
    json_t *o = render(413, "Payload Too Large", "BODY_TOO_LARGE");
    assert_string_equal(json_string_value(json_object_get(o, "title")),
                        cdx_error_find("BODY_TOO_LARGE")->title);
    json_decref(o);
    o = render(400, "Bad Request", "PURPOSE_UNKNOWN");
    assert_string_equal(json_string_value(json_object_get(o, "title")), "Unknown purpose of use");
    json_decref(o);
    o = render(418, "I'm a teapot", "NOT_IN_THE_CATALOGUE");
    assert_string_equal(json_string_value(json_object_get(o, "title")), "I'm a teapot");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_well_formed),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_render_takes_the_title),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
