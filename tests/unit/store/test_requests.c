/* Unit tests of record requests and subscriptions in the registry
 * (gateway/store/requests.c) and of the deliveries a new document's
 * subscriptions cause (gateway/domain/subscription.c): each belongs to its
 * institution (another's is not found), a request's deliveries are written
 * with it, the cap per institution, and a subscription matches its person
 * over every linked identity, its types, and what consent allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/subscription.h"
#include "cdx/store/outbox.h"
#include "cdx/store/registry.h"
#include "cdx_test_registry.h"

#define HOSP "2.25.7"   /* submits the documents */
#define CLIN "2.25.8"   /* asks */
#define OTHER "2.25.9"  /* another institution */
#define ROOT "2.25.7.1" /* the hospital's patient ids */

static char dbpath[1200];
static cdx_registry_t *reg;

static int put_inst(const char *oid)
{
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    cdx_strlcpy(inst.oid, oid, sizeof inst.oid);
    cdx_strlcpy(inst.name, "Institution", sizeof inst.name);
    inst.roles = CDX_ROLE_QUERY | CDX_ROLE_SUBMIT;
    snprintf(inst.endpoint, sizeof inst.endpoint, "https://127.0.0.1:9/%s", oid);
    return cdx_registry_put_institution(reg, &inst, "test");
}

/* Each case has a registry of its own: the caps and lists count what one
 * case made. */
static int setup(void **state)
{
    (void)state;
    if (cdx_test_registry_new("requests", dbpath, sizeof dbpath, &reg) != 0)
        return -1;
    return put_inst(HOSP) || put_inst(CLIN) || put_inst(OTHER);
}

static int teardown(void **state)
{
    (void)state;
    return cdx_test_registry_drop(&reg, dbpath);
}

static int64_t count_audit(void)
{
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &n), 0);
    return n;
}

/* Stores a document of HOSP of type for the ids (root, ext pairs); its uid. */
static void store(const char *const *ids, size_t npairs, const char *ext, const char *type,
                  char uid[33])
{
    char unique[64], sha[65];
    snprintf(unique, sizeof unique, "2.25.7.2^%s", ext);
    snprintf(sha, sizeof sha, "sha-%s", ext);
    cdx_doc_record_t rec;
    cdx_test_doc_record(&rec, unique, sha, ids, npairs);
    rec.type_code = type;
    rec.confidentiality = "N";
    rec.patient_key = "0123456789abcdef0123456789abcdef";
    assert_int_equal(cdx_test_doc_store(reg, &rec, uid, NULL), 0);
}

/* A consent of the person of (ROOT, ext): permit (scope CLIN) or deny. */
static void consent(const char *ext, int permit)
{
    cdx_consent_t c;
    memset(&c, 0, sizeof c);
    c.permit = permit;
    c.research = -1;
    if (permit) {
        c.ninstitutions = 1;
        cdx_strlcpy(c.institutions[0], CLIN, sizeof c.institutions[0]);
    }
    cdx_audit_event_t ev = {.event = CDX_AUDIT_CONSENT_RECORD, .actor_oid = HOSP};
    int64_t id = 0;
    assert_int_equal(
        cdx_registry_put_consent(reg, ROOT, ext, &c, "api", NULL, HOSP, &ev, &id), 0);
}

