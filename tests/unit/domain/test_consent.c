/* Unit tests of consent records and their JSON form (gateway/domain/consent.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/consent.h"

static int parse(const char *body, cdx_consent_t *c, char member[32])
{
    char why[160];
    return cdx_consent_parse_json(body, strlen(body), c, member, 32, why, sizeof why);
}

static void test_reads_a_full_consent(void **state)
{
    (void)state;
    cdx_consent_t c;
    char member[32];
    assert_int_equal(parse("{\"decision\":\"permit\",\"scope\":{\"institutions\":[\"2.25.1\","
                           "\"2.25.2\",\"2.25.1\"],\"types\":[\"18842-5\"]},\"research\":\"deny\","
                           "\"expires\":\"2027-01-31T00:00:00+09:00\"}",
                           &c, member),
                     0);
    assert_int_equal(c.permit, 1);
    assert_int_equal(c.ninstitutions, 2); /* a repeated entry once */
    assert_string_equal(c.institutions[1], "2.25.2");
    assert_int_equal(c.ntypes, 1);
    assert_int_equal(c.research, 0);
    assert_string_equal(c.expires, "2027-01-31T00:00:00+09:00");
    assert_string_equal(c.expires_key, "20270130150000");
    /* The least: a decision. */
    assert_int_equal(parse("{\"decision\":\"deny\"}", &c, member), 0);
    assert_int_equal(c.permit, 0);
    assert_int_equal(c.research, -1);
    assert_int_equal(c.ninstitutions + c.ntypes, 0);
    assert_string_equal(c.expires_key, "");
    /* HL7 TS, empty lists and nulls. */
    assert_int_equal(parse("{\"decision\":\"permit\",\"expires\":\"20270101\",\"scope\":"
                           "{\"institutions\":[],\"types\":null},\"research\":null}",
                           &c, member),
                     0);
    assert_string_equal(c.expires_key, "20270101000000");
}

static void test_names_the_member_at_fault(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *member;
    } cases[] = {
        {"", ""},
        {"[]", ""},
        {"{\"decision\":\"permit\"", ""},
        {"{\"decision\":\"permit\",\"decision\":\"deny\"}", ""},
        {"{\"decision\":\"permit\",\"extra\":1}", ""},
        {"{}", "decision"},
        {"{\"decision\":\"allow\"}", "decision"},
        {"{\"decision\":true}", "decision"},
        {"{\"decision\":\"permit\",\"research\":\"maybe\"}", "research"},
        {"{\"decision\":\"permit\",\"expires\":\"tomorrow\"}", "expires"},
        {"{\"decision\":\"permit\",\"expires\":20270101}", "expires"},
        {"{\"decision\":\"permit\",\"scope\":[]}", "scope"},
        {"{\"decision\":\"permit\",\"scope\":{\"people\":[]}}", "scope"},
        {"{\"decision\":\"permit\",\"scope\":{\"institutions\":\"2.25.1\"}}", "scope.institutions"},
        {"{\"decision\":\"permit\",\"scope\":{\"institutions\":[\"not an oid\"]}}",
         "scope.institutions"},
        {"{\"decision\":\"permit\",\"scope\":{\"institutions\":[1]}}", "scope.institutions"},
        {"{\"decision\":\"permit\",\"scope\":{\"types\":[\"18842 5\"]}}", "scope.types"},
        {"{\"decision\":\"permit\",\"scope\":{\"types\":[\"\"]}}", "scope.types"},
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        cdx_consent_t c;
        char member[32] = "unset";
        if (parse(cases[i].body, &c, member) != CDX_EPARSE)
            fail_msg("accepted: %s", cases[i].body);
        if (strcmp(member, cases[i].member) != 0)
            fail_msg("%s: member '%s', want '%s'", cases[i].body, member, cases[i].member);
        assert_int_equal(c.permit, 0); /* nothing half-read is left */
    }
    /* More than 16 entries. */
    char body[1024] = "{\"decision\":\"permit\",\"scope\":{\"types\":[";
    for (int i = 0; i < 17; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"1000%d-1\"", i ? "," : "",
                 i);
    cdx_strlcpy(body + strlen(body), "]}}", sizeof body - strlen(body));
    cdx_consent_t c;
    char member[32];
    assert_int_equal(parse(body, &c, member), CDX_EPARSE);
    assert_string_equal(member, "scope.types");
    /* A NUL inside the body is not a shorter body. */
    char why[160];
    assert_int_equal(cdx_consent_parse_json("{\"decision\":\"permit\"}\0x", 23, &c, member, 32,
                                            why, sizeof why),
                     CDX_EPARSE);
}

