/*
 * registry: the durable store of cdxgw, behind one interface.
 *
 * Responsible for: opening the registry database (SQLite now; the interface
 * is the seam for a PostgreSQL backend later), applying versioned schema
 * migrations at open, durability settings (WAL, synchronous=FULL), and the
 * institutions directory (OID, name, roles, credentials, delivery
 * endpoint), with an audit row written in the same transaction as every
 * change; the audit hash chain; documents, their facts and key-value
 * state.
 * Not responsible for: deciding who may do what (the gateway's handlers
 * do), turning extracted facts into rows (include/cdx/domain/facts.h), or
 * network I/O.
 *
 * Nothing of SQLite crosses this header: no SQLite type, result code or
 * SQL text.  Failures are the project's error codes (cdx/base/common.h),
 * with the detail for the operator in cdx_registry_errmsg.
 *
 * A cdx_registry_t is used by one thread at a time.  Each connection keeps
 * its statements prepared once (a statement cache), so a call prepares
 * nothing after the first of its kind; cdx_registry_stats counts that.
 */
#ifndef CDX_REGISTRY_H
#define CDX_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/consent.h"
#include "cdx/domain/timeline.h"
#include "cdx/domain/types.h"
#include "cdx/parsers/cohort.h"

typedef struct cdx_registry cdx_registry_t;

/* Opens (creating if needed) the database at path, applies migrations and
 * checks it (quick_check).  Returns 0 or a negative error; on failure a
 * reason is written to err (size errlen). */
int cdx_registry_open(const char *path, cdx_registry_t **out, char *err, size_t errlen);
/* The same, without the integrity check: for further connections to a
 * database this process has already opened and checked. */
int cdx_registry_open_reader(const char *path, cdx_registry_t **out, char *err, size_t errlen);
/* NULL is a no-op. */
void cdx_registry_close(cdx_registry_t *reg);

/* The schema version after migrations. */
int cdx_registry_schema_version(cdx_registry_t *reg);

/* Inserts or updates the institution with inst->oid, replacing its
 * credentials and id roots, and appends an audit row (event "institution.upsert", actor
 * `actor`) in the same transaction.  Returns 0 or a negative error;
 * CDX_ECONFLICT when a credential or an id root belongs to another
 * institution (cdx_registry_errmsg names it). */
int cdx_registry_put_institution(cdx_registry_t *reg, const cdx_institution_t *inst,
                                 const char *actor);

/* All institutions, ordered by OID, in a heap array the caller frees with
 * free().  Returns 0 or a negative error. */
int cdx_registry_list_institutions(cdx_registry_t *reg, cdx_institution_t **out, size_t *n);

/* Appends one audit record in its own transaction (for events that change
 * nothing else in the registry, e.g. a refused request).  ev->event is
 * required; ev->outcome is 0, 4, 8 or 12.  Returns 0 or a negative error. */
/* Appends one audit record, inside the caller's transaction when one is
 * open, else in its own. */
int cdx_registry_audit(cdx_registry_t *reg, const cdx_audit_event_t *ev);

/* Recomputes the audit hash chain from the first row, and checks every
 * signed checkpoint against it (without the signatures).  Returns 0 when it
 * is intact, CDX_ECONFLICT with *bad_seq set to the first row whose hash or
 * link does not match, or another negative error. */
int cdx_registry_audit_verify(cdx_registry_t *reg, int64_t *bad_seq);

struct cdx_audit_key;

/* What cdx_registry_audit_check found. */
typedef struct cdx_audit_check {
    int64_t records;              /* rows whose hash and link were checked */
    int64_t last_seq;             /* the last row read */
    int64_t checkpoints;          /* checkpoints that matched the chain (and verified) */
    int64_t unsigned_checkpoints; /* of them, checked without a key (signature not checked) */
    int64_t last_checkpoint;      /* seq of the last good checkpoint, 0 if none */
    int64_t bad_seq;              /* the first broken record (any seq, 0 too) */
    char reason[96];              /* why it is broken, "" when intact */
} cdx_audit_check_t;

/* Verifies the audit trail in one read snapshot: the hash chain from its
 * first row (each row in its hash format version; a row's version cannot go
 * back), then every checkpoint: the record it names must still be there
 * with the hash it signed (a checkpoint beyond the last row is a cut tail:
 * bad_seq is then the first missing record), and, when key is not NULL, its
 * key id and Ed25519 signature must verify with key.  Returns 0 when
 * intact, CDX_ECONFLICT with out->bad_seq and out->reason, or another
 * negative error. */
int cdx_registry_audit_check(cdx_registry_t *reg, const struct cdx_audit_key *key,
                             cdx_audit_check_t *out);

/* One audit record as read back; strings valid during the callback only,
 * NULL when not recorded. */
