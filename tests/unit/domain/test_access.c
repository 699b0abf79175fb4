/* Unit tests of the access decision (gateway/domain/access.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/access.h"

static cdx_institution_t inst(unsigned roles)
{
    cdx_institution_t i;
    memset(&i, 0, sizeof i);
    cdx_strlcpy(i.oid, "2.25.1001", sizeof i.oid);
    i.roles = roles;
    return i;
}

static cdx_access_decision_t decide(const cdx_institution_t *i, unsigned need, const char *purpose)
{
    cdx_access_request_t rq = {
        .institution = i, .role_needed = need, .purpose = cdx_purpose_find(purpose)};
    return cdx_access_decide(&rq);
}

static void test_allows_the_route_role_and_a_known_purpose(void **state)
{
    (void)state;
    cdx_institution_t q = inst(CDX_ROLE_QUERY), all = inst(CDX_ROLE_ALL);
    cdx_access_decision_t d = decide(&q, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 1);
    assert_int_equal(d.reason, CDX_ACCESS_ALLOWED);
    assert_int_equal(decide(&all, CDX_ROLE_QUERY, "TREAT").allow, 1);
    assert_int_equal(decide(&q, 0, "PUBHLTH").allow, 1);
    /* Every purpose of the table is accepted today. */
    size_t n = 0;
    const cdx_purpose_t *t = cdx_purpose_table(&n);
    for (size_t i = 0; i < n; i++) {
        cdx_access_request_t rq = {.institution = &q,
                                   .role_needed = CDX_ROLE_QUERY,
                                   .purpose = &t[i],
                                   .reason = "a reason, needed by ETREAT"};
        assert_int_equal(cdx_access_decide(&rq).allow, 1);
    }
}

static void test_refuses_with_a_reason(void **state)
{
    (void)state;
    cdx_institution_t submit = inst(CDX_ROLE_SUBMIT), q = inst(CDX_ROLE_QUERY);
    cdx_access_decision_t d = decide(NULL, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_NO_INSTITUTION);
    d = decide(&submit, CDX_ROLE_QUERY, "TREAT");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    /* Every bit of the needed roles must be held. */
    d = decide(&q, CDX_ROLE_QUERY | CDX_ROLE_ADMIN, "TREAT");
    assert_int_equal(d.reason, CDX_ACCESS_ROLE_MISSING);
    d = decide(&q, CDX_ROLE_QUERY, "MARKETING");
    assert_int_equal(d.allow, 0);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
    d = decide(&q, CDX_ROLE_QUERY, NULL);
    assert_int_equal(d.reason, CDX_ACCESS_PURPOSE_UNKNOWN);
}

/* The first rule broken is the reason: institution, role, purpose. */
static void test_order_of_the_rules(void **state)
{
    (void)state;
    cdx_institution_t submit = inst(CDX_ROLE_SUBMIT);
    assert_int_equal(decide(NULL, CDX_ROLE_QUERY, "nope").reason, CDX_ACCESS_NO_INSTITUTION);
    assert_int_equal(decide(&submit, CDX_ROLE_QUERY, "nope").reason, CDX_ACCESS_ROLE_MISSING);
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_ALLOWED), "allowed");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_NO_INSTITUTION), "no_institution");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_ROLE_MISSING), "role_missing");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_PURPOSE_UNKNOWN), "purpose_unknown");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_REASON_REQUIRED), "reason_required");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_REASON_INVALID), "reason_invalid");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_CONSENT_REQUIRED), "consent_required");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_CONSENT_DENIED), "consent_denied");
    assert_string_equal(cdx_access_reason_name(CDX_ACCESS_CONFIDENTIALITY), "confidentiality");
    cdx_access_decision_t d = {.allow = 1};
    assert_string_equal(cdx_access_decision_name(&d), "allowed");
    assert_null(cdx_access_withheld_class(CDX_ACCESS_ROLE_MISSING));
}

/* ---- consent, confidentiality, break-glass ------------------------------- */

#define ME "2.25.1001"
#define OTHER "2.25.2002"
#define HOME "2.25.3003"
#define DISCHARGE "18842-5"
#define LAB "11502-2"
#define NOW "20261203120000"

