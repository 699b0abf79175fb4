/*
 * documents: the HTTP handlers of /v1/documents and their routes.
 *
 * Responsible for: POST (ingest through the pipeline on a worker thread,
 * then the registry writer; the answer only after the commit is durable,
 * with an audit record for every acceptance and rejection) and the reads
 * (original or normalized bytes with an ETag, the metadata entry), each
 * read audited before anything is disclosed, a read of an unknown id
 * before its 404 (a read refused for its role is audited by the app's
 * deny hook).
 * Not responsible for: the pipeline (ingest) or storage (registry).
 */
#ifndef CDX_DOCUMENTS_H
#define CDX_DOCUMENTS_H

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_document_routes[];
extern const size_t cdx_document_nroutes;

#endif
