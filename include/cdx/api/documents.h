/*
 * documents: the HTTP handlers of /v1/documents and their routes.
 *
 * Responsible for: POST (ingest through the pipeline on a worker thread,
 * then the registry writer; the answer only after the commit is durable,
 * with an audit record for every acceptance and rejection, a declared
 * purpose of use the table does not know among them) and the reads
 * (original or normalized bytes with an ETag, the metadata entry), which
 * go through the disclosure sequence (disclose.h): decided, read, audited
 * and only then answered, a read of an unknown id audited before its 403
 * CONSENT_REQUIRED (the answer of a refused one) and a read refused for
 * its role, purpose, consent or confidentiality audited too.
 * Not responsible for: the pipeline (ingest), storage (registry), or the
 * order of a disclosure's steps (disclose).
 */
#ifndef CDX_DOCUMENTS_H
#define CDX_DOCUMENTS_H

#include <jansson.h>

#include "cdx/api/routes.h"
#include "cdx/store/registry.h"

extern const cdx_route_t cdx_document_routes[];
extern const size_t cdx_document_nroutes;

/* The registry entry of a stored document as GET
 * /v1/documents/{id}/metadata answers it (the extracted metadata with id,
 * status, hashes, mapping version and submitter); NULL when out of
 * memory.  Shared with the document query (query.h). */
json_t *cdx_document_metadata_json(const cdx_doc_row_t *row);

#endif
