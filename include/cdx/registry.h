/*
 * registry: the durable store of cdxgw, behind one interface.
 *
 * Responsible for: opening the registry database (SQLite now; the interface
 * is the seam for a PostgreSQL backend later), applying versioned schema
 * migrations at open, durability settings (WAL, synchronous=FULL), and the
 * institutions directory (OID, name, roles, credentials, delivery
 * endpoint), with an audit row written in the same transaction as every
 * change.
 * Not responsible for: deciding who may do what (the gateway's handlers
 * do), or network I/O.
 *
 * A cdx_registry_t is used by one thread at a time.
 */
#ifndef CDX_REGISTRY_H
#define CDX_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdx_registry cdx_registry_t;

/* Roles are a bit set. */
enum {
    CDX_ROLE_SUBMIT = 1u << 0,
    CDX_ROLE_QUERY = 1u << 1,
    CDX_ROLE_RESEARCH = 1u << 2,
    CDX_ROLE_ADMIN = 1u << 3,
};

/* Parses a comma- or space-separated role list ("submit,query").  An empty
 * string gives 0.  Returns 0 or CDX_EINVAL naming nothing (the caller says
 * which key was wrong). */
int cdx_roles_parse(const char *s, unsigned *out);
/* Writes "submit,query" (or "none") into out of size n. */
void cdx_roles_format(unsigned roles, char *out, size_t n);

#define CDX_INST_MAX_CREDS 8

typedef struct cdx_credential {
    int spki;         /* 0: SHA-256 of the DER certificate; 1: of its SubjectPublicKeyInfo */
    char sha256[65];  /* lower-case hex */
} cdx_credential_t;

typedef struct cdx_institution {
    char oid[128];            /* e.g. "2.25.1234..." (no "urn:oid:" prefix) */
    char name[256];           /* display name, UTF-8 */
    unsigned roles;           /* CDX_ROLE_* */
    char endpoint[512];       /* delivery URL, "" when none */
    size_t ncreds;
    cdx_credential_t creds[CDX_INST_MAX_CREDS];
} cdx_institution_t;

/* Opens (creating if needed) the database at path, applies migrations and
 * checks it (quick_check).  Returns 0 or a negative error; on failure a
 * reason is written to err (size errlen). */
int cdx_registry_open(const char *path, cdx_registry_t **out, char *err, size_t errlen);
/* NULL is a no-op. */
void cdx_registry_close(cdx_registry_t *reg);

/* The schema version after migrations. */
int cdx_registry_schema_version(cdx_registry_t *reg);

/* Inserts or updates the institution with inst->oid, replacing its
 * credentials, and appends an audit row (event "institution.upsert", actor
 * `actor`) in the same transaction.  Returns 0 or a negative error. */
int cdx_registry_put_institution(cdx_registry_t *reg, const cdx_institution_t *inst,
                                 const char *actor);

/* All institutions, ordered by OID, in a heap array the caller frees with
 * free().  Returns 0 or a negative error. */
int cdx_registry_list_institutions(cdx_registry_t *reg, cdx_institution_t **out, size_t *n);

/* Applies one `key = value` line of an [institution] section to inst
 * (keys: oid, name, roles, endpoint, cert_sha256, spki_sha256, cert_file;
 * the credential keys may repeat).  base_dir resolves a relative
 * cert_file.  Returns 0 or CDX_ECONFIG with the reason in err. */
int cdx_institution_set_key(cdx_institution_t *inst, const char *key, const char *value,
                            const char *base_dir, char *err, size_t errlen);

/* Checks a complete institution (OID syntax, name present, endpoint an
 * https URL or empty).  Returns 0 or CDX_ECONFIG with the reason in err. */
int cdx_institution_check(const cdx_institution_t *inst, char *err, size_t errlen);

/* One audit record.  The registry appends it to a hash chain (each row
 * carries the SHA-256 of the previous row's hash and its own fields), in
 * the same transaction as the change it records.  Strings may be NULL. */
typedef struct cdx_audit_event {
    const char *event;       /* e.g. "institution.upsert", "document.ingest" */
    const char *actor_oid;   /* institution acting, or "local:<command>" */
    const char *actor_user;  /* X-CDX-User as asserted, may be NULL */
    const char *purpose;     /* X-CDX-Purpose, may be NULL */
    int outcome;             /* DICOM outcome: 0 success, 4 minor, 8 serious, 12 major */
    const char *patient_key; /* keyed hash of the patient id, never the id itself */
    const char *document_id; /* registry document id */
    const char *detail;      /* short machine-readable detail (codes, not content) */
} cdx_audit_event_t;

/* Appends one audit record in its own transaction (for events that change
 * nothing else in the registry, e.g. a refused request).  ev->event is
 * required; ev->outcome is 0, 4, 8 or 12.  Returns 0 or a negative error. */
int cdx_registry_audit(cdx_registry_t *reg, const cdx_audit_event_t *ev);

/* Recomputes the audit hash chain from the first row.  Returns 0 when it is
 * intact, CDX_ECONFLICT with *bad_seq set to the first row whose hash or
 * link does not match, or another negative error. */
int cdx_registry_audit_verify(cdx_registry_t *reg, int64_t *bad_seq);

/* The reason for the last failed call on reg ("" if none), for messages to
 * the operator, e.g. which institution already owns a credential.  Valid
 * until the next call on reg. */
const char *cdx_registry_errmsg(const cdx_registry_t *reg);

/* Reads an institutions file (format in README: `[institution]` sections
 * of key = value lines: oid, name, roles, endpoint, cert_sha256,
 * spki_sha256, cert_file).  cert_file paths are relative to the file's
 * folder and are turned into cert_sha256 credentials.  On error returns
 * CDX_ECONFIG with "path:line: reason" in err.  The caller frees *out. */
int cdx_institutions_file_load(const char *path, cdx_institution_t **out, size_t *n, char *err,
                               size_t errlen);

#endif
