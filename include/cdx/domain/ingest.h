/*
 * ingest: the document pipeline, from request bytes to a storable record.
 *
 * Responsible for: hashing the original bytes, hardened parsing, the three
 * validation layers (CDA structure and XSD, profile rules, gateway policy:
 * the submitter is the custodian or, where its policy allows, the author
 * organization; the document id and setId roots are the submitter's; a
 * usable patient id; a parsable effective time),
 * normalization through the submitter's mapping, extraction of header
 * metadata and clinical facts from the normalized form, and the JSON the
 * registry and the HTTP answers carry.  Nothing is stored here.
 * Not responsible for: storage (registry, writer) or HTTP.
 *
 * A pipeline is built once at start-up and is immutable: cdx_ingest_run
 * may be called from many worker threads at once.
 */
#ifndef CDX_INGEST_H
#define CDX_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/consent.h"
#include "cdx/domain/match.h"
#include "cdx/domain/national.h"
#include "cdx/parsers/diag.h"
#include "cdx/store/registry.h"
#include "cdx/parsers/xml.h"

typedef struct cdx_pipeline cdx_pipeline_t;

typedef struct cdx_pipeline_options {
    const char *mappings_dir; /* holds profiles/, codemaps/, default/ and one folder per source */
    const char *xsd_path;     /* the CDA R2 (SDTC) schema, or NULL/"" for none */
    cdx_xml_limits_t xml_limits; /* node budget; max_nodes 0: the defaults */
    /* National id roots and their key (copied; NULL: none).  Every id of
     * the normalized document under a national root is rewritten to its
     * keyed hash before anything is extracted, serialized or hashed. */
    const cdx_national_t *national;
    /* Demographic matching thresholds (copied; NULL: the calibrated
     * defaults, cdx_match_default_thresholds). */
    const cdx_match_thresholds_t *match;
    /* The BPPC policies read as permit and deny (copied; NULL: none). */
    const cdx_consent_policies_t *consent_policies;
} cdx_pipeline_options_t;

int cdx_pipeline_new(const cdx_pipeline_options_t *opt, cdx_pipeline_t **out, char *err,
                     size_t errlen);
void cdx_pipeline_free(cdx_pipeline_t *pl);

/* Who submits: identity checks run when oid is not NULL. */
typedef struct cdx_submitter {
    const char *oid;
    unsigned policy;             /* CDX_POLICY_* */
    const char *const *id_roots; /* the institution's registered id roots (may be NULL) */
    size_t nid_roots;
} cdx_submitter_t;

/* Finds a registered institution by OID for cdx_ingest_run_owned: fills
 * *out (its strings must stay valid until the run returns) and returns 1,
 * or returns 0 when no institution has that OID. */
typedef struct cdx_owner_lookup {
    int (*find)(void *arg, const char *oid, cdx_submitter_t *out);
    void *arg;
} cdx_owner_lookup_t;

