/* links: administrators' links and unlinks in the patient index (see
 * include/cdx/store/registry.h, "Patient links").
 *
 * A person is the connected component of the 'linked' links; a link made
 * here merges two persons, an unlink splits one when no other linked path
 * joins its two sides.  The split walks the remaining linked links from a
 * (a breadth-first walk SQLite runs as a recursive query over both
 * indexes of patient_links); when b is not reached, the identities b
 * reaches get a new person.  Every change and every refusal appends its
 * audit record in the same transaction. */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The linked component of patient ?1, as a recursive query's head. */
#define COMPONENT_OF_1                                                                          \
    "WITH RECURSIVE comp(id) AS (SELECT ?1"                                                     \
    " UNION SELECT l.b FROM patient_links AS l JOIN comp ON l.a = comp.id"                      \
    " WHERE l.status = 'linked'"                                                                \
    " UNION SELECT l.a FROM patient_links AS l JOIN comp ON l.b = comp.id"                      \
    " WHERE l.status = 'linked')"

static const char *text_or_empty(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s != NULL ? (const char *)s : "";
}

static char *text_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s != NULL ? strdup((const char *)s) : NULL;
}

/* Fills an identity from columns col..col+3 (root, extension, national,
 * institution); a national identity keeps no extension. */
void cdx_store_identity_read(sqlite3_stmt *st, int col, cdx_identity_t *id)
{
    cdx_strlcpy(id->root, text_or_empty(st, col), sizeof id->root);
    id->national = sqlite3_column_int(st, col + 2) != 0;
    cdx_strlcpy(id->ext, id->national ? "" : text_or_empty(st, col + 1), sizeof id->ext);
    cdx_strlcpy(id->institution, text_or_empty(st, col + 3), sizeof id->institution);
}

void cdx_link_row_cleanup(cdx_link_row_t *row)
{
    if (row == NULL)
        return;
    free(row->breakdown);
    free(row->reason);
    free(row->actor);
    memset(row, 0, sizeof *row);
}

void cdx_link_rows_free(cdx_link_row_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        cdx_link_row_cleanup(&rows[i]);
    free(rows);
}

#define LINK_COLUMNS                                                                            \
    "SELECT l.id, l.rule, l.status, l.score, l.breakdown, l.reason, l.actor, l.created_at,"     \
    " l.decided_at, pa.root, pa.extension, pa.national, pa.institution_oid, pb.root,"           \
    " pb.extension, pb.national, pb.institution_oid FROM patient_links AS l"                    \
    " JOIN patients AS pa ON pa.id = l.a JOIN patients AS pb ON pb.id = l.b"

/* One row of LINK_COLUMNS into *row.  Returns 0 or CDX_ENOMEM. */
static int link_read(sqlite3_stmt *st, cdx_link_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(st, 0);
    cdx_strlcpy(row->rule, text_or_empty(st, 1), sizeof row->rule);
    cdx_strlcpy(row->status, text_or_empty(st, 2), sizeof row->status);
    row->has_score = sqlite3_column_type(st, 3) != SQLITE_NULL;
    row->score = row->has_score ? sqlite3_column_double(st, 3) : 0.0;
    row->breakdown = text_dup(st, 4);
    row->reason = text_dup(st, 5);
    row->actor = text_dup(st, 6);
    cdx_strlcpy(row->created_at, text_or_empty(st, 7), sizeof row->created_at);
    cdx_strlcpy(row->decided_at, text_or_empty(st, 8), sizeof row->decided_at);
    cdx_store_identity_read(st, 9, &row->a);
    cdx_store_identity_read(st, 13, &row->b);
    if ((sqlite3_column_type(st, 4) != SQLITE_NULL && row->breakdown == NULL) ||
        (sqlite3_column_type(st, 5) != SQLITE_NULL && row->reason == NULL) ||
        (sqlite3_column_type(st, 6) != SQLITE_NULL && row->actor == NULL)) {
        cdx_link_row_cleanup(row);
        return CDX_ENOMEM;
    }
    return 0;
}

