/* Unit tests of route matching (gateway/net/router.c) and problem+json
 * rendering (parsers/base/problem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/base/problem.h"
#include "cdx/net/router.h"

static const cdx_route_t routes[] = {
    {"healthz", "GET", "/healthz", 0, 0, NULL},
    {"documents.post", "POST", "/v1/documents", 1, 0, NULL},
    {"documents.list", "GET", "/v1/documents", 2, 0, NULL},
    {"documents.get", "GET", "/v1/documents/{id}", 2, 0, NULL},
    {"documents.meta", "GET", "/v1/documents/{id}/metadata", 2, 0, NULL},
    {"links.delete", "DELETE", "/v1/links/{id}", 8, 0, NULL},
};

static void test_match(void **state)
{
    (void)state;
    cdx_route_params_t p;
    char allow[64], id[40];
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/healthz", &p, allow, sizeof allow), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(cdx_router_match(routes, 6, "POST", "/v1/documents", &p, allow, sizeof allow),
                     1);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/v1/documents", &p, allow, sizeof allow),
                     2);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/v1/documents/abc", &p, allow,
                                      sizeof allow),
                     3);
    assert_int_equal(cdx_route_param(&p, "id", id, sizeof id), 0);
    assert_string_equal(id, "abc");
    assert_int_equal(cdx_route_param(&p, "nope", id, sizeof id), CDX_ENOTFOUND);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/v1/documents/abc/metadata", &p, allow,
                                      sizeof allow),
                     4);
    assert_int_equal(cdx_route_param(&p, "id", id, 3), CDX_ERANGE);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    cdx_route_params_t p;
    char allow[64];
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/", &p, allow, sizeof allow), -404);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/healthz/", &p, allow, sizeof allow),
                     -404);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/v1/documents//metadata", &p, allow,
                                      sizeof allow),
                     -404);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/v1/documents/a/b", &p, allow,
                                      sizeof allow),
                     -404);
    assert_int_equal(cdx_router_match(routes, 6, "DELETE", "/v1/documents", &p, allow,
                                      sizeof allow),
                     -405);
    assert_string_equal(allow, "POST, GET");
    assert_int_equal(cdx_router_match(routes, 6, "POST", "/healthz", &p, allow, sizeof allow),
                     -405);
    assert_string_equal(allow, "GET");
    /* Matching is exact and case-sensitive. */
    assert_int_equal(cdx_router_match(routes, 6, "get", "/healthz", &p, allow, sizeof allow),
                     -405);
    assert_int_equal(cdx_router_match(routes, 6, "GET", "/HEALTHZ", &p, allow, sizeof allow),
                     -404);
}

static void test_problem(void **state)
{
    (void)state;
    cdx_buf_t b;
    cdx_buf_init(&b, 65536);
    assert_int_equal(cdx_problem_render(&b, 413, "Payload Too Large", "BODY_TOO_LARGE",
                                        "too \"big\"\n", "1-0", NULL),
                     0);
    json_error_t jerr;
    json_t *o = json_loads(b.data, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")),
                        "urn:cdxgw:problem:BODY_TOO_LARGE");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 413);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "BODY_TOO_LARGE");
    assert_string_equal(json_string_value(json_object_get(o, "detail")), "too \"big\"\n");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "1-0");
    assert_null(json_object_get(o, "issues"));
    json_decref(o);

    cdx_buf_reset(&b);
    assert_int_equal(cdx_problem_render(&b, 422, "Unprocessable Entity", "CDA_REQUIRED_FIELD",
                                        "no patient", "2-3",
                                        "[{\"severity\":\"error\",\"rule\":\"CDA-010\"}]"),
                     0);
    o = json_loads(b.data, 0, &jerr);
    assert_int_equal(json_array_size(json_object_get(o, "issues")), 1);
    json_decref(o);
    /* Issues that are not JSON are refused rather than sent broken. */
    cdx_buf_reset(&b);
    assert_int_equal(cdx_problem_render(&b, 422, "x", "X", "d", "r", "[not json"), CDX_EINVAL);
    /* Non-ASCII detail is escaped, so the body stays 7-bit. */
    cdx_buf_reset(&b);
    assert_int_equal(cdx_problem_render(&b, 400, "Bad Request", "X", "진료", "r", NULL), 0);
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] < 0x80);
    cdx_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
