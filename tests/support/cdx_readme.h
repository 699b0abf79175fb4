/* The README's tables against the catalogues that render them.
 *
 * A catalogue in C (configuration keys, institution keys, audit events)
 * writes its README table as Markdown; the README must hold that text word
 * for word and whole: every line, in order, and no further table row right
 * after it (a row the catalogue lacks). */
#ifndef CDX_README_H
#define CDX_README_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx_test.h"

/* README.md of the source tree, or NULL when CDX_SOURCE_DIR is unset or
 * the file cannot be read.  The caller frees it. */
static inline char *cdx_readme_read(void)
{
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", src);
    char *text = NULL;
    size_t len = 0;
    return cdx_read_file(path, 1u << 22, &text, &len) == 0 ? text : NULL;
}

/* What render(out) writes, as a string the caller frees. */
static inline char *cdx_readme_render(void (*render)(FILE *out))
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem == NULL)
        return NULL;
    render(mem);
    fclose(mem);
    return text;
}

/* NULL when readme holds table as described above, else what is wrong
 * (in why, n bytes). */
static inline const char *cdx_readme_check(const char *readme, const char *table, char *why,
                                           size_t n)
{
    const char *line = table;
    while (*line != '\0') {
        size_t len = strcspn(line, "\n");
        char one[2048];
        snprintf(one, sizeof one, "%.*s", (int)len, line);
        if (len > 0 && strstr(readme, one) == NULL) {
            snprintf(why, n, "README.md lacks the line: %s", one);
            return why;
        }
        line += len + (line[len] == '\n');
    }
    const char *at = strstr(readme, table);
    if (at == NULL) {
        snprintf(why, n, "README.md has every line of the table, but not together and in order");
        return why;
    }
    const char *after = at + strlen(table);
    if (*after == '|') {
        snprintf(why, n, "README.md has a row the table lacks: %.*s", (int)strcspn(after, "\n"),
                 after);
        return why;
    }
    return NULL;
}

/* The cmocka check itself: skipped (visibly) without the source tree,
 * failed naming what is wrong when the README's table is not what render
 * writes.  For test files that include cmocka.h and cdx_test.h first. */
static inline void cdx_readme_assert_table(void (*render)(FILE *out))
{
    char *readme = cdx_readme_read();
    if (readme == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset or README.md unreadable");
    char *table = cdx_readme_render(render);
    assert_non_null(table);
    char why[2300];
    const char *bad = cdx_readme_check(readme, table, why, sizeof why);
    free(table);
    free(readme);
    if (bad != NULL)
        fail_msg("%s", bad);
}

#endif
