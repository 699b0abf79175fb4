/* patients_match: demographic matching in the patient index, and the
 * rebuild of a stored document's identities (reindex).  See
 * include/cdx/store/registry.h, "Patient index".
 *
 * A document's identities carry its patient's match keys (family, given,
 * birth, sex, postal, address, phone: cdx/domain/match.h) and blocking
 * keys (patient_blocks).  A new document is compared only with the
 * identities of other persons that share one of its blocking keys (an
 * index lookup per key, at most CDX_STORE_MATCH_CANDIDATES in all), so
 * the cost of matching does not grow with the registry.  A decision of a
 * person (a 'distinct' or 'unlinked' link between any identities of the
 * two persons) is never overridden. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CDX_DEMOG_BLOCK_LEN == 64, "cdx_patient_match_t.blocks rows are 64 bytes");

/* Whether identity pid already holds exactly these match keys, summary
 * and blocking keys (the common case of a patient's next document): then
 * nothing is rewritten. */
static int demographics_unchanged(cdx_registry_t *reg, int64_t pid, const cdx_patient_match_t *m,
                                  const char *const texts[8], int *same)
{
    sqlite3_stmt *st = NULL;
    *same = 0;
    int rc = cdx_store_stmt_get(
        reg, STMT_PATIENT_DEMOG_SAME,
        "SELECT (family IS ?2 AND given IS ?3 AND birth IS ?4 AND sex IS ?5 AND postal IS ?6"
        " AND address IS ?7 AND phone IS ?8 AND summary IS ?9),"
        " (SELECT count(*) FROM patient_blocks WHERE patient_id = ?1),"
        " (SELECT count(*) FROM patient_blocks WHERE patient_id = ?1 AND key IN"
        "  (?10, ?11, ?12, ?13, ?14, ?15))"
        " FROM patients WHERE id = ?1",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, pid);
    for (int i = 0; src == SQLITE_OK && i < 8; i++)
        src = cdx_store_bind_text(st, i + 2, texts[i]);
    for (size_t i = 0; src == SQLITE_OK && i < CDX_DEMOG_MAX_BLOCKS; i++)
        src = i < m->nblocks ? cdx_store_bind_text(st, (int)i + 10, m->blocks[i])
                             : sqlite3_bind_null(st, (int)i + 10);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *same = sqlite3_column_int(st, 0) == 1 &&
                sqlite3_column_int64(st, 1) == (int64_t)m->nblocks &&
                sqlite3_column_int64(st, 2) == (int64_t)m->nblocks;
    rc = src == SQLITE_ROW || src == SQLITE_DONE ? 0
                                                 : cdx_store_fail(reg, src, "reading match keys");
    cdx_store_stmt_put(st);
    return rc;
}

/* Writes the match keys and summary of identity pid, and replaces its
 * blocking keys, unless they are already those. */
static int put_demographics(cdx_registry_t *reg, int64_t pid, const cdx_patient_match_t *m)
{
    const cdx_demog_t *d = m->demog;
    char sex[2] = {d->sex, '\0'};
    const char *const now_texts[8] = {d->family, d->given,   d->birth, sex,
                                      d->postal, d->address, d->phone, m->summary_json};
    int same = 0;
    int rc = demographics_unchanged(reg, pid, m, now_texts, &same);
    if (rc != 0 || same)
        return rc;
    char ts[32];
    cdx_store_now(ts);
    sqlite3_stmt *st = NULL;
    rc = cdx_store_stmt_get(reg, STMT_PATIENT_DEMOG_SET,
                                "UPDATE patients SET family = ?2, given = ?3, birth = ?4, sex = ?5,"
                                " postal = ?6, address = ?7, phone = ?8, summary = ?9,"
                                " updated_at = ?10 WHERE id = ?1",
                                &st);
    if (rc != 0)
        return rc;
    const char *const texts[] = {d->family, d->given,   d->birth,        sex, d->postal,
                                 d->address, d->phone, m->summary_json, ts};
    int src = sqlite3_bind_int64(st, 1, pid);
    for (size_t i = 0; src == SQLITE_OK && i < CDX_ARRAY_SIZE(texts); i++)
        src = cdx_store_bind_text(st, (int)i + 2, texts[i]);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing match keys")
                          : cdx_store_fail(reg, src, "binding match keys");
    cdx_store_stmt_put(st);
    if (rc != 0)
        return rc;
    rc = cdx_store_stmt_get(reg, STMT_BLOCKS_DELETE,
                            "DELETE FROM patient_blocks WHERE patient_id = ?1", &st);
    if (rc != 0)
        return rc;
    src = sqlite3_bind_int64(st, 1, pid);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "replacing blocking keys")
                          : cdx_store_fail(reg, src, "replacing blocking keys");
    cdx_store_stmt_put(st);
    for (size_t i = 0; rc == 0 && i < m->nblocks; i++) {
        rc = cdx_store_stmt_get(reg, STMT_BLOCK_INSERT,
                                "INSERT OR IGNORE INTO patient_blocks (key, patient_id)"
                                " VALUES (?1, ?2)",
                                &st);
        if (rc != 0)
            return rc;
        src = cdx_store_bind_text(st, 1, m->blocks[i]);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(st, 2, pid);
        rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a blocking key")
                              : cdx_store_fail(reg, src, "binding a blocking key");
        cdx_store_stmt_put(st);
    }
    return rc;
}

