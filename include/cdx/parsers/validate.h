/*
 * validate: is a parsed document an acceptable CDA R2 document?
 *
 * Responsible for: three layers of checks on a document that cdx_xml_parse()
 * already accepted, each adding located issues to a diag:
 *   1. the project's own CDA R2 structure checks (rules CDA-001 ...), in C;
 *   2. XSD validation against the built-in CDA R2 schema (rule XSD), where
 *      any xsi:schemaLocation in the document is ignored;
 *   3. profile rule sets (mappings/profiles/<name>.xsl, XSLT 1.0), chosen by
 *      the document's templateIds through mappings/profiles/profiles.conf.
 * and the verdict that rejects a document (first match wins):
 *   422 CDA_SCHEMA_INVALID  wrong root or namespace, an XInclude element, or
 *                           XSD errors under CDX_SCHEMA_STRICT;
 *   422 CDA_REQUIRED_FIELD  a layer-1 error (missing header part, document
 *                           id not an OID/UUID, no patient id, ...);
 *   422 CDA_PROFILE_INVALID an error from a profile rule set.
 * The rule catalogue is docs/VALIDATION.md.
 * Not responsible for: parsing (xml), transformation (normalize), whether
 * the sender may submit for the custodian (gateway).
 *
 * A validator is immutable once built: cdx_validate() may run on several
 * threads at once with the same validator (each call has its own schema
 * validation and transformation contexts).  Issues never quote patient
 * data: values from the document are left out of messages.
 */
#ifndef CDX_VALIDATE_H
#define CDX_VALIDATE_H

#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>

#include "cdx/parsers/diag.h"

typedef struct cdx_validator cdx_validator_t;

typedef enum { CDX_SCHEMA_STANDARD = 0, CDX_SCHEMA_STRICT = 1 } cdx_schema_policy_t;

/* At most this many XSD errors become issues; the rest are counted in one
 * closing issue. */
#define CDX_VALIDATE_MAX_XSD_ISSUES 50

/* Builds a validator.  Call after cdx_xml_global_init() and
 * cdx_xslt_global_init(), at start-up, before cdx_xml_seal().
 * profiles_dir: the folder holding profiles.conf and the rule sets (NULL:
 * no profile layer).  xsd_path: the CDA schema (CDA.xsd with SDTC), or NULL
 * to skip the XSD layer; its folder is allowed to the entity loader
 * (cdx_xml_allow_dir) so that its xs:include chain can be read.
 * Returns 0, or CDX_ECONFIG / CDX_ENOMEM with the reason in err. */
int cdx_validator_new(const char *profiles_dir, const char *xsd_path, cdx_validator_t **out,
                      char *err, size_t errlen);
void cdx_validator_free(cdx_validator_t *v);

/* Number of profile rule sets compiled (for start-up logging and tests). */
size_t cdx_validator_profile_count(const cdx_validator_t *v);

/* Time spent in each layer by one cdx_validate_timed() call. */
typedef struct cdx_validate_timing {
    uint64_t structure_ns; /* layer 1 */
    uint64_t schema_ns;    /* layer 2 (0 without a schema) */
    uint64_t profile_ns;   /* layer 3 */
    unsigned profiles_run; /* how many rule sets applied to the document */
} cdx_validate_timing_t;

/* Validates doc and adds issues (and possibly a verdict) to d.  Returns 0
 * when validation ran, whether or not the document was rejected; a
 * negative error code when it could not run (out of memory, a schema
 * validation internal error, a rule set that failed to apply), with an
 * issue saying so.  Thread-safe for a shared validator. */
int cdx_validate(const cdx_validator_t *v, xmlDocPtr doc, cdx_schema_policy_t policy,
                 cdx_diag_t *d);

/* Same, filling *timing when it is not NULL. */
int cdx_validate_timed(const cdx_validator_t *v, xmlDocPtr doc, cdx_schema_policy_t policy,
                       cdx_diag_t *d, cdx_validate_timing_t *timing);

/* An ISO OID in dotted form: first arc 0-2, at least two arcs, no empty arc
 * and no leading zero, at most 128 characters. */
int cdx_validate_is_oid(const char *s);

/* A UUID in 8-4-4-4-12 hexadecimal form (either case). */
int cdx_validate_is_uuid(const char *s);

/* An HL7 v3 TS literal: YYYY[MM[DD[HH[MM[SS[.S{1,6}]]]]]] with an optional
 * +/-HHMM offset after a date or a time, with every field in range. */
int cdx_validate_is_ts(const char *s);

#endif
