/*
 * store_internal: what the store's files share and nothing outside
 * gateway/store/ sees: the connection, the statement cache, the SQLite
 * plumbing (errors, transactions) and the steps one concern calls in
 * another (an audit row appended with a change, the facts of a document).
 *
 * Every statement run more than once goes through the cache: cdx_store_stmt_get
 * hands out the connection's prepared statement for an id (preparing it
 * with SQLITE_PREPARE_PERSISTENT on first use), cdx_store_stmt_put resets it and
 * clears its bindings.  Every cdx_store_stmt_get is paired with a cdx_store_stmt_put on every
 * path, errors included, so that no statement holds a read snapshot or a
 * stale binding between calls.
 */
#ifndef CDX_STORE_INTERNAL_H
#define CDX_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "cdx/store/registry.h"

/* The statements of the cache, by the file that runs them. */
typedef enum stmt_id {
    /* db.c */
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    /* audit.c */
    STMT_AUDIT_LAST,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_ALL,
    STMT_AUDIT_ATNA_INSERT,
    STMT_AUDIT_CHECKPOINT_INSERT,
    STMT_AUDIT_CHECKPOINTS,
    STMT_AUDIT_ROW_HASH,
    STMT_AUDIT_PAGE,
    STMT_AUDIT_ACCESS_LOG,
    /* institutions.c */
    STMT_CRED_OWNER,
    STMT_INST_UPSERT,
    STMT_CRED_DELETE,
    STMT_CRED_INSERT,
    STMT_ROOT_OWNER,
    STMT_ROOT_DELETE,
    STMT_ROOT_INSERT,
    STMT_INST_LIST,
    STMT_ROOT_LIST,
    STMT_INST_ENSURE,
    /* documents.c */
    STMT_DOC_SHA_BY_UNIQUE_ID,
    STMT_INST_ID_BY_OID,
    STMT_DOC_REPLACEABLE,
    STMT_DOC_INSERT,
    STMT_CONTENT_INSERT,
    STMT_PATIENT_ID_INSERT,
    STMT_DOC_SUPERSEDE_PARENT,
    STMT_DOC_SUPERSEDE_SELF,
    STMT_DOC_GET,
    STMT_DOC_HAS_SHA,
    STMT_DOC_EACH,
    STMT_DOC_UPDATE_NORMALIZED,
    STMT_CONTENT_UPDATE_NORMALIZED,
    /* facts.c */
    STMT_FACT_INSERT,
    STMT_FACT_INSERT_4,
    STMT_FACT_INSERT_16,
    STMT_FACT_INSERT_64,
    STMT_FACT_LAST_ID,
    STMT_FACT_NEGATION_INSERT,
    STMT_FACT_COHORT_INDEX,
    STMT_FACT_DELETE,
    STMT_FACT_EXTRAS_PUT,
    STMT_FACT_EXTRAS_GET,
    STMT_FACT_EXTRAS_DELETE,
    /* state.c */
    STMT_STATE_GET,
    STMT_STATE_SET,
    STMT_COUNT_DOCUMENTS,
    STMT_COUNT_FACTS,
    STMT_COUNT_AUDIT,
    STMT_COUNT_INSTITUTIONS,
    STMT_COUNT_PATIENT_IDS,
    /* patients.c */
    STMT_PATIENT_FIND,
    STMT_PERSON_INSERT,
    STMT_PATIENT_INSERT,
    STMT_LINK_FIND,
    STMT_LINK_PUT,
    STMT_PERSON_MERGE,
    STMT_PERSONS_APART,
    /* patients_match.c */
    STMT_PATIENT_DEMOG_SAME,
    STMT_PATIENT_DEMOG_SET,
    STMT_BLOCKS_DELETE,
    STMT_BLOCK_INSERT,
    STMT_CANDIDATES,
    STMT_DOC_IDS_DELETE,
    STMT_DOC_PATIENT_SET,
    STMT_PATIENT_CLEAR_LINKS,
    STMT_PATIENT_CLEAR,
    STMT_DOC_IDS_CLEAR,
    /* timeline.c */
    STMT_PERSON_FACTS,
    /* query.c */
    STMT_DOC_KEYS,
    STMT_QUERY_DOCS,
    /* links.c */
    STMT_LINKS_GET,
    STMT_LINKS_LIST_STATUS,
    STMT_LINKS_LIST_ALL,
    STMT_LINKS_DECIDE,
    STMT_LINKS_REACHES,
    STMT_LINKS_PERSON_NEW,
    STMT_LINKS_SPLIT,
    STMT_LINKS_BY_ID,
    /* persons.c */
    STMT_PERSONS_IDENTITIES,
    STMT_PERSONS_BY_DEMOG,
    /* consents.c */
    STMT_CONSENT_INSERT,
    STMT_CONSENT_LIST,
    STMT_CONSENT_CARE,
    STMT_BREAKGLASS_GET,
    STMT_BREAKGLASS_PUT,
    STMT_DOC_ACCESS_LIST,
    /* outbox.c */
    STMT_OUTBOX_ADD,
    STMT_OUTBOX_DESTS,
    STMT_OUTBOX_NEXT,
    STMT_OUTBOX_DUE,
    STMT_OUTBOX_STARTED,
    STMT_OUTBOX_FINISH,
    STMT_OUTBOX_GET,
    STMT_OUTBOX_LIST,
    STMT_OUTBOX_RETRY_ONE,
    STMT_OUTBOX_RETRY_DEAD,
    STMT_OUTBOX_COUNTS,
    STMT_OUTBOX_RELAY_SET,
    STMT_OUTBOX_RELAY_GET,
    STMT_OUTBOX_KNOWN,
    /* cohorts.c, cohort_sets.c */
    STMT_COHORT_FACTS_EXACT,
    STMT_COHORT_FACTS_RANGE,
    STMT_COHORT_FACTS_PERSON,
    STMT_COHORT_FACTS_PERSON_CODE,
    STMT_COHORT_UNIVERSE,
    STMT_COHORT_ATTRS_ALL,
    STMT_COHORT_ATTRS_ONE,
    STMT_COHORT_INSTITUTION,
    STMT_COHORT_INSTITUTION_PERSON,
    STMT_COHORT_BEGIN,
    STMT_COHORT_MMAP,
    STMT_COHORT_INSERT,
    STMT_COHORT_PERSON_INSERT,
    STMT_COHORT_NEAR,
    STMT_COHORT_PERSONS,
    STMT_COHORT_GET,
    STMT_COHORT_INSTITUTIONS_OF,
    STMT_COHORT_OPTED_OUT,
    /* cohort_export.c */
    STMT_EXPORT_COHORT,
    STMT_EXPORT_PERSONS,
    STMT_EXPORT_FACTS,
    /* requests.c */
    STMT_REQUEST_INSERT,
    STMT_REQUEST_DOC_INSERT,
    STMT_REQUEST_GET,
    STMT_REQUEST_DOCS,
    STMT_SUB_COUNT,
    STMT_SUB_INSERT,
    STMT_SUB_DELETE,
    STMT_SUB_LIST,
    STMT_SUB_OF_PERSON,
    STMT_MAX
} stmt_id_t;

