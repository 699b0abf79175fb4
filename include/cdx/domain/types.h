/*
 * types: the vocabulary every room shares: institutions and their roles,
 * audit events, documents ready to store and their facts.
 *
 * Plain data, no behaviour: modules that do not store anything use these
 * without depending on the store.
 */
#ifndef CDX_DOMAIN_TYPES_H
#define CDX_DOMAIN_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Roles are a bit set. */
enum {
    CDX_ROLE_SUBMIT = 1u << 0,
    CDX_ROLE_QUERY = 1u << 1,
    CDX_ROLE_RESEARCH = 1u << 2,
    CDX_ROLE_ADMIN = 1u << 3,
    /* Another gateway: with submit, it may hand in documents whose
     * custodian is another institution (filed under that custodian). */
    CDX_ROLE_RELAY = 1u << 4,
    CDX_ROLE_ALL = CDX_ROLE_SUBMIT | CDX_ROLE_QUERY | CDX_ROLE_RESEARCH | CDX_ROLE_ADMIN |
                   CDX_ROLE_RELAY,
};

#define CDX_INST_MAX_CREDS 8
#define CDX_INST_MAX_ID_ROOTS 8

/* Per-institution ingest policy bits. */
enum {
    /* Schema (XSD) errors reject the document instead of being warnings. */
    CDX_POLICY_SCHEMA_STRICT = 1u << 0,
    /* The submitter may be the document's author organization, not only
     * its custodian. */
    CDX_POLICY_AUTHOR_OK = 1u << 1,
};

typedef struct cdx_credential {
    int spki;         /* 0: SHA-256 of the DER certificate; 1: of its SubjectPublicKeyInfo */
    char sha256[65];  /* lower-case hex */
} cdx_credential_t;

typedef struct cdx_institution {
    char oid[128];            /* e.g. "2.25.1234..." (no "urn:oid:" prefix) */
    char name[256];           /* display name, UTF-8 */
    unsigned roles;           /* CDX_ROLE_* */
    char endpoint[512];       /* delivery URL, "" when none */
    unsigned policy;          /* CDX_POLICY_* */
    size_t ncreds;
    cdx_credential_t creds[CDX_INST_MAX_CREDS];
    /* OIDs besides its own under which the institution numbers its
     * documents (an EMR vendor's arc, a former OID): a ClinicalDocument/id
     * or setId root must be the institution's OID, an OID under it, a UUID,
     * or one of these (or an OID under one).  No two institutions share
     * one. */
    size_t nid_roots;
    char id_roots[CDX_INST_MAX_ID_ROOTS][128];
} cdx_institution_t;

/* One audit record.  The registry appends it to a hash chain (each row
 * carries the SHA-256 of the previous row's hash and its own fields), in
 * the same transaction as the change it records.  Strings may be NULL. */
typedef struct cdx_audit_event {
    const char *event;       /* a name of the catalogue, cdx/domain/audit_events.h */
    const char *actor_oid;   /* institution acting, or "local:<command>" */
    const char *actor_user;  /* X-CDX-User as asserted, may be NULL */
    const char *purpose;     /* X-CDX-Purpose, may be NULL */
    int outcome;             /* DICOM outcome, a cdx_audit_outcome_t (CDX_AUDIT_SUCCESS, ...) */
    const char *patient_key; /* keyed hash of the patient id, never the id itself */
    const char *document_id; /* registry document id */
    const char *detail;      /* short machine-readable detail (codes, not content) */
    /* What an IHE ATNA record also carries about an access.  NULL when not
     * known or not relevant. */
    const char *peer;     /* the client's network address ("192.0.2.7"), NULL for local */
    const char *decision; /* the access decision's reason name (cdx_access_reason_name) */
    const char *reason;   /* X-CDX-Reason as asserted (break-glass), never patient data by contract */
    const char *consent;  /* the consent record the access relied on ("consent:ID"), or NULL */
} cdx_audit_event_t;

/* One clinical fact as the registry indexes it (borrowed strings). */
typedef struct cdx_fact_row {
    const char *kind; /* "problems", "medications", ... */
    const char *code_system;
    const char *code;
    const char *display;
    const char *value;
    int has_number;
    double number;
    const char *unit;
    const char *time_low;
    const char *time_high;
    const char *status;
    int negated;      /* recorded with negationInd="true": states an absence */
    const char *data; /* what the columns do not hold, as JSON (cdx/domain/facts.h) */
    const char *json; /* the whole fact as compact JSON, when the extractor made the row; NULL
                       * in rows read back from the registry (cdx_fact_json rebuilds it) */
    /* The byte lengths of code_system, code, display, value, unit,
     * time_low, time_high and status, in that order, when the row's maker
     * knew them (cdx_fact_rows_from_extract), so that the store binds them
     * without measuring; 0 when not known: the text's own length counts. */
    uint32_t text_len[8];
} cdx_fact_row_t;

struct cdx_demog;
struct cdx_match_thresholds;

/* What the patient index matches a document's patient by (see
 * cdx/domain/match.h): its match keys, blocking keys, a summary of its
 * demographics for people to read, and the thresholds to decide with.
 * Borrowed for the duration of the store call. */
typedef struct cdx_patient_match {
    const struct cdx_demog *demog;  /* NULL: no demographics to match by */
    const char (*blocks)[64];       /* blocking keys (CDX_DEMOG_BLOCK_LEN each) */
    size_t nblocks;
    const char *summary_json;       /* may be NULL */
    const struct cdx_match_thresholds *thresholds;
} cdx_patient_match_t;

/* A document ready to store, as the ingest pipeline produced it.  All
 * pointers are borrowed for the duration of the call. */
typedef struct cdx_doc_record {
    const char *unique_id;     /* ClinicalDocument/id as root or root^extension */
    const char *set_id;        /* setId as root or root^extension, may be NULL */
    int version;               /* versionNumber, 1 when absent */
    const char *replaces;      /* unique id of the RPLC parent, or NULL */
    const char *submitter_oid; /* institution that sent it */
    const char *custodian_oid;
    const char *author_oid;
    const char *type_code;
    const char *type_system;
    const char *class_code;    /* the document's class code when extracted, else NULL */
    const char *title;
    const char *creation_time;  /* ISO 8601 */
    const char *service_start;
    const char *service_stop;
    const char *confidentiality;
    const char *language;
    const char *patient_root; /* the canonical patient id */
    const char *patient_ext;
    const char *const *patient_ids; /* root, extension pairs, all of them */
    size_t npatient_ids;
    const unsigned char *patient_national; /* per id: 1 when national (stored hashed); may be NULL */
    const cdx_patient_match_t *match;      /* NULL: no demographic matching */
    const char *patient_key; /* keyed hash of the canonical patient id, for audit */
    const char *sha256;      /* of the original bytes */
    const void *original;
    size_t size;
    const char *normalized_sha256;
    const void *normalized;
    size_t normalized_size;
    /* original and normalized in their stored form (cdx_registry_pack),
     * made on the pipeline's thread; NULL: the store packs them itself */
    const void *original_packed;
    size_t original_packed_size;
    const void *normalized_packed;
    size_t normalized_packed_size;
    const void *fact_extras_packed; /* fact_rows' extras, cdx_registry_pack_fact_extras */
    size_t fact_extras_packed_size;
    const char *mapping_version;
    const char *meta_json;     /* the document entry */
    const char *facts_json;    /* {"problems":[...], ...}, read when fact_rows is NULL */
    const cdx_fact_row_t *fact_rows; /* the same facts, ready to bind */
    size_t nfact_rows;
    const char *warnings_json; /* issues kept with the document */
} cdx_doc_record_t;

#endif
