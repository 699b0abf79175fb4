/* Unit tests of the audit trail (gateway/store/audit.c, audit_check.c, audit_read.c): the v2
 * hash over the ATNA fields and its version, v1 rows written before it, signed checkpoints and
 * what verification finds after one changed byte, two swapped records or a cut tail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <openssl/evp.h>

#include "cdx/base/common.h"
#include "cdx/domain/audit_sign.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"

static char dir[1024], dbpath[1200], keypath[1200];

static int setup(void **state)
{
    (void)state;
    if (cdx_test_scratch_dir(dir, sizeof dir, "audit") != 0)
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/registry.db", dir);
    snprintf(keypath, sizeof keypath, "%s/keys/audit-ed25519.key", dir);
    return 0;
}

static cdx_registry_t *fresh(void)
{
    char err[512];
    char path[1300];
    remove(dbpath);
    snprintf(path, sizeof path, "%s-wal", dbpath);
    remove(path);
    snprintf(path, sizeof path, "%s-shm", dbpath);
    remove(path);
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_registry_open(dbpath, &reg, err, sizeof err), 0);
    return reg;
}

static void raw(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql: %s: %s\n", sql, msg);
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

static void append(cdx_registry_t *reg, int i)
{
    char detail[32];
    snprintf(detail, sizeof detail, "n=%d", i);
    cdx_audit_event_t ev = {.event = "document.read",
                            .actor_oid = "2.25.7",
                            .purpose = "TREAT",
                            .outcome = 0,
                            .patient_key = "0123456789abcdef0123456789abcdef",
                            .document_id = "00000000000000000000000000000001",
                            .detail = detail,
                            .peer = "192.0.2.7",
                            .decision = i % 2 ? "allowed" : NULL,
                            .reason = i == 3 ? "unconscious patient" : NULL,
                            .consent = i == 3 ? "consent:9" : NULL};
    assert_int_equal(cdx_registry_audit(reg, &ev), 0);
}

static int64_t broken_at(cdx_registry_t *reg, const cdx_audit_key_t *key)
{
    cdx_audit_check_t c;
    int rc = cdx_registry_audit_check(reg, key, &c);
    if (rc == 0)
        return 0;
    assert_int_equal(rc, CDX_ECONFLICT);
    return c.bad_seq;
}

/* Every ATNA field is covered by the v2 hash: a change in any breaks the chain at its row. */
static void test_v2_covers_atna_fields(void **state)
{
    (void)state;
    static const char *const edits[] = {
        "UPDATE audit_atna SET peer = '192.0.2.8' WHERE seq = 3",
        "UPDATE audit_atna SET decision = 'denied' WHERE seq = 3",
        "UPDATE audit_atna SET reason = 'Unconscious patient' WHERE seq = 3",
        "UPDATE audit_atna SET consent = NULL WHERE seq = 3",
        /* The version: down to 1 (fewer fields covered), up to 3, or the row removed. */
        ("UPDATE audit_atna SET hash_version = 1, peer = NULL, decision = NULL, reason = NULL,"
         " consent = NULL WHERE seq = 3"),
        "UPDATE audit_atna SET hash_version = 3 WHERE seq = 3",
        "DELETE FROM audit_atna WHERE seq = 3",
        "UPDATE audit_atna SET hash_version = x'02' WHERE seq = 3",
        "UPDATE audit SET detail = 'n=4' WHERE seq = 3",
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        cdx_registry_t *reg = fresh();
        for (int k = 1; k <= 5; k++)
            append(reg, k);
        assert_int_equal(broken_at(reg, NULL), 0);
        raw(edits[i]);
        assert_int_equal(broken_at(reg, NULL), 3);
        cdx_registry_close(reg);
    }
}

/* The v1 hash as written before the ATNA fields, computed here from its definition. */
static void put_span(EVP_MD_CTX *ctx, const char *s)
{
    unsigned char present = s != NULL, len[8];
    EVP_DigestUpdate(ctx, &present, 1);
    if (s == NULL)
        return;
    uint64_t n = strlen(s);
    for (int i = 7; i >= 0; i--, n >>= 8)
        len[i] = (unsigned char)(n & 0xFF);
    EVP_DigestUpdate(ctx, len, 8);
    EVP_DigestUpdate(ctx, s, strlen(s));
}

static void put_u64(EVP_MD_CTX *ctx, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)(v & 0xFF);
    EVP_DigestUpdate(ctx, b, 8);
}

