/*
 * extract: header metadata and clinical facts out of a parsed CDA document.
 *
 * Responsible for: reading an XDS-style document entry (identity, type,
 * times, confidentiality, patient, author, custodian, recipients) from the
 * CDA header, and one flat fact per clinical statement of the problem,
 * medication, allergy, result, vital sign, procedure, immunization and
 * encounter sections, whatever the dialect: the canonical form
 * (docs/CANONICAL.md), raw C-CDA R1.1/R2.1, older CCD/C32 (HITSP, IHE PCC)
 * and Korean K-CDA documents.  Sections are found by templateId or by their
 * LOINC code, nested sections included.  Whatever could not be read is
 * reported as a warning in the caller's diag (rules "EXTRACT-*"), never as
 * a failure.
 * Not responsible for: parsing bytes (cdx_xml_parse), validation,
 * normalization, storage, or the document's size and hash (the caller
 * fills those fields).
 *
 * Ownership: every string in the structures is heap-allocated UTF-8 owned
 * by the cdx_extract_t and freed by cdx_extract_cleanup(); NULL means the
 * document does not say.  The JSON functions return new references.
 * Thread safety: no global state; the extraction reads the document only,
 * so any number of threads may extract from distinct documents (or the
 * same one) at once.  A cdx_extract_t has one owner.
 */
#ifndef CDX_EXTRACT_H
#define CDX_EXTRACT_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>

#include "cdx/parsers/diag.h"

typedef enum {
    CDX_FACT_PROBLEM,
    CDX_FACT_MEDICATION,
    CDX_FACT_ALLERGY,
    CDX_FACT_RESULT,
    CDX_FACT_VITAL_SIGN,
    CDX_FACT_PROCEDURE,
    CDX_FACT_IMMUNIZATION,
    CDX_FACT_ENCOUNTER,
    CDX_FACT_KINDS
} cdx_fact_kind_t;

/* "problems", "medications", "allergies", "results", "vital_signs",
 * "procedures", "immunizations", "encounters"; "unknown" out of range. */
const char *cdx_fact_kind_name(cdx_fact_kind_t k);

/* An instance identifier (II): root OID or UUID, extension, and for
 * patient ids the assigning authority's name. */
typedef struct cdx_extract_id {
    char *root;
    char *extension;
    char *authority; /* @assigningAuthorityName */
} cdx_extract_id_t;

/* A coded value (CD/CE/CS). */
typedef struct cdx_extract_code {
    char *code;
    char *system; /* code system OID */
    char *display;
} cdx_extract_code_t;

/* A header timestamp: the raw HL7 TS and its ISO 8601 form. */
typedef struct cdx_extract_time {
    char *raw;     /* @value as written */
    char *iso;     /* NULL when raw is absent or malformed */
    int precision; /* significant digits (see cdx_ts_parse), 0 when iso is NULL */
} cdx_extract_time_t;

/* relatedDocument: RPLC (replaces), APND (appends), XFRM (transforms). */
typedef struct cdx_extract_related {
    char *type_code;
    cdx_extract_id_t id; /* parentDocument/id */
} cdx_extract_related_t;

typedef struct cdx_extract_recipient {
    char *person_name; /* informationRecipient/name, parts joined by spaces */
    cdx_extract_id_t org_id;
    char *org_name;
} cdx_extract_recipient_t;

typedef struct cdx_doc_meta {
    cdx_extract_id_t id;
    char *unique_id; /* "root^extension", or the root alone */
    cdx_extract_id_t set_id;
    int version_number; /* 1 when absent */
    cdx_extract_related_t *related;
    size_t nrelated;
    char *replaces_id; /* display form of the RPLC parent, NULL when none */
    cdx_extract_code_t type;
    char *title;
    cdx_extract_time_t creation_time;
    cdx_extract_time_t service_start; /* documentationOf/serviceEvent/effectiveTime/low */
    cdx_extract_time_t service_stop;  /* .../high */
    cdx_extract_code_t confidentiality;
    char *language_code;
    char *realm_code;
    cdx_extract_id_t *template_ids; /* root and extension */
    size_t ntemplate_ids;

    /* First author's organization. */
    cdx_extract_id_t author_institution_id;
    char *author_institution_name;
    cdx_extract_time_t author_time;

    cdx_extract_id_t custodian_id;
    char *custodian_name;

    /* recordTarget/patientRole: every id, the first is the canonical one. */
    cdx_extract_id_t *patient_ids;
    size_t npatient_ids;
    char *patient_family;
    char **patient_given;
    size_t npatient_given;
    char *patient_name; /* the first name's parts joined by spaces, or its text */
    cdx_extract_time_t patient_birth_time;
    cdx_extract_code_t patient_gender;
    char *patient_street; /* the first streetAddressLine of the first addr */
    char *patient_city;
    char *patient_state;
    char *patient_postal_code;
    char *patient_country;
    char *patient_phone; /* @value of the first telecom that is a phone (tel:) */
    cdx_extract_code_t *patient_race; /* raceCode, then sdtc:raceCode */
    size_t npatient_race;
    cdx_extract_code_t *patient_ethnicity; /* ethnicGroupCode, then sdtc:ethnicGroupCode */
    size_t npatient_ethnicity;

    cdx_extract_recipient_t *recipients;
    size_t nrecipients;

    cdx_extract_time_t legal_authenticator_time;

    /* Filled by the caller (not read from the document); size 0 and hash
     * NULL until then.  hash is heap text freed by cdx_extract_cleanup(). */
    uint64_t size;
    char *hash;
} cdx_doc_meta_t;

