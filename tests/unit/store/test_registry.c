/* Unit tests for the registry: SQLite store, audit chain and the stored institutions
 * directory (the [institution] keys and file are tests/unit/conf/test_institution.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdx_test.h"
#include "cdx_test_institution.h"

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/store/registry.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[1024];
static int db_counter;

static int group_setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "registry");
}

static int group_teardown(void **state)
{
    (void)state;
    return cdx_test_remove_dir(tmpdir);
}

/* A fresh database path in a folder that does not exist yet. */
static void fresh_db(char *out, size_t n)
{
    snprintf(out, n, "%s/db%d/sub/registry.db", tmpdir, ++db_counter);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static void raw_text(const char *path, const char *sql, char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *v = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", v ? v : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static long long raw_int(const char *path, const char *sql)
{
    char buf[64];
    raw_text(path, sql, buf, sizeof buf);
    return strtoll(buf, NULL, 10);
}

static cdx_registry_t *open_ok(const char *path)
{
    cdx_registry_t *reg = NULL;
    char err[512] = "";
    int rc = cdx_registry_open(path, &reg, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", path, err, cdx_strerror(rc));
    assert_non_null(reg);
    return reg;
}

static void assert_inst_equal(const cdx_institution_t *a, const cdx_institution_t *b)
{
    assert_string_equal(a->oid, b->oid);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->roles, b->roles);
    assert_string_equal(a->endpoint, b->endpoint);
    assert_int_equal(a->ncreds, b->ncreds);
    for (size_t i = 0; i < a->ncreds; i++) {
        assert_int_equal(a->creds[i].spki, b->creds[i].spki);
        assert_string_equal(a->creds[i].sha256, b->creds[i].sha256);
    }
    assert_int_equal(a->nid_roots, b->nid_roots);
    for (size_t i = 0; i < a->nid_roots; i++)
        assert_string_equal(a->id_roots[i], b->id_roots[i]);
}

static void add_root(cdx_institution_t *inst, const char *root)
{
    snprintf(inst->id_roots[inst->nid_roots++], sizeof inst->id_roots[0], "%s", root);
}

/* ---- Open, schema, migrations ---------------------------------------------------------- */

static void test_open_creates_db(void **state)
{
    char path[1200], dir[1200], buf[64];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    assert_int_equal(cdx_registry_schema_version(reg), 16);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 077, 0);

    raw_text(path, "PRAGMA journal_mode", buf, sizeof buf);
    assert_string_equal(buf, "wal");
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                                   " name IN ('schema_migrations', 'institutions',"
                                   " 'institution_credentials', 'audit')"),
                     4);
    raw_text(path, "SELECT name FROM schema_migrations WHERE version = 1", buf, sizeof buf);
    assert_true(strlen(buf) > 0);
    cdx_registry_close(reg);
    cdx_registry_close(NULL);
}

