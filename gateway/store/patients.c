/* patients: the patient index's identities, persons and links (see
 * include/cdx/store/registry.h, "Patient index").
 *
 * A patient row is one identity, (assigning authority root, extension),
 * seen in a stored document.  Identities are joined into persons by links
 * with status 'linked'; patients.person_id names the person each identity
 * belongs to now (the connected component of its linked links), kept up
 * to date by every link and unlink.  Every identity of one document is
 * the same person by the document's own statement (rule 'document'),
 * unless a person decided otherwise (a link with status 'distinct' or
 * 'unlinked' between the two): a decision of a person is never overridden
 * by an automatic one. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int cdx_store_patient_find(cdx_registry_t *reg, const char *root, const char *ext,
                           int64_t *patient_id, int64_t *person_id, int *national)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_PATIENT_FIND,
                                "SELECT id, person_id, national FROM patients WHERE root = ?1 AND"
                                " extension = ?2",
                                &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, root);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, ext != NULL ? ext : "");
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *patient_id = sqlite3_column_int64(st, 0);
        *person_id = sqlite3_column_int64(st, 1);
        if (national != NULL)
            *national = sqlite3_column_int(st, 2) != 0;
        rc = 0;
    } else {
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : cdx_store_fail(reg, src, "finding a patient");
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* The patient row of an identity, created (as a new person) when absent.
 * *created tells which. */
int cdx_store_patient_ensure(cdx_registry_t *reg, const char *root, const char *ext,
                             const char *institution_oid, int national, int64_t *patient_id,
                             int64_t *person_id, int *created)
{
    sqlite3_stmt *st = NULL;
    *created = 0;
    int rc = cdx_store_patient_find(reg, root, ext, patient_id, person_id, NULL);
    if (rc != CDX_ENOTFOUND)
        return rc;
    char ts[32];
    cdx_store_now(ts);
    const char *const person[] = {ts};
    rc = cdx_store_exec_texts(reg, STMT_PERSON_INSERT, "INSERT INTO persons (created_at) VALUES (?1)",
                              "creating a person", person, 1);
    if (rc != 0)
        return rc;
    *person_id = sqlite3_last_insert_rowid(reg->db);
    rc = cdx_store_stmt_get(reg, STMT_PATIENT_INSERT,
                            "INSERT INTO patients (root, extension, person_id, national,"
                            " institution_oid, created_at, updated_at)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                            &st);
    if (rc != 0)
        return rc;
    int src = cdx_store_bind_text(st, 1, root);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 2, ext);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, *person_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(st, 4, national ? 1 : 0);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 5, institution_oid);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, ts);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "storing a patient")
                          : cdx_store_fail(reg, src, "binding a patient");
    cdx_store_stmt_put(st);
    if (rc == 0) {
        *patient_id = sqlite3_last_insert_rowid(reg->db);
        *created = 1;
    }
    return rc;
}

/* The link between two identities (either order): *status receives its
 * status ("" when there is none, then *link_id is 0). */
int cdx_store_link_find(cdx_registry_t *reg, int64_t x, int64_t y, int64_t *link_id,
                        char status[16])
{
    sqlite3_stmt *st = NULL;
    status[0] = '\0';
    *link_id = 0;
    int rc = cdx_store_stmt_get(reg, STMT_LINK_FIND,
                                "SELECT id, status FROM patient_links WHERE a = ?1 AND b = ?2", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, x < y ? x : y);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, x < y ? y : x);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *link_id = sqlite3_column_int64(st, 0);
        const unsigned char *s = sqlite3_column_text(st, 1);
        snprintf(status, 16, "%s", s != NULL ? (const char *)s : "");
        rc = 0;
    } else {
        rc = src == SQLITE_DONE ? 0 : cdx_store_fail(reg, src, "finding a patient link");
    }
    cdx_store_stmt_put(st);
    return rc;
}

/* Inserts or updates the link between x and y.  score < 0 and NULL
 * strings store SQL NULL. */