/* One identity of another person sharing a blocking key. */
typedef struct candidate {
    int64_t pid, person;
    cdx_demog_t d;
} candidate_t;

static void column_copy(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    cdx_strlcpy(out, v != NULL ? (const char *)v : "", n);
}

/* The identities (not national ones, not of person) sharing a blocking key
 * of m, at most CDX_STORE_MATCH_CANDIDATES, into a heap array. */
static int find_candidates(cdx_registry_t *reg, const cdx_patient_match_t *m, int64_t person,
                           candidate_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    candidate_t *c = calloc(CDX_STORE_MATCH_CANDIDATES, sizeof *c);
    if (c == NULL)
        return CDX_ENOMEM;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_CANDIDATES,
        "SELECT DISTINCT p.id, p.person_id, p.family, p.given, p.birth, p.sex, p.postal,"
        " p.address, p.phone FROM patient_blocks AS b JOIN patients AS p ON p.id = b.patient_id"
        " WHERE b.key IN (?1, ?2, ?3, ?4, ?5, ?6) AND p.person_id <> ?7 AND p.national = 0"
        " LIMIT ?8",
        &st);
    if (rc != 0) {
        free(c);
        return rc;
    }
    _Static_assert(CDX_DEMOG_MAX_BLOCKS == 6, "the candidate query binds six blocking keys");
    int src = SQLITE_OK;
    for (size_t i = 0; src == SQLITE_OK && i < CDX_DEMOG_MAX_BLOCKS; i++)
        src = i < m->nblocks ? cdx_store_bind_text(st, (int)i + 1, m->blocks[i])
                             : sqlite3_bind_null(st, (int)i + 1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 7, person);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 8, CDX_STORE_MATCH_CANDIDATES);
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(st);
        if (src != SQLITE_ROW || *n == CDX_STORE_MATCH_CANDIDATES)
            break;
        candidate_t *k = &c[(*n)++];
        k->pid = sqlite3_column_int64(st, 0);
        k->person = sqlite3_column_int64(st, 1);
        column_copy(st, 2, k->d.family, sizeof k->d.family);
        column_copy(st, 3, k->d.given, sizeof k->d.given);
        column_copy(st, 4, k->d.birth, sizeof k->d.birth);
        const unsigned char *sex = sqlite3_column_text(st, 5);
        k->d.sex = sex != NULL && (sex[0] == 'M' || sex[0] == 'F') ? (char)sex[0] : 0;
        column_copy(st, 6, k->d.postal, sizeof k->d.postal);
        column_copy(st, 7, k->d.address, sizeof k->d.address);
        column_copy(st, 8, k->d.phone, sizeof k->d.phone);
    }
    rc = src == SQLITE_DONE || src == SQLITE_ROW ? 0
                                                 : cdx_store_fail(reg, src, "finding candidates");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(c);
        *n = 0;
        return rc;
    }
    *out = c;
    return 0;
}