static void test_open_tightens_mode(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(cdx_mkdirs(dir, 0700), 0);
    write_text(path, "");
    assert_int_equal(chmod(path, 0644), 0);
    cdx_registry_t *reg = open_ok(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    cdx_registry_close(reg);
}

static void test_open_rejects_garbage(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(cdx_mkdirs(dir, 0700), 0);
    char junk[8192];
    memset(junk, 'x', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    write_text(path, junk);
    cdx_registry_t *reg = (cdx_registry_t *)1;
    char err[512] = "";
    assert_int_not_equal(cdx_registry_open(path, &reg, err, sizeof err), 0);
    assert_null(reg);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not a SQLite database"));

    reg = (cdx_registry_t *)1;
    assert_int_equal(cdx_registry_open("", &reg, err, sizeof err), CDX_EINVAL);
}

static void test_reopen_keeps_schema(void **state)
{
    char path[1200], before[64], after[64];
    fresh_db(path, sizeof path);
    cdx_registry_close(open_ok(path));
    raw_text(path, "SELECT applied_at FROM schema_migrations WHERE version = 1", before,
             sizeof before);
    /* The timestamp is UTC RFC 3339 with milliseconds. */
    assert_int_equal(strlen(before), 24);
    assert_int_equal(before[10], 'T');
    assert_int_equal(before[19], '.');
    assert_int_equal(before[23], 'Z');

    cdx_registry_t *reg = open_ok(path);
    assert_int_equal(cdx_registry_schema_version(reg), 16);
    cdx_registry_close(reg);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM schema_migrations"), 16);
    raw_text(path, "SELECT applied_at FROM schema_migrations WHERE version = 1", after,
             sizeof after);
    assert_string_equal(before, after);
}

/* sqlite_master as "type|name|tbl_name|rootpage|sql" lines in creation order, the format of
 * tests/unit/store/schema-v3.txt (sqlite3 registry.db "SELECT type, name, tbl_name, rootpage,
 * coalesce(sql, '') FROM sqlite_master ORDER BY rowid"). */
static char *schema_dump(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cdx_buf_t out;
    cdx_buf_init(&out, 1 << 20);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT type, name, tbl_name, rootpage, coalesce(sql, '')"
                                        " FROM sqlite_master ORDER BY rowid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int col = 0; col < 5; col++) {
            const char *v = (const char *)sqlite3_column_text(st, col);
            assert_int_equal(cdx_buf_append(&out, v ? v : "", v ? strlen(v) : 0), 0);
            assert_int_equal(cdx_buf_append(&out, col < 4 ? "|" : "\n", 1), 0);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    char *text = cdx_buf_steal(&out, NULL);
    assert_non_null(text);
    return text;
}

static char *schema_golden(void)
{
    char path[1200];
    const char *top = getenv("CDX_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/unit/store/schema-v3.txt", top ? top : ".");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(path, 1 << 20, &text, &len), 0);
    return text;
}

/* The schema text SQLite records for a new database is exactly what the
 * migrations written as C strings recorded before the schema moved to
 * numbered .sql files (schema-v3.txt was dumped from a database they made). */
static void test_schema_as_before(void **state)
{
    (void)state;
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_close(open_ok(path));
    char *golden = schema_golden();
    char *now = schema_dump(path);
    /* Later steps only add after what v3 recorded. */
    assert_true(strlen(now) > strlen(golden));
    now[strlen(golden)] = '\0';
    assert_string_equal(now, golden);
    free(now);
    free(golden);
}

/* A database as the earlier code left it (rebuilt here from the recorded
 * schema, with its three migrations recorded) opens with only the later
 * steps applied, and nothing it had changed. */
static void test_old_database_unchanged(void **state)
{
    (void)state;
    char path[1200], dir[1200];
    fresh_db(path, sizeof path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(cdx_mkdirs(dir, 0700), 0);
    char *golden = schema_golden();
    char *copy = strdup(golden);
    assert_non_null(copy);
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *sql = line;
        for (int bars = 0; bars < 4; bars++)
            sql = strchr(sql, '|') + 1;
        if (sql[0] != '\0')
            raw_exec(path, sql);
    }
    free(copy);
    raw_exec(path, "PRAGMA journal_mode = WAL;"
                   "INSERT INTO schema_migrations VALUES"
                   " (1, 'institutions, credentials and audit', '2024-01-01T00:00:00.000Z'),"
                   " (2, 'documents, content, patient ids, facts, state', '2024-01-01T00:00:00.001Z'),"
                   " (3, 'institution id roots, replacements index', '2024-01-01T00:00:00.002Z')");
    char *before = schema_dump(path);
    assert_string_equal(before, golden);
    cdx_registry_t *reg = open_ok(path);
    assert_int_equal(cdx_registry_schema_version(reg), 16);
    cdx_registry_close(reg);
    char *after = schema_dump(path);
    /* The later steps add their tables; nothing v3 recorded changes. */
    assert_true(strlen(after) > strlen(golden));
    after[strlen(golden)] = '\0';
    assert_string_equal(after, golden);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM schema_migrations"), 16);
    char applied[128];
    raw_text(path, "SELECT group_concat(applied_at) FROM schema_migrations WHERE version <= 3",
             applied,
             sizeof applied);
    assert_string_equal(applied,
                        "2024-01-01T00:00:00.000Z,2024-01-01T00:00:00.001Z,2024-01-01T00:00:00.002Z");
    free(after);
    free(before);
    free(golden);
}

static void test_future_schema_refused(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_close(open_ok(path));
    raw_exec(path, "INSERT INTO schema_migrations (version, name, applied_at)"
                   " VALUES (99, 'from the future', '2099-01-01T00:00:00.000Z')");
    cdx_registry_t *reg = (cdx_registry_t *)1;
    char err[512] = "";
    int rc = cdx_registry_open(path, &reg, err, sizeof err);
    assert_int_not_equal(rc, 0);
    assert_null(reg);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
}

/* ---- Institutions ---------------------------------------------------------------------- */

static void test_put_list_roundtrip(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);

    cdx_institution_t a =
        make_inst("2.25.200",
                  "Zeta Klinik S\xc3\xbc"
                  "d",
                  CDX_ROLE_SUBMIT | CDX_ROLE_QUERY, "https://zeta.example:8443/cdx");
    add_cred(&a, 0, 'a');
    add_cred(&a, 1, 'b');
    cdx_institution_t b = make_inst("1.2.3", "Alpha", 0, "");

    cdx_institution_t *list = NULL;
    size_t n = 99;
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 0);
    free(list);

    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:test"), 0);
    assert_int_equal(cdx_registry_put_institution(reg, &b, "local:test"), 0);
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 2);
    /* Ordered by OID. */
    assert_inst_equal(&list[0], &b);
    assert_inst_equal(&list[1], &a);
    free(list);

    /* The data survives a reopen. */
    cdx_registry_close(reg);
    reg = open_ok(path);
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_inst_equal(&list[1], &a);
    free(list);

    /* An invalid institution is refused before anything is written. */
    cdx_institution_t bad = make_inst("1.02", "x", 0, "");
    assert_int_equal(cdx_registry_put_institution(reg, &bad, "local:test"), CDX_EINVAL);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "oid"));
    cdx_registry_close(reg);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit"), 2);
}

