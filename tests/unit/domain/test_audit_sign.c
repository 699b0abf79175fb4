/* Unit tests of the audit signing key and checkpoint signatures (gateway/domain/audit_sign.c)
 * and of the export forms of a record (gateway/domain/audit_format.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/audit_format.h"
#include "cdx/domain/audit_sign.h"
#include "cdx_test.h"

static char dir[1024];

static int setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(dir, sizeof dir, "auditsign");
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_sign_verify(void **state)
{
    (void)state;
    char path[1200], err[256], sig[CDX_AUDIT_SIG_HEX];
    snprintf(path, sizeof path, "%s/k.pem", dir);
    remove(path);
    cdx_audit_key_t *k = NULL, *again = NULL;
    assert_int_equal(cdx_audit_key_load(path, 1, &k, err, sizeof err), 0);
    assert_int_equal(cdx_audit_key_load(path, 0, &again, err, sizeof err), 0);
    assert_string_equal(cdx_audit_key_id(k), cdx_audit_key_id(again)); /* the same key re-read */
    assert_int_equal(strlen(cdx_audit_key_id(k)), 32);
    const char *ts = "2026-12-03T07:00:00.000Z";
    assert_int_equal(cdx_audit_checkpoint_sign(k, 42, H64, ts, sig), 0);
    assert_int_equal(strlen(sig), 128);
    assert_int_equal(cdx_audit_checkpoint_verify(again, 42, H64, ts, sig), 0);
    /* Every part of the message counts. */
    assert_int_equal(cdx_audit_checkpoint_verify(k, 43, H64, ts, sig), CDX_ECONFLICT);
    assert_int_equal(
        cdx_audit_checkpoint_verify(
            k, 42, "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ts, sig),
        CDX_ECONFLICT);
    assert_int_equal(cdx_audit_checkpoint_verify(k, 42, H64, "2026-12-03T07:00:00.001Z", sig),
                     CDX_ECONFLICT);
    char bad[CDX_AUDIT_SIG_HEX];
    memcpy(bad, sig, sizeof bad);
    bad[5] = bad[5] == '0' ? '1' : '0';
    assert_int_equal(cdx_audit_checkpoint_verify(k, 42, H64, ts, bad), CDX_ECONFLICT);
    bad[5] = 'x';
    assert_int_equal(cdx_audit_checkpoint_verify(k, 42, H64, ts, bad), CDX_ECONFLICT);
    assert_int_equal(cdx_audit_checkpoint_verify(k, 42, H64, ts, "ab"), CDX_ECONFLICT);
    /* Malformed fields are refused before signing. */
    assert_int_equal(cdx_audit_checkpoint_sign(k, 0, H64, ts, sig), CDX_EINVAL);
    assert_int_equal(cdx_audit_checkpoint_sign(k, 1, "abc", ts, sig), CDX_EINVAL);
    assert_int_equal(cdx_audit_checkpoint_sign(k, 1, H64, "a\nb", sig), CDX_EINVAL);
    cdx_audit_key_free(k);
    cdx_audit_key_free(again);
    cdx_audit_key_free(NULL);
}

static void test_not_a_key(void **state)
{
    (void)state;
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/garbage.pem", dir);
    assert_int_equal(cdx_write_file_atomic(path, "not a key\n", 10, 0600), 0);
    cdx_audit_key_t *k = NULL;
    assert_int_equal(cdx_audit_key_load(path, 1, &k, err, sizeof err), CDX_ECONFIG);
    assert_int_equal(cdx_audit_key_load_public(path, &k, err, sizeof err), CDX_ECONFIG);
    assert_null(k);
}

static const cdx_audit_record_t rec = {
    .seq = 7,
    .ts = "2026-12-03T07:00:00.123Z",
    .event = "document.read",
    .actor_oid = "2.25.7",
    .actor_user = "dr \"quote\" ]x",
    .purpose = "ETREAT",
    .outcome = 0,
    .patient_key = "0123456789abcdef0123456789abcdef",
    .document_id = "00000000000000000000000000000001",
    .detail = "form=original",
    .peer = "192.0.2.7",
    .decision = "breakglass",
    .reason = "unconscious\npatient",
    .consent = "consent:9",
    .version = 2,
    .hash = H64,
};

static void test_fhir(void **state)
{
    (void)state;
    json_t *o = cdx_audit_record_fhir(&rec);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "resourceType")), "AuditEvent");
    json_t *type = json_object_get(o, "type");
    assert_string_equal(json_string_value(json_object_get(type, "code")), "110106");
    assert_string_equal(json_string_value(json_object_get(o, "action")), "R");
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "0");
    assert_string_equal(json_string_value(json_object_get(o, "recorded")), rec.ts);
    json_t *agent = json_array_get(json_object_get(o, "agent"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(agent, "network"), "address")),
        "192.0.2.7");
    assert_non_null(json_object_get(o, "purposeOfEvent"));
    assert_int_equal(json_array_size(json_object_get(o, "entity")), 2);
    json_decref(o);
}

static void test_syslog(void **state)
{
    (void)state;
    cdx_buf_t b;
    cdx_buf_init(&b, 1 << 16);
    assert_int_equal(cdx_audit_record_syslog(&rec, "gw1", &b), 0);
    assert_string_equal(strchr(b.data, '\n'), "\n"); /* one line, the reason's line end gone */
    assert_true(strncmp(b.data,
                        "<86>1 2026-12-03T07:00:00.123Z gw1 cdxgw - document.read "
                        "[cdx-audit@32473 seq=\"7\"",
                        strlen("<86>1 2026-12-03T07:00:00.123Z gw1 cdxgw - document.read "
                               "[cdx-audit@32473 seq=\"7\"")) == 0);
    assert_non_null(strstr(b.data, " user=\"dr \\\"quote\\\" \\]x\""));
    assert_non_null(strstr(b.data, " peer=\"192.0.2.7\""));
    assert_non_null(strstr(b.data, " decision=\"breakglass\""));
    assert_non_null(strstr(b.data, " reason=\"unconscious?patient\""));
    cdx_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_not_a_key),
        cmocka_unit_test(test_fhir),
        cmocka_unit_test(test_syslog),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