static void test_request_is_its_institutions(void **state)
{
    (void)state;
    cdx_record_request_t r;
    memset(&r, 0, sizeof r);
    strcpy(r.uid, "0123456789abcdef0123456789abcd01");
    strcpy(r.institution_oid, CLIN);
    strcpy(r.patient_root, ROOT);
    strcpy(r.patient_ext, "R1");
    strcpy(r.patient_key, "k");
    strcpy(r.types, "34133-9");
    strcpy(r.purpose, "ETREAT");
    char docs[2][33] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"};
    int created = 0;
    /* One of them is in the outbox already (a referral): kept as it is. */
    assert_int_equal(cdx_outbox_add(reg, docs[1], CLIN, "referral", docs[1], NULL, 5, &created), 0);
    int64_t before = count_audit();
    cdx_audit_event_t ev = {.event = CDX_AUDIT_REQUEST_CREATE, .actor_oid = CLIN};
    size_t made = 9;
    assert_int_equal(cdx_registry_request_put(reg, &r, (const char(*)[33])docs, 2, 1000, &ev,
                                              &made),
                     0);
    assert_int_equal(made, 1);
    assert_int_equal(count_audit(), before + 1);
    cdx_record_request_t got;
    cdx_request_doc_t *d = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_request_get(reg, r.uid, CLIN, &got, &d, &n), 0);
    assert_string_equal(got.types, "34133-9");
    assert_string_equal(got.patient_ext, "R1");
    assert_int_equal(n, 2);
    assert_string_equal(d[0].state, "pending");
    assert_string_equal(d[0].reason, "request");
    assert_string_equal(d[1].reason, "referral");
    free(d);
    /* The request's deliveries carry its purpose, which the send-time
     * check decides with; the referral kept has none. */
    cdx_delivery_t rows[4];
    size_t nrows = 0;
    assert_int_equal(cdx_outbox_list(reg, NULL, CLIN, 0, rows, 4, &nrows), 0);
    assert_int_equal(nrows, 2);
    for (size_t i = 0; i < nrows; i++) {
        int asked = strcmp(rows[i].reason, "request") == 0;
        assert_string_equal(rows[i].document_uid, docs[asked ? 0 : 1]);
        assert_string_equal(rows[i].purpose, asked ? "ETREAT" : "");
    }
    /* Another institution's request is not found, as an unknown id. */
    assert_int_equal(cdx_registry_request_get(reg, r.uid, OTHER, &got, &d, &n), CDX_ENOTFOUND);
    assert_null(d);
    assert_int_equal(cdx_registry_request_get(reg, "ffffffffffffffffffffffffffffffff", CLIN, &got,
                                              &d, &n),
                     CDX_ENOTFOUND);
}

static void sub(cdx_subscription_t *s, const char *uid, const char *oid, const char *ext,
                const char *types)
{
    memset(s, 0, sizeof *s);
    cdx_strlcpy(s->uid, uid, sizeof s->uid);
    cdx_strlcpy(s->institution_oid, oid, sizeof s->institution_oid);
    cdx_strlcpy(s->patient_root, ROOT, sizeof s->patient_root);
    cdx_strlcpy(s->patient_ext, ext, sizeof s->patient_ext);
    cdx_strlcpy(s->patient_key, "k", sizeof s->patient_key);
    cdx_strlcpy(s->types, types, sizeof s->types);
    cdx_strlcpy(s->purpose, "TREAT", sizeof s->purpose);
}

static void test_subscriptions_cap_and_ownership(void **state)
{
    (void)state;
    cdx_subscription_t s;
    cdx_audit_event_t ev = {.event = CDX_AUDIT_SUBSCRIPTION_CREATE, .actor_oid = OTHER};
    sub(&s, "b1", OTHER, "S1", "");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 2, &ev), 0);
    sub(&s, "b2", OTHER, "S2", "");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 2, &ev), 0);
    int64_t before = count_audit();
    sub(&s, "b3", OTHER, "S3", "");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 2, &ev), CDX_ERANGE);
    assert_int_equal(count_audit(), before);
    cdx_subscription_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_registry_subscriptions_list(reg, OTHER, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].uid, "b1");
    free(list);
    /* Only its owner ends it. */
    cdx_audit_event_t del = {.event = CDX_AUDIT_SUBSCRIPTION_DELETE, .actor_oid = CLIN};
    assert_int_equal(cdx_registry_subscription_delete(reg, "b1", CLIN, &del), CDX_ENOTFOUND);
    assert_int_equal(count_audit(), before);
    assert_int_equal(cdx_registry_subscription_delete(reg, "b1", OTHER, &del), 0);
    assert_int_equal(count_audit(), before + 1);
    assert_int_equal(cdx_registry_subscription_delete(reg, "b1", OTHER, &del), CDX_ENOTFOUND);
    assert_int_equal(cdx_registry_subscription_delete(reg, "b2", OTHER, &del), 0);
}