struct cdx_registry {
    sqlite3 *db;
    int skip_check;
    int schema_version;
    int last_sqlite_rc; /* SQLite's code behind the last failure, for more specific messages */
    int64_t wal_frames; /* the WAL's frames after the last commit (cdx_registry_wal_frames) */
    sqlite3_stmt *stmts[STMT_MAX];
    const char *stmt_sql[STMT_MAX]; /* the text each was prepared from, to catch a reused id */
    uint64_t prepared, reused, one_off;
    struct ZSTD_CCtx_s *zc; /* content.c's contexts, made on first use */
    struct ZSTD_DCtx_s *zd;
    char errmsg[512];
    /* The audit signing key (borrowed) and how many records between two
     * signed checkpoints (0: only when asked); see
     * cdx_registry_set_audit_key. */
    const struct cdx_audit_key *audit_key;
    int64_t audit_every;
};

/* ---- db.c: errors, statements, transactions -------------------------- */

/* Writes the current UTC time as RFC 3339 with milliseconds. */
void cdx_store_now(char out[32]);
/* Maps a SQLite result code to the project's error code. */
int cdx_store_map_sqlite(int src);
/* Records why a SQLite call failed in reg->errmsg; returns the mapped code. */
int cdx_store_fail(cdx_registry_t *reg, int src, const char *what);
/* Runs SQL once, outside the cache (open-time pragmas and migrations). */
int cdx_store_exec(cdx_registry_t *reg, const char *sql, const char *what);
/* The cached statement for id, prepared from sql on first use.  Returns 0
 * or a negative error (reg->errmsg says why; *st is then NULL). */