static void v1_hash(const char *prev, int64_t seq, const char *ts, const char *event, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    put_span(ctx, "cdx.audit.v1");
    put_span(ctx, prev);
    put_u64(ctx, (uint64_t)seq);
    put_span(ctx, ts);
    put_span(ctx, event);
    put_span(ctx, "local:test");
    put_span(ctx, NULL);
    put_span(ctx, NULL);
    put_u64(ctx, 0);
    put_span(ctx, NULL);
    put_span(ctx, NULL);
    put_span(ctx, "old");
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    cdx_hex(md, 32, out);
}

/* Rows written before the ATNA fields (no audit_atna row) keep verifying under v1, v2 rows
 * follow them, and a v1 row may not follow a v2 row. */
static void test_v1_rows_then_v2(void **state)
{
    (void)state;
    cdx_registry_t *reg = fresh();
    char h1[65], h2[65], sql[1024];
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    v1_hash(zero, 1, "2024-01-01T00:00:00.000Z", "document.ingest", h1);
    v1_hash(h1, 2, "2024-01-01T00:00:01.000Z", "document.ingest", h2);
    snprintf(sql, sizeof sql,
             "INSERT INTO audit (seq, ts, event, actor_oid, outcome, detail, prev_hash, hash)"
             " VALUES (1, '2024-01-01T00:00:00.000Z', 'document.ingest', 'local:test', 0, 'old',"
             " '%s', '%s'), (2, '2024-01-01T00:00:01.000Z', 'document.ingest', 'local:test', 0,"
             " 'old', '%s', '%s')",
             zero, h1, h1, h2);
    raw(sql);
    assert_int_equal(broken_at(reg, NULL), 0);
    append(reg, 3);
    append(reg, 4);
    cdx_audit_check_t c;
    assert_int_equal(cdx_registry_audit_check(reg, NULL, &c), 0);
    assert_int_equal(c.records, 4);
    /* A v1 row claiming a v2 field is refused. */
    raw("INSERT INTO audit_atna (seq, hash_version, peer) VALUES (1, 1, '192.0.2.1')");
    assert_int_equal(broken_at(reg, NULL), 1);
    raw("DELETE FROM audit_atna WHERE seq = 1");
    /* A v2 row's version set back to 1 (its fields emptied) after a v2 row. */
    raw("UPDATE audit_atna SET hash_version = 1, peer = NULL, decision = NULL WHERE seq = 4");
    assert_int_equal(broken_at(reg, NULL), 4);
    cdx_registry_close(reg);
}