static size_t deliver(const char *uid, const char *ext, const char *type)
{
    cdx_subscribed_doc_t doc = {.uid = uid,
                                .root = ROOT,
                                .ext = ext,
                                .submitter_oid = HOSP,
                                .custodian_oid = HOSP,
                                .type_code = type,
                                .confidentiality = "N"};
    size_t made = 0;
    assert_int_equal(cdx_subscriptions_deliver(reg, &doc, 2000, &made), 0);
    return made;
}

static int delivered_for(const char *uid, const char *dest, char *reason_id)
{
    cdx_delivery_t rows[16];
    size_t n = 0;
    assert_int_equal(cdx_outbox_list(reg, NULL, dest, 0, rows, 16, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].document_uid, uid) == 0) {
            if (reason_id != NULL)
                strcpy(reason_id, rows[i].reason_id);
            return 1;
        }
    return 0;
}

static void test_subscription_deliveries(void **state)
{
    (void)state;
    /* One person with two identities (one document carries both). */
    const char *ids[] = {ROOT, "P1", ROOT, "P1-OLD"};
    char first[33];
    store(ids, 2, "d1", "34133-9", first);
    consent("P1", 1);
    cdx_subscription_t s;
    cdx_audit_event_t ev = {.event = CDX_AUDIT_SUBSCRIPTION_CREATE, .actor_oid = CLIN};
    /* Subscribed through the other identity, to summaries only. */
    sub(&s, "c1", CLIN, "P1-OLD", "34133-9,11488-4");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 10, &ev), 0);
    /* OTHER has no consent: never delivered. */
    sub(&s, "c2", OTHER, "P1", "");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 10, &ev), 0);
    /* The submitter's own subscription gets nothing of its own documents. */
    sub(&s, "c3", HOSP, "P1", "");
    assert_int_equal(cdx_registry_subscription_put(reg, &s, 10, &ev), 0);
    cdx_subscription_t *of = NULL;
    size_t n = 0;
    int64_t person = 0;
    assert_int_equal(cdx_registry_person_of(reg, ROOT, "P1", &person), 0);
    assert_int_equal(cdx_registry_subscriptions_of_person(reg, person, &of, &n), 0);
    assert_int_equal(n, 3);
    free(of);

    const char *one[] = {ROOT, "P1"};
    char uid[33], reason[64] = "";
    store(one, 1, "d2", "34133-9", uid);
    assert_int_equal(deliver(uid, "P1", "34133-9"), 1);
    assert_true(delivered_for(uid, CLIN, reason));
    assert_string_equal(reason, "c1");
    assert_false(delivered_for(uid, OTHER, NULL));
    assert_false(delivered_for(uid, HOSP, NULL));
    /* A type not subscribed to. */
    store(one, 1, "d3", "18842-5", uid);
    assert_int_equal(deliver(uid, "P1", "18842-5"), 0);
    /* A person with no subscription. */
    const char *stranger[] = {ROOT, "Q1"};
    store(stranger, 1, "d4", "34133-9", uid);
    assert_int_equal(deliver(uid, "Q1", "34133-9"), 0);
    /* The patient withdraws: nothing more. */
    consent("P1", 0);
    store(one, 1, "d5", "34133-9", uid);
    assert_int_equal(deliver(uid, "P1", "34133-9"), 0);
    /* An unknown identity is no person: nothing, no error. */
    assert_int_equal(deliver("nouid", "NOBODY", "34133-9"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_is_its_institutions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions_cap_and_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscription_deliveries, setup, teardown),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