typedef struct cdx_fact {
    cdx_fact_kind_t kind;
    cdx_fact_kind_t section; /* kind of the section the entry sits in */
    char *section_code;      /* that section's LOINC code, when coded */
    char *section_title;     /* that section's title text, when it has one */
    char *location;          /* XPath-like location of the clinical statement */

    /* What the fact is about: the diagnosis for problems, the drug for
     * medications, the substance for allergies, the test for results and
     * vital signs, the procedure, the vaccine, the encounter type. */
    char *code_system;
    char *code;
    char *display_name; /* @displayName, else originalText, else the narrative */
    char *original_text;
    char *null_flavor; /* of the code, when it has one instead of a value */

    /* The observation's value in text form, and numerically when PQ, INT
     * or REAL (has_number set). */
    char *value_type; /* xsi:type without prefix, e.g. "PQ", "CD" */
    char *value;
    int has_number;
    double number;
    char *unit;          /* as normalized (UCUM when the mapping knows the spelling) */
    char *unit_original; /* the unit as the document wrote it (see cdx_extract) */
    char *ref_low;
    char *ref_high;
    char *ref_text;
    char *interpretation; /* interpretationCode/@code */

    char *time_low;  /* raw HL7 TS: effectiveTime/low, or effectiveTime/@value */
    char *time_high; /* raw HL7 TS: effectiveTime/high */
    char *status;    /* status observation's value when present, else statusCode/@code */
    int negated;     /* negationInd="true" */

    char *extras; /* kind-specific details as a JSON object text, never NULL on success
                     (NULL from cdx_extract_lean, which leaves the text out) */
    void *extras_obj; /* the same as a json_t (owned; NULL for "{}"), so that
                         whoever writes the fact as JSON (cdx_extract_facts_json,
                         the registry's fact rows) need not parse the text back */
} cdx_fact_t;

typedef struct cdx_extract {
    cdx_doc_meta_t meta;
    cdx_fact_t *facts;
    size_t nfacts;
} cdx_extract_t;

/* Fills out (which needs no initialization and is overwritten) from doc.
 * Returns 0 (out then owned by the caller: cdx_extract_cleanup), CDX_EINVAL
 * when the root is neither a ClinicalDocument nor a lone section (an
 * excerpt: facts only, with an EXTRACT-FRAGMENT warning), or CDX_ENOMEM
 * (out then holds nothing to free).  Things present but unreadable (a malformed time, an
 * entry with no clinical statement) are warnings in d, which may be NULL.
 *
 * Rules a reader of the facts can rely on:
 * - a procedure statement inside a results or vital signs section (a
 *   result organizer's component, or an entry) is a procedure fact whose
 *   section is that results section, unless it carries a value (vendors
 *   who use procedure for a measured result);
 * - a result or vital sign observation that is itself a null flavor
 *   (nullFlavor="NI", "UNK", ...) and has no value is skipped: it states
 *   nothing, and a fact for it would read as a result with no value and no
 *   flag;
 * - unit is the unit of the document the facts are read from (after
 *   normalization: UCUM where the mapping knows the spelling);
 *   unit_original is the document's own spelling, read from a PQ
 *   translation whose codeSystemName is "unit as sent" (which the
 *   normalization adds when it rewrites a value's unit), else the same as
 *   unit;
 * - section, section_code and section_title name the section the entry
 *   sits in, so that the same statement listed in two sections can be told
 *   apart and merged. */
int cdx_extract(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d);

/* cdx_extract without each fact's extras as text (extras stays NULL;
 * extras_obj holds them, NULL when there are none): for callers that
 * write the facts as JSON once (the ingest pipeline writes its fact rows
 * straight from the extraction, cdx/domain/facts.h). */
int cdx_extract_lean(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d);

/* Frees everything out holds and zeroes it; safe on a zeroed struct. */
void cdx_extract_cleanup(cdx_extract_t *x);

/* The document entry as a JSON object (absent fields left out), or NULL on
 * allocation failure. */
json_t *cdx_extract_meta_json(const cdx_doc_meta_t *m);

/* {"problems":[...], "medications":[...], ... } with all eight keys always
 * present, each fact an object (absent fields left out, extras embedded as
 * an object), or NULL on allocation failure.  The reference form of the
 * facts: the registry's fact rows, written without it, are its text byte
 * for byte (tests/unit/domain/test_facts.c holds them to it). */
json_t *cdx_extract_facts_json(const cdx_extract_t *x);

/* HL7 TS (YYYY[MM[DD[HH[MM[SS[.F+]]]]]][+|-HHMM]) to ISO 8601:
 * 2024, 2024-01, 2024-01-05, 2024-01-05T09, 2024-01-05T09:30,
 * 2024-01-05T09:30:00.123, each with the offset (+09:00) when present and
 * a time of day is given (an offset on a date alone is checked and
 * dropped: ISO 8601 dates carry none).  precision is the number of
 * significant digits: 4 (year), 6, 8, 10, 12, 14 (second), plus one per
 * fractional digit.  Returns 0, CDX_EINVAL for a malformed or impossible
 * timestamp (iso then ""), or CDX_ERANGE when isolen is too small
 * (40 bytes always suffice). */
int cdx_ts_parse(const char *hl7ts, char *iso, size_t isolen, int *precision);

#endif