/* Persons already joined to the document's person in this call. */
typedef struct joined {
    int64_t ids[CDX_STORE_MATCH_CANDIDATES + 1];
    size_t n;
} joined_t;

static int joined_has(const joined_t *j, int64_t person)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->ids[i] == person)
            return 1;
    return 0;
}

/* Acts on one candidate's verdict: a link (and a merge of the persons) or
 * a review, each with its audit row; nothing where a person decided, where
 * the pair already has that status, or below the review threshold. */
static int decide(cdx_registry_t *reg, cdx_store_pindex_t *px, const candidate_t *k,
                  joined_t *joined)
{
    const cdx_patient_match_t *m = px->rec->match;
    cdx_match_score_t s;
    cdx_match_score(m->demog, &k->d, &s);
    const cdx_match_thresholds_t *t =
        m->thresholds != NULL ? m->thresholds : &cdx_match_default_thresholds;
    cdx_match_verdict_t v = cdx_match_decide(&s, t);
    if (v == CDX_MATCH_NONE)
        return 0;
    int64_t link_id = 0, decision = 0;
    char status[16];
    int rc = cdx_store_link_find(reg, px->hub, k->pid, &link_id, status);
    if (rc != 0 || strcmp(status, "distinct") == 0 || strcmp(status, "unlinked") == 0 ||
        strcmp(status, "linked") == 0 || (v == CDX_MATCH_REVIEW && status[0] != '\0'))
        return rc;
    rc = cdx_store_persons_apart(reg, px->person, k->person, &decision);
    if (rc != 0 || decision != 0)
        return rc; /* a person decided: nothing new */
    char breakdown[1024], detail[128];
    int blen = cdx_match_score_json(&s, breakdown, sizeof breakdown);
    if (blen < 0 || (size_t)blen >= sizeof breakdown)
        snprintf(breakdown, sizeof breakdown, "{\"total\":%.3f}", s.total);
    const char *new_status = v == CDX_MATCH_LINK ? "linked" : "review";
    rc = cdx_store_link_put(reg, px->hub, k->pid, "match", new_status, s.total, breakdown, NULL,
                            NULL, &link_id);
    if (rc != 0)
        return rc;
    snprintf(detail, sizeof detail, "rule=match score=%.2f link=%lld", s.total,
             (long long)link_id);
    cdx_audit_event_t ev = {.event = CDX_AUDIT_PATIENT_LINK,
                            .outcome = CDX_AUDIT_SUCCESS,
                            .detail = detail};
    if (v == CDX_MATCH_REVIEW)
        ev.event = CDX_AUDIT_PATIENT_REVIEW;
    rc = cdx_store_pindex_audit(reg, px, ev);
    if (rc != 0 || v != CDX_MATCH_LINK)
        return rc;
    int64_t into = px->person < k->person ? px->person : k->person;
    rc = cdx_store_person_merge(reg, into, px->person < k->person ? k->person : px->person);
    if (rc == 0 && joined->n < CDX_ARRAY_SIZE(joined->ids))
        joined->ids[joined->n++] = k->person; /* px->person is in already */
    px->person = into;
    return rc;
}

int cdx_store_patients_match(cdx_registry_t *reg, cdx_store_pindex_t *px)
{
    const cdx_doc_record_t *rec = px->rec;
    const cdx_patient_match_t *m = rec->match;
    if (m == NULL || m->demog == NULL || px->hub == 0)
        return 0;
    /* Every identity of the document (not the national ones, which are
     * shared across institutions) carries the patient's match keys. */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rec->npatient_ids; i++) {
        const char *root = rec->patient_ids[2 * i];
        const char *ext = rec->patient_ids[2 * i + 1];
        if (root == NULL || root[0] == '\0' ||
            (rec->patient_national != NULL && rec->patient_national[i]))
            continue;
        int64_t pid = 0, person = 0;
        int created = 0;
        rc = cdx_store_patient_ensure(reg, root, ext != NULL ? ext : "", rec->submitter_oid, 0,
                                      &pid, &person, &created);
        if (rc == 0 && person == px->person)
            rc = put_demographics(reg, pid, m);
    }
    candidate_t *c = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = find_candidates(reg, m, px->person, &c, &n);
    joined_t *joined = rc == 0 ? calloc(1, sizeof *joined) : NULL;
    if (rc == 0 && joined == NULL)
        rc = CDX_ENOMEM;
    if (joined != NULL)
        joined->ids[joined->n++] = px->person;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (joined_has(joined, c[i].person))
            continue; /* joined through an earlier candidate */
        rc = decide(reg, px, &c[i], joined);
    }
    free(joined);
    free(c);
    return rc;
}

