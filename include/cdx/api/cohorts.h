/*
 * cohorts: POST /v1/cohorts and GET /v1/cohorts/{id}, the research
 * institutions' counts of persons matching a cohort definition.
 *
 * Responsible for: reading the definition (parsers/cohort.h) and the
 * breakdown asked for, evaluating it on a worker with a registry reader,
 * the answer with small counts suppressed (domain/cohort.h), keeping the
 * cohort's person set and refusing one too close to an earlier cohort of
 * the same institution, or one of the same persons asked with another
 * breakdown, in the same writer change as its audit record
 * (cohort.query), and answering only once that record is durable.
 * Not responsible for: what a criterion means (the registry's
 * evaluation), who holds the research role (the route table).
 *
 * The answer and the audit record hold counts, never persons.
 */
#ifndef CDX_API_COHORTS_H
#define CDX_API_COHORTS_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/api/routes.h"
#include "cdx/store/registry.h"

/* The answer of a cohort (JSON text, malloc'd): its id, the definition's
 * hash, the size, skipped values, the breakdown cells and, with two or
 * more dimensions ordered in dims, the cross-tabulation; each count below
 * min_cell (and not 0) written as "suppressed", and a cell that would be
 * the only suppressed one on its line suppressed with the line's smallest
 * other cell (complementary suppression).  Used by the server and by
 * `cdxgw cohort run`.  NULL when out of memory. */
char *cdx_cohort_answer(const char *id, const char *sha256, const cdx_cohort_eval_t *ev,
                        const cdx_cohort_cell_t *cells, size_t ncells, unsigned dims,
                        int64_t min_cell);

/* The breakdown dimensions of a comma-separated list of sex, age_band and
 * institution into *dims, with the order they were named in
 * (cdx_cohort_dims_order); CDX_EINVAL on another name. */
int cdx_cohort_dims_parse(const char *list, unsigned *dims);

/* The dimensions of dims in the order asked, joined by ',' ("sex,age_band";
 * "" for none): the breakdown a cohort is kept with (the breakdown guard,
 * domain/cohort.h).  Always terminates out. */
void cdx_cohort_dims_text(unsigned dims, char *out, size_t outlen);

/* Today as days since 1970-01-01 (UTC). */
int32_t cdx_cohort_today(void);

extern const cdx_route_t cdx_cohort_routes[];
extern const size_t cdx_cohort_nroutes;

#endif