int cdx_store_stmt_get(cdx_registry_t *reg, stmt_id_t id, const char *sql, sqlite3_stmt **st);
/* Resets st and clears its bindings; NULL is a no-op. */
void cdx_store_stmt_put(sqlite3_stmt *st);
/* Finalizes every cached statement (before the connection closes). */
void cdx_store_stmt_cache_clear(cdx_registry_t *reg);
/* Binds s, or SQL NULL when s is NULL. */
int cdx_store_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Steps a statement that must finish without returning rows. */
int cdx_store_step_done(cdx_registry_t *reg, sqlite3_stmt *st, const char *what);
/* Binds n texts to ?1..?n of the cached statement id, runs it to
 * completion and puts it back: the common shape of a single write. */
int cdx_store_exec_texts(cdx_registry_t *reg, stmt_id_t id, const char *sql, const char *what,
                         const char *const *values, int n);
/* One-value queries outside the cache (open-time checks). */
int cdx_store_query_text(cdx_registry_t *reg, const char *sql, char *out, size_t n);
int cdx_store_query_int64(cdx_registry_t *reg, const char *sql, int64_t *out);
/* A cached query of one integer. */
int cdx_store_query_int64_cached(cdx_registry_t *reg, stmt_id_t id, const char *sql, int64_t *out);
int cdx_store_tx_begin(cdx_registry_t *reg);
int cdx_store_tx_commit(cdx_registry_t *reg);
/* Rolls back the open transaction, if SQLite has not already ended it. */
void cdx_store_tx_rollback(cdx_registry_t *reg);
/* Runs fn(reg, arg) inside the caller's transaction when one is open,
 * else inside one of its own that commits on success. */
int cdx_store_in_transaction(cdx_registry_t *reg, int (*fn)(cdx_registry_t *reg, void *arg),
                             void *arg);

/* ---- migrate.c -------------------------------------------------------- */

/* Applies the pending schema steps; sets reg->schema_version. */
int cdx_store_migrate(cdx_registry_t *reg, const char *path, char *err, size_t errlen);

/* ---- audit.c ---------------------------------------------------------- */

/* Appends ev to the chain inside the open transaction. */
int cdx_store_audit_append(cdx_registry_t *reg, const cdx_audit_event_t *ev);

#define CDX_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* The hash format new rows are written with. */
#define CDX_AUDIT_HASH_VERSION 2

/* A string field as stored: p == NULL is SQL NULL, distinct from "". */
typedef struct span {
    const char *p;
    size_t n;
} span_t;

span_t cdx_store_span(const char *s);

/* An audit row's hashed fields; version 1 rows hash the first ones only. */
typedef struct audit_row {
    int64_t version;
    int64_t seq;
    span_t ts, event, actor_oid, actor_user, purpose;
    int64_t outcome;
    span_t patient_key, document_id, detail;
    span_t peer, decision, reason, consent;
} audit_row_t;

/* The hash of r chained to prev_hash, in r->version's format, as 64 hex
 * digits.  Returns 0, CDX_EINVAL for an unknown version, or CDX_ECRYPTO. */
int cdx_store_audit_hash(const char *prev_hash, const audit_row_t *r, char out[65]);

/* Signs and inserts the checkpoint of record seq (its hash) with the
 * registry's audit key, inside the open transaction. */
int cdx_store_audit_checkpoint_at(cdx_registry_t *reg, int64_t seq, const char *hash);

/* ---- facts.c ---------------------------------------------------------- */

/* Inserts the facts of document doc_id: rows when given, else those of
 * facts_json (the extractor's grouping); extras_packed, when not NULL, is
 * the rows' fact extras packed already (cdx_registry_pack_fact_extras). */