/* Checkpoints every 3 records, signed, verify with the public key; the key file is 0600. */
static void test_checkpoints_signed(void **state)
{
    (void)state;
    char err[512];
    remove(keypath);
    cdx_audit_key_t *key = NULL, *pub = NULL, *other = NULL;
    assert_int_equal(cdx_audit_key_load(keypath, 0, &key, err, sizeof err), CDX_ENOTFOUND);
    assert_int_equal(cdx_audit_key_load(keypath, 1, &key, err, sizeof err), 0);
    struct stat sb;
    assert_int_equal(stat(keypath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *pem = NULL, pubpath[1300], otherpath[1300];
    size_t len = 0;
    assert_int_equal(cdx_audit_key_public_pem(key, &pem, &len), 0);
    assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
    snprintf(pubpath, sizeof pubpath, "%s/audit.pub", dir);
    assert_int_equal(cdx_write_file_atomic(pubpath, pem, len, 0644), 0);
    free(pem);
    assert_int_equal(cdx_audit_key_load_public(pubpath, &pub, err, sizeof err), 0);
    assert_false(cdx_audit_key_can_sign(pub));
    assert_string_equal(cdx_audit_key_id(pub), cdx_audit_key_id(key));
    snprintf(otherpath, sizeof otherpath, "%s/other.key", dir);
    remove(otherpath);
    assert_int_equal(cdx_audit_key_load(otherpath, 1, &other, err, sizeof err), 0);

    cdx_registry_t *reg = fresh();
    assert_int_equal(cdx_registry_set_audit_key(reg, pub, 3), CDX_EINVAL); /* cannot sign */
    assert_int_equal(cdx_registry_set_audit_key(reg, key, 3), 0);
    for (int k = 1; k <= 7; k++)
        append(reg, k);
    int64_t at = 0;
    assert_int_equal(cdx_registry_audit_checkpoint(reg, &at), 0);
    assert_int_equal(at, 7);
    cdx_audit_check_t c;
    assert_int_equal(cdx_registry_audit_check(reg, pub, &c), 0);
    assert_int_equal(c.checkpoints, 3); /* 3, 6, 7 */
    assert_int_equal(c.last_checkpoint, 7);
    assert_int_equal(c.unsigned_checkpoints, 0);
    /* Another key does not verify them. */
    assert_int_equal(broken_at(reg, other), 3);
    /* A changed signature. */
    raw("UPDATE audit_checkpoints SET signature = replace(signature, substr(signature, 1, 1),"
        " CASE substr(signature, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END) WHERE seq = 6");
    assert_int_equal(broken_at(reg, pub), 6);
    cdx_registry_close(reg);
    cdx_audit_key_free(key);
    cdx_audit_key_free(pub);
    cdx_audit_key_free(other);
}

/* One changed byte, two swapped records, a cut tail after a checkpoint, a chain rewritten
 * after a checkpoint: each is found, naming the right record. */
static void test_tampering_found(void **state)
{
    (void)state;
    char err[512];
    cdx_audit_key_t *key = NULL;
    assert_int_equal(cdx_audit_key_load(keypath, 1, &key, err, sizeof err), 0);
    static const struct {
        const char *sql;
        int64_t bad;
    } cases[] = {
        {"UPDATE audit SET actor_oid = '2.25.8' WHERE seq = 4", 4},
        /* Records 4 and 5 swapped, all columns but seq. */
        {"UPDATE audit SET (ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
         " document_id, detail, prev_hash, hash) = (SELECT ts, event, actor_oid, actor_user,"
         " purpose, outcome, patient_key, document_id, detail, prev_hash, hash FROM audit b"
         " WHERE b.seq = 9 - audit.seq) WHERE seq IN (4, 5)",
         4},
        /* The tail after seq 7 cut: the checkpoint at 8 names a record that is gone. */
        {"DELETE FROM audit WHERE seq > 7", 8},
        /* The chain rewritten from seq 3 on: the checkpoint at 4 signed another hash. */
        {"UPDATE audit_checkpoints SET hash = '"
         "0000000000000000000000000000000000000000000000000000000000000000' WHERE seq = 4",
         4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdx_registry_t *reg = fresh();
        assert_int_equal(cdx_registry_set_audit_key(reg, key, 4), 0);
        for (int k = 1; k <= 9; k++)
            append(reg, k);
        int64_t at = 0;
        assert_int_equal(cdx_registry_audit_checkpoint(reg, &at), 0); /* 4, 8 and 9 */
        assert_int_equal(cdx_registry_set_audit_key(reg, NULL, 0), 0);
        assert_int_equal(broken_at(reg, key), 0);
        raw(cases[i].sql);
        assert_int_equal(broken_at(reg, key), cases[i].bad);
        cdx_registry_close(reg);
    }
    cdx_audit_key_free(key);
}

static int count_rec(void *arg, const cdx_audit_record_t *rec)
{
    int *n = arg;
    assert_non_null(rec->ts);
    (*n)++;
    return 0;
}

/* Reading back: by patient keys, break-glass, event, after a seq, with a limit. */
static void test_read_filters(void **state)
{
    (void)state;
    cdx_registry_t *reg = fresh();
    for (int k = 1; k <= 6; k++)
        append(reg, k);
    cdx_audit_event_t bg = {.event = "document.read",
                            .outcome = 0,
                            .purpose = "ETREAT",
                            .patient_key = "ffffffffffffffffffffffffffffffff"};
    assert_int_equal(cdx_registry_audit(reg, &bg), 0);
    int n = 0;
    cdx_audit_filter_t f = {0};
    assert_int_equal(cdx_registry_audit_each(reg, &f, count_rec, &n), 0);
    assert_int_equal(n, 7);
    n = 0;
    f = (cdx_audit_filter_t){.patient_keys_json = "[\"ffffffffffffffffffffffffffffffff\"]"};
    assert_int_equal(cdx_registry_audit_each(reg, &f, count_rec, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    f = (cdx_audit_filter_t){.breakglass = 1};
    assert_int_equal(cdx_registry_audit_each(reg, &f, count_rec, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    f = (cdx_audit_filter_t){.after_seq = 2, .limit = 3, .event = "document.read"};
    assert_int_equal(cdx_registry_audit_each(reg, &f, count_rec, &n), 0);
    assert_int_equal(n, 3);
    cdx_registry_close(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_covers_atna_fields), cmocka_unit_test(test_v1_rows_then_v2),
        cmocka_unit_test(test_checkpoints_signed),    cmocka_unit_test(test_tampering_found),
        cmocka_unit_test(test_read_filters),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
