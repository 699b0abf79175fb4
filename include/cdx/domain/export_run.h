/*
 * export_run: one research export, person by person, into a stream.
 *
 * Responsible for: reading each person of a cohort (birth year, sex, the
 * facts of the documents a cohort may read) through the registry's
 * interface, handing each to the writers of export.h in the format asked
 * for, and spooling the OMOP tables to temporary files (one per table,
 * unlinked at creation) so that the archive's members can name their
 * sizes: memory stays bounded by one person's row at a time.
 * Not responsible for: who may export which cohort (the API's owner check
 * and small-cell refusal, before this runs), the audit record, or sending
 * the bytes.
 *
 * Any one thread with its own registry reader.
 */
#ifndef CDX_DOMAIN_EXPORT_RUN_H
#define CDX_DOMAIN_EXPORT_RUN_H

#include <stdio.h>

#include "cdx/domain/export.h"
#include "cdx/store/registry.h"

typedef struct cdx_export_spec {
    const cdx_export_cohort_t *cohort; /* its persons, opted-out ones already left out */
    const unsigned char *key;          /* the research project's 32-byte key */
    cdx_export_mode_t mode;
    cdx_export_format_t format;
    int32_t today;          /* days since 1970-01-01: the index date of ages */
    const char *spool_dir;  /* where the OMOP tables are spooled; NULL: the system's */
    int64_t mtime;          /* the archive members' time */
    /* Called every few hundred persons and at the end; may be NULL. */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
} cdx_export_spec_t;

typedef struct cdx_export_counts {
    int64_t persons; /* written */
    int64_t facts;   /* written */
    int64_t dropped; /* facts left out: a local code system, a code out of the plain set */
} cdx_export_counts_t;

/* Writes the export of spec to out.  Returns 0 with *counts, or an error
 * (CDX_EIO for a write that failed, the registry's errors). */
int cdx_export_run(cdx_registry_t *reg, const cdx_export_spec_t *spec, FILE *out,
                   cdx_export_counts_t *counts);

/* A new temporary file in dir (NULL: TMPDIR or /tmp), unlinked at once so
 * it goes with its last stream.  NULL on failure. */
FILE *cdx_export_spool(const char *dir);

#endif
