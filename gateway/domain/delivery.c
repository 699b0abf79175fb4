/* delivery: outcomes and backoff of deliveries (see include/cdx/domain/delivery.h). */
#include "cdx/domain/delivery.h"

cdx_delivery_verdict_t cdx_delivery_classify(cdx_delivery_transport_t t, int status)
{
    if (t == CDX_DELIVERY_TRANSPORT_TLS_PEER)
        return CDX_DELIVERY_DEAD;
    if (t != CDX_DELIVERY_TRANSPORT_OK)
        return CDX_DELIVERY_RETRY;
    if (status >= 200 && status <= 299)
        return CDX_DELIVERY_DELIVERED;
    if (status >= 400 && status <= 499 && status != 408 && status != 429)
        return CDX_DELIVERY_DEAD;
    return CDX_DELIVERY_RETRY;
}

int64_t cdx_delivery_backoff(const cdx_delivery_policy_t *p, int attempts, int64_t retry_after_s,
                             double jitter)
{
    int64_t d = p->backoff_min_ms > 0 ? p->backoff_min_ms : 1;
    for (int i = 1; i < attempts && d < p->backoff_max_ms; i++)
        d *= 2;
    if (d > p->backoff_max_ms)
        d = p->backoff_max_ms;
    if (jitter < 0 || jitter >= 1)
        jitter = 0;
    d -= (int64_t)((double)(d / 2) * jitter);
    if (retry_after_s >= 0) {
        int64_t ra = retry_after_s > p->max_age_ms / 1000 ? p->max_age_ms : retry_after_s * 1000;
        if (ra > d)
            d = ra;
    }
    return d;
}

int cdx_delivery_exhausted(const cdx_delivery_policy_t *p, int attempts, int64_t created_ms,
                           int64_t next_ms)
{
    return attempts >= p->max_attempts || next_ms - created_ms > p->max_age_ms;
}
