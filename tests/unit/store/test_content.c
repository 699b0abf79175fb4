/* Unit tests of the stored form of document content (gateway/store/content.c):
 * zstd frames read back byte for byte, blobs stored before compression read
 * as they are, corrupted frames refused with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

static char dbpath[1200];
static char *big;      /* a document of about 60 KB */
static size_t big_len;

static int setup(void **state)
{
    (void)state;
    if (cdx_test_registry_path("content", dbpath, sizeof dbpath) != 0)
        return -1;
    big = malloc(70000);
    if (big == NULL)
        return -1;
    size_t n = (size_t)sprintf(big, "<?xml version=\"1.0\"?>\n<ClinicalDocument>");
    for (int i = 0; n < 60000; i++)
        n += (size_t)sprintf(big + n, "<entry n=\"%d\"><code code=\"E%d\"/>\xea\xb9\x80</entry>\n",
                             i, i % 97);
    n += (size_t)sprintf(big + n, "</ClinicalDocument>");
    big_len = n;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(big);
    return 0;
}

static cdx_registry_t *open_reg(void)
{
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_test_registry_open(dbpath, &reg), 0);
    return reg;
}

static void store(cdx_registry_t *reg, const char *id, const char *bytes, size_t len,
                  const char *norm, int prepack, char uid[33])
{
    cdx_doc_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.unique_id = id;
    rec.version = 1;
    rec.submitter_oid = "2.25.7";
    rec.sha256 = id;
    rec.original = bytes;
    rec.size = len;
    rec.normalized = norm;
    rec.normalized_size = norm != NULL ? strlen(norm) : 0;
    rec.meta_json = "{}";
    void *po = NULL, *pn = NULL;
    if (prepack) {
        assert_int_equal(cdx_registry_pack(bytes, len, &po, &rec.original_packed_size), 0);
        assert_int_equal(
            cdx_registry_pack(norm, rec.normalized_size, &pn, &rec.normalized_packed_size), 0);
        rec.original_packed = po;
        rec.normalized_packed = pn;
    }
    cdx_store_outcome_t outcome;
    assert_int_equal(cdx_registry_store_document(reg, &rec, NULL, &outcome, uid), 0);
    assert_int_equal(outcome, CDX_STORE_CREATED);
    free(po);
    free(pn);
}

static void expect_content(cdx_registry_t *reg, const char *uid, int what, const char *bytes,
                           size_t len)
{
    cdx_doc_row_t row;
    assert_int_equal(cdx_registry_get_document(reg, uid, what, &row), 0);
    assert_int_equal(row.content_len, len);
    assert_memory_equal(row.content, bytes, len);
    assert_int_equal(row.content[len], '\0');
    cdx_doc_row_cleanup(&row);
}

