/* Unit tests of a person's facts in the registry (gateway/store/timeline.c):
 * every identity of the person, each document once, current documents
 * only, with the submitter; and every step of the query on an index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sqlite3.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

static char dbpath[1200];

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_path("person_facts", dbpath, sizeof dbpath);
}

static void store(cdx_registry_t *reg, const char *id, const char *replaces,
                  const char *const *pids, size_t npids, const char *facts, char uid[33])
{
    cdx_doc_record_t rec;
    /* The id as sha256: distinct per document is all that matters here. */
    cdx_test_doc_record(&rec, id, id, pids, npids);
    rec.version = replaces ? 2 : 1;
    rec.replaces = replaces;
    rec.facts_json = facts;
    cdx_store_outcome_t outcome;
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, &outcome), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
}

static size_t count_doc(const cdx_tl_fact_t *rows, size_t n, const char *uid)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(rows[i].doc_uid, uid) == 0;
    return k;
}

static void test_person_facts(void **state)
{
    (void)state;
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_test_registry_open(dbpath, &reg), 0);

    static const char *const both[] = {"2.25.7.1", "P-1", "2.25.9", "X"};
    static const char *const second[] = {"2.25.9", "X"};
    static const char *const other[] = {"2.25.7.1", "P-2"};
    char a[33], b[33], c[33], c2[33], o[33];
    /* A carries both identities: one person.  B names only the second. */
    store(reg, "2.25.7.2^A", NULL, both, 2,
          "{\"problems\":[{\"codeSystem\":\"2.16.840.1.113883.6.90\",\"code\":\"E11\","
          "\"displayName\":\"Diabetes\",\"effectiveTime\":{\"low\":\"2020\"},"
          "\"section\":\"problems\",\"sectionTitle\":\"Problems\"}],"
          "\"results\":[{\"code\":\"2345-7\",\"number\":5.4,\"unit\":\"mmol/L\","
          "\"value\":\"5.4 mmol/L\",\"effectiveTime\":{\"low\":\"20240104\"}}]}",
          a);
    store(reg, "2.25.7.2^B", NULL, second, 1,
          "{\"problems\":[{\"codeSystem\":\"2.16.840.1.113883.6.90\",\"code\":\"E11\"}]}", b);
    /* C is replaced by C2: only C2's facts count. */
    store(reg, "2.25.7.2^C", NULL, second, 1, "{\"allergies\":[{\"code\":\"OLD\"}]}", c);
    store(reg, "2.25.7.2^C2", "2.25.7.2^C", second, 1, "{\"allergies\":[{\"code\":\"NEW\"}]}", c2);
    /* Another person's document. */
    store(reg, "2.25.7.2^O", NULL, other, 1, "{\"problems\":[{\"code\":\"I10\"}]}", o);

    int64_t p1 = 0, p2 = 0, p3 = 0;
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", "P-1", &p1), 0);
    assert_int_equal(cdx_registry_person_of(reg, "2.25.9", "X", &p2), 0);
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", "P-2", &p3), 0);
    assert_true(p1 == p2);
    assert_true(p1 != p3);
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", "NOBODY", &p3), CDX_ENOTFOUND);

    cdx_tl_fact_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_person_facts(reg, p1, &rows, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(count_doc(rows, n, a), 2); /* once, though it carries two ids */
    assert_int_equal(count_doc(rows, n, b), 1);
    assert_int_equal(count_doc(rows, n, c), 0);
    assert_int_equal(count_doc(rows, n, c2), 1);
    assert_int_equal(count_doc(rows, n, o), 0);
    const cdx_tl_fact_t *r = &rows[0];
    assert_string_equal(r->kind, "problems");
    assert_string_equal(r->code, "E11");
    assert_string_equal(r->display, "Diabetes");
    assert_string_equal(r->time_low, "2020");
    assert_string_equal(r->institution_oid, "2.25.7");
    assert_string_equal(r->institution_name, "Test Clinic");
    assert_non_null(strstr(r->data, "\"sectionTitle\":\"Problems\""));
    assert_true(rows[1].has_number && rows[1].number == 5.4);
    assert_string_equal(rows[1].unit, "mmol/L");
    assert_false(rows[2].has_number);
    assert_null(rows[2].display);
    cdx_tl_facts_free(rows, n);

    /* A person with no facts: an empty list. */
    assert_int_equal(cdx_registry_person_facts(reg, 999999, &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    cdx_registry_close(reg);
}

/* The query's plan: every table is searched through an index (a SCAN of a
 * table would grow with the registry).  The statement text is the store's. */
static void test_plan_uses_indexes(void **state)
{
    (void)state;
    static const char sql[] =
        "EXPLAIN QUERY PLAN "
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
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int lines = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        lines++;
        print_message("plan: %s\n", detail);
        /* "SCAN pd" walks the subquery's few rows, not a table. */
        static const char *const tables[] = {"SCAN p ", "SCAN l ", "SCAN d ", "SCAN i ", "SCAN f "};
        char padded[512];
        snprintf(padded, sizeof padded, "%s ", detail);
        for (size_t k = 0; k < CDX_ARRAY_SIZE(tables); k++)
            if (strncmp(padded, tables[k], strlen(tables[k])) == 0 &&
                strstr(padded, "USING") == NULL)
                fail_msg("full scan in the timeline query: %s", detail);
    }
    assert_true(lines > 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void raw(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The facts of p1 as one text: every row's whole fact, in order. */
static void facts_text(int64_t person, char *out, size_t len, int expect_rc)
{
    char err[512];
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_registry_open(dbpath, &reg, err, sizeof err), 0);
    cdx_tl_fact_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_person_facts(reg, person, &rows, &n), expect_rc);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) { /* key order aside */
        json_t *f = json_loads(rows[i].data, 0, NULL);
        assert_non_null(f);
        char *sorted = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
        strncat(out, sorted, len - strlen(out) - 2);
        strcat(out, "\n");
        free(sorted);
        json_decref(f);
    }
    if (expect_rc != 0)
        assert_non_null(strstr(cdx_registry_errmsg(reg), "corrupted"));
    cdx_tl_facts_free(rows, n);
    cdx_registry_close(reg);
}

/* A fact's fields other than its columns are kept once per document
 * (fact_extras); the read puts the whole fact back.  Rows stored whole
 * (before fact_extras) read the same; corrupted extras are refused. */
static void test_extras_whole_again(void **state)
{
    (void)state;
    int64_t p1 = 0;
    char err[512];
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_registry_open(dbpath, &reg, err, sizeof err), 0);
    assert_int_equal(cdx_registry_person_of(reg, "2.25.7.1", "P-1", &p1), 0);
    cdx_registry_close(reg);
    static char now[4096], before[4096];
    facts_text(p1, now, sizeof now, 0);
    assert_non_null(strstr(now, "\"sectionTitle\":\"Problems\""));
    assert_non_null(strstr(now, "\"displayName\":\"Diabetes\""));
    assert_non_null(strstr(now, "\"effectiveTime\":{\"low\":\"20240104\"}"));
    assert_non_null(strstr(now, "\"number\":5.4"));
    /* As rows stored whole: data holds the fact, no fact_extras. */
    raw("UPDATE facts SET data = '{\"codeSystem\":\"2.16.840.1.113883.6.90\",\"code\":\"E11\","
        "\"displayName\":\"Diabetes\",\"effectiveTime\":{\"low\":\"2020\"},"
        "\"section\":\"problems\",\"sectionTitle\":\"Problems\"}' WHERE id = 1;"
        "UPDATE facts SET data = '{\"code\":\"2345-7\",\"number\":5.4,\"unit\":\"mmol/L\","
        "\"value\":\"5.4 mmol/L\",\"effectiveTime\":{\"low\":\"20240104\"}}' WHERE id = 2;"
        "DELETE FROM fact_extras WHERE document_id = 1");
    facts_text(p1, before, sizeof before, 0);
    assert_string_equal(before, now);
    /* A damaged frame of another document's extras. */
    raw("UPDATE fact_extras SET data = substr(data, 1, length(data) - 3) WHERE document_id = 2");
    facts_text(p1, before, sizeof before, CDX_EDB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_facts),
        cmocka_unit_test(test_extras_whole_again),
        cmocka_unit_test(test_plan_uses_indexes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
