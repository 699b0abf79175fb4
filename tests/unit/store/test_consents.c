/* Unit tests of consent records, what the access decision reads of a
 * person, and break-glass time boxes (gateway/store/consents.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"
#include "cdx_test_registry.h"

#define INST CDX_TEST_SUBMITTER
#define OTHER "2.25.8"
#define L1 "2.25.7.1"
#define L2 "2.25.8.1"
#define NOW "20261203120000"

static char dbpath[1200];
static cdx_registry_t *reg;

static int setup(void **state)
{
    (void)state;
    return cdx_test_registry_new("consents", dbpath, sizeof dbpath, &reg);
}

static int teardown(void **state)
{
    (void)state;
    cdx_registry_close(reg);
    return 0;
}

/* Stores a document of INST carrying npairs ids (root, ext pairs); its uid. */
static void store(const char *const *ids, size_t npairs, const char *ext, char uid[33])
{
    char unique[64], sha[65];
    snprintf(unique, sizeof unique, "2.25.7.2^%s", ext);
    snprintf(sha, sizeof sha, "sha-%s", ext);
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, unique, sha, ids, npairs);
    rec.patient_key = "0123456789abcdef0123456789abcdef";
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, NULL), 0);
}

static int64_t put(const char *root, const char *ext, int permit, const char *scope_inst)
{
    cdx_consent_t c;
    memset(&c, 0, sizeof c);
    c.permit = permit;
    c.research = -1;
    if (scope_inst != NULL)
        cdx_strlcpy(c.institutions[c.ninstitutions++], scope_inst, sizeof c.institutions[0]);
    cdx_audit_event_t ev = {.event = "consent.record", .actor_oid = INST};
    int64_t id = 0;
    int rc = cdx_registry_put_consent(reg, root, ext, &c, "api", NULL, INST, &ev, &id);
    return rc == 0 ? id : rc;
}

static void test_person_level_history(void **state)
{
    (void)state;
    static const char *const ids[] = {L1, "A", L2, "B"};
    char uid[33];
    store(ids, 1, "D1", uid);
    int64_t a = put(L1, "A", 1, NULL);
    assert_true(a > 0);
    assert_int_equal(put(L1, "NOBODY", 1, NULL), CDX_ENOTFOUND);
    /* The identity B joins A's person: A's decision is the person's. */
    store(ids, 2, "D2", uid);
    int64_t person = 0;
    assert_int_equal(cdx_registry_person_of(reg, L2, "B", &person), 0);
    int64_t b = put(L2, "B", 0, OTHER);
    assert_true(b > a);
    cdx_consent_t cs[4];
    size_t n = 0;
    int care = -1, glass = -1;
    assert_int_equal(cdx_registry_access_person(reg, person, INST, NOW, cs, 4, &n, &care, &glass),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(cs[0].id, b); /* newest first */
    assert_int_equal(cs[0].permit, 0);
    assert_int_equal(cs[0].ninstitutions, 1);
    assert_string_equal(cs[0].institutions[0], OTHER);
    assert_int_equal(cs[1].permit, 1);
    assert_int_equal(care, 1);
    assert_int_equal(glass, 0);
    assert_int_equal(cdx_registry_access_person(reg, person, OTHER, NOW, cs, 1, &n, &care, &glass),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(care, 0);
    cdx_consent_row_t rows[4];
    assert_int_equal(cdx_registry_person_consents(reg, person, rows, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].identity.root, L2);
    assert_string_equal(rows[1].identity.ext, "A");
    assert_string_equal(rows[1].source, "api");
    assert_string_equal(rows[1].actor, INST);
}

static void test_breakglass_box(void **state)
{
    (void)state;
    static const char *const ids[] = {L1, "G"};
    char uid[33];
    store(ids, 1, "G1", uid);
    int64_t person = 0;
    assert_int_equal(cdx_registry_person_of(reg, L1, "G", &person), 0);
    cdx_consent_t cs[1];
    size_t n = 0;
    int care = 0, glass = 0;
    assert_int_equal(cdx_registry_breakglass_open(reg, OTHER, person, "20261203120500"), 0);
    /* An earlier end never shortens the box. */
    assert_int_equal(cdx_registry_breakglass_open(reg, OTHER, person, "20261203120100"), 0);
    assert_int_equal(cdx_registry_access_person(reg, person, OTHER, NOW, cs, 1, &n, &care, &glass),
                     0);
    assert_int_equal(glass, 1);
    assert_int_equal(cdx_registry_access_person(reg, person, OTHER, "20261203120500", cs, 1, &n,
                                                &care, &glass),
                     0);
    assert_int_equal(glass, 0);
    /* Another institution has no box. */
    assert_int_equal(cdx_registry_access_person(reg, person, INST, NOW, cs, 1, &n, &care, &glass),
                     0);
    assert_int_equal(glass, 0);
}

static void test_person_documents(void **state)
{
    (void)state;
    static const char *const ids[] = {L1, "P"};
    char uid[33];
    store(ids, 1, "P1", uid);
    int64_t person = 0;
    assert_int_equal(cdx_registry_person_of(reg, L1, "P", &person), 0);
    cdx_doc_access_t *docs = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_person_documents(reg, person, &docs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(docs[0].uid, uid);
    assert_string_equal(docs[0].submitter_oid, INST);
    free(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_level_history),
        cmocka_unit_test(test_breakglass_box),
        cmocka_unit_test(test_person_documents),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