/* Runs sql on the database file directly, binding blob to ?1 when given. */
static void raw(const char *sql, const void *blob, int n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (blob != NULL)
        assert_int_equal(sqlite3_bind_blob(st, 1, blob, n, SQLITE_TRANSIENT), SQLITE_OK);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    }
    assert_int_equal(src, SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int count_row(const cdx_doc_row_t *row, void *arg)
{
    (void)row;
    ++*(int *)arg;
    return 0;
}

/* Both forms are stored packed (well under the original's size) and read
 * back byte for byte, whether the store or the caller packed them. */
static void test_packed_roundtrip(void **state)
{
    (void)state;
    cdx_registry_t *reg = open_reg();
    char u1[33], u2[33];
    store(reg, "2.25.7.2^P1", big, big_len, "<n>\xed\x95\x9c</n>", 0, u1);
    store(reg, "2.25.7.2^P2", big, big_len, big, 1, u2);
    expect_content(reg, u1, CDX_DOC_ORIGINAL, big, big_len);
    expect_content(reg, u1, CDX_DOC_NORMALIZED, "<n>\xed\x95\x9c</n>", 10);
    expect_content(reg, u2, CDX_DOC_ORIGINAL, big, big_len);
    expect_content(reg, u2, CDX_DOC_NORMALIZED, big, big_len);
    cdx_doc_row_t row;
    assert_int_equal(cdx_registry_get_document(reg, u1, CDX_DOC_META_ONLY, &row), 0);
    assert_null(row.content);
    cdx_doc_row_cleanup(&row);
    /* The reindex update packs the new normalized form too. */
    assert_int_equal(cdx_registry_update_normalized(reg, 1, "n2", big, big_len, "default-2", "{}",
                                                    NULL, NULL, 0),
                     0);
    expect_content(reg, u1, CDX_DOC_NORMALIZED, big, big_len);
    cdx_registry_close(reg);
    assert_true(raw_int("SELECT max(length(original)) FROM document_content") <
                (int64_t)big_len / 4);
    assert_true(raw_int("SELECT max(length(normalized)) FROM document_content") <
                (int64_t)big_len / 4);
    assert_int_equal(raw_int("SELECT count(*) FROM document_content WHERE"
                             " hex(substr(original, 1, 4)) = '28B52FFD'"),
                     2);
}

/* Content stored before compression (the bytes as received) reads as it
 * is, for the original, the normalized form and the reindex walk. */
static void test_unpacked_rows_read(void **state)
{
    (void)state;
    raw("UPDATE document_content SET original = ?1 WHERE document_id = 1", big, (int)big_len);
    raw("UPDATE document_content SET normalized = ?1 WHERE document_id = 1", "<old/>", 6);
    cdx_registry_t *reg = open_reg();
    char uid[33];
    cdx_registry_doc_uid("2.25.7.2^P1", uid);
    expect_content(reg, uid, CDX_DOC_ORIGINAL, big, big_len);
    expect_content(reg, uid, CDX_DOC_NORMALIZED, "<old/>", 6);
    int seen = 0;
    assert_int_equal(cdx_registry_each_document(reg, 0, 10, count_row, &seen), 0);
    assert_int_equal(seen, 2);
    cdx_registry_close(reg);
}

static void expect_refused(const char *uid, int what)
{
    cdx_registry_t *reg = open_reg();
    cdx_doc_row_t row;
    assert_int_equal(cdx_registry_get_document(reg, uid, what, &row), CDX_EDB);
    assert_non_null(strstr(cdx_registry_errmsg(reg), "corrupted"));
    assert_non_null(strstr(cdx_registry_errmsg(reg), uid));
    assert_null(row.content);
    if (what == CDX_DOC_ORIGINAL) {
        int seen = 0;
        assert_int_equal(cdx_registry_each_document(reg, 1, 10, count_row, &seen), CDX_EDB);
        assert_int_equal(seen, 0);
    }
    cdx_registry_close(reg);
}

/* A damaged frame is refused with a clear error, never read past its
 * buffer: a flipped byte (checksum), a cut one, trailing bytes, a frame
 * of other content (its size is not the document's), a bare magic. */
static void test_corrupted_refused(void **state)
{
    (void)state;
    char uid[33];
    cdx_registry_doc_uid("2.25.7.2^P2", uid);
    raw("UPDATE document_content SET original = substr(original, 1, 40) ||"
        " CASE WHEN substr(original, 41, 1) = x'00' THEN x'01' ELSE x'00' END ||"
        " substr(original, 42) WHERE document_id = 2",
        NULL, 0);
    expect_refused(uid, CDX_DOC_ORIGINAL);
    void *frame = NULL;
    size_t flen = 0;
    assert_int_equal(cdx_registry_pack(big, big_len, &frame, &flen), 0);
    raw("UPDATE document_content SET original = substr(?1, 1, length(?1) - 9)"
        " WHERE document_id = 2",
        frame, (int)flen);
    expect_refused(uid, CDX_DOC_ORIGINAL);
    raw("UPDATE document_content SET original = ?1 || x'00' WHERE document_id = 2", frame,
        (int)flen);
    expect_refused(uid, CDX_DOC_ORIGINAL);
    free(frame);
    assert_int_equal(cdx_registry_pack(big, big_len - 1, &frame, &flen), 0);
    raw("UPDATE document_content SET original = ?1 WHERE document_id = 2", frame, (int)flen);
    expect_refused(uid, CDX_DOC_ORIGINAL);
    free(frame);
    raw("UPDATE document_content SET normalized = ?1 WHERE document_id = 2",
        "\x28\xb5\x2f\xfd", 4);
    expect_refused(uid, CDX_DOC_NORMALIZED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_roundtrip),
        cmocka_unit_test(test_unpacked_rows_read),
        cmocka_unit_test(test_corrupted_refused),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