typedef struct cdx_audit_record {
    int64_t seq;
    const char *ts; /* RFC 3339 UTC with milliseconds */
    const char *event, *actor_oid, *actor_user, *purpose;
    int outcome;
    const char *patient_key, *document_id, *detail;
    const char *peer, *decision, *reason, *consent;
    int version; /* the hash format, 1 or 2 */
    const char *hash;
} cdx_audit_record_t;

/* Which records cdx_registry_audit_each reads; NULL or 0 is no filter. */
typedef struct cdx_audit_filter {
    int64_t after_seq;             /* only records after this one (a page's cursor) */
    const char *from;              /* ts at or after this RFC 3339 text */
    const char *before;            /* ts before this one */
    const char *event;             /* this event name */
    const char *events_json;       /* one of these events, a JSON array of names */
    const char *patient_keys_json; /* one of these keyed patient hashes, a JSON array */
    int breakglass;                /* purpose ETREAT or decision "breakglass" */
    int successes_only;            /* outcome 0 */
    int institutions_only;         /* an institution acted (not a local command) */
    size_t limit;                  /* at most this many (0: all) */
} cdx_audit_filter_t;

/* Calls fn for each record f selects, in seq order, in one statement (one
 * read snapshot), without holding more than one record: an export of any
 * size runs in bounded memory.  fn returning non-zero stops the read and
 * is returned.  Returns 0 or a negative error. */
int cdx_registry_audit_each(cdx_registry_t *reg, const cdx_audit_filter_t *f,
                            int (*fn)(void *arg, const cdx_audit_record_t *rec), void *arg);

/* Sets the key (borrowed: it must outlive its use on reg; its private half
 * is needed) that signs checkpoints of reg's audit chain, and every how
 * many records one is written in the transaction of the record that
 * reaches it (0: only on cdx_registry_audit_checkpoint).  key NULL stops
 * signing.  Returns 0 or CDX_EINVAL. */
int cdx_registry_set_audit_key(cdx_registry_t *reg, const struct cdx_audit_key *key,
                               int64_t every);

/* Signs a checkpoint of the last audit record now (in the caller's
 * transaction, or one of its own); *seq receives its seq (0: the trail is
 * empty, nothing signed).  A second checkpoint of the same record is not
 * written.  Returns 0, CDX_EINVAL without a key, or a negative error. */
int cdx_registry_audit_checkpoint(cdx_registry_t *reg, int64_t *seq);

/* The reason for the last failed call on reg ("" if none), for messages to
 * the operator, e.g. which institution already owns a credential.  Valid
 * until the next call on reg. */
const char *cdx_registry_errmsg(const cdx_registry_t *reg);

/* ---- Transactions ----------------------------------------------------
 * The writer thread groups several changes into one transaction (group
 * commit): a transaction that takes the write lock at once, then a
 * savepoint per change so that one failing change does not undo the
 * others, then one commit (one fsync). */
int cdx_registry_begin(cdx_registry_t *reg);
int cdx_registry_commit(cdx_registry_t *reg);
void cdx_registry_rollback(cdx_registry_t *reg);
int cdx_registry_savepoint(cdx_registry_t *reg);
int cdx_registry_release(cdx_registry_t *reg);
void cdx_registry_rollback_savepoint(cdx_registry_t *reg);
/* Moves committed WAL content into the database file (a passive
 * checkpoint: it never waits for readers or the writer).  The writer turns
 * automatic checkpoints off with cdx_registry_manual_checkpoints, so that
 * no client's commit pays for one, and has them run between batches on a
 * connection of their own (cdx_registry_open_sibling), or on its own when
 * the WAL has grown past a bound.  Any connection to the database may
 * checkpoint it, with the same durability: the WAL is synced before its
 * pages are copied, the database file before the WAL is reused. */
int cdx_registry_manual_checkpoints(cdx_registry_t *reg);
int cdx_registry_checkpoint(cdx_registry_t *reg);
/* The frames in the WAL after reg's last commit (counted on reg once
 * cdx_registry_manual_checkpoints was called on it; 0 before). */
int64_t cdx_registry_wal_frames(const cdx_registry_t *reg);
/* Opens another connection to reg's database file, as
 * cdx_registry_open_reader does, for another thread.  Returns 0 or a
 * negative error (err says why). */
int cdx_registry_open_sibling(cdx_registry_t *reg, cdx_registry_t **out, char *err, size_t errlen);

/* Registers oid (roles none) unless it exists; name is only a label.
 * oid must be a non-empty string (CDX_EINVAL otherwise). */
int cdx_registry_ensure_institution(cdx_registry_t *reg, const char *oid, const char *name);

/* ---- Documents ------------------------------------------------------- */

typedef enum {
    CDX_STORE_CREATED = 201,   /* new document */
    CDX_STORE_IDENTICAL = 200, /* same id and same bytes already stored */
    CDX_STORE_FORBIDDEN = 403, /* replaces (RPLC) another institution's document: nothing changed */
    CDX_STORE_CONFLICT = 409,  /* same id, other bytes: nothing changed */
} cdx_store_outcome_t;

