/* The research projects file: sections, relative key files, modes, and
 * the faults it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdx/conf/research.h"

static char dir[] = "/tmp/cdx-research-XXXXXX";
static char path[256];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_find(void **state)
{
    (void)state;
    write_file("# projects\n[research_project]\ninstitution = 2.25.1\nkey_file = a.key\n\n"
               "[research_project]\n institution = urn:oid:2.25.2 \nkey_file = /abs/b.key\n"
               "mode = safe_harbor\n");
    cdx_research_project_t p;
    char err[256], want[300];
    assert_int_equal(cdx_research_project_find(path, "2.25.1", &p, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/a.key", dir);
    assert_string_equal(p.key_file, want);
    assert_int_equal(p.mode, CDX_EXPORT_SHIFT);
    assert_int_equal(cdx_research_project_find(path, "2.25.2", &p, err, sizeof err), 0);
    assert_string_equal(p.key_file, "/abs/b.key");
    assert_int_equal(p.mode, CDX_EXPORT_SAFE_HARBOR);
    assert_int_equal(cdx_research_project_find(path, "2.25.3", &p, err, sizeof err),
                     CDX_ENOTFOUND);
    assert_int_equal(cdx_research_project_find("", "2.25.1", &p, err, sizeof err), CDX_ENOTFOUND);
}

static void test_faults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"[research_project]\ninstitution = 2.25.1\nkey_file = a\nmode = fuzzy\n", "line 4: mode"},
        {"[research_project]\ninstitution = x\nkey_file = a\n", "line 2: institution"},
        {"[research_project]\ninstitution = 2.25.1\ncolour = red\n", "unknown key 'colour'"},
        {"institution = 2.25.1\n", "line 1: expected"},
        {"[research_project]\ninstitution = 2.25.1\n", "needs institution and key_file"},
        {"[research_project]\ninstitution = 2.25.1\nkey_file = a\n[research_project]\n"
         "institution = 2.25.1\nkey_file = b\n",
         "two projects"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(bad[i].text);
        cdx_research_project_t p;
        char err[256];
        assert_int_equal(cdx_research_project_find(path, "2.25.1", &p, err, sizeof err),
                         CDX_ECONFIG);
        if (strstr(err, bad[i].says) == NULL)
            fail_msg("case %zu: %s", i, err);
    }
    cdx_research_project_t p;
    char err[256];
    assert_int_equal(cdx_research_project_find("/nonexistent/p.conf", "2.25.1", &p, err,
                                               sizeof err),
                     CDX_ECONFIG);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof path, "%s/projects.conf", dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_faults),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    rmdir(dir);
    return rc;
}
