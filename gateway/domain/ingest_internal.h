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

/* A consent document (cdx/domain/consent.h): sets out->consent_kind and
 * out->consent, or rejects the document (422 CONSENT_INVALID) when it is
 * one that cannot be read as a consent. */
void cdx_ingest_read_consent(const cdx_consent_policies_t *policies, void *xml_doc,
                             cdx_ingest_t *out);

/* Rejects a consent document (403 CONSENT_FORBIDDEN) whose patient id is
 * not in the submitting institution's numbering. */
void cdx_ingest_check_consent_home(const cdx_submitter_t *sub, cdx_ingest_t *out);

/* After a document of len bytes: malloc_trim when the document was large
 * (CDX_INGEST_TRIM_BYTES) and the resident free memory has grown enough
 * since the last trim (ingest_memory.c).  Any thread. */
void cdx_ingest_release_memory(size_t len);

#endif