/* Stores a document, its patient ids and facts, supersedes the document
 * it replaces, and appends the audit row, all inside the caller's
 * transaction (or one of its own when none is open).
 *
 * Replacement is an integrity rule the registry keeps whoever calls it: a
 * document may supersede (RPLC) only a document that its own submitter
 * submitted, or whose custodian is its submitter.  A replacement of
 * another institution's document stores nothing and appends a
 * "security.alert" audit row instead (outcome CDX_STORE_FORBIDDEN).  A
 * replacement stored before its parent supersedes the parent on its
 * arrival under the same rule, so a stranger's early "replacement" never
 * does.  doc_uid (33 bytes)
 * receives the registry id of the stored (or already stored) document.
 * Returns 0 with *outcome set, or a negative error. */
int cdx_registry_store_document(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                                const cdx_audit_event_t *audit, cdx_store_outcome_t *outcome,
                                char doc_uid[33]);

/* The registry id of a document unique id (deterministic). */
void cdx_registry_doc_uid(const char *unique_id, char out[33]);

/* What is stored of one document. */
typedef struct cdx_doc_row {
    int64_t id;
    char uid[33];
    char *unique_id;
    char *status;   /* "current" or "superseded" */
    char *sha256;
    char *normalized_sha256;
    char *mapping_version;
    char *meta_json;
    char *submitter_oid;
    char *patient_root;
    char *patient_ext;
    /* What the access decision reads (NULL when not recorded). */
    char *author_oid;
    char *custodian_oid;
    char *type_code;
    char *confidentiality;
    char *content;  /* original or normalized bytes when asked for */
    size_t content_len;
} cdx_doc_row_t;

enum { CDX_DOC_META_ONLY = 0, CDX_DOC_ORIGINAL = 1, CDX_DOC_NORMALIZED = 2 };

/* The stored form of n bytes (one zstd frame with its size and a checksum
 * of the content) in a heap buffer *out (free()) of *outlen bytes, for
 * cdx_doc_record_t.original_packed / normalized_packed: made on the
 * caller's thread, so that the writer only binds it.  Any thread, no
 * registry needed.  Returns 0 or CDX_ENOMEM (*out NULL then). */
int cdx_registry_pack(const void *src, size_t n, void **out, size_t *outlen);
/* The same for the data of a document's fact rows, as the registry keeps
 * them (one frame per document, cdx_doc_record_t.fact_extras_packed). */
int cdx_registry_pack_fact_extras(const cdx_fact_row_t *rows, size_t nrows, void **out,
                                  size_t *outlen);

/* Reads a document by registry id.  Returns 0, CDX_ENOTFOUND, or an error
 * (CDX_EDB with the reason in cdx_registry_errmsg when the stored content
 * is corrupted). */
int cdx_registry_get_document(cdx_registry_t *reg, const char *uid, int what, cdx_doc_row_t *out);
void cdx_doc_row_cleanup(cdx_doc_row_t *row);

/* Whether a document with these original bytes (by SHA-256) is stored. */
int cdx_registry_has_sha256(cdx_registry_t *reg, const char *sha256, int *found);

/* For reindexing: calls fn for each document with id > after_id, in id
 * order, at most limit of them, with the original bytes and submitter.
 * Stops early when fn returns non-zero (that value is returned).  fn may
 * call other functions on reg, but not cdx_registry_each_document. */
int cdx_registry_each_document(cdx_registry_t *reg, int64_t after_id, size_t limit,
                               int (*fn)(const cdx_doc_row_t *row, void *arg), void *arg);

/* Replaces a document's normalized form and facts (reindex), inside the
 * caller's transaction or one of its own. */
int cdx_registry_update_normalized(cdx_registry_t *reg, int64_t id, const char *normalized_sha256,
                                   const void *normalized, size_t normalized_size,
                                   const char *mapping_version, const char *meta_json,
                                   const char *facts_json, const cdx_fact_row_t *rows,
                                   size_t nrows);

/* What cdx_registry_count counts. */
typedef enum {
    CDX_COUNT_DOCUMENTS,
    CDX_COUNT_FACTS,
    CDX_COUNT_AUDIT,        /* audit records */
    CDX_COUNT_INSTITUTIONS,
    CDX_COUNT_PATIENT_IDS,  /* patient ids of all documents */
} cdx_registry_countable_t;

/* Counts for summaries and tests: *n receives how many there are of what.
 * Returns 0, CDX_EINVAL for an unknown what, or another negative error. */
int cdx_registry_count(cdx_registry_t *reg, cdx_registry_countable_t what, int64_t *n);

/* Key-value state for resumable commands (e.g. reindex progress). */
int cdx_registry_state_get(cdx_registry_t *reg, const char *key, char *out, size_t n);
int cdx_registry_state_set(cdx_registry_t *reg, const char *key, const char *value);

