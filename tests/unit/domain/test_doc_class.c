/* The class of a document from its type, and the list of classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/domain/doc_class.h"

#define LOINC "2.16.840.1.113883.6.1"

static void test_types(void **state)
{
    (void)state;
    assert_string_equal(cdx_doc_class_of(LOINC, "34133-9"), "summary");
    assert_string_equal(cdx_doc_class_of(LOINC, "18842-5"), "discharge");
    assert_string_equal(cdx_doc_class_of(LOINC, "57133-1"), "referral");
    assert_string_equal(cdx_doc_class_of(LOINC, "11488-4"), "consult");
    assert_string_equal(cdx_doc_class_of(LOINC, "59284-0"), "consent");
    assert_null(cdx_doc_class_of(LOINC, "99999-9"));
    assert_null(cdx_doc_class_of("2.16.840.1.113883.6.96", "34133-9")); /* not LOINC */
    assert_null(cdx_doc_class_of(NULL, "34133-9"));
    assert_null(cdx_doc_class_of(LOINC, NULL));
    assert_null(cdx_doc_class_of(LOINC, "34133"));
}

/* Every name the list gives is a class, and every class is in the list
 * (README.md shows the same list). */
static void test_names(void **state)
{
    (void)state;
    char *list = strdup(cdx_doc_class_names());
    assert_non_null(list);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        assert_true(cdx_doc_class_known(t));
        n++;
    }
    free(list);
    assert_int_equal(n, 15);
    assert_false(cdx_doc_class_known("Discharge"));
    assert_false(cdx_doc_class_known(""));
    assert_false(cdx_doc_class_known(NULL));
    /* Each class's first type leads back to it. */
    static const char *const first[][2] = {
        {"summary", "60591-5"},   {"discharge", "11490-0"},    {"transfer", "18761-7"},
        {"referral", "57133-1"},  {"consult", "11488-4"},      {"history-physical", "34117-2"},
        {"progress", "11506-3"},  {"emergency", "34878-9"},    {"procedure", "11504-8"},
        {"imaging", "18748-4"},   {"laboratory", "11502-2"},   {"pathology", "11526-1"},
        {"care-plan", "52521-2"}, {"immunization", "11369-6"}, {"consent", "57016-8"},
    };
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        assert_string_equal(cdx_doc_class_of(LOINC, first[i][1]), first[i][0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
