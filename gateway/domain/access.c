/* access: the access decision (see include/cdx/domain/access.h). */
#include "cdx/domain/access.h"

static cdx_access_decision_t deny(cdx_access_reason_t reason)
{
    return (cdx_access_decision_t){.allow = 0, .reason = reason};
}

cdx_access_decision_t cdx_access_decide(const cdx_access_request_t *rq)
{
    if (rq->institution == NULL)
        return deny(CDX_ACCESS_NO_INSTITUTION);
    if ((rq->institution->roles & rq->role_needed) != rq->role_needed)
        return deny(CDX_ACCESS_ROLE_MISSING);
    if (rq->purpose == NULL)
        return deny(CDX_ACCESS_PURPOSE_UNKNOWN);
    return (cdx_access_decision_t){.allow = 1, .reason = CDX_ACCESS_ALLOWED};
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
    }
    return "unknown";
}