/* ---- Patient index ----------------------------------------------------
 * Every (assigning authority root, extension) identity seen in a stored
 * document is a patient row belonging to exactly one person.  Identities
 * are joined into persons by links: the identities of one document (rule
 * "document"), a shared national identifier (rule "national": a national
 * id is stored only as "hmac-sha256:<hex>" in place of its extension,
 * never in clear), demographic matching (rule "match") and administrators
 * (rule "admin").  A link's status is "linked" (joins two persons),
 * "review" (a person decides), or a person's decision that the two are
 * not the same ("distinct", "unlinked"), which no automatic rule
 * overrides. */

/* The person identity (root, ext) belongs to.  Returns 0, CDX_ENOTFOUND
 * when no stored document carries it, or another error. */
int cdx_registry_person_of(cdx_registry_t *reg, const char *root, const char *ext,
                           int64_t *person_id);

/* Rebuilds the patient index entries of stored document doc_id from rec
 * (reindex, or a registry stored before the patient index existed): its
 * patient ids and canonical id are replaced by rec's, its identities are
 * registered and linked (rules "document" and "national"), and its
 * patient is matched by demographics, exactly as when it was stored; the
 * audit rows name actor.  Idempotent: a second run adds nothing.  Inside
 * the caller's transaction or one of its own. */
int cdx_registry_reindex_patients(cdx_registry_t *reg, int64_t doc_id,
                                  const cdx_doc_record_t *rec, const char *actor);

/* Removes every identity under root whose extension is not in the hashed
 * form (a national id stored in clear before root was configured as
 * national) from the patient index and the documents' patient ids, with
 * their links.  Reindex calls it first, then rebuilds each document. */
int cdx_registry_forget_clear_ids(cdx_registry_t *reg, const char *root);
/* The facts of the current documents of person_id (every document that
 * carries one of the person's identities, each document once; facts of
 * superseded documents are left out), with each document's registry id
 * and submitting institution, in a heap array the caller frees with
 * cdx_tl_facts_free (*out NULL when there are none).  Returns 0 or a
 * negative error. */
int cdx_registry_person_facts(cdx_registry_t *reg, int64_t person_id, cdx_tl_fact_t **out,
                              size_t *n);
/* ---- Document query (FindDocuments) -----------------------------------
 * The documents of the person behind one identity, across every identity
 * linked to it, newest first by creation time in UTC, then by registry
 * row; paged by keyset (the position of the last row returned), so that a
 * document stored between two pages neither repeats nor hides a row. */

#define CDX_QUERY_MAX_TYPES 16
#define CDX_QUERY_MAX_LIMIT 500

typedef enum {
    CDX_QUERY_CURRENT = 0, /* status current (the default) */
    CDX_QUERY_SUPERSEDED,
    CDX_QUERY_ALL,
} cdx_query_status_t;

/* The filters: NULL (or 0 types) leaves one out.  Times are keys
 * "YYYYMMDDHHMMSS" in UTC (cdx/parsers/time_key.h); a from is inclusive,
 * a to exclusive.  The service period [start, stop] must overlap
 * [service_from, service_to) (a document without one does not match). */
typedef struct cdx_doc_query {
    const char *root; /* the identity as stored (a national id in its keyed form) */
    const char *ext;
    const char *types[CDX_QUERY_MAX_TYPES]; /* type codes (LOINC): any of them */
    size_t ntypes;
    const char *class_code; /* the document's class; NULL: the class of its type (doc_class.h) */
    const char *from, *to;  /* creation time */
    const char *service_from, *service_to;
    const char *institution; /* custodian or author institution OID */
    cdx_query_status_t status;
    size_t limit; /* 1 to CDX_QUERY_MAX_LIMIT */
    /* Keyset position: only rows after (older than) it; after_key NULL
     * starts at the newest. */
    const char *after_key;
    int64_t after_id;
} cdx_doc_query_t;

/* One document found: its row (content not read), its creation key and
 * the institution it comes from (custodian, else author, else submitter). */
typedef struct cdx_doc_hit {
    cdx_doc_row_t row;
    char creation_key[16];
    char *institution;
    char class_code[32]; /* the document's class (cdx/domain/doc_class.h), "" when none */
} cdx_doc_hit_t;

typedef struct cdx_doc_page {
    int person_found; /* the identity is in the patient index */
    cdx_doc_hit_t *hits;
    size_t n;
    int more; /* rows remain after the last hit */
} cdx_doc_page_t;

/* Runs q.  Returns 0 with *out filled (an identity the index lacks gives
 * person_found 0 and no hits), CDX_EINVAL for a query out of bounds, or
 * another negative error.  cdx_doc_page_cleanup frees *out. */
int cdx_registry_find_documents(cdx_registry_t *reg, const cdx_doc_query_t *q,
                                cdx_doc_page_t *out);