static void test_update_replaces_credentials(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    cdx_institution_t a = make_inst("2.25.1", "A", CDX_ROLE_SUBMIT, "");
    add_cred(&a, 0, 'a');
    add_cred(&a, 1, 'b');
    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:test"), 0);
    long long id = raw_int(path, "SELECT id FROM institutions WHERE oid = '2.25.1'");

    cdx_institution_t a2 = make_inst("2.25.1", "A renamed", CDX_ROLE_ADMIN, "https://a.example");
    add_cred(&a2, 0, 'c');
    assert_int_equal(cdx_registry_put_institution(reg, &a2, "local:test"), 0);

    cdx_institution_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_inst_equal(&list[0], &a2);
    free(list);
    /* The row keeps its stable id; only the credentials were replaced. */
    assert_int_equal(raw_int(path, "SELECT id FROM institutions WHERE oid = '2.25.1'"), id);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM institution_credentials"), 1);

    /* A credential given up by one institution may be taken by another. */
    cdx_institution_t b = make_inst("2.25.2", "B", 0, "");
    add_cred(&b, 0, 'a');
    assert_int_equal(cdx_registry_put_institution(reg, &b, "local:test"), 0);
    cdx_registry_close(reg);
}

static void test_conflicting_credential(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    cdx_institution_t a = make_inst("2.25.1", "A", CDX_ROLE_SUBMIT, "");
    add_cred(&a, 0, 'a');
    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:test"), 0);
    cdx_institution_t b = make_inst("2.25.2", "B", CDX_ROLE_QUERY, "");
    add_cred(&b, 0, 'd');
    assert_int_equal(cdx_registry_put_institution(reg, &b, "local:test"), 0);

    /* A new institution claiming A's credential. */
    cdx_institution_t c = make_inst("2.25.3", "C", 0, "");
    add_cred(&c, 0, 'c');
    add_cred(&c, 0, 'a');
    assert_int_equal(cdx_registry_put_institution(reg, &c, "local:test"), CDX_ECONFLICT);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "2.25.1"));

    /* An existing institution claiming it (as an spki fingerprint, same digest). */
    cdx_institution_t b2 = make_inst("2.25.2", "B changed", CDX_ROLE_ADMIN, "");
    add_cred(&b2, 1, 'a');
    assert_int_equal(cdx_registry_put_institution(reg, &b2, "local:test"), CDX_ECONFLICT);

    cdx_institution_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_inst_equal(&list[0], &a);
    assert_inst_equal(&list[1], &b);
    free(list);
    cdx_registry_close(reg);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit"), 2);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM institution_credentials"), 2);
}

/* id_root: stored with the institution, listed back, replaced on update, and never shared by
 * two institutions (the id-ownership check at ingest needs one owner per root). */