int cdx_registry_link_get(cdx_registry_t *reg, int64_t link_id, cdx_link_row_t *row)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_LINKS_GET, LINK_COLUMNS " WHERE l.id = ?1", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, link_id);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = link_read(st, row);
    else
        rc = src == SQLITE_DONE ? CDX_ENOTFOUND : cdx_store_fail(reg, src, "reading a link");
    cdx_store_stmt_put(st);
    return rc;
}

int cdx_registry_links_list(cdx_registry_t *reg, const char *status, int64_t before,
                            size_t limit, cdx_link_row_t **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    int rc = status != NULL
                 ? cdx_store_stmt_get(reg, STMT_LINKS_LIST_STATUS,
                                      LINK_COLUMNS " WHERE l.status = ?1 AND l.id < ?2"
                                                   " ORDER BY l.id DESC LIMIT ?3",
                                      &st)
                 : cdx_store_stmt_get(reg, STMT_LINKS_LIST_ALL,
                                      LINK_COLUMNS " WHERE ?1 IS NULL AND l.id < ?2"
                                                   " ORDER BY l.id DESC LIMIT ?3",
                                      &st);
    if (rc != 0)
        return rc;
    cdx_link_row_t *rows = calloc(limit > 0 ? limit : 1, sizeof *rows);
    size_t count = 0;
    int src = rows != NULL ? cdx_store_bind_text(st, 1, status) : SQLITE_NOMEM;
    /* A range on the index (status, id) or the primary key: the page
     * costs its rows, however deep it is. */
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    while (src == SQLITE_OK && count < limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = link_read(st, &rows[count])) != 0)
            break;
        count++;
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_OK && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "listing links");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        cdx_link_rows_free(rows, count);
        return rc;
    }
    *out = rows;
    *n = count;
    return 0;
}

/* The patient row and person of an identity an administrator may name
 * (never a national id); *pid 0 when unknown. */
static int identity_find(cdx_registry_t *reg, const char *root, const char *ext, int64_t *pid,
                         int64_t *person)
{
    int64_t id = 0, of = 0;
    int national = 0;
    *pid = 0;
    *person = 0;
    int rc = cdx_store_patient_find(reg, root, ext, &id, &of, &national);
    if (rc == CDX_ENOTFOUND || (rc == 0 && national))
        return 0;
    if (rc == 0) {
        *pid = id;
        *person = of;
    }
    return rc;
}

/* Appends the audit record of a link change or refusal: *audit with the
 * outcome and, unless the caller gave one, detail. */
static int links_audit(cdx_registry_t *reg, const cdx_audit_event_t *audit, int outcome,
                       const char *detail)
{
    cdx_audit_event_t ev = *audit;
    ev.outcome = outcome;
    if (ev.detail == NULL)
        ev.detail = detail;
    return cdx_store_audit_append(reg, &ev);
}

/* Sets an existing link's decision. */
static int link_decide(cdx_registry_t *reg, int64_t link_id, const char *rule, const char *status,
                       const char *reason, const char *actor)
{
    char ts[32], id[24];
    cdx_store_now(ts);
    snprintf(id, sizeof id, "%lld", (long long)link_id);
    const char *const v[] = {id, rule, status, reason, actor, ts};
    return cdx_store_exec_texts(reg, STMT_LINKS_DECIDE,
                                "UPDATE patient_links SET rule = coalesce(?2, rule), status = ?3,"
                                " reason = coalesce(?4, reason), actor = ?5, decided_at = ?6"
                                " WHERE id = CAST(?1 AS INTEGER)",
                                "deciding a link", v, 6);
}

typedef struct link_args {
    const char *a_root, *a_ext, *b_root, *b_ext, *reason, *actor;
    const cdx_audit_event_t *audit;
    cdx_link_outcome_t *outcome;
    char *missing;
    cdx_link_row_t *row;
    int64_t link_id;
} link_args_t;

/* Long: the checks of an administrator's link each end in their own
 * audited refusal, and the link itself in its merge and audit record; one
 * function keeps that sequence readable in order. */