void cdx_doc_page_cleanup(cdx_doc_page_t *page);
/* ---- Patient links (administrators) -----------------------------------
 * The links of the patient index as administrators see and change them
 * (gateway/store/links.c).  A person is the connected component of the
 * 'linked' links; patients.person_id is kept equal to it by every change
 * here.  Each change runs inside the caller's transaction (the writer's
 * savepoint) or one of its own, and appends its audit record (*audit,
 * whose detail the call fills when NULL) in that same transaction. */

/* One identity of a link or a person.  A national identity (national 1)
 * is never shown with its extension: ext is then "". */
typedef struct cdx_identity {
    char root[128];
    char ext[257];
    int national;
    char institution[128]; /* the institution that first sent it, "" when unknown */
} cdx_identity_t;

typedef struct cdx_link_row {
    int64_t id;
    cdx_identity_t a, b;
    char rule[16];       /* document, national, match, admin */
    char status[16];     /* linked, review, unlinked, distinct */
    int has_score;
    double score;
    char *breakdown;     /* the score per field as JSON, or NULL */
    char *reason;        /* NULL when none */
    char *actor;         /* NULL for automatic links */
    char created_at[32];
    char decided_at[32]; /* "" when never decided */
} cdx_link_row_t;

void cdx_link_row_cleanup(cdx_link_row_t *row);

/* What an administrator's link or unlink came to. */
typedef enum cdx_link_outcome {
    CDX_LINK_DONE = 201,          /* linked now / unlinked now */
    CDX_LINK_UNCHANGED = 200,     /* already so: nothing changed */
    CDX_LINK_NOT_FOUND = 404,     /* an identity, or the link, is unknown */
    CDX_LINK_SAME_PERSON = 409,   /* already one person through other links */
    CDX_LINK_SAME_IDENTITY = 422, /* a and b are one identity */
} cdx_link_outcome_t;

/* Links identities a and b (rule "admin", status "linked") and merges
 * their persons: an earlier "review" link becomes linked, and an earlier
 * "distinct" or "unlinked" decision is overridden by this one.  *outcome:
 * DONE, UNCHANGED (already linked by a link of their own), NOT_FOUND
 * (*missing 'a' or 'b'), SAME_PERSON, SAME_IDENTITY; *row (when not NULL)
 * receives the link on DONE and UNCHANGED.  audit->detail, when NULL, is
 * "rule=admin link=ID status=linked" (or the refusal's code); the audit
 * outcome is 0 when DONE or UNCHANGED, else 4.  Returns 0 or an error. */
int cdx_registry_link_admin(cdx_registry_t *reg, const char *a_root, const char *a_ext,
                            const char *b_root, const char *b_ext, const char *reason,
                            const char *actor, const cdx_audit_event_t *audit,
                            cdx_link_outcome_t *outcome, char *missing, cdx_link_row_t *row);

/* A person's "not the same" decision on link id: 'linked' becomes
 * 'unlinked', 'review' becomes 'distinct', and the person of the two
 * identities is split when no other linked path joins them (the side of
 * b, unless it still reaches a, becomes a new person).  *outcome: DONE,
 * UNCHANGED (already unlinked or distinct), NOT_FOUND.  Audit as for
 * cdx_registry_link_admin.  Returns 0 or an error. */
int cdx_registry_unlink(cdx_registry_t *reg, int64_t link_id, const char *actor,
                        const cdx_audit_event_t *audit, cdx_link_outcome_t *outcome,
                        cdx_link_row_t *row);

/* One link by id.  Returns 0, CDX_ENOTFOUND, or an error. */
int cdx_registry_link_get(cdx_registry_t *reg, int64_t link_id, cdx_link_row_t *row);

/* Links newest first (by id): with status (NULL: any), of id < before
 * (0: from the newest), at most limit.  *out is a heap array of *n rows;
 * free with cdx_link_rows_free.  Returns 0 or an error. */
int cdx_registry_links_list(cdx_registry_t *reg, const char *status, int64_t before,
                            size_t limit, cdx_link_row_t **out, size_t *n);
void cdx_link_rows_free(cdx_link_row_t *rows, size_t n);

/* ---- Persons ------------------------------------------------------------ */

/* One person as GET /v1/patients shows it: its identities and the
 * demographics summaries its identities carry (JSON texts, newest first). */
typedef struct cdx_person_row {
    int64_t id;
    cdx_identity_t *ids;
    size_t nids;
    char **summaries;
    size_t nsummaries;
} cdx_person_row_t;

void cdx_person_rows_free(cdx_person_row_t *rows, size_t n);

/* The person identity (root, ext) belongs to, with its identities:
 * *n is 0 when no stored document carries it. */
int cdx_registry_persons_by_identity(cdx_registry_t *reg, const char *root, const char *ext,
                                     cdx_person_row_t **out, size_t *n);

/* The persons with an identity whose match keys are family and birth
 * (and given and sex when not ""), found through the blocking key
 * block_key (the "surname and birth month" key of
 * cdx/domain/match.h), at most limit persons. */
