/* timeline: the facts of one person's current documents (see
 * include/cdx/store/registry.h, cdx_registry_person_facts).
 *
 * One statement, every step of it on an index: the person's identities
 * (patients_by_person), the documents carrying each
 * (document_patient_ids_by_id), each document once, current ones only
 * (the documents key), their submitter (the institutions key) and facts
 * (facts_by_document). */
#include "store_internal.h"

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char PERSON_FACTS_SQL[] =
    "SELECT f.id, d.uid, i.oid, i.name, f.kind, f.code_system, f.code, f.display, f.value,"
    " f.value_num, f.unit, f.time_low, f.time_high, f.status, f.data, f.document_id,"
    " row_number() OVER (PARTITION BY f.document_id ORDER BY f.id) - 1"
    " FROM (SELECT DISTINCT l.document_id AS id FROM patients p"
    "       JOIN document_patient_ids l ON l.root = p.root AND l.extension = p.extension"
    "       WHERE p.person_id = ?1) AS pd"
    " JOIN documents d ON d.id = pd.id AND d.status = 'current'"
    " JOIN institutions i ON i.id = d.submitter_id"
    " JOIN facts f ON f.document_id = d.id"
    " ORDER BY f.id";

static char *col_dup(sqlite3_stmt *st, int col, int *err)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    if (s == NULL)
        return NULL;
    char *r = strdup((const char *)s);
    if (r == NULL)
        *err = CDX_ENOMEM;
    return r;
}

/* The fact extras of the rows being read: those of one document at a time. */
typedef struct extras_cursor {
    int64_t doc; /* whose extras are loaded; 0 before the first */
    json_t *arr; /* NULL: the document has none */
} extras_cursor_t;

/* Row st's data as stored: its own data, else its element of the
 * document's fact_extras (heap text in *owned, *data pointing at it). */
static int row_data(cdx_registry_t *reg, sqlite3_stmt *st, extras_cursor_t *xc, const char **data,
                    char **owned)
{
    *owned = NULL;
    *data = (const char *)sqlite3_column_text(st, 14);
    if (*data != NULL && (*data)[0] != '\0')
        return 0;
    int64_t doc = sqlite3_column_int64(st, 15);
    if (doc != xc->doc) {
        json_decref(xc->arr);
        xc->arr = NULL;
        xc->doc = doc;
        int rc = cdx_store_fact_extras(reg, doc, &xc->arr);
        if (rc != 0) {
            xc->doc = 0;
            return rc;
        }
    }
    json_t *x = json_array_get(xc->arr, (size_t)sqlite3_column_int64(st, 16));
    if (x != NULL) {
        *owned = json_dumps(x, JSON_COMPACT);
        if (*owned == NULL)
            return CDX_ENOMEM;
        *data = *owned;
    }
    return 0;
}

static void read_row(sqlite3_stmt *st, cdx_tl_fact_t *f, const char *data, int *err)
{
    memset(f, 0, sizeof *f);
    f->id = sqlite3_column_int64(st, 0);
    const unsigned char *uid = sqlite3_column_text(st, 1);
    cdx_strlcpy(f->doc_uid, uid != NULL ? (const char *)uid : "", sizeof f->doc_uid);
    f->institution_oid = col_dup(st, 2, err);
    f->institution_name = col_dup(st, 3, err);
    f->kind = col_dup(st, 4, err);
    f->code_system = col_dup(st, 5, err);
    f->code = col_dup(st, 6, err);
    f->display = col_dup(st, 7, err);
    f->value = col_dup(st, 8, err);
    f->has_number = sqlite3_column_type(st, 9) != SQLITE_NULL;
    f->number = f->has_number ? sqlite3_column_double(st, 9) : 0;
    f->unit = col_dup(st, 10, err);
    f->time_low = col_dup(st, 11, err);
    f->time_high = col_dup(st, 12, err);
    f->status = col_dup(st, 13, err);
    /* The row keeps only what no column holds: the whole fact again. */
    cdx_fact_row_t cols = {.kind = f->kind, .code_system = f->code_system, .code = f->code,
                           .display = f->display, .value = f->value,
                           .has_number = f->has_number, .number = f->number, .unit = f->unit,
                           .time_low = f->time_low, .time_high = f->time_high,
                           .status = f->status,
                           .data = data};
    f->data = cdx_fact_json(&cols);
    if (f->data == NULL)
        *err = CDX_ENOMEM;
}

int cdx_registry_person_facts(cdx_registry_t *reg, int64_t person_id, cdx_tl_fact_t **out,
                              size_t *n)
{
    reg->errmsg[0] = '\0';
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(reg, STMT_PERSON_FACTS, PERSON_FACTS_SQL, &st);
    if (rc != 0)
        return rc;
    cdx_tl_fact_t *rows = NULL;
    size_t count = 0, cap = 0;
    extras_cursor_t xc = {0, NULL};
    int src = sqlite3_bind_int64(st, 1, person_id);
    while (rc == 0 && src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cdx_grow(&rows, &cap, count + 1, sizeof *rows, 32) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        const char *data = NULL;
        char *owned = NULL;
        rc = row_data(reg, st, &xc, &data, &owned);
        if (rc == 0)
            read_row(st, &rows[count++], data, &rc);
        free(owned);
        src = SQLITE_OK;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading a person's facts");
    cdx_store_stmt_put(st);
    json_decref(xc.arr);
    if (rc != 0) {
        cdx_tl_facts_free(rows, count);
        return rc;
    }
    *out = rows;
    *n = count;
    return 0;
}
