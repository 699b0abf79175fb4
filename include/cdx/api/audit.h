/*
 * audit (api): the audit trail over HTTP: GET /v1/audit/key (the public key
 * that verifies the trail's signed checkpoints), GET /v1/audit (the
 * administrators' query) and GET /v1/patients/{ROOT|EXT}/access-log (who
 * read a patient's records, for the home institution of the id).
 *
 * Responsible for: their handlers, parameters and routes; the reads of the
 * trail go through the disclosure sequence, so each is audited itself.
 * Not responsible for: the trail (the store), the record's forms
 * (domain/audit_format.c).
 */
#ifndef CDX_API_AUDIT_H
#define CDX_API_AUDIT_H

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_audit_routes[];
extern const size_t cdx_audit_nroutes;

#endif