int cdx_registry_persons_by_demographics(cdx_registry_t *reg, const char *block_key,
                                         const char *family, const char *given,
                                         const char *birth, const char *sex, size_t limit,
                                         cdx_person_row_t **out, size_t *n);

/* ---- Consents ------------------------------------------------------------
 * A person's consent decisions (cdx/domain/consent.h), each recorded for
 * one identity (a patients row) and read through its person, so that a
 * link or an unlink carries it along.  Break-glass time boxes per
 * (institution, person). */

/* One recorded decision as its history shows it. */
typedef struct cdx_consent_row {
    cdx_consent_t c;
    cdx_identity_t identity; /* the identity it was recorded for (a national one without ext) */
    char source[16];         /* "api" or "document" */
    char document_uid[33];   /* the consent document's registry id, "" for "api" */
    char actor[128];
    char recorded_at[32];
} cdx_consent_row_t;

/* Records c for identity (root, ext) as stored (a national id in its keyed
 * form), with its source ("api", or "document" and the consent document's
 * registry id document_uid), and
 * appends *audit (its detail, when NULL, "consent=ID decision=..."), in
 * the caller's transaction or one of its own.  *consent_id receives the
 * new record's id.  Returns 0, CDX_ENOTFOUND when no stored document
 * carries the identity (nothing is written), or an error. */
int cdx_registry_put_consent(cdx_registry_t *reg, const char *root, const char *ext,
                             const cdx_consent_t *c, const char *source,
                             const char *document_uid, const char *actor,
                             const cdx_audit_event_t *audit, int64_t *consent_id);

/* The decisions of person_id, newest first, at most max, into rows (the
 * caller's array).  Returns 0 or an error. */
int cdx_registry_person_consents(cdx_registry_t *reg, int64_t person_id, cdx_consent_row_t *rows,
                                 size_t max, size_t *n);

/* What the access decision needs of person_id for institution_oid at
 * now_key: its decisions newest first (at most max, into consents),
 * whether the institution has submitted a document for the person, and
 * whether its break-glass time box for the person is open. */
int cdx_registry_access_person(cdx_registry_t *reg, int64_t person_id,
                               const char *institution_oid, const char *now_key,
                               cdx_consent_t *consents, size_t max, size_t *nconsents, int *care,
                               int *breakglass_open);

/* Opens (or extends) institution_oid's break-glass time box for person_id
 * until until_key (a UTC key), in the caller's transaction or its own. */
int cdx_registry_breakglass_open(cdx_registry_t *reg, const char *institution_oid,
                                 int64_t person_id, const char *until_key);

/* What the access decision needs of one document: who sent, wrote and
 * keeps it, its type and confidentiality, and its registry id. */
typedef struct cdx_doc_access {
    char uid[33];
    char submitter_oid[128];
    char author_oid[128];
    char custodian_oid[128];
    char type_code[32];
    char confidentiality[8];
} cdx_doc_access_t;

/* The current documents of person_id with what the access decision needs,
 * in a heap array the caller frees with free() (*out NULL when none). */
int cdx_registry_person_documents(cdx_registry_t *reg, int64_t person_id, cdx_doc_access_t **out,
                                  size_t *n);

/* ---- Statements -------------------------------------------------------- */

/* The statement cache of one connection, since it was opened. */
typedef struct cdx_registry_stats {
    uint64_t prepared; /* statements compiled into the cache (once each) */
    uint64_t reused;   /* uses of a statement already in the cache */
    uint64_t one_off;  /* statements run once outside it: open-time pragmas, checks, migrations */
    uint64_t cached;   /* statements held now */
    uint64_t active;   /* of those, not reset (0 between calls) */
} cdx_registry_stats_t;

/* ---- Research cohorts (cohorts.c, cohort_sets.c) ----------------------
 *
 * A cohort is evaluated per person (every linked identity together) over
 * the facts' columns of current documents whose confidentiality is
 * neither R nor V.  Persons are named by their person id: a link keeps
 * the older person's id, so a person keeps its id while identities join
 * it. */

/* What a cohort definition selected. */
typedef struct cdx_cohort_eval {
    int64_t *persons; /* ascending person ids */
    size_t n;
    int64_t skipped; /* values not compared: no conversion to the criterion's unit */
} cdx_cohort_eval_t;

/* Evaluates def on this reader's snapshot; today (days since 1970-01-01)
 * is the index date of an age criterion without "at".  Returns 0 and *out
 * (cdx_cohort_eval_free), or an error. */
int cdx_registry_cohort_eval(cdx_registry_t *reg, const cdx_cohort_def_t *def, int32_t today,
                             cdx_cohort_eval_t *out);
void cdx_cohort_eval_free(cdx_cohort_eval_t *e);

/* Dimensions of a breakdown (bits).  Above CDX_COHORT_ORDER_SHIFT, dims
 * may also say the order the dimensions were asked in, two bits each (1
 * sex, 2 age_band, 3 institution; the first lowest): with two or more so
 * ordered, the breakdown adds the cross-tabulation (cdx_cohort_dims_parse
 * sets both). */