int cdx_store_link_put(cdx_registry_t *reg, int64_t x, int64_t y, const char *rule,
                       const char *status, double score, const char *breakdown,
                       const char *reason, const char *actor, int64_t *link_id)
{
    sqlite3_stmt *st = NULL;
    char ts[32];
    cdx_store_now(ts);
    int rc = cdx_store_stmt_get(
        reg, STMT_LINK_PUT,
        "INSERT INTO patient_links (a, b, rule, status, score, breakdown, reason, actor,"
        " created_at, decided_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
        " ON CONFLICT (a, b) DO UPDATE SET rule = excluded.rule, status = excluded.status,"
        " score = excluded.score, breakdown = excluded.breakdown, reason = excluded.reason,"
        " actor = excluded.actor, decided_at = excluded.decided_at RETURNING id",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, x < y ? x : y);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, x < y ? y : x);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 3, rule);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 4, status);
    if (src == SQLITE_OK)
        src = score < 0 ? sqlite3_bind_null(st, 5) : sqlite3_bind_double(st, 5, score);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 6, breakdown);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 7, reason);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 8, actor);
    if (src == SQLITE_OK)
        src = cdx_store_bind_text(st, 9, ts);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (link_id != NULL)
            *link_id = sqlite3_column_int64(st, 0);
        src = sqlite3_step(st);
    }
    rc = src == SQLITE_DONE ? 0 : cdx_store_fail(reg, src, "storing a patient link");
    cdx_store_stmt_put(st);
    return rc;
}

/* Moves every identity of person `from` to person `into` (a merge). */
int cdx_store_person_merge(cdx_registry_t *reg, int64_t into, int64_t from)
{
    if (into == from)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_PERSON_MERGE,
                                "UPDATE patients SET person_id = ?1 WHERE person_id = ?2", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, into);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, from);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "merging persons")
                          : cdx_store_fail(reg, src, "merging persons");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_store_persons_apart(cdx_registry_t *reg, int64_t person1, int64_t person2,
                            int64_t *decision)
{
    sqlite3_stmt *st = NULL;
    *decision = 0;
    if (person1 == person2)
        return 0;
    /* Both directions of the stored pair (a < b), each through an index,
     * driven from person1's identities (CROSS JOIN fixes that order, and
     * the unary + keeps SQLite from starting at the status index instead,
     * whose cost grows with every decision in the registry: 12 ms against
     * 18 us with 10,000 decisions among 220,000 identities): the cost is
     * the links of person1's identities, not of the registry. */
    int rc = cdx_store_stmt_get(
        reg, STMT_PERSONS_APART,
        "SELECT l.id FROM patients AS p1 CROSS JOIN patient_links AS l ON l.a = p1.id"
        " CROSS JOIN patients AS p2 ON p2.id = l.b WHERE p1.person_id = ?1 AND"
        " p2.person_id = ?2 AND +l.status IN ('distinct', 'unlinked')"
        " UNION ALL SELECT l.id FROM patients AS p1 CROSS JOIN patient_links AS l ON l.b = p1.id"
        " CROSS JOIN patients AS p2 ON p2.id = l.a WHERE p1.person_id = ?1 AND"
        " p2.person_id = ?2 AND +l.status IN ('distinct', 'unlinked') LIMIT 1",
        &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, person1);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, person2);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *decision = sqlite3_column_int64(st, 0);
    rc = src == SQLITE_ROW || src == SQLITE_DONE ? 0
                                                 : cdx_store_fail(reg, src, "checking decisions");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_store_pindex_audit(cdx_registry_t *reg, const cdx_store_pindex_t *px,
                           cdx_audit_event_t ev)
{
    ev.actor_oid = px->actor != NULL ? px->actor : px->rec->submitter_oid;
    ev.patient_key = px->rec->patient_key != NULL && px->rec->patient_key[0] != '\0'
                         ? px->rec->patient_key
                         : NULL;
    ev.document_id = px->doc_uid;
    return cdx_store_audit_append(reg, &ev);
}

/* Links two identities of one document by rule (document, national),
 * unless a person recorded that they, or any identities of their two
 * persons, are not the same: then nothing is linked, and the blocked link
 * is audited.  A new national link is audited.  *blocked is set when
 * blocked. */
