/*
 * cohort_export: GET /v1/cohorts/{id}/export, a research institution's
 * cohort as de-identified records (NDJSON, CSV or OMOP CDM tables in a
 * tar archive), and the steps `cdxgw cohort export` shares with it.
 *
 * Responsible for: the export's checks in order (the cohort is the
 * institution's own: another's is not found; a cohort whose size is
 * suppressed is refused; the institution has a research project), the
 * project's key read for the one export and wiped after, running the
 * export into a spool file on the worker (domain/export_run.h), the audit
 * record (cohort.export) through the disclosure sequence before any byte
 * leaves, and streaming the spool out (cdx_respond_stream).
 * Not responsible for: what leaves of a person (domain/export.h), which
 * persons (the stored cohort less opt-outs, store).
 */
#ifndef CDX_API_COHORT_EXPORT_H
#define CDX_API_COHORT_EXPORT_H

#include <stdio.h>

#include "cdx/api/routes.h"
#include "cdx/conf/config.h"
#include "cdx/domain/export_run.h"

extern const cdx_route_t cdx_cohort_export_routes[];
extern const size_t cdx_cohort_export_nroutes;

/* What one export did, or why it was refused. */
typedef struct cdx_cohort_export {
    cdx_export_format_t format;
    cdx_export_mode_t mode;
    char sha256[65];
    char owner[128];
    int64_t opted_out;
    cdx_export_counts_t counts;
    int status;       /* refused: 404 or 403; 0 otherwise */
    const char *code; /* refused: COHORT_NOT_FOUND, COHORT_TOO_SMALL, EXPORT_NOT_CONFIGURED */
} cdx_cohort_export_t;

/* Exports cohort uid of owner (NULL: any institution's, offline) in
 * format to out, with cfg's research_projects_file, research_min_cell and
 * data_dir (the OMOP spool).  Returns 0, CDX_EDENIED with x->status and
 * x->code set when refused, or an error (err says which).  progress may
 * be NULL. */
int cdx_cohort_export_run(cdx_registry_t *reg, const cdx_config_t *cfg, const char *uid,
                          const char *owner, cdx_export_format_t format, FILE *out,
                          void (*progress)(void *arg, size_t done, size_t total), void *arg,
                          cdx_cohort_export_t *x, char *err, size_t errlen);

/* The audit detail of x (done or refused): codes and counts only. */
void cdx_cohort_export_detail(const cdx_cohort_export_t *x, char *out, size_t n);

#endif
