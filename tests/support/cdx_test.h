/* Visible skips for the cmocka unit tests.
 *
 * cmocka counts a skipped case as neither failed nor passed and its runner
 * exits 0, so ctest would show a test that skipped as Passed.  A case that
 * cannot run calls CDX_SKIP("reason", ...): the reason is printed as a
 * `cdx-skip:` line (scripts/test lists them) and the executable exits with
 * CDX_TEST_SKIP_RC, which tests/CMakeLists.txt declares as every unit test's
 * SKIP_RETURN_CODE.
 *
 * Cases that need the shared corpus (or its CDA schema) form a second group,
 * run by `test_x --corpus` as their own ctest entry (unit.test_x.corpus,
 * label `corpus`), so a corpus skip hides nothing else. */
#ifndef CDX_TEST_H
#define CDX_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"

#define CDX_TEST_SKIP_RC 77

static int cdx_test_skips;

#define CDX_SKIP(...)                                                                          \
    do {                                                                                       \
        printf("cdx-skip: %s: ", __func__);                                                    \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        fflush(stdout);                                                                        \
        cdx_test_skips++;                                                                      \
        skip();                                                                                \
    } while (0)

/* A new scratch folder <CDX_TEST_TMP or /tmp>/<prefix>-XXXXXX into dir
 * (n bytes), for one test executable's files.  0 or -1. */
static inline int cdx_test_scratch_dir(char *dir, size_t n, const char *prefix)
{
    const char *base = getenv("CDX_TEST_TMP");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (cdx_mkdirs(base, 0700) != 0)
        return -1;
    snprintf(dir, n, "%s/%s-XXXXXX", base, prefix);
    return mkdtemp(dir) != NULL ? 0 : -1;
}

/* Removes a scratch folder and everything in it.  0 or -1. */
static inline int cdx_test_remove_dir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The exit code of a unit test executable from cmocka's failure count. */
static inline int cdx_test_exit(int failed)
{
    if (failed != 0)
        return 1;
    return cdx_test_skips > 0 ? CDX_TEST_SKIP_RC : 0;
}

/* True when the executable was asked for its corpus group. */
static inline int cdx_test_corpus_group(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "--corpus") == 0;
}

#endif