enum { CDX_COHORT_BY_SEX = 1, CDX_COHORT_BY_AGE_BAND = 2, CDX_COHORT_BY_INSTITUTION = 4 };
/* A cell of the cross-tabulation: key is each dimension's value in the
 * order asked, joined by '|'. */
#define CDX_COHORT_BY_CROSS 8u
#define CDX_COHORT_ORDER_SHIFT 8

/* The dimension bits in the order asked (up to 3); returns how many. */
size_t cdx_cohort_dims_order(unsigned dims, unsigned order[3]);

/* One cell of a breakdown: persons of the cohort with this value. */
typedef struct cdx_cohort_cell {
    unsigned dim;   /* one CDX_COHORT_BY_* bit, or CDX_COHORT_BY_CROSS */
    char key[256];  /* "F", "40-49", an institution OID, "unknown"; "F|40-49" */
    int64_t count;
} cdx_cohort_cell_t;

/* The counts of persons[0..n) (ascending) per value of each dimension in
 * dims, the age at today, and per combination of values when dims orders
 * two or more (a person counts once per institution holding an eligible
 * document of theirs).  *cells is malloc'd (free). */
int cdx_registry_cohort_breakdown(cdx_registry_t *reg, const int64_t *persons, size_t n,
                                  unsigned dims, int32_t today, cdx_cohort_cell_t **cells,
                                  size_t *ncells);

/* A cohort to keep, with the differencing guard's threshold. */
typedef struct cdx_cohort_put {
    const char *uid;             /* 32 hex digits, public */
    const char *institution_oid; /* the research institution asking */
    const char *definition_sha256;
    const int64_t *persons; /* ascending */
    size_t n;
    const char *answer; /* the JSON answered */
    int64_t threshold;  /* research_min_cell */
    const char *breakdown; /* dimensions in the order asked, ',' joined; "" or NULL: size only */
} cdx_cohort_put_t;

/* Why a cohort was refused, or whose answer it repeats
 * (cdx_registry_cohort_put). */
typedef struct cdx_cohort_refusal {
    int64_t difference;     /* the smallest refused symmetric difference, or 0 */
    char earlier_uid[33];   /* "" or the earlier cohort whose breakdown is fixed */
    char earlier_breakdown[64];
    char repeats[33]; /* stored: "" or the earlier cohort whose answer was kept as this one's */
} cdx_cohort_refusal_t;

/* Writer: refuses (CDX_ECONFLICT) a cohort whose person set differs from
 * an earlier cohort of the same institution by at least 1 and fewer than
 * threshold persons (why->difference set to the smallest such
 * difference), or, failing that, whose person set equals that of an
 * earlier cohort of the institution answered with another breakdown
 * (cdx_cohort_breakdown_fixed; why->earlier_uid and earlier_breakdown
 * name the first such cohort); else stores it.  When the person set and
 * the breakdown equal those of an earlier cohort of the institution
 * (cdx_cohort_repeats), the answer stored is not c->answer but the first
 * such cohort's, its counts and suppression unchanged, with "id" and
 * "definition_sha256" this cohort's and "repeats" naming that cohort
 * (why->repeats too); read it with cdx_registry_cohort_get.  Returns 0,
 * CDX_ECONFLICT or an error; *why is always written. */
int cdx_registry_cohort_put(cdx_registry_t *reg, const cdx_cohort_put_t *c,
                            cdx_cohort_refusal_t *why);

/* The stored answer of cohort uid when institution_oid asked for it; NULL
 * answer and CDX_ENOTFOUND otherwise (another institution's cohort is not
 * found).  *answer is malloc'd. */
int cdx_registry_cohort_get(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                            char **answer);

/* ---- Research exports (cohort_export.c) ------------------------------- */

/* A stored cohort as an export reads it. */
typedef struct cdx_export_cohort {
    char owner[128];   /* the research institution that asked for it */
    char sha256[65];   /* its definition's SHA-256 */
    int64_t size;      /* persons when it was counted */
    int64_t *persons;  /* ascending person ids, without those who opted out since */
    size_t n;
    int64_t opted_out; /* persons of the cohort left out for a research "deny" */
} cdx_export_cohort_t;

/* Reads cohort uid of institution_oid (NULL: of any institution, for the
 * offline command) with its persons, less those whose research decision
 * is deny now.  Returns 0 and *out (cdx_export_cohort_free), CDX_ENOTFOUND
 * (another institution's cohort is not found), or an error. */
int cdx_registry_export_cohort(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                               cdx_export_cohort_t *out);
void cdx_export_cohort_free(cdx_export_cohort_t *c);

/* The birth dates (YYYYMMDD as a number, 0 unknown) and sex ('M', 'F', 0)
 * of persons[0..n) (ascending), as the age and sex criteria read them. */
int cdx_registry_export_attrs(cdx_registry_t *reg, const int64_t *persons, size_t n,
                              int32_t *birth, char *sex);

