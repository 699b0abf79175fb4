/* Unit tests of the disclosure sequence (gateway/api/disclose.c), run with
 * recording effects instead of a server: the order of its steps, that
 * nothing is read when the decision refuses, that every disclosure and
 * every refusal leaves exactly one audit record before its answer, and
 * the records themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx_test_registry.h"
#include "cdx/api/disclose.h"
#include "cdx/domain/audit_events.h"
#include "cdx/base/common.h"

#define UID "0123456789abcdef0123456789abcdef"

/* What the effects saw, in order. */
typedef struct record {
    char log[512];
    int audits;
    int read_rc;      /* what the read reports back when the test says so */
    int read_busy;    /* io->read cannot start a job */
    int audit_busy;   /* io->audit finds the queue full */
    /* The last audit record, copied. */
    char event[32], actor[64], user[64], purpose[16], patient[40], doc[40], detail[160];
    int outcome;
    int has_purpose, has_patient, has_doc, has_user;
    int refused_status;
    char refused_code[32];
} record_t;

static record_t rec;

static void step(const char *what)
{
    if (rec.log[0] != '\0')
        strcat(rec.log, " ");
    strcat(rec.log, what);
}

static int io_read(cdx_disclosure_t *d)
{
    (void)d;
    step("read");
    return rec.read_busy ? CDX_EBUSY : 0;
}

static void copy(char *dst, size_t n, const char *src, int *has)
{
    *has = src != NULL;
    cdx_strlcpy(dst, src ? src : "", n);
}

static int io_audit(cdx_disclosure_t *d)
{
    step("audit");
    if (rec.audit_busy)
        return CDX_EBUSY;
    rec.audits++;
    cdx_audit_event_t ev;
    cdx_disclose_audit_event(d, &ev);
    int unused;
    copy(rec.event, sizeof rec.event, ev.event, &unused);
    copy(rec.actor, sizeof rec.actor, ev.actor_oid, &unused);
    copy(rec.user, sizeof rec.user, ev.actor_user, &rec.has_user);
    copy(rec.purpose, sizeof rec.purpose, ev.purpose, &rec.has_purpose);
    copy(rec.patient, sizeof rec.patient, ev.patient_key, &rec.has_patient);
    copy(rec.doc, sizeof rec.doc, ev.document_id, &rec.has_doc);
    copy(rec.detail, sizeof rec.detail, ev.detail, &unused);
    rec.outcome = ev.outcome;
    return 0;
}

static void io_respond(cdx_disclosure_t *d)
{
    step(d->stage == CDX_DISCLOSE_FOUND ? "respond" : "respond-not-found");
}

static void io_refuse(cdx_disclosure_t *d, int status, const char *code, const char *detail)
{
    (void)d;
    assert_non_null(detail);
    rec.refused_status = status;
    cdx_strlcpy(rec.refused_code, code, sizeof rec.refused_code);
    step("refuse");
}

static void io_storage_error(cdx_disclosure_t *d, int err)
{
    (void)d;
    step(err == CDX_EBUSY ? "storage-busy" : err == CDX_EDB ? "storage-db" : "storage-other");
}

static void io_overloaded(cdx_disclosure_t *d)
{
    (void)d;
    step("overloaded");
}

static void io_finish(cdx_disclosure_t *d)
{
    (void)d;
    step("finish");
}

static const cdx_disclose_io_t io = {
    .read = io_read,
    .audit = io_audit,
    .respond = io_respond,
    .refuse = io_refuse,
    .storage_error = io_storage_error,
    .overloaded = io_overloaded,
    .finish = io_finish,
};

static void detail_of(const cdx_disclosure_t *d, char *out, size_t n)
{
    snprintf(out, n, "form=test%s", d->stage == CDX_DISCLOSE_NOT_FOUND ? " status=404" : "");
}

static const cdx_disclose_endpoint_t endpoint = {
    .event = "document.read",
    .audit_detail = detail_of,
};

static cdx_institution_t reader(unsigned roles)
{
    cdx_institution_t i;
    memset(&i, 0, sizeof i);
    cdx_strlcpy(i.oid, "2.25.1002", sizeof i.oid);
    i.roles = roles;
    return i;
}