static int link_admin_tx(cdx_registry_t *reg, void *arg)
{
    link_args_t *x = arg;
    int64_t pa = 0, pb = 0, person_a = 0, person_b = 0, link_id = 0;
    char status[16], detail[160];
    int rc = identity_find(reg, x->a_root, x->a_ext, &pa, &person_a);
    if (rc == 0)
        rc = identity_find(reg, x->b_root, x->b_ext, &pb, &person_b);
    if (rc != 0)
        return rc;
    if (pa == 0 || pb == 0) {
        *x->outcome = CDX_LINK_NOT_FOUND;
        if (x->missing != NULL)
            *x->missing = pa == 0 ? 'a' : 'b';
        snprintf(detail, sizeof detail, "rule=admin status=404 code=PATIENT_NOT_FOUND side=%c",
                 pa == 0 ? 'a' : 'b');
        return links_audit(reg, x->audit, CDX_AUDIT_MINOR_FAILURE, detail);
    }
    if (pa == pb) {
        *x->outcome = CDX_LINK_SAME_IDENTITY;
        return links_audit(reg, x->audit, CDX_AUDIT_MINOR_FAILURE,
                           "rule=admin status=422 code=LINK_SAME_IDENTITY");
    }
    if ((rc = cdx_store_link_find(reg, pa, pb, &link_id, status)) != 0)
        return rc;
    if (strcmp(status, "linked") == 0) {
        *x->outcome = CDX_LINK_UNCHANGED;
        x->link_id = link_id;
        snprintf(detail, sizeof detail, "rule=admin link=%lld status=linked result=unchanged",
                 (long long)link_id);
        return links_audit(reg, x->audit, CDX_AUDIT_SUCCESS, detail);
    }
    if (person_a == person_b && strcmp(status, "review") != 0) {
        *x->outcome = CDX_LINK_SAME_PERSON;
        return links_audit(reg, x->audit, CDX_AUDIT_MINOR_FAILURE,
                           "rule=admin status=409 code=LINK_SAME_PERSON");
    }
    const char *was = status[0] != '\0' ? status : "none";
    char was_copy[16];
    cdx_strlcpy(was_copy, was, sizeof was_copy);
    if (link_id != 0)
        rc = link_decide(reg, link_id, "admin", "linked", x->reason, x->actor);
    else
        rc = cdx_store_link_put(reg, pa, pb, "admin", "linked", -1, NULL, x->reason, x->actor,
                                &link_id);
    if (rc == 0)
        rc = cdx_store_person_merge(reg, person_a < person_b ? person_a : person_b,
                                    person_a < person_b ? person_b : person_a);
    if (rc != 0)
        return rc;
    *x->outcome = CDX_LINK_DONE;
    x->link_id = link_id;
    snprintf(detail, sizeof detail, "rule=admin link=%lld status=linked was=%s",
             (long long)link_id, was_copy);
    return links_audit(reg, x->audit, CDX_AUDIT_SUCCESS, detail);
}

int cdx_registry_link_admin(cdx_registry_t *reg, const char *a_root, const char *a_ext,
                            const char *b_root, const char *b_ext, const char *reason,
                            const char *actor, const cdx_audit_event_t *audit,
                            cdx_link_outcome_t *outcome, char *missing, cdx_link_row_t *row)
{
    reg->errmsg[0] = '\0';
    link_args_t x = {a_root, a_ext, b_root, b_ext, reason, actor, audit, outcome, missing, row, 0};
    int rc = cdx_store_in_transaction(reg, link_admin_tx, &x);
    if (rc == 0 && row != NULL && x.link_id != 0)
        rc = cdx_registry_link_get(reg, x.link_id, row);
    return rc;
}

/* Whether patient a still reaches patient b over linked links. */
static int still_joined(cdx_registry_t *reg, int64_t a, int64_t b, int *joined)
{
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_LINKS_REACHES,
                                COMPONENT_OF_1 " SELECT count(*) FROM comp WHERE id = ?2", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, a);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, b);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *joined = sqlite3_column_int64(st, 0) > 0;
    rc = src == SQLITE_ROW ? 0 : cdx_store_fail(reg, src, "walking a person's links");
    cdx_store_stmt_put(st);
    return rc;
}