/* The person's consent history in each case, newest first. */
enum consent_case {
    C_NONE,            /* no decision */
    C_PERMIT_ALL,      /* a permit of everything */
    C_PERMIT_ME,       /* a permit for this institution */
    C_PERMIT_OTHER,    /* a permit for another institution only */
    C_PERMIT_LAB,      /* a permit of lab reports only */
    C_PERMIT_EXPIRED,  /* a permit of everything, expired */
    C_PERMIT_LATER,    /* a permit of everything, expiring later */
    C_DENY_ALL,        /* a withdrawal after a permit */
    C_DENY_ME,         /* a partial withdrawal for this institution after a permit */
    C_DENY_OTHER,      /* a partial withdrawal for another institution after a permit */
    C_DENY_TYPE,       /* a partial withdrawal of this document's type after a permit */
    C_PERMIT_AFTER_DENY, /* a permit after a withdrawal */
    C_COUNT
};

static size_t history(enum consent_case k, cdx_consent_t out[2])
{
    memset(out, 0, 2 * sizeof out[0]);
    out[0].id = 2;
    out[1].id = 1;
    out[0].research = out[1].research = -1;
    out[1].permit = 1; /* the older record, when there is one: a permit of everything */
    switch (k) {
    case C_NONE:
        return 0;
    case C_PERMIT_ALL:
        out[0].permit = 1;
        return 1;
    case C_PERMIT_ME:
        out[0].permit = 1;
        cdx_strlcpy(out[0].institutions[out[0].ninstitutions++], ME, sizeof out[0].institutions[0]);
        return 1;
    case C_PERMIT_OTHER:
        out[0].permit = 1;
        cdx_strlcpy(out[0].institutions[out[0].ninstitutions++], OTHER,
                    sizeof out[0].institutions[0]);
        return 1;
    case C_PERMIT_LAB:
        out[0].permit = 1;
        cdx_strlcpy(out[0].types[out[0].ntypes++], LAB, sizeof out[0].types[0]);
        return 1;
    case C_PERMIT_EXPIRED:
    case C_PERMIT_LATER:
        out[0].permit = 1;
        cdx_strlcpy(out[0].expires_key, k == C_PERMIT_EXPIRED ? "20261203115959" : "20270101000000",
                    sizeof out[0].expires_key);
        return 1;
    case C_DENY_ALL:
        return 2;
    case C_DENY_ME:
    case C_DENY_OTHER:
        cdx_strlcpy(out[0].institutions[out[0].ninstitutions++], k == C_DENY_ME ? ME : OTHER,
                    sizeof out[0].institutions[0]);
        return 2;
    case C_DENY_TYPE:
        cdx_strlcpy(out[0].types[out[0].ntypes++], DISCHARGE, sizeof out[0].types[0]);
        return 2;
    case C_PERMIT_AFTER_DENY:
        out[0].permit = 1;
        out[1].permit = 0;
        return 2;
    case C_COUNT:
        break;
    }
    return 0;
}

/* What each case means for this institution and a discharge summary:
 * 1 a permit covers it, -1 a deny does, 0 nothing does. */
static int consent_says(enum consent_case k)
{
    static const int says[C_COUNT] = {
        [C_NONE] = 0,        [C_PERMIT_ALL] = 1,     [C_PERMIT_ME] = 1,
        [C_PERMIT_OTHER] = 0, [C_PERMIT_LAB] = 0,     [C_PERMIT_EXPIRED] = 0,
        [C_PERMIT_LATER] = 1, [C_DENY_ALL] = -1,      [C_DENY_ME] = -1,
        [C_DENY_OTHER] = 1,  [C_DENY_TYPE] = -1,     [C_PERMIT_AFTER_DENY] = 1,
    };
    return says[k];
}

enum owner_case { O_NONE, O_SUBMITTER, O_AUTHOR, O_CUSTODIAN, O_COUNT };
enum glass_case { G_NONE, G_ETREAT, G_BOX, G_COUNT };

/* Every combination of owner, confidentiality, consent, care relationship,
 * break-glass and breakglass_overrides_deny against the rules as the
 * header states them. */