/* A disclosure of UID for inst with the recording effects. */
/* The X-CDX-Reason the next start() sends (NULL: none). */
static const char *next_reason;

static void start(cdx_disclosure_t *d, const cdx_institution_t *inst, const char *purpose,
                  const char *user, int target_known)
{
    memset(&rec, 0, sizeof rec);
    memset(d, 0, sizeof *d);
    d->endpoint = &endpoint;
    d->io = &io;
    cdx_disclose_prepare(d, inst, CDX_ROLE_QUERY, "documents.get", purpose, user);
    cdx_strlcpy(d->reason, next_reason != NULL ? next_reason : "", sizeof d->reason);
    next_reason = NULL;
    if (target_known)
        cdx_strlcpy(d->target_id, UID, sizeof d->target_id);
    d->target_unknown = !target_known;
    cdx_disclose_run(d);
}

static void test_disclosure_reads_audits_then_responds(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    start(&d, &q, NULL, "dr.kim", 1);
    assert_string_equal(rec.log, "read");
    cdx_strlcpy(d.patient_key, "00112233445566778899aabbccddeeff", sizeof d.patient_key);
    cdx_disclose_read_done(&d, 0);
    assert_string_equal(rec.log, "read audit");
    cdx_disclose_audit_done(&d, 0);
    assert_string_equal(rec.log, "read audit respond finish");
    assert_int_equal(rec.audits, 1);
    assert_string_equal(rec.event, "document.read");
    assert_string_equal(rec.actor, "2.25.1002");
    assert_string_equal(rec.user, "dr.kim");
    assert_string_equal(rec.purpose, "TREAT");
    assert_int_equal(rec.outcome, 0);
    assert_string_equal(rec.patient, "00112233445566778899aabbccddeeff");
    assert_string_equal(rec.doc, UID);
    assert_string_equal(rec.detail, "form=test");
}

static void test_declared_purpose_is_recorded(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    next_reason = "unconscious patient in the emergency room";
    start(&d, &q, "ETREAT", NULL, 1);
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_done(&d, 0);
    assert_string_equal(rec.log, "read audit respond finish");
    assert_string_equal(rec.purpose, "ETREAT");
    assert_int_equal(rec.has_user, 0);
    /* An empty header is no header. */
    start(&d, &q, "", NULL, 1);
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_done(&d, 0);
    assert_string_equal(rec.purpose, "TREAT");
}

/* A refused request is never read; its refusal is audited, then
 * answered. */
static void test_refusal_is_not_read_but_audited(void **state)
{
    (void)state;
    static const struct {
        int institution;
        unsigned roles;
        const char *purpose;
        int status;
        const char *code;
        int outcome;
        const char *reason;
    } cases[] = {
        {1, CDX_ROLE_SUBMIT, "TREAT", 403, "FORBIDDEN", 8, NULL},
        {0, 0, "TREAT", 403, "FORBIDDEN", 8, NULL},
        {1, CDX_ROLE_QUERY, "treat", 400, "PURPOSE_UNKNOWN", 4, NULL},
        {1, CDX_ROLE_QUERY, "MARKETING", 400, "PURPOSE_UNKNOWN", 4, NULL},
        /* Break-glass needs its reason, a line of text. */
        {1, CDX_ROLE_QUERY, "ETREAT", 400, "REASON_REQUIRED", 4, NULL},
        {1, CDX_ROLE_QUERY, "ETREAT", 400, "REASON_REQUIRED", 4, "   "},
        {1, CDX_ROLE_QUERY, "ETREAT", 400, "REASON_INVALID", 4, "stroke\r\nX-Evil: 1"},
        {1, CDX_ROLE_QUERY, "TREAT", 400, "REASON_INVALID", 4, "tab\there"},
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        cdx_institution_t inst = reader(cases[i].roles);
        cdx_disclosure_t d;
        next_reason = cases[i].reason;
        start(&d, cases[i].institution ? &inst : NULL, cases[i].purpose, "u", 1);
        assert_string_equal(rec.log, "audit");
        assert_int_equal(d.stage, CDX_DISCLOSE_REFUSED);
        cdx_disclose_audit_done(&d, 0);
        assert_string_equal(rec.log, "audit refuse finish");
        assert_int_equal(rec.audits, 1);
        assert_int_equal(rec.refused_status, cases[i].status);
        assert_string_equal(rec.refused_code, cases[i].code);
        assert_int_equal(rec.outcome, cases[i].outcome);
        assert_int_equal(rec.has_purpose, 0);
        assert_int_equal(rec.has_patient, 0);
        assert_string_equal(rec.doc, UID);
        char want[96];
        snprintf(want, sizeof want, "route=documents.get status=%d code=%s", cases[i].status,
                 cases[i].code);
        assert_string_equal(rec.detail, want);
    }
}

