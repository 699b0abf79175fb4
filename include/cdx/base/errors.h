/*
 * errors: the catalogue of problem codes the gateway answers with.
 *
 * Responsible for: one table of every problem code (HTTP status, the code,
 * a short title that names the problem type), which problem rendering
 * takes its title from and which README.md's "Errors" table is checked
 * against (tests/check_errors.py, tests/e2e/test_readme_codes.py).
 * Not responsible for: choosing a code (the module that refuses does) or
 * the human detail of one answer.
 *
 * A new code is added here, emitted by its module with the status this
 * table gives it, and documented in the README's table: the checks fail
 * until all three agree.  The table is constant; any thread may read it.
 */
#ifndef CDX_ERRORS_H
#define CDX_ERRORS_H

#include <stddef.h>

typedef struct cdx_error {
    int status;        /* the HTTP status answered with this code */
    const char *code;  /* stable, upper case, e.g. "DOCUMENT_NOT_FOUND" */
    const char *title; /* the problem type in a few words, the same for every answer */
} cdx_error_t;

/* The entry of code, or NULL when code (NULL allowed) is not in the table. */
const cdx_error_t *cdx_error_find(const char *code);

/* The whole table, grouped by where the problem is found; *n receives
 * its length. */
const cdx_error_t *cdx_error_table(size_t *n);

#endif