static void test_decision_table(void **state)
{
    (void)state;
    static const char *const confs[] = {"N", "R", "V", NULL, "r", "v"};
    cdx_institution_t q = inst(CDX_ROLE_QUERY);
    size_t cases = 0;
    for (int o = 0; o < O_COUNT; o++)
        for (size_t cf = 0; cf < CDX_ARRAY_SIZE(confs); cf++)
            for (int k = 0; k < C_COUNT; k++)
                for (int care = 0; care <= 1; care++)
                    for (int g = 0; g < G_COUNT; g++)
                        for (int over = 0; over <= 1; over++) {
                            cdx_consent_t hist[2];
                            size_t nh = history((enum consent_case)k, hist);
                            cdx_access_target_t t = {
                                .submitter_oid = o == O_SUBMITTER ? ME : HOME,
                                .author_oid = o == O_AUTHOR ? ME : HOME,
                                .custodian_oid = o == O_CUSTODIAN ? ME : HOME,
                                .type_code = DISCHARGE,
                                .confidentiality = confs[cf],
                            };
                            cdx_access_person_t p = {.consents = hist,
                                                     .nconsents = nh,
                                                     .care_relationship = care,
                                                     .breakglass_open = g == G_BOX};
                            cdx_access_request_t rq = {
                                .institution = &q,
                                .role_needed = CDX_ROLE_QUERY,
                                .purpose = cdx_purpose_find(g == G_ETREAT ? "ETREAT" : "TREAT"),
                                .reason = g == G_ETREAT ? "cardiac arrest" : NULL,
                                .target = &t,
                                .person = &p,
                                .now_key = NOW,
                                .breakglass_overrides_deny = over,
                            };
                            cdx_access_decision_t d = cdx_access_decide(&rq);
                            /* The rules, one by one. */
                            char conf = confs[cf] != NULL ? (char)(confs[cf][0] & ~0x20) : 'N';
                            int says = consent_says((enum consent_case)k);
                            cdx_access_reason_t want_reason = CDX_ACCESS_ALLOWED;
                            cdx_access_basis_t want_basis = CDX_ACCESS_BASIS_NONE;
                            if (o != O_NONE)
                                want_basis = CDX_ACCESS_BASIS_OWNER;
                            else if (conf == 'V')
                                want_reason = CDX_ACCESS_CONFIDENTIALITY;
                            else if (says > 0 && (conf != 'R' || care))
                                want_basis = CDX_ACCESS_BASIS_CONSENT;
                            else if (g != G_NONE && (says >= 0 || over))
                                want_basis = CDX_ACCESS_BASIS_BREAKGLASS;
                            else if (conf == 'R' && !care)
                                want_reason = CDX_ACCESS_CONFIDENTIALITY;
                            else
                                want_reason = says < 0 ? CDX_ACCESS_CONSENT_DENIED
                                                       : CDX_ACCESS_CONSENT_REQUIRED;
                            if (d.reason != want_reason || d.basis != want_basis ||
                                d.allow != (want_reason == CDX_ACCESS_ALLOWED))
                                fail_msg("owner=%d conf=%s consent=%d care=%d glass=%d over=%d: "
                                         "got %s/%d, want %s/%d",
                                         o, confs[cf] ? confs[cf] : "-", k, care, g, over,
                                         cdx_access_reason_name(d.reason), (int)d.basis,
                                         cdx_access_reason_name(want_reason), (int)want_basis);
                            /* The consent relied on is the newest permit that covers. */
                            if (d.basis == CDX_ACCESS_BASIS_CONSENT)
                                assert_int_equal(d.consent_id, k == C_DENY_OTHER ? 1 : 2);
                            cases++;
                        }
    assert_int_equal(cases, (size_t)O_COUNT * 6 * C_COUNT * 2 * G_COUNT * 2);
}

/* A few cases spelled out, as a reader checks them against the README. */
static void test_decision_examples(void **state)
{
    (void)state;
    cdx_institution_t q = inst(CDX_ROLE_QUERY);
    cdx_consent_t hist[2];
    cdx_access_target_t t = {.submitter_oid = HOME, .type_code = LAB, .confidentiality = "N"};
    cdx_access_person_t p = {.consents = hist};
    cdx_access_request_t rq = {.institution = &q,
                               .role_needed = CDX_ROLE_QUERY,
                               .purpose = cdx_purpose_find("TREAT"),
                               .target = &t,
                               .person = &p,
                               .now_key = NOW};
    /* No consent: refused; the same without any person known. */
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_CONSENT_REQUIRED);
    rq.person = NULL;
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_CONSENT_REQUIRED);
    rq.person = &p;
    /* A permit of lab reports covers a lab report. */
    p.nconsents = history(C_PERMIT_LAB, hist);
    cdx_access_decision_t d = cdx_access_decide(&rq);
    assert_int_equal(d.allow, 1);
    assert_string_equal(cdx_access_decision_name(&d), "consent");
    /* ... and no document without a type. */
    t.type_code = NULL;
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_CONSENT_REQUIRED);
    t.type_code = LAB;
    /* An explicit deny: named so, and break-glass does not pass it. */
    p.nconsents = history(C_DENY_ALL, hist);
    d = cdx_access_decide(&rq);
    assert_string_equal(cdx_access_decision_name(&d), "consent_denied");
    assert_int_equal(d.consent_id, 2);
    assert_string_equal(cdx_access_withheld_class(d.reason), "consent");
    rq.purpose = cdx_purpose_find("ETREAT");
    rq.reason = "stroke";
    assert_int_equal(cdx_access_decide(&rq).allow, 0);
    rq.breakglass_overrides_deny = 1;
    d = cdx_access_decide(&rq);
    assert_string_equal(cdx_access_decision_name(&d), "breakglass");
    /* Never V, even so. */
    t.confidentiality = "V";
    d = cdx_access_decide(&rq);
    assert_int_equal(d.reason, CDX_ACCESS_CONFIDENTIALITY);
    assert_string_equal(cdx_access_withheld_class(d.reason), "confidentiality");
    /* The owner sees its own V. */
    t.author_oid = ME;
    assert_string_equal(cdx_access_decision_name(&(cdx_access_decision_t){
                            .allow = 1, .basis = cdx_access_decide(&rq).basis}),
                        "owner");
}