static void test_unknown_target_is_audited(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    /* Not in the registry: read, then audited as a minor failure. */
    start(&d, &q, NULL, NULL, 1);
    cdx_disclose_read_done(&d, CDX_ENOTFOUND);
    cdx_disclose_audit_done(&d, 0);
    assert_string_equal(rec.log, "read audit respond-not-found finish");
    assert_int_equal(rec.outcome, 4);
    assert_int_equal(rec.has_patient, 0);
    assert_string_equal(rec.doc, UID);
    assert_string_equal(rec.detail, "form=test status=404");
    /* Not even an id: not read, audited without one. */
    start(&d, &q, NULL, NULL, 0);
    assert_string_equal(rec.log, "audit");
    cdx_disclose_audit_done(&d, 0);
    assert_string_equal(rec.log, "audit respond-not-found finish");
    assert_int_equal(rec.audits, 1);
    assert_int_equal(rec.has_doc, 0);
    assert_int_equal(rec.outcome, 4);
}

/* Without a durable audit record nothing is disclosed. */
static void test_no_record_no_disclosure(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    start(&d, &q, NULL, NULL, 1);
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_done(&d, CDX_EFULL);
    assert_string_equal(rec.log, "read audit storage-other finish");
    /* A database busy past busy_timeout is the registry unavailable. */
    start(&d, &q, NULL, NULL, 1);
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_done(&d, CDX_EBUSY);
    assert_string_equal(rec.log, "read audit storage-db finish");
    /* The write queue is full: the writer's refusal, no answer else. */
    memset(&rec, 0, sizeof rec);
    rec.audit_busy = 1;
    memset(&d, 0, sizeof d);
    d.endpoint = &endpoint;
    d.io = &io;
    cdx_disclose_prepare(&d, &q, CDX_ROLE_QUERY, "documents.get", NULL, NULL);
    cdx_strlcpy(d.target_id, UID, sizeof d.target_id);
    cdx_disclose_run(&d);
    cdx_disclose_read_done(&d, 0);
    assert_string_equal(rec.log, "read audit storage-busy finish");
    /* A refusal whose record fails is not answered as a refusal either. */
    cdx_institution_t s = reader(CDX_ROLE_SUBMIT);
    start(&d, &s, NULL, NULL, 1);
    cdx_disclose_audit_done(&d, CDX_EIO);
    assert_string_equal(rec.log, "audit storage-other finish");
}

static void test_read_failures(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    /* The registry failed the read: nothing read, nothing disclosed. */
    start(&d, &q, NULL, NULL, 1);
    cdx_disclose_read_done(&d, CDX_EDB);
    assert_string_equal(rec.log, "read storage-db finish");
    assert_int_equal(rec.audits, 0);
    /* No job could start. */
    memset(&rec, 0, sizeof rec);
    rec.read_busy = 1;
    memset(&d, 0, sizeof d);
    d.endpoint = &endpoint;
    d.io = &io;
    cdx_disclose_prepare(&d, &q, CDX_ROLE_QUERY, "documents.get", NULL, NULL);
    cdx_disclose_run(&d);
    assert_string_equal(rec.log, "read overloaded finish");
}

/* The ATNA fields of the record: the decision by name, the consent relied
 * on or that refused, the asserted reason (never a malformed one). */
