/* Unit tests of the purposes of use (gateway/domain/purpose.c), and of
 * README.md's table of them, which must be the C table row for row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/purpose.h"

static void test_find(void **state)
{
    (void)state;
    assert_string_equal(cdx_purpose_find("TREAT")->code, "TREAT");
    assert_non_null(cdx_purpose_find("ETREAT"));
    assert_non_null(cdx_purpose_find("HPAYMT"));
    assert_non_null(cdx_purpose_find("HOPERAT"));
    assert_non_null(cdx_purpose_find("PUBHLTH"));
    assert_non_null(cdx_purpose_find("HRESCH"));
    assert_non_null(cdx_purpose_find("PATRQT"));
    assert_non_null(cdx_purpose_find(CDX_PURPOSE_DEFAULT));
    /* Codes are matched exactly, as HL7 spells them. */
    assert_null(cdx_purpose_find("treat"));
    assert_null(cdx_purpose_find("TREAT "));
    assert_null(cdx_purpose_find("TREATMENT"));
    assert_null(cdx_purpose_find(""));
    assert_null(cdx_purpose_find(NULL));
}

static void test_table_and_list(void **state)
{
    (void)state;
    size_t n = 0;
    const cdx_purpose_t *t = cdx_purpose_table(&n);
    assert_true(n >= 10);
    char list[512], detail[512];
    cdx_purpose_list(list, sizeof list);
    cdx_purpose_unknown_detail(detail, sizeof detail);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(t[i].meaning) > 5);
        assert_ptr_equal(cdx_purpose_find(t[i].code), &t[i]);
        assert_non_null(strstr(list, t[i].code));
        assert_non_null(strstr(detail, t[i].code));
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(t[i].code, t[j].code);
    }
    assert_non_null(strstr(detail, "X-CDX-Purpose"));
    /* A small buffer is cut, never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    cdx_purpose_list(small, 6);
    assert_int_equal(strlen(small), 5);
    assert_int_equal(small[7], 'x');
}

/* The rows of README.md's "### Purposes of use" table. */
static char *readme_rows(void)
{
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", src);
    char *readme = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(path, 1u << 22, &readme, &len), 0);
    char *start = strstr(readme, "\n### Purposes of use\n");
    if (start == NULL)
        fail_msg("README.md has no '### Purposes of use' section");
    start += 1;
    char *end = strstr(start + 4, "\n#");
    if (end != NULL)
        end[1] = '\0';
    char *rows = calloc(1, strlen(start) + 1);
    assert_non_null(rows);
    for (char *line = strtok(start, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (strncmp(line, "| `", 3) == 0) {
            strcat(rows, line);
            strcat(rows, "\n");
        }
    free(readme);
    return rows;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

/* Both directions: every purpose the gateway accepts is documented word
 * for word, and the README documents no other. */
static void test_readme_matches_table(void **state)
{
    (void)state;
    char *readme = readme_rows();
    if (readme == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset: README.md not found");
    char *table = NULL;
    size_t tlen = 0;
    FILE *mem = open_memstream(&table, &tlen);
    cdx_purpose_markdown(mem);
    fclose(mem);
    char *copy = strdup(readme);
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (!has_line(table, line))
            fail_msg("README.md lists a purpose the gateway does not accept: %s", line);
    free(copy);
    for (char *line = strtok(table, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (!has_line(readme, line))
            fail_msg("README.md lacks the purpose row: %s", line);
    free(table);
    free(readme);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_table_and_list),
        cmocka_unit_test(test_readme_matches_table),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
