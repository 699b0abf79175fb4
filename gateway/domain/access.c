/* access: the access decision (see include/cdx/domain/access.h). */
#include "cdx/domain/access.h"
#include "cdx/parsers/ids.h"

#include <string.h>

static cdx_access_decision_t deny(cdx_access_reason_t reason, int64_t consent_id)
{
    return (cdx_access_decision_t){.allow = 0, .reason = reason, .consent_id = consent_id};
}

static cdx_access_decision_t allow(cdx_access_basis_t basis, int64_t consent_id)
{
    return (cdx_access_decision_t){
        .allow = 1, .reason = CDX_ACCESS_ALLOWED, .basis = basis, .consent_id = consent_id};
}

int cdx_access_emergency(const cdx_access_request_t *rq)
{
    return rq->purpose != NULL && strcmp(rq->purpose->code, CDX_PURPOSE_EMERGENCY) == 0;
}

/* The reason header: bounded, printable (UTF-8 beyond ASCII is allowed). */
static cdx_access_reason_t check_reason(const cdx_access_request_t *rq)
{
    const char *r = rq->reason;
    if (r == NULL || r[0] == '\0')
        return cdx_access_emergency(rq) ? CDX_ACCESS_REASON_REQUIRED : CDX_ACCESS_ALLOWED;
    size_t n = strlen(r);
    if (n > CDX_ACCESS_REASON_MAX)
        return CDX_ACCESS_REASON_INVALID;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
            return CDX_ACCESS_REASON_INVALID;
    if (!cdx_utf8_is_valid(r, n, CDX_UTF8_TEXT))
        return CDX_ACCESS_REASON_INVALID;
    size_t blank = strspn(r, " ");
    if (blank == n && cdx_access_emergency(rq))
        return CDX_ACCESS_REASON_REQUIRED;
    return CDX_ACCESS_ALLOWED;
}

static int same(const char *a, const char *b)
{
    return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

/* The person's consent for (institution, type): 1 permit, -1 deny, 0
 * none; *id the record that says so. */
static int consent_state(const cdx_access_person_t *p, const char *inst, const char *type,
                         const char *now_key, int64_t *id)
{
    *id = 0;
    for (size_t i = 0; p != NULL && i < p->nconsents; i++) {
        const cdx_consent_t *c = &p->consents[i];
        if (!c->permit) {
            if ((c->ninstitutions == 0 && c->ntypes == 0) || cdx_consent_covers(c, inst, type)) {
                *id = c->id;
                return -1;
            }
            continue; /* a partial withdrawal that does not cover this */
        }
        if (cdx_consent_expired(c, now_key) || !cdx_consent_covers(c, inst, type))
            return 0;
        *id = c->id;
        return 1;
    }
    return 0;
}

/* One rule per line, in the order the header states them, so that
 * the table of the unit test reads against it. */
static cdx_access_decision_t decide_target(const cdx_access_request_t *rq)
{
    const cdx_access_target_t *t = rq->target;
    const char *inst = rq->institution->oid;
    if (same(inst, t->submitter_oid) || same(inst, t->author_oid) ||
        same(inst, t->custodian_oid))
        return allow(CDX_ACCESS_BASIS_OWNER, 0);
    char conf = t->confidentiality != NULL ? t->confidentiality[0] : 'N';
    if (conf == 'V' || conf == 'v')
        return deny(CDX_ACCESS_CONFIDENTIALITY, 0);
    int restricted = conf == 'R' || conf == 'r';
    const cdx_access_person_t *p = rq->person;
    int care = p != NULL && p->care_relationship;
    int64_t id = 0;
    int state = consent_state(p, inst, t->type_code, rq->now_key, &id);
    if (state > 0 && (!restricted || care))
        return allow(CDX_ACCESS_BASIS_CONSENT, id);
    int glass = cdx_access_emergency(rq) || (p != NULL && p->breakglass_open);
    if (glass && (state >= 0 || rq->breakglass_overrides_deny))
        return allow(CDX_ACCESS_BASIS_BREAKGLASS, state < 0 ? id : 0);
    if (restricted && !care)
        return deny(CDX_ACCESS_CONFIDENTIALITY, 0);
    return state < 0 ? deny(CDX_ACCESS_CONSENT_DENIED, id) : deny(CDX_ACCESS_CONSENT_REQUIRED, 0);
}

cdx_access_decision_t cdx_access_delivery(const cdx_access_person_t *p, const char *to,
                                          const char *type, const char *conf, const char *now_key)
{
    if (conf != NULL && (conf[0] == 'V' || conf[0] == 'v'))
        return deny(CDX_ACCESS_CONFIDENTIALITY, 0);
    int64_t id = 0;
    if (consent_state(p, to, type, now_key, &id) < 0)
        return deny(CDX_ACCESS_CONSENT_DENIED, id);
    return allow(CDX_ACCESS_BASIS_CONSENT, id);
}

cdx_access_decision_t cdx_access_decide(const cdx_access_request_t *rq)
{
    if (rq->institution == NULL)
        return deny(CDX_ACCESS_NO_INSTITUTION, 0);
    if ((rq->institution->roles & rq->role_needed) != rq->role_needed)
        return deny(CDX_ACCESS_ROLE_MISSING, 0);
    if (rq->purpose == NULL)
        return deny(CDX_ACCESS_PURPOSE_UNKNOWN, 0);
    cdx_access_reason_t r = check_reason(rq);
    if (r != CDX_ACCESS_ALLOWED)
        return deny(r, 0);
    if (rq->target == NULL)
        return allow(CDX_ACCESS_BASIS_NONE, 0);
    return decide_target(rq);
}

const char *cdx_access_reason_name(cdx_access_reason_t reason)
{
    switch (reason) {
    case CDX_ACCESS_ALLOWED:
        return "allowed";
    case CDX_ACCESS_NO_INSTITUTION:
        return "no_institution";
    case CDX_ACCESS_ROLE_MISSING:
        return "role_missing";
    case CDX_ACCESS_PURPOSE_UNKNOWN:
        return "purpose_unknown";
    case CDX_ACCESS_REASON_REQUIRED:
        return "reason_required";
    case CDX_ACCESS_REASON_INVALID:
        return "reason_invalid";
    case CDX_ACCESS_CONSENT_REQUIRED:
        return "consent_required";
    case CDX_ACCESS_CONSENT_DENIED:
        return "consent_denied";
    case CDX_ACCESS_CONFIDENTIALITY:
        return "confidentiality";
    }
    return "unknown";
}

const char *cdx_access_decision_name(const cdx_access_decision_t *d)
{
    if (!d->allow)
        return cdx_access_reason_name(d->reason);
    switch (d->basis) {
    case CDX_ACCESS_BASIS_OWNER:
        return "owner";
    case CDX_ACCESS_BASIS_CONSENT:
        return "consent";
    case CDX_ACCESS_BASIS_BREAKGLASS:
        return "breakglass";
    case CDX_ACCESS_BASIS_NONE:
        break;
    }
    return "allowed";
}

const char *cdx_access_withheld_class(cdx_access_reason_t reason)
{
    if (reason == CDX_ACCESS_CONSENT_REQUIRED || reason == CDX_ACCESS_CONSENT_DENIED)
        return "consent";
    if (reason == CDX_ACCESS_CONFIDENTIALITY)
        return "confidentiality";
    return NULL;
}