static void test_audit_fields_of_the_decision(void **state)
{
    (void)state;
    cdx_institution_t q = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    cdx_audit_event_t ev;
    /* Refused after the read: a deny of the person. */
    start(&d, &q, NULL, NULL, 1);
    d.decision = (cdx_access_decision_t){.reason = CDX_ACCESS_CONSENT_DENIED, .consent_id = 7};
    cdx_strlcpy(d.patient_key, "00112233445566778899aabbccddeeff", sizeof d.patient_key);
    cdx_disclose_read_done(&d, CDX_EDENIED);
    assert_int_equal(d.stage, CDX_DISCLOSE_REFUSED);
    cdx_disclose_audit_event(&d, &ev);
    assert_string_equal(ev.decision, "consent_denied");
    assert_string_equal(ev.consent, "consent:7");
    assert_int_equal(ev.outcome, CDX_AUDIT_SERIOUS_FAILURE);
    assert_string_equal(ev.patient_key, "00112233445566778899aabbccddeeff");
    assert_string_equal(d.detail, "route=documents.get status=403 code=CONSENT_REQUIRED");
    cdx_disclose_audit_done(&d, 0);
    assert_int_equal(rec.refused_status, 403);
    assert_string_equal(rec.refused_code, "CONSENT_REQUIRED");
    /* Disclosed on break-glass: flagged, with the reason. */
    next_reason = "unconscious on arrival";
    start(&d, &q, "ETREAT", "dr.er", 1);
    d.basis = CDX_ACCESS_BASIS_BREAKGLASS;
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_event(&d, &ev);
    assert_string_equal(ev.decision, "breakglass");
    assert_string_equal(ev.reason, "unconscious on arrival");
    assert_null(ev.consent);
    cdx_disclose_audit_done(&d, 0);
    /* Disclosed under consent 12. */
    start(&d, &q, NULL, NULL, 1);
    d.basis = CDX_ACCESS_BASIS_CONSENT;
    d.consent_id = 12;
    cdx_disclose_read_done(&d, 0);
    cdx_disclose_audit_event(&d, &ev);
    assert_string_equal(ev.decision, "consent");
    assert_string_equal(ev.consent, "consent:12");
    assert_null(ev.reason);
    cdx_disclose_audit_done(&d, 0);
    /* A malformed reason is refused and not recorded. */
    next_reason = "a\nb";
    start(&d, &q, NULL, NULL, 1);
    cdx_disclose_audit_event(&d, &ev);
    assert_string_equal(ev.decision, "reason_invalid");
    assert_null(ev.reason);
    cdx_disclose_audit_done(&d, 0);
}

static void test_target_id(void **state)
{
    (void)state;
    static const char pattern[] = "/v1/documents/{id}";
    cdx_route_params_t p = {.n = 1};
    p.p[0].name = pattern + 15;
    p.p[0].name_len = 2;
    char out[33];
    p.p[0].value = UID;
    p.p[0].value_len = 32;
    assert_int_equal(cdx_disclose_target_id(&p, out), 1);
    assert_string_equal(out, UID);
    p.p[0].value = "0123456789ABCDEF0123456789abcdef";
    assert_int_equal(cdx_disclose_target_id(&p, out), 0);
    assert_string_equal(out, "");
    p.p[0].value = UID "0";
    p.p[0].value_len = 33;
    assert_int_equal(cdx_disclose_target_id(&p, out), 0);
}

/* A document of 2.25.7 for patient (2.25.7.1, ext) in reg: its uid. */
static void store_doc(cdx_registry_t *reg, const char *ext, const char *type, const char *conf,
                      char uid[33])
{
    static int made;
    const char *ids[] = {"2.25.7.1", ext};
    char unique[64], sha[65];
    made++;
    snprintf(unique, sizeof unique, "2.25.7.2^D%d", made);
    snprintf(sha, sizeof sha, "sha-%d", made);
    cdx_doc_record_t r;
    cdx_test_doc_record(&r, unique, sha, ids, 1);
    r.type_code = type;
    r.confidentiality = conf;
    r.patient_key = "0123456789abcdef0123456789abcdef";
    assert_int_equal(cdx_test_doc_store(reg, &r, uid, NULL), 0);
}