/* One fact of a person as an export reads it: columns of the facts table
 * and its document's dates, never the fact's text or the document. */
typedef struct cdx_export_fact_row {
    const char *kind, *system, *code, *unit; /* borrowed until fn returns */
    const char *date; /* effective time (low, else high), else the document's service start or creation */
    const char *end;  /* effective time high when the fact has a low, else NULL */
    int has_value;
    double value;
} cdx_export_fact_row_t;

/* Calls fn for each distinct fact of person's current documents whose
 * confidentiality is neither R nor V, over all the person's identities,
 * by date.  fn returning non-zero stops with that value.  Returns 0, fn's
 * value, or an error. */
int cdx_registry_export_facts(cdx_registry_t *reg, int64_t person,
                              int (*fn)(void *arg, const cdx_export_fact_row_t *f), void *arg);
/* ---- Record requests and subscriptions (requests.c) -------------------
 * What an institution asked to have delivered to its endpoint: once (a
 * record request, the documents found then) or from now on (a
 * subscription, each new document of the person).  Each belongs to the
 * institution that made it: another institution's is not found.  Changes
 * run inside the caller's transaction (the writer's savepoint) or one of
 * their own, with the audit record given. */

/* The most documents one record request delivers. */
#define CDX_REQUEST_MAX_DOCUMENTS 1000
/* types as stored: the codes comma-separated. */
#define CDX_REQUEST_TYPES_MAX (CDX_QUERY_MAX_TYPES * 33)

typedef struct cdx_record_request {
    char uid[33]; /* 32 hex digits, public */
    char institution_oid[128];
    char patient_root[128]; /* the identity as stored (a national id keyed) */
    char patient_ext[300];
    char patient_key[33];
    char types[CDX_REQUEST_TYPES_MAX]; /* "" for any */
    char from_key[16];                 /* creation time bounds, UTC keys; "" for none */
    char to_key[16];
    char purpose[16];
    char created_at[32];
} cdx_record_request_t;

/* One document of a request with the state of its delivery to the
 * requester (state "" when the outbox has no row for it). */
typedef struct cdx_request_doc {
    char document_uid[33];
    char state[16];
    char reason[16]; /* why the delivery exists: request, or an earlier referral or subscription */
    int attempts;
    char updated_at[32];
    char last_error[256];
} cdx_request_doc_t;

/* Stores request r with its documents docs[0..ndocs) and a pending
 * delivery of each to r->institution_oid due at now_ms (a delivery of the
 * same document to it already in the outbox is kept), and appends *audit,
 * together.  *created (may be NULL) receives how many deliveries are new.
 * Returns 0 or an error. */
int cdx_registry_request_put(cdx_registry_t *reg, const cdx_record_request_t *r,
                             const char (*docs)[33], size_t ndocs, int64_t now_ms,
                             const cdx_audit_event_t *audit, size_t *created);

/* Request uid of institution_oid with its documents (*docs heap, free()).
 * Returns 0, CDX_ENOTFOUND (no such request of that institution), or an
 * error. */
int cdx_registry_request_get(cdx_registry_t *reg, const char *uid, const char *institution_oid,
                             cdx_record_request_t *out, cdx_request_doc_t **docs, size_t *n);

typedef struct cdx_subscription {
    char uid[33];
    char institution_oid[128];
    char patient_root[128];
    char patient_ext[300];
    char patient_key[33];
    char types[CDX_REQUEST_TYPES_MAX];
    char purpose[16];
    char created_at[32];
} cdx_subscription_t;

/* Stores s and appends *audit, unless its institution has max
 * subscriptions already: CDX_ERANGE, nothing written.  Returns 0,
 * CDX_ERANGE or an error. */
int cdx_registry_subscription_put(cdx_registry_t *reg, const cdx_subscription_t *s, int64_t max,
                                  const cdx_audit_event_t *audit);

/* Ends subscription uid of institution_oid, appending *audit with it.
 * Returns 0, CDX_ENOTFOUND (none of that institution: nothing written), or
 * an error. */
int cdx_registry_subscription_delete(cdx_registry_t *reg, const char *uid,
                                     const char *institution_oid, const cdx_audit_event_t *audit);

/* The subscriptions of institution_oid, oldest first (*out heap, free()). */
int cdx_registry_subscriptions_list(cdx_registry_t *reg, const char *institution_oid,
                                    cdx_subscription_t **out, size_t *n);

/* The subscriptions whose identity belongs to person_id (any of its linked
 * identities), oldest first (*out heap, free(); NULL when none). */
int cdx_registry_subscriptions_of_person(cdx_registry_t *reg, int64_t person_id,
                                         cdx_subscription_t **out, size_t *n);

/* Fills *out; NULL reg gives zeros.  Same thread as reg's other calls. */
void cdx_registry_stats(const cdx_registry_t *reg, cdx_registry_stats_t *out);

#endif