int cdx_store_facts_insert(cdx_registry_t *reg, int64_t doc_id, const char *facts_json,
                           const cdx_fact_row_t *rows, size_t nrows, const void *extras_packed,
                           size_t extras_packed_size);
/* Removes the facts of document doc_id. */
int cdx_store_facts_delete(cdx_registry_t *reg, int64_t doc_id);
/* The fact extras of document doc_id: a JSON array (one object per fact,
 * in row id order) in *out, NULL when the document has none (its facts
 * keep their data in their rows).  CDX_EDB when the stored frame is
 * corrupted. */
struct json_t;
int cdx_store_fact_extras(cdx_registry_t *reg, int64_t doc_id, struct json_t **out);

/* ---- content.c -------------------------------------------------------- */

/* No stored form unpacks to more than this (far above max_body_bytes). */
#define CDX_STORE_CONTENT_MAX (1ULL << 30)

/* Packs n bytes into a heap frame *out (free()) with reg's context. */
int cdx_store_pack(cdx_registry_t *reg, const void *src, size_t n, void **out, size_t *outlen);
/* Whether a stored blob is a frame (else: bytes stored as received). */
int cdx_store_is_packed(const void *blob, size_t blen);
/* The bytes of a stored blob into a heap copy *out (NUL-terminated, length
 * *outlen): a frame's content, which must be exactly expected bytes
 * (expected < 0: the size the frame records, within bounds), or a blob
 * stored as received as it is.  what names the blob in the message of a
 * corrupted one (CDX_EDB). */
int cdx_store_unpack(cdx_registry_t *reg, const void *blob, size_t blen, int64_t expected,
                     const char *what, char **out, size_t *outlen);
/* Frees reg's contexts (at close). */
void cdx_store_content_free(cdx_registry_t *reg);

/* ---- documents.c ------------------------------------------------------ */

/* Inserts the patient ids of rec as those of document doc_id. */
int cdx_store_doc_patient_ids_insert(cdx_registry_t *reg, int64_t doc_id,
                                     const cdx_doc_record_t *rec);

/* ---- patients.c ------------------------------------------------------- */

/* The patient row and person of an identity (ext NULL is "") and, when
 * national is not NULL, whether it is a national id.  Returns 0,
 * CDX_ENOTFOUND when the index lacks it, or an error. */
int cdx_store_patient_find(cdx_registry_t *reg, const char *root, const char *ext,
                           int64_t *patient_id, int64_t *person_id, int *national);
/* The patient row of identity (root, ext), created with a new person when
 * absent (*created says so). */
int cdx_store_patient_ensure(cdx_registry_t *reg, const char *root, const char *ext,
                             const char *institution_oid, int national, int64_t *patient_id,
                             int64_t *person_id, int *created);
/* The link between patients x and y, either order: its id and status
 * ("linked", "review", "unlinked", "distinct"; "" and 0 when none). */
int cdx_store_link_find(cdx_registry_t *reg, int64_t x, int64_t y, int64_t *link_id,
                        char status[16]);
/* Inserts or updates the link between x and y (stored as a < b); score < 0
 * and NULL strings store NULL.  link_id may be NULL. */
int cdx_store_link_put(cdx_registry_t *reg, int64_t x, int64_t y, const char *rule,
                       const char *status, double score, const char *breakdown,
                       const char *reason, const char *actor, int64_t *link_id);
/* Moves every identity of person `from` into person `into`. */
int cdx_store_person_merge(cdx_registry_t *reg, int64_t into, int64_t from);
/* The patient index step of one stored document: its inputs, and what
 * attaching its identities found. */
typedef struct cdx_store_pindex {
    const cdx_doc_record_t *rec;
    const char *doc_uid; /* the document's registry id, for audit rows */
    const char *actor;   /* audit actor; NULL: rec->submitter_oid */
    int64_t hub;         /* the document's canonical identity (patient row) */
    int64_t person;      /* its person, after the document's own links */
    int blocked;         /* a person's decision kept two identities apart */
} cdx_store_pindex_t;

/* Registers every identity of a stored document and links them into one
 * person through its canonical identity (rule 'document', or 'national'
 * when one side is a national id), except where a person recorded that
 * two of them, or two identities of their persons, are not the same (then
 * px->blocked is set, those stay apart, and the blocked link is audited).
 * Every new national link is audited (patient.link). */
