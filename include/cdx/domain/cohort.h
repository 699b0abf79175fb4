/*
 * cohort: the disclosure rules of research cohorts.
 *
 * Responsible for: small-cell suppression (a count between 1 and
 * research_min_cell - 1 is not disclosed), the differencing guard (two
 * cohorts of one institution whose person sets differ by at least 1 and
 * fewer than the threshold persons would single those persons out), the
 * breakdown guard (a person set keeps the breakdown it was first answered
 * with), the repeat rule (the same person set asked again with the same
 * breakdown gets the earlier answer), the symmetric difference of two
 * person sets, and age bands.  Pure, any thread.
 * Not responsible for: parsing definitions (parsers/cohort.h), evaluating
 * them or keeping person sets (the registry).
 */
#ifndef CDX_DOMAIN_COHORT_H
#define CDX_DOMAIN_COHORT_H

#include <stddef.h>
#include <stdint.h>

/* The lowest research_min_cell the gateway accepts, and its default. */
#define CDX_COHORT_MIN_CELL_FLOOR   5
#define CDX_COHORT_MIN_CELL_DEFAULT 11

/* 1 when count must be reported as suppressed under min_cell. */
int cdx_cohort_suppressed(int64_t count, int64_t min_cell);

/* 1 when a symmetric difference of `difference` persons between two
 * cohorts of one institution is refused under threshold: at least 1 and
 * fewer than threshold (the same set again is no difference). */
int cdx_cohort_too_close(int64_t difference, int64_t threshold);

/* 1 when a person set that an institution has already had answered with
 * breakdown `earlier` must not be answered with breakdown `asked`: both
 * name dimensions (a comma-separated list in the order asked, "" for the
 * size alone) and they differ.  Two answers of one set with different
 * breakdowns, or with one breakdown in two orders (complementary
 * suppression may then hide other cells), give two views of one table
 * whose suppressed cells can be had by subtraction, as a sex marginal
 * less a sex by age band line.  The size alone is part of every answer,
 * so a set answered with the size alone is free to get any breakdown
 * once, and a size-only request is always answered.  NULL is "". */
int cdx_cohort_breakdown_fixed(const char *earlier, const char *asked);

/* 1 when a person set that an institution has already had answered with
 * breakdown `earlier` and now asks for with breakdown `asked` is answered
 * with the earlier answer, counts and suppression as they were, instead
 * of being counted again: the same dimensions in the same order, or the
 * size alone both times.  Counted again, the same set could come out a
 * little different (a birthday moves a person to another age band, a new
 * document adds an institution) and the two answers compared would tell
 * of those few persons.  NULL is "". */
int cdx_cohort_repeats(const char *earlier, const char *asked);

/* The symmetric difference of two ascending sets, counted up to stop (the
 * count returned is min(true count, stop)). */
int64_t cdx_cohort_symdiff(const int64_t *a, size_t na, const int64_t *b, size_t nb, int64_t stop);

/* The ten-year band of an age ("0-9", ..., "80-89", "90+"), or "unknown"
 * for a negative age. */
const char *cdx_cohort_age_band(int age);

/* Whole years between birth and at, both YYYYMMDD as integers; -1 when
 * birth is 0 or after at. */
int cdx_cohort_age(int32_t birth_ymd, int32_t at_ymd);

#endif