/* Gives the linked component of patient b a new person. */
static int split_off(cdx_registry_t *reg, int64_t b)
{
    char ts[32];
    cdx_store_now(ts);
    const char *const v[] = {ts};
    int rc = cdx_store_exec_texts(reg, STMT_LINKS_PERSON_NEW,
                                  "INSERT INTO persons (created_at) VALUES (?1)",
                                  "creating a person", v, 1);
    if (rc != 0)
        return rc;
    int64_t person = sqlite3_last_insert_rowid(reg->db);
    sqlite3_stmt *st = NULL;
    rc = cdx_store_stmt_get(reg, STMT_LINKS_SPLIT,
                            "UPDATE patients SET person_id = ?2 WHERE id IN (" COMPONENT_OF_1
                            " SELECT id FROM comp)",
                            &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, b);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, person);
    rc = src == SQLITE_OK ? cdx_store_step_done(reg, st, "splitting a person")
                          : cdx_store_fail(reg, src, "splitting a person");
    cdx_store_stmt_put(st);
    return rc;
}

typedef struct unlink_args {
    int64_t link_id;
    const char *actor;
    const cdx_audit_event_t *audit;
    cdx_link_outcome_t *outcome;
} unlink_args_t;

static int unlink_tx(cdx_registry_t *reg, void *arg)
{
    unlink_args_t *x = arg;
    char detail[160], status[16] = "", rule[16] = "";
    int64_t a = 0, b = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_LINKS_BY_ID,
                                "SELECT a, b, status, rule FROM patient_links WHERE id = ?1", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_bind_int64(st, 1, x->link_id);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        a = sqlite3_column_int64(st, 0);
        b = sqlite3_column_int64(st, 1);
        cdx_strlcpy(status, text_or_empty(st, 2), sizeof status);
        cdx_strlcpy(rule, text_or_empty(st, 3), sizeof rule);
    }
    rc = src == SQLITE_ROW || src == SQLITE_DONE ? 0 : cdx_store_fail(reg, src, "finding a link");
    cdx_store_stmt_put(st);
    if (rc != 0)
        return rc;
    if (a == 0) {
        *x->outcome = CDX_LINK_NOT_FOUND;
        return links_audit(reg, x->audit, CDX_AUDIT_MINOR_FAILURE,
                           "status=404 code=LINK_NOT_FOUND");
    }
    if (strcmp(status, "unlinked") == 0 || strcmp(status, "distinct") == 0) {
        *x->outcome = CDX_LINK_UNCHANGED;
        snprintf(detail, sizeof detail, "rule=%s link=%lld status=%s result=unchanged", rule,
                 (long long)x->link_id, status);
        return links_audit(reg, x->audit, CDX_AUDIT_SUCCESS, detail);
    }
    int was_linked = strcmp(status, "linked") == 0;
    const char *now = was_linked ? "unlinked" : "distinct";
    int joined = 1;
    rc = link_decide(reg, x->link_id, NULL, now, NULL, x->actor);
    if (rc == 0 && was_linked)
        rc = still_joined(reg, a, b, &joined);
    if (rc == 0 && !joined)
        rc = split_off(reg, b);
    if (rc != 0)
        return rc;
    *x->outcome = CDX_LINK_DONE;
    snprintf(detail, sizeof detail, "rule=%s link=%lld status=%s split=%d", rule,
             (long long)x->link_id, now, !joined);
    return links_audit(reg, x->audit, CDX_AUDIT_SUCCESS, detail);
}

int cdx_registry_unlink(cdx_registry_t *reg, int64_t link_id, const char *actor,
                        const cdx_audit_event_t *audit, cdx_link_outcome_t *outcome,
                        cdx_link_row_t *row)
{
    reg->errmsg[0] = '\0';
    unlink_args_t x = {link_id, actor, audit, outcome};
    int rc = cdx_store_in_transaction(reg, unlink_tx, &x);
    if (rc == 0 && row != NULL && *outcome != CDX_LINK_NOT_FOUND)
        rc = cdx_registry_link_get(reg, link_id, row);
    return rc;
}