typedef struct cdx_ingest {
    cdx_diag_t diag;        /* verdict (status, code) and every issue */
    char sha256[65];        /* of the original bytes */
    size_t size;
    char *normalized;       /* canonical form, UTF-8 */
    size_t normalized_len;
    char normalized_sha256[65];
    /* The original and the normalized form as the registry stores them
     * (cdx_registry_pack), made on the pipeline's thread once the document
     * is accepted; NULL when not made (the registry then packs them). */
    void *original_packed, *normalized_packed, *fact_extras_packed;
    size_t original_packed_len, normalized_packed_len, fact_extras_packed_len;
    const char *mapping_version; /* static for the pipeline's life */
    char *meta_json;        /* the document entry */
    char *issues_json;      /* every issue, as an array */
    /* The facts, ready for the registry to bind, in one block
     * (cdx/domain/facts.h); cdx_fact_rows_join gives their text. */
    cdx_fact_row_t *fact_rows;
    size_t nfact_rows;
    /* Header fields the registry indexes, and the patient ids' texts: in
     * one block, strings (one free() for them all). */
    char *unique_id, *set_id, *replaces, *custodian_oid, *author_oid, *type_code, *type_system,
        *title, *creation_time, *service_start, *service_stop, *confidentiality, *language,
        *patient_root, *patient_ext, *custodian_name;
    char *strings;
    char *owner_oid; /* the institution the document is filed under, once identity passed */
    int version;
    char **patient_ids; /* root, extension pairs; national ones in their stored (hashed) form */
    size_t npatient_ids;
    unsigned char *patient_national; /* per id: 1 when its root is national */
    /* Demographic match keys of the patient (computed on the worker), and
     * what the registry's patient index is handed (points into this). */
    cdx_demog_t demog;
    char blocks[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    char *demog_summary; /* {"family":..,"given":[..],"birthDate":..,...}, names as written */
    cdx_patient_match_t match;
    size_t nfacts;
    size_t facts_by_kind[8];
    /* A consent document (cdx/domain/consent.h): its kind (0: not one) and
     * the record it becomes, stored with it. */
    int consent_kind;
    cdx_consent_t consent;
    /* The institutions the document is addressed to (informationRecipient,
     * cdx/domain/referral.h): OIDs. */
    char **recipients;
    size_t nrecipients;
    /* Microseconds per stage, for benchmarks and logs. */
    uint64_t us_parse, us_validate, us_normalize, us_extract;
} cdx_ingest_t;

/* Documents of at least this many bytes have their memory handed back to
 * the system (malloc_trim) once the pipeline is done with them, when the
 * allocator then holds at least CDX_INGEST_TRIM_FREE_BYTES free and the
 * resident memory beyond its blocks in use has grown by as much since the
 * last trim. */
#define CDX_INGEST_TRIM_BYTES      (256u * 1024u)
#define CDX_INGEST_TRIM_FREE_BYTES ((size_t)48 * 1024 * 1024)

/* Runs the pipeline.  Always fills out (cdx_ingest_cleanup frees it);
 * afterwards, for a document of CDX_INGEST_TRIM_BYTES or more, hands the
 * allocator's free memory back to the system (malloc_trim) when it holds
 * CDX_INGEST_TRIM_FREE_BYTES or more and its resident free memory has
 * grown by as much since the last trim.  Returns 0
 * when the document is acceptable, CDX_EPARSE when out->diag holds the
 * rejection, or another negative error (internal failure). */
int cdx_ingest_run(const cdx_pipeline_t *pl, const char *data, size_t len,
                   const cdx_submitter_t *sub, cdx_ingest_t *out);

/* The same for documents that come without a client certificate (cdxgw
 * import and validate): the document is filed under its custodian
 * organization, or, when the custodian has no id (nullFlavor), under its
 * author organization if lookup finds that institution with identity_policy
 * custodian_or_author; otherwise it is rejected (422 CUSTODIAN_NO_ID).  The
 * institution found is then held to the same id-root rule as a submitter
 * (its registered id roots come from lookup; an unknown institution has
 * none).  out->owner_oid names it on success.  lookup may be NULL (no
 * institution is known). */
int cdx_ingest_run_owned(const cdx_pipeline_t *pl, const char *data, size_t len,
                         const cdx_owner_lookup_t *lookup, cdx_ingest_t *out);
void cdx_ingest_cleanup(cdx_ingest_t *in);

/* Fills a registry record from an accepted ingest (pointers borrowed
 * from in and data). */
void cdx_ingest_record(const cdx_ingest_t *in, const char *submitter_oid, const char *data,
                       const char *patient_key, cdx_doc_record_t *rec);

/* The registry change that records an ingest's verdict: the document with
 * its audit record, or the rejection's audit record.  POST
 * /v1/documents and every other caller that stores through the writer use
 * these, so the rows written are the same whoever submits.  The caller
 * fills the inputs (all borrowed, alive until the change is applied); the
 * apply functions have the writer's signature (arg is the change), run on
 * the writer thread inside its savepoint, and fill the outputs. */
#define CDX_INGEST_MAX_RECIPIENTS 8

typedef struct cdx_ingest_change {
    const cdx_ingest_t *in;
    const char *body;        /* the document's bytes, as in was run on */
    const char *submitter;   /* the submitting institution's OID */
    const char *user;        /* the asserted user (X-CDX-User), or NULL */
    const char *peer;        /* the client's network address, or NULL (a local import) */
    const char *purpose;     /* PurposeOfUse of the request */
    const char *patient_key; /* keyed hash of the patient id, "" when none */
    /* The gateway (an institution with the relay role) that handed the
     * document in for its custodian, or NULL.  A relayed document is
     * recorded as such and is not referred on again. */
    const char *relay;
    /* 1: the document's addressees get deliveries (forward_referrals). */
    int refer;
    /* Outputs. */
    cdx_store_outcome_t outcome; /* apply_store: created, identical, conflict, forbidden */
    char uid[33];                /* apply_store: the document's registry id */
    char detail[160];            /* the audit record's detail */
    /* Referrals (apply_store, a new document only): the recipients a
     * delivery was created for, and those that are not registered. */
    size_t nreferred;
    size_t nunknown;
    char unknown[CDX_INGEST_MAX_RECIPIENTS][128];
    /* Subscriptions (apply_store, a new document only): the deliveries
     * created for subscribers of its person (cdx/domain/subscription.h). */
    size_t nsubscribed;
} cdx_ingest_change_t;

/* Stores an accepted document (cdx_registry_store_document) with its
 * document.ingest audit record; for a new document, a delivery
 * (cdx/store/outbox.h, reason referral) to each registered recipient
 * other than the submitter and the document's owner, in the same
 * transaction, or for a relayed one the relay that brought it. */
int cdx_ingest_apply_store(cdx_registry_t *reg, void *change);

/* The referrals of a new document (what cdx_ingest_apply_store does after
 * storing it), for callers that store by other means (`cdxgw import`):
 * c->in, c->submitter and c->uid are read; nreferred and unknown filled. */
int cdx_ingest_refer(cdx_registry_t *reg, cdx_ingest_change_t *c);

/* The deliveries the subscriptions of a new document's person cause
 * (cdx/domain/subscription.h; what cdx_ingest_apply_store does for every
 * new document), in the caller's transaction.  c->in, c->submitter,
 * c->relay and c->uid are read; nsubscribed filled. */
int cdx_ingest_subscriptions(cdx_registry_t *reg, cdx_ingest_change_t *c);

/* Appends the audit record of a rejection: security.alert (outcome 8) for
 * attack-like input (cdx_ingest_code_is_alert), else document.reject (4). */
int cdx_ingest_apply_reject(cdx_registry_t *reg, void *change);

/* 1 when a rejection with this code is attack-like: a DOCTYPE, a node
 * bomb, a document of another institution, ids in another's numbering. */
int cdx_ingest_code_is_alert(const char *code);

/* Re-runs normalization and extraction on stored bytes (reindex). */
int cdx_ingest_renormalize(const cdx_pipeline_t *pl, const char *data, size_t len,
                           const char *submitter_oid, cdx_ingest_t *out);

/* The pipeline's national id roots and key, for mapping a query's
 * "ROOT|EXT" to the stored form (cdx_national_ref_stored).  Never NULL. */
const cdx_national_t *cdx_pipeline_national(const cdx_pipeline_t *pl);

/* The mapping version the pipeline would use for submitter_oid. */
const char *cdx_pipeline_mapping_version(const cdx_pipeline_t *pl, const char *submitter_oid);

#endif
