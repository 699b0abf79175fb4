/* ingest_internal: the steps of the ingest pipeline that live in files of
 * their own (private to gateway/domain/). */
#ifndef CDX_DOMAIN_INGEST_INTERNAL_H
#define CDX_DOMAIN_INGEST_INTERNAL_H

#include "cdx/domain/ingest.h"
#include "cdx/parsers/extract.h"

/* Fills out->demog, out->blocks, out->demog_summary and out->match from
 * the patient of the extracted header.  A patient with nothing to match
 * by (no name and no birth date) is left with out->match.demog NULL: it
 * links by identifiers only.  Returns 0 or CDX_ENOMEM. */
int cdx_ingest_patient_match(const cdx_doc_meta_t *m, const cdx_match_thresholds_t *t,
                             cdx_ingest_t *out);

#endif