static void test_id_roots(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    cdx_institution_t a = make_inst("2.25.1", "A", CDX_ROLE_SUBMIT, "");
    add_root(&a, "1.2.840.99.1");
    add_root(&a, "1.2.840.99.2");
    cdx_institution_t b = make_inst("2.25.2", "B", CDX_ROLE_SUBMIT, "");
    add_root(&b, "1.2.840.77");
    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:test"), 0);
    assert_int_equal(cdx_registry_put_institution(reg, &b, "local:test"), 0);
    cdx_institution_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_inst_equal(&list[0], &a);
    assert_inst_equal(&list[1], &b);
    free(list);

    /* Another institution claiming one of A's roots is refused, naming A. */
    cdx_institution_t c = make_inst("2.25.3", "C", 0, "");
    add_root(&c, "1.2.840.99.2");
    assert_int_equal(cdx_registry_put_institution(reg, &c, "local:test"), CDX_ECONFLICT);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "2.25.1"));
    assert_non_null(strstr(cdx_registry_errmsg(reg), "1.2.840.99.2"));
    assert_int_equal(raw_int(path, "SELECT count(*) FROM institutions WHERE oid = '2.25.3'"), 0);

    /* An update replaces the roots; one given up may then be taken. */
    cdx_institution_t a2 = make_inst("2.25.1", "A", CDX_ROLE_SUBMIT, "");
    add_root(&a2, "1.2.840.99.1");
    assert_int_equal(cdx_registry_put_institution(reg, &a2, "local:test"), 0);
    assert_int_equal(cdx_registry_put_institution(reg, &c, "local:test"), 0);
    assert_int_equal(cdx_registry_list_institutions(reg, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_inst_equal(&list[0], &a2);
    assert_inst_equal(&list[2], &c);
    free(list);

    /* A root that is not an OID never reaches the database. */
    cdx_institution_t bad = make_inst("2.25.4", "D", 0, "");
    add_root(&bad, "1.2.abc");
    assert_int_equal(cdx_registry_put_institution(reg, &bad, "local:test"), CDX_EINVAL);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "id_root"));
    cdx_registry_close(reg);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM institution_id_roots"), 3);
}

/* ---- Audit ----------------------------------------------------------------------------- */

static void test_audit_chain(void **state)
{
    char path[1200], buf[512], sql[1024];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    int64_t bad = -1;
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);

    cdx_institution_t a = make_inst("2.25.1", "A", CDX_ROLE_SUBMIT | CDX_ROLE_QUERY, "");
    add_cred(&a, 0, 'a');
    add_cred(&a, 1, 'b');
    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:institution-add"), 0);
    a.roles = CDX_ROLE_ADMIN;
    assert_int_equal(cdx_registry_put_institution(reg, &a, "local:institution-add"), 0);
    cdx_institution_t b = make_inst("2.25.2", "B", 0, "");
    assert_int_equal(cdx_registry_put_institution(reg, &b, NULL), 0);

    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit"), 3);
    raw_text(path, "SELECT prev_hash FROM audit WHERE seq = 1", buf, sizeof buf);
    assert_string_equal(buf, "0000000000000000000000000000000000000000000000000000000000000000");
    raw_text(path,
             "SELECT event || '|' || actor_oid || '|' || outcome || '|' || detail"
             " FROM audit WHERE seq = 1",
             buf, sizeof buf);
    assert_string_equal(buf,
                        "institution.upsert|local:institution-add|0|oid=2.25.1 roles=submit,query "
                        "creds=2 id_roots=0");
    raw_text(path, "SELECT detail FROM audit WHERE seq = 3", buf, sizeof buf);
    assert_string_equal(buf, "oid=2.25.2 roles=none creds=0 id_roots=0");
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit AS x JOIN audit AS y"
                                   " ON y.seq = x.seq + 1 WHERE y.prev_hash = x.hash"),
                     2);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit WHERE length(hash) = 64 AND"
                                   " hash = lower(hash) AND length(ts) = 24"),
                     3);
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);

    /* A standalone event, with NULL fields. */
    cdx_audit_event_t ev = {.event = "document.query",
                            .actor_oid = "2.25.1",
                            .purpose = "TREAT",
                            .outcome = 4,
                            .patient_key = "ab12"};
    assert_int_equal(cdx_registry_audit(reg, &ev), 0);
    cdx_audit_event_t noname = {.event = NULL, .outcome = 0};
    assert_int_equal(cdx_registry_audit(reg, &noname), CDX_EINVAL);
    cdx_audit_event_t badout = {.event = "x", .outcome = 3};
    assert_int_equal(cdx_registry_audit(reg, &badout), CDX_EINVAL);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit"), 4);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM audit WHERE seq = 4 AND"
                                   " actor_user IS NULL AND document_id IS NULL"),
                     1);
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);

    /* Changing a field of row 2 is detected at row 2. */
    raw_text(path, "SELECT detail FROM audit WHERE seq = 2", buf, sizeof buf);
    raw_exec(path, "UPDATE audit SET detail = 'oid=2.25.1 roles=none creds=0' WHERE seq = 2");
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), CDX_ECONFLICT);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "2"));
    snprintf(sql, sizeof sql, "UPDATE audit SET detail = '%s' WHERE seq = 2", buf);
    raw_exec(path, sql);
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);

    /* Turning NULL into "" is a change too. */
    raw_exec(path, "UPDATE audit SET actor_user = '' WHERE seq = 4");
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), CDX_ECONFLICT);
    assert_int_equal(bad, 4);
    raw_exec(path, "UPDATE audit SET actor_user = NULL WHERE seq = 4");

    /* Removing a row breaks the link of the next one. */
    raw_exec(path, "DELETE FROM audit WHERE seq = 2");
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), CDX_ECONFLICT);
    assert_int_equal(bad, 3);
    cdx_registry_close(reg);
}