/* X-CDX-Reason: required for ETREAT, bounded and printable for any. */
static void test_reason_header(void **state)
{
    (void)state;
    cdx_institution_t q = inst(CDX_ROLE_QUERY);
    cdx_access_request_t rq = {
        .institution = &q, .role_needed = CDX_ROLE_QUERY, .purpose = cdx_purpose_find("ETREAT")};
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_REQUIRED);
    rq.reason = "";
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_REQUIRED);
    rq.reason = "  ";
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_REQUIRED);
    rq.reason = "unconscious, no relatives reachable";
    assert_int_equal(cdx_access_decide(&rq).allow, 1);
    char longest[CDX_ACCESS_REASON_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[CDX_ACCESS_REASON_MAX] = '\0';
    rq.reason = longest;
    assert_int_equal(cdx_access_decide(&rq).allow, 1);
    longest[CDX_ACCESS_REASON_MAX] = 'a';
    longest[CDX_ACCESS_REASON_MAX + 1] = '\0';
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_INVALID);
    rq.reason = "line\nbreak";
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_INVALID);
    rq.reason = "del\x7f";
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_INVALID);
    rq.reason = "\xec\x9d\x91\xea\xb8\x89"; /* UTF-8 text is fine */
    assert_int_equal(cdx_access_decide(&rq).allow, 1);
    rq.reason = "\xec\x9d"; /* cut inside a character: not text */
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_INVALID);
    /* Any purpose: a reason sent must be well-formed, none is needed. */
    rq.purpose = cdx_purpose_find("TREAT");
    rq.reason = NULL;
    assert_int_equal(cdx_access_decide(&rq).allow, 1);
    rq.reason = "tab\there";
    assert_int_equal(cdx_access_decide(&rq).reason, CDX_ACCESS_REASON_INVALID);
}

/* A delivery at send time: refused by a decision that denies the
 * destination, or for V; allowed with no decision, a permit, or a
 * withdrawal that covers another institution. */
static void test_delivery(void **state)
{
    (void)state;
    cdx_consent_t c[1];
    memset(c, 0, sizeof c);
    c[0].id = 9;
    c[0].permit = 0;
    c[0].research = -1;
    c[0].ninstitutions = 1;
    strcpy(c[0].institutions[0], "2.25.3");
    cdx_access_person_t none = {NULL, 0, 0, 0}, denied = {c, 1, 0, 0};
    const char *now = "20261203120000";
    assert_true(cdx_access_delivery(&none, "2.25.3", "18842-5", "N", now).allow);
    assert_true(cdx_access_delivery(&none, "2.25.3", "18842-5", "R", now).allow);
    cdx_access_decision_t d = cdx_access_delivery(&none, "2.25.3", "18842-5", "V", now);
    assert_false(d.allow);
    assert_int_equal(d.reason, CDX_ACCESS_CONFIDENTIALITY);
    d = cdx_access_delivery(&denied, "2.25.3", "18842-5", "N", now);
    assert_false(d.allow);
    assert_int_equal(d.reason, CDX_ACCESS_CONSENT_DENIED);
    assert_int_equal(d.consent_id, 9);
    assert_true(cdx_access_delivery(&denied, "2.25.4", "18842-5", "N", now).allow);
    c[0].permit = 1; /* a later permit */
    assert_true(cdx_access_delivery(&denied, "2.25.3", "18842-5", "N", now).allow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allows_the_route_role_and_a_known_purpose),
        cmocka_unit_test(test_refuses_with_a_reason),
        cmocka_unit_test(test_order_of_the_rules),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_decision_table),
        cmocka_unit_test(test_decision_examples),
        cmocka_unit_test(test_reason_header),
        cmocka_unit_test(test_delivery),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