/* ---- Reindex ---------------------------------------------------------- */

typedef struct reindex_args {
    int64_t doc_id;
    const cdx_doc_record_t *rec;
    const char *actor;
} reindex_args_t;

static int exec_id(cdx_registry_t *reg, stmt_id_t id, const char *sql, int64_t v,
                   const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, id, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, v);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, what) : cdx_store_fail(reg, src, what);
    cdx_store_stmt_put(st);
    return rc;
}

static int reindex_tx(cdx_registry_t *reg, void *arg)
{
    const reindex_args_t *a = arg;
    const cdx_doc_record_t *rec = a->rec;
    int rc = exec_id(reg, STMT_DOC_IDS_DELETE,
                     "DELETE FROM document_patient_ids WHERE document_id = ?1", a->doc_id,
                     "replacing a document's patient ids");
    if (rc == 0)
        rc = cdx_store_doc_patient_ids_insert(reg, a->doc_id, rec);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = cdx_store_stmt_get(reg, STMT_DOC_PATIENT_SET,
                            "UPDATE documents SET patient_root = ?2, patient_ext = ?3 WHERE id = ?1",
                            &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, a->doc_id);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, rec->patient_root);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, rec->patient_ext);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "updating a document's patient")
                          : cdx_store_fail(reg, src, "updating a document's patient");
    cdx_store_stmt_put(st);
    char uid[33];
    cdx_registry_doc_uid(rec->unique_id, uid);
    cdx_store_pindex_t px = {.rec = rec, .doc_uid = uid, .actor = a->actor};
    if (rc == 0)
        rc = cdx_store_patients_attach(reg, &px);
    if (rc == 0)
        rc = cdx_store_patients_match(reg, &px);
    return rc;
}

int cdx_registry_reindex_patients(cdx_registry_t *reg, int64_t doc_id,
                                  const cdx_doc_record_t *rec, const char *actor)
{
    reg->errmsg[0] = '\0';
    reindex_args_t a = {.doc_id = doc_id, .rec = rec, .actor = actor};
    return cdx_store_in_transaction(reg, reindex_tx, &a);
}

static int forget_tx(cdx_registry_t *reg, void *arg)
{
    const char *root = arg;
    static const struct {
        stmt_id_t id;
        const char *sql, *what;
    } steps[] = {
        {STMT_PATIENT_CLEAR_LINKS,
         "DELETE FROM patient_links WHERE a IN (SELECT id FROM patients WHERE root = ?1 AND"
         " extension NOT LIKE 'hmac-sha256:%') OR b IN (SELECT id FROM patients WHERE root = ?1"
         " AND extension NOT LIKE 'hmac-sha256:%')",
         "removing links of ids in clear"},
        {STMT_PATIENT_CLEAR,
         "DELETE FROM patients WHERE root = ?1 AND extension NOT LIKE 'hmac-sha256:%'",
         "removing ids in clear"},
        {STMT_DOC_IDS_CLEAR,
         "DELETE FROM document_patient_ids WHERE root = ?1 AND"
         " extension NOT LIKE 'hmac-sha256:%'",
         "removing document ids in clear"},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < CDX_ARRAY_SIZE(steps); i++) {
        const char *const v[] = {root};
        rc = cdx_store_exec_texts(reg, steps[i].id, steps[i].sql, steps[i].what, v, 1);
    }
    return rc;
}

int cdx_registry_forget_clear_ids(cdx_registry_t *reg, const char *root)
{
    reg->errmsg[0] = '\0';
    return cdx_store_in_transaction(reg, forget_tx, (void *)root);
}
