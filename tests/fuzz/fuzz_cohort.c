/* libFuzzer target: the cohort definition parser (cdx_cohort_parse).
 *
 * Oracles besides the sanitizers: a refusal names a JSON path starting
 * "$" and a reason; an accepted definition stays within the limits (node
 * count, width of each combination, codes of each criterion) and every
 * fact criterion names at least one code system and one code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/parsers/cohort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_cohort: check failed at %s:%d: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static size_t walk(const cdx_cohort_node_t *n, int depth)
{
    CHECK(depth <= CDX_COHORT_MAX_DEPTH + 1);
    size_t count = 1;
    CHECK(n->nkids <= CDX_COHORT_MAX_WIDTH);
    if (n->kind == CDX_COHORT_NOT)
        CHECK(n->nkids == 1);
    for (size_t i = 0; i < n->nkids; i++)
        count += walk(n->kids[i], depth + 1);
    if (n->kind == CDX_COHORT_FACT) {
        CHECK(n->fact.nsystems >= 1 && n->fact.ncodes >= 1);
        CHECK(n->fact.ncodes <= CDX_COHORT_MAX_CODES);
        CHECK(n->fact.min_count >= 1);
        CHECK(!n->fact.has_value || n->fact.unit != NULL);
        for (size_t i = 0; i < n->fact.ncodes; i++)
            CHECK(strlen(n->fact.codes[i]) <= CDX_COHORT_MAX_CODE);
        if (n->fact.anchor != NULL)
            count += walk(n->fact.anchor, depth + 1);
    }
    if (n->kind == CDX_COHORT_SEX)
        CHECK(n->sex == 'M' || n->sex == 'F');
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    int rc = cdx_cohort_parse((const char *)data, size, &def, &err);
    if (rc == 0) {
        CHECK(def != NULL && def->root != NULL);
        size_t n = walk(def->root, 1);
        CHECK(n == def->nnodes);
        CHECK(n <= CDX_COHORT_MAX_NODES);
        cdx_cohort_def_free(def);
    } else {
        CHECK(rc == CDX_EINVAL || rc == CDX_ENOMEM);
        CHECK(def == NULL);
        if (rc == CDX_EINVAL) {
            CHECK(err.path[0] == '$');
            CHECK(err.detail[0] != '\0');
        }
    }
    return 0;
}
