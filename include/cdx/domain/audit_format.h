/*
 * audit_format: an audit record as others read it: the JSON of
 * GET /v1/audit, a FHIR R4 AuditEvent, an RFC 5424 syslog line.
 *
 * Responsible for: mapping a record and its catalogue row (DICOM EventID,
 * EventTypeCode, the action it is) to those forms, with every ATNA field:
 * the institution and user, their network address, purpose of use, the
 * access decision, break-glass reason and consent, the document and the
 * keyed patient hash.
 * Not responsible for: reading the records (the store) or where the lines
 * go (the commands and handlers).
 *
 * Pure functions: any thread.
 */
#ifndef CDX_DOMAIN_AUDIT_FORMAT_H
#define CDX_DOMAIN_AUDIT_FORMAT_H

#include <jansson.h>

#include "cdx/base/buf.h"
#include "cdx/domain/audit_events.h"
#include "cdx/store/registry.h"

/* The FHIR AuditEvent.action of an event: "C" (an import), "R" (an
 * export, a read), "U" (a change of the patient index), "E" (a query, a
 * security alert). */
const char *cdx_audit_event_action(const cdx_audit_event_def_t *def);

/* The record as GET /v1/audit answers it: every field, absent ones as
 * null, with its DICOM codes.  A new reference, or NULL when out of
 * memory. */
json_t *cdx_audit_record_json(const cdx_audit_record_t *r);

/* The record as a FHIR R4 AuditEvent resource.  A new reference, or NULL
 * when out of memory. */
json_t *cdx_audit_record_fhir(const cdx_audit_record_t *r);

/* Appends the record as one RFC 5424 line (facility authpriv, severity by
 * outcome, MSGID the event, structured data "cdx-audit@32473" with the
 * ATNA fields), ending in "\n".  hostname "" is written "-".  Returns 0 or
 * the buffer's error. */
int cdx_audit_record_syslog(const cdx_audit_record_t *r, const char *hostname, cdx_buf_t *out);

/* A UTC time key "YYYYMMDDHHMMSS" (cdx_time_key) as the prefix the
 * records' times compare against ("YYYY-MM-DDTHH:MM:SS"). */
void cdx_audit_ts_of_key(const char *key, char out[24]);

#endif