/* The patient of (2.25.7.1, ext) decides for the reader (2.25.1002):
 * permit, or deny (of type only, when given). */
static void decide_for_reader(cdx_registry_t *reg, const char *ext, int permit, const char *type)
{
    cdx_consent_t c;
    memset(&c, 0, sizeof c);
    c.permit = permit;
    c.research = -1;
    c.ninstitutions = 1;
    cdx_strlcpy(c.institutions[0], "2.25.1002", sizeof c.institutions[0]);
    if (type != NULL) {
        c.ntypes = 1;
        cdx_strlcpy(c.types[0], type, sizeof c.types[0]);
    }
    cdx_audit_event_t ev = {.event = CDX_AUDIT_CONSENT_RECORD, .actor_oid = "2.25.7"};
    int64_t id = 0;
    assert_int_equal(
        cdx_registry_put_consent(reg, "2.25.7.1", ext, &c, "api", NULL, "2.25.7", &ev, &id), 0);
}

/* A record request's read decides on each document it lists as it is now
 * (cdx_disclose_decide_uid): a consent withdrawn since refuses it, for
 * its type only; V is never disclosed; a document gone is refused as one
 * without consent; each document's own person is read. */
static void test_decide_each_document_now(void **state)
{
    (void)state;
    char path[1200];
    cdx_registry_t *reg = NULL;
    if (cdx_test_registry_new("disclose", path, sizeof path, &reg) != 0)
        skip();
    char summary[33], consult[33], secret[33], other[33];
    store_doc(reg, "P1", "34133-9", "N", summary);
    store_doc(reg, "P1", "11488-4", "N", consult);
    store_doc(reg, "P1", "34133-9", "V", secret);
    store_doc(reg, "P2", "34133-9", "N", other);
    decide_for_reader(reg, "P1", 1, NULL);
    cdx_institution_t inst = reader(CDX_ROLE_QUERY);
    cdx_disclosure_t d;
    memset(&d, 0, sizeof d);
    cdx_disclose_prepare(&d, &inst, CDX_ROLE_QUERY, "requests.get", NULL, NULL);
    cdx_disclose_clock(&d, 1780000000, 60);
    cdx_access_decision_t dec;
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, summary, &dec), 0);
    assert_true(dec.allow);
    assert_int_equal(dec.basis, CDX_ACCESS_BASIS_CONSENT);
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, consult, &dec), 0);
    assert_true(dec.allow);
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, secret, &dec), 0);
    assert_int_equal(dec.reason, CDX_ACCESS_CONFIDENTIALITY);
    /* Another person's document: their (absent) consent, not P1's. */
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, other, &dec), 0);
    assert_int_equal(dec.reason, CDX_ACCESS_CONSENT_REQUIRED);
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, "ffffffffffffffffffffffffffffffff", &dec), 0);
    assert_int_equal(dec.reason, CDX_ACCESS_CONSENT_REQUIRED);
    /* The patient withdraws the consult notes: decided so on the next read. */
    decide_for_reader(reg, "P1", 0, "11488-4");
    memset(&d, 0, sizeof d);
    cdx_disclose_prepare(&d, &inst, CDX_ROLE_QUERY, "requests.get", NULL, NULL);
    cdx_disclose_clock(&d, 1780000000, 60);
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, consult, &dec), 0);
    assert_false(dec.allow);
    assert_int_equal(dec.reason, CDX_ACCESS_CONSENT_DENIED);
    assert_int_equal(cdx_disclose_decide_uid(&d, reg, summary, &dec), 0);
    assert_true(dec.allow);
    assert_int_equal(cdx_test_registry_drop(&reg, path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disclosure_reads_audits_then_responds),
        cmocka_unit_test(test_declared_purpose_is_recorded),
        cmocka_unit_test(test_refusal_is_not_read_but_audited),
        cmocka_unit_test(test_unknown_target_is_audited),
        cmocka_unit_test(test_no_record_no_disclosure),
        cmocka_unit_test(test_read_failures),
        cmocka_unit_test(test_audit_fields_of_the_decision),
        cmocka_unit_test(test_target_id),
        cmocka_unit_test(test_decide_each_document_now),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
