/* subscription: the rules of record requests and subscriptions (see
 * include/cdx/domain/subscription.h). */
#include "cdx/domain/subscription.h"
#include "cdx/base/common.h"
#include "cdx/domain/access.h"
#include "cdx/domain/purpose.h"
#include "cdx/store/outbox.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int cdx_loinc_valid(const char *code)
{
    if (code == NULL)
        return 0;
    size_t n = strspn(code, "0123456789");
    if (n < 1 || n > 7 || code[n] != '-' || code[n + 1] < '0' || code[n + 1] > '9' ||
        code[n + 2] != '\0')
        return 0;
    /* Mod 10: from the right, every other digit doubled (its digits summed). */
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int dgt = code[n - 1 - i] - '0';
        if (i % 2 == 0) {
            dgt *= 2;
            dgt = dgt / 10 + dgt % 10;
        }
        sum += dgt;
    }
    return (10 - sum % 10) % 10 == code[n + 1] - '0';
}

int cdx_types_match(const char *types, const char *type)
{
    if (types == NULL || types[0] == '\0')
        return 1;
    if (type == NULL || type[0] == '\0')
        return 0;
    size_t len = strlen(type);
    for (const char *p = types; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, type, n) == 0)
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void now_key(int64_t now_ms, char out[16])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

cdx_access_decision_t cdx_requested_decide(const char *oid, unsigned roles, const char *purpose,
                                           const char *reason, const cdx_access_target_t *t,
                                           const cdx_access_person_t *p, const char *now_key)
{
    cdx_institution_t who;
    memset(&who, 0, sizeof who);
    cdx_strlcpy(who.oid, oid, sizeof who.oid);
    who.roles = roles;
    cdx_access_request_t rq = {
        .institution = &who,
        .role_needed = CDX_ROLE_QUERY,
        .purpose = cdx_purpose_find(purpose != NULL && purpose[0] ? purpose : CDX_PURPOSE_DEFAULT),
        .reason = reason,
        .target = t,
        .person = p,
        .now_key = now_key};
    return cdx_access_decide(&rq);
}

/* Whether subscriber s may see doc of person now (the query's decision). */
static int may_see(cdx_registry_t *reg, const cdx_subscription_t *s, int64_t person,
                   const cdx_subscribed_doc_t *doc, const char *key, int *allow)
{
    cdx_consent_t consents[16];
    size_t nconsents = 0;
    int care = 0, glass = 0;
    int rc = cdx_registry_access_person(reg, person, s->institution_oid, key, consents,
                                        CDX_ARRAY_SIZE(consents), &nconsents, &care, &glass);
    if (rc != 0)
        return rc;
    cdx_access_target_t t = {.submitter_oid = doc->submitter_oid,
                             .author_oid = doc->author_oid,
                             .custodian_oid = doc->custodian_oid,
                             .type_code = doc->type_code,
                             .confidentiality = doc->confidentiality};
    /* A subscription stands on consent, never on a break-glass time box. */
    cdx_access_person_t p = {consents, nconsents, care, 0};
    cdx_access_decision_t d =
        cdx_requested_decide(s->institution_oid, CDX_ROLE_QUERY, s->purpose, NULL, &t, &p, key);
    *allow = d.allow;
    return 0;
}

int cdx_subscriptions_deliver(cdx_registry_t *reg, const cdx_subscribed_doc_t *doc, int64_t now_ms,
                              size_t *made)
{
    *made = 0;
    if (doc->root == NULL || doc->ext == NULL)
        return 0;
    int64_t person = 0;
    int rc = cdx_registry_person_of(reg, doc->root, doc->ext, &person);
    if (rc == CDX_ENOTFOUND)
        return 0;
    cdx_subscription_t *subs = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = cdx_registry_subscriptions_of_person(reg, person, &subs, &n);
    char key[16];
    now_key(now_ms, key);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const cdx_subscription_t *s = &subs[i];
        if (!cdx_types_match(s->types, doc->type_code) ||
            (doc->submitter_oid != NULL && strcmp(s->institution_oid, doc->submitter_oid) == 0))
            continue;
        int allow = 0, created = 0;
        rc = may_see(reg, s, person, doc, key, &allow);
        if (rc == 0 && allow)
            rc = cdx_outbox_add(reg, doc->uid, s->institution_oid, "subscription", s->uid, NULL,
                                now_ms, &created);
        *made += created != 0;
    }
    free(subs);
    return rc;
}