/* A field whose stored type differs from what the writer stores is a change even when it reads
 * back as the same text or number: an outcome of '0 (amended)' reads as 0, a BLOB reads as its
 * bytes.  Found by tests/fuzz/fuzz_audit.c (regressions/fuzz_audit/). */
static void test_audit_types(void **state)
{
    char path[1200];
    fresh_db(path, sizeof path);
    cdx_registry_t *reg = open_ok(path);
    cdx_audit_event_t ev = {.event = "document.read", .actor_oid = "2.25.1", .purpose = "",
                            .outcome = 4, .detail = "form=original"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(cdx_registry_audit(reg, &ev), 0);
    int64_t bad = -1;
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);
    static const struct {
        const char *tamper, *undo;
    } cases[] = {
        {"UPDATE audit SET purpose = x'' WHERE seq = 2", "UPDATE audit SET purpose = '' WHERE seq = 2"},
        {"UPDATE audit SET detail = CAST(detail AS BLOB) WHERE seq = 2",
         "UPDATE audit SET detail = CAST(detail AS TEXT) WHERE seq = 2"},
        {"UPDATE audit SET outcome = '4 (amended)' WHERE seq = 2",
         "UPDATE audit SET outcome = 4 WHERE seq = 2"},
        {"UPDATE audit SET outcome = 4.5 WHERE seq = 2", "UPDATE audit SET outcome = 4 WHERE seq = 2"},
        {"UPDATE audit SET hash = CAST(hash AS BLOB) WHERE seq = 2",
         "UPDATE audit SET hash = CAST(hash AS TEXT) WHERE seq = 2"},
        {"UPDATE audit SET prev_hash = CAST(prev_hash AS BLOB) WHERE seq = 2",
         "UPDATE audit SET prev_hash = CAST(prev_hash AS TEXT) WHERE seq = 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw_exec(path, cases[i].tamper);
        bad = -1;
        if (cdx_registry_audit_verify(reg, &bad) != CDX_ECONFLICT)
            fail_msg("not detected: %s", cases[i].tamper);
        assert_int_equal(bad, 2);
        raw_exec(path, cases[i].undo);
        assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);
    }
    cdx_registry_close(reg);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_creates_db),
        cmocka_unit_test(test_open_tightens_mode),
        cmocka_unit_test(test_open_rejects_garbage),
        cmocka_unit_test(test_reopen_keeps_schema),
        cmocka_unit_test(test_future_schema_refused),
        cmocka_unit_test(test_schema_as_before),
        cmocka_unit_test(test_old_database_unchanged),
        cmocka_unit_test(test_put_list_roundtrip),
        cmocka_unit_test(test_update_replaces_credentials),
        cmocka_unit_test(test_conflicting_credential),
        cmocka_unit_test(test_id_roots),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_audit_types),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