static int link_by_rule(cdx_registry_t *reg, cdx_store_pindex_t *px, const char *rule,
                        int64_t p1, int64_t person1, int64_t p2, int64_t person2, int *blocked)
{
    int64_t link_id = 0, decision = 0;
    char status[16], detail[128];
    int rc = cdx_store_link_find(reg, p1, p2, &link_id, status);
    if (rc != 0)
        return rc;
    if (strcmp(status, "distinct") == 0 || strcmp(status, "unlinked") == 0)
        decision = link_id;
    else if ((rc = cdx_store_persons_apart(reg, person1, person2, &decision)) != 0)
        return rc;
    if (decision != 0) {
        *blocked = 1;
        snprintf(detail, sizeof detail, "rule=%s blocked_by=%lld", rule, (long long)decision);
        cdx_audit_event_t ev = {.event = CDX_AUDIT_PATIENT_LINK,
                                .outcome = CDX_AUDIT_MINOR_FAILURE,
                                .detail = detail};
        return cdx_store_pindex_audit(reg, px, ev);
    }
    if (strcmp(status, "linked") != 0) {
        rc = cdx_store_link_put(reg, p1, p2, rule, "linked", -1, NULL, NULL, NULL, &link_id);
        /* The identities of one document are one patient by its own
         * statement, which its document.ingest record covers; a link
         * through a national id joins what other documents said. */
        if (rc == 0 && strcmp(rule, "document") != 0) {
            snprintf(detail, sizeof detail, "rule=%s link=%lld", rule, (long long)link_id);
            cdx_audit_event_t ev = {.event = CDX_AUDIT_PATIENT_LINK,
                                    .outcome = CDX_AUDIT_SUCCESS,
                                    .detail = detail};
            rc = cdx_store_pindex_audit(reg, px, ev);
        }
        if (rc != 0)
            return rc;
    }
    return cdx_store_person_merge(reg, person1 < person2 ? person1 : person2,
                                  person1 < person2 ? person2 : person1);
}

/* The identity the others of a document link to: its first id that is
 * not national, else its first. */
static size_t hub_of(const cdx_doc_record_t *rec)
{
    size_t hub = SIZE_MAX;
    for (size_t i = 0; i < rec->npatient_ids; i++) {
        const char *root = rec->patient_ids[2 * i];
        if (root == NULL || root[0] == '\0')
            continue;
        int national = rec->patient_national != NULL && rec->patient_national[i];
        if (hub == SIZE_MAX || (!national && rec->patient_national != NULL &&
                                rec->patient_national[hub]))
            hub = i;
    }
    return hub;
}

int cdx_store_patients_attach(cdx_registry_t *reg, cdx_store_pindex_t *px)
{
    const cdx_doc_record_t *rec = px->rec;
    px->hub = 0;
    px->person = 0;
    px->blocked = 0;
    size_t hub = hub_of(rec);
    if (hub == SIZE_MAX)
        return 0;
    int hub_national = rec->patient_national != NULL && rec->patient_national[hub];
    int created = 0;
    const char *hext = rec->patient_ids[2 * hub + 1];
    int rc = cdx_store_patient_ensure(reg, rec->patient_ids[2 * hub], hext != NULL ? hext : "",
                                      rec->submitter_oid, hub_national, &px->hub, &px->person,
                                      &created);
    for (size_t i = 0; rc == 0 && i < rec->npatient_ids; i++) {
        const char *root = rec->patient_ids[2 * i];
        const char *ext = rec->patient_ids[2 * i + 1];
        if (i == hub || root == NULL || root[0] == '\0')
            continue;
        int national = rec->patient_national != NULL && rec->patient_national[i];
        int64_t pid = 0, person = 0;
        rc = cdx_store_patient_ensure(reg, root, ext != NULL ? ext : "", rec->submitter_oid,
                                      national, &pid, &person, &created);
        if (rc != 0 || person == px->person || pid == px->hub)
            continue;
        int blocked = 0;
        /* Identities sharing a national id are one patient row: they link
         * through it, and the link says so. */
        rc = link_by_rule(reg, px, national || hub_national ? "national" : "document", px->hub,
                          px->person, pid, person, &blocked);
        if (blocked)
            px->blocked = 1;
        else if (person < px->person)
            px->person = person;
    }
    return rc;
}

int cdx_registry_person_of(cdx_registry_t *reg, const char *root, const char *ext,
                           int64_t *person_id)
{
    reg->errmsg[0] = '\0';
    int64_t patient_id = 0;
    return cdx_store_patient_find(reg, root, ext, &patient_id, person_id, NULL);
}