int cdx_store_patients_attach(cdx_registry_t *reg, cdx_store_pindex_t *px);
/* Whether a person decided ('distinct' or 'unlinked') that some identity
 * of person1 is not some identity of person2: *decision receives that
 * link's id, 0 when none. */
int cdx_store_persons_apart(cdx_registry_t *reg, int64_t person1, int64_t person2,
                            int64_t *decision);
/* Appends ev (event, outcome, detail) as a patient index audit row of
 * px's document: actor, patient key and document id are px's. */
int cdx_store_pindex_audit(cdx_registry_t *reg, const cdx_store_pindex_t *px,
                           cdx_audit_event_t ev);

/* ---- patients_match.c ------------------------------------------------- */

/* Demographic matching of a document's patient (px after attach): stores
 * the match keys, summary and blocking keys of the document's identities,
 * then scores the identities of other persons that share a blocking key
 * (at most CDX_STORE_MATCH_CANDIDATES) and links (rule 'match') or queues
 * for review, unless a person decided otherwise.  Nothing without
 * px->rec->match. */
#define CDX_STORE_MATCH_CANDIDATES 200
int cdx_store_patients_match(cdx_registry_t *reg, cdx_store_pindex_t *px);

/* ---- query.c ---------------------------------------------------------- */

/* Defines the SQL function cdx_ts_utc_key(text) on the connection (the
 * schema step that adds the keys fills them with it). */
int cdx_store_query_functions(cdx_registry_t *reg, const char *path, char *err, size_t errlen);
/* Fills the sort and filter keys and the class code of document doc_id
 * from rec, inside the open transaction. */
/* cohort_people.c: the persons (ascending) whose newest research decision
 * is "deny" (cdx_store_research_opted_out's comment says how it is read);
 * *out is heap (free()), NULL when none.  Returns 0 or an error. */
int cdx_store_research_opted_out(cdx_registry_t *reg, int64_t **out, size_t *n);
/* cohorts.c: the birth date (YYYYMMDD as an integer, 0 unknown) and sex
 * ('M', 'F', 0 unknown) of each of persons[0..n) (ascending), from the
 * first of its identities that has them; the date YYYYMMDD of day z. */
int cdx_store_cohort_attrs(cdx_registry_t *reg, const int64_t *persons, size_t n, int32_t *birth,
                           char *sex);
void cdx_store_civil_ymd(int32_t z, int32_t *ymd);

/* documents.c: the columns of a document row (documents AS d joined with
 * its submitter, institutions AS i), first in a SELECT, and the row read
 * from them (the content is not among them).  cdx_store_doc_row_read
 * returns 0 or CDX_ENOMEM (row cleaned up).  cdx_store_column_dup: a copy
 * of a text column, NULL for NULL (or out of memory). */
#define CDX_STORE_DOC_COLUMNS                                                                      \
    "d.id, d.uid, d.unique_id, d.status, d.sha256, d.normalized_sha256, d.mapping_version,"        \
    " d.meta_json, i.oid, d.patient_root, d.patient_ext, d.author_oid, d.custodian_oid,"           \
    " d.type_code, d.confidentiality"
#define CDX_STORE_DOC_NCOLUMNS 15
int cdx_store_doc_row_read(sqlite3_stmt *st, cdx_doc_row_t *row);
char *cdx_store_column_dup(sqlite3_stmt *st, int col);

int cdx_store_document_keys(cdx_registry_t *reg, int64_t doc_id, const cdx_doc_record_t *rec);

/* ---- links.c ---------------------------------------------------------- */
/* Fills *id from the columns col..col+3 of st (root, extension, national,
 * institution_oid of a patients row); a national identity gets no
 * extension. */
void cdx_store_identity_read(sqlite3_stmt *st, int col, cdx_identity_t *id);

/* ---- schema.c (generated from schema/NNNN_*.sql) ---------------------- */

typedef struct store_schema_step {
    int version;
    const char *name;
    const char *sql;
} cdx_store_schema_step_t;

extern const cdx_store_schema_step_t cdx_store_schema_steps[];
extern const size_t cdx_store_schema_nsteps;

#endif