static void test_scope_text_round_trip(void **state)
{
    (void)state;
    cdx_consent_t c, back;
    char member[32], text[CDX_CONSENT_SCOPE_TEXT];
    assert_int_equal(parse("{\"decision\":\"permit\",\"scope\":{\"institutions\":[\"2.25.1\","
                           "\"1.2.410.200.1\"],\"types\":[\"18842-5\",\"11502-2\"]}}",
                           &c, member),
                     0);
    memset(&back, 0, sizeof back);
    assert_int_equal(cdx_consent_scope_text(&c, 0, text, sizeof text), 0);
    assert_string_equal(text, "2.25.1 1.2.410.200.1");
    assert_int_equal(cdx_consent_scope_parse(text, 0, &back), 0);
    assert_int_equal(cdx_consent_scope_text(&c, 1, text, sizeof text), 0);
    assert_string_equal(text, "18842-5 11502-2");
    assert_int_equal(cdx_consent_scope_parse(text, 1, &back), 0);
    assert_int_equal(back.ninstitutions, 2);
    assert_int_equal(back.ntypes, 2);
    assert_string_equal(back.types[1], "11502-2");
    assert_int_equal(cdx_consent_scope_parse("", 1, &back), 0);
    assert_int_equal(back.ntypes, 0);
    assert_int_equal(cdx_consent_scope_text(&c, 0, text, 4), CDX_ERANGE);
}

static void test_covers_and_expiry(void **state)
{
    (void)state;
    cdx_consent_t c;
    char member[32];
    assert_int_equal(parse("{\"decision\":\"permit\",\"scope\":{\"institutions\":[\"2.25.1\"],"
                           "\"types\":[\"18842-5\"]},\"expires\":\"2026-12-31\"}",
                           &c, member),
                     0);
    assert_int_equal(cdx_consent_covers(&c, "2.25.1", "18842-5"), 1);
    assert_int_equal(cdx_consent_covers(&c, "2.25.2", "18842-5"), 0);
    assert_int_equal(cdx_consent_covers(&c, "2.25.1", "11502-2"), 0);
    assert_int_equal(cdx_consent_covers(&c, "2.25.1", NULL), 0);
    assert_int_equal(cdx_consent_covers(&c, NULL, "18842-5"), 0);
    assert_int_equal(cdx_consent_expired(&c, "20261230235959"), 0);
    assert_int_equal(cdx_consent_expired(&c, "20261231000000"), 1);
    assert_int_equal(parse("{\"decision\":\"permit\"}", &c, member), 0);
    assert_int_equal(cdx_consent_covers(&c, "2.25.9", NULL), 1);
    assert_int_equal(cdx_consent_expired(&c, "99991231000000"), 0);
}

static void test_home_institution(void **state)
{
    (void)state;
    cdx_institution_t i;
    memset(&i, 0, sizeof i);
    cdx_strlcpy(i.oid, "1.2.410.100.7", sizeof i.oid);
    cdx_strlcpy(i.id_roots[i.nid_roots++], "2.16.840.1.113883.19.5", sizeof i.id_roots[0]);
    assert_int_equal(cdx_consent_home(&i, "1.2.410.100.7"), 1);
    assert_int_equal(cdx_consent_home(&i, "1.2.410.100.7.1"), 1);
    assert_int_equal(cdx_consent_home(&i, "1.2.410.100.77"), 0);
    assert_int_equal(cdx_consent_home(&i, "2.16.840.1.113883.19.5.2"), 1);
    assert_int_equal(cdx_consent_home(&i, "2.16.840.1.113883.19"), 0);
    assert_int_equal(cdx_consent_home(&i, "1.2.410.200"), 0);
    assert_int_equal(cdx_consent_home(NULL, "1.2.410.100.7"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_a_full_consent),
        cmocka_unit_test(test_names_the_member_at_fault),
        cmocka_unit_test(test_scope_text_round_trip),
        cmocka_unit_test(test_covers_and_expiry),
        cmocka_unit_test(test_home_institution),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
