/*
 * delivery: what the outcome of one delivery attempt means, and when the
 * next one is due.
 *
 * Responsible for: classifying an attempt (a 2xx receipt; a permanent
 * refusal: a 4xx other than 408 and 429, a receiver certificate that does
 * not verify, name the endpoint's host or bind to the destination
 * institution; everything else transient), the exponential backoff with
 * jitter between attempts honouring the receiver's Retry-After, and the
 * bound (attempts, age) after which a transient failure is given up.
 * Not responsible for: sending (api/delivery.c) or storing (store/outbox).
 *
 * Pure functions: any thread.
 */
#ifndef CDX_DOMAIN_DELIVERY_H
#define CDX_DOMAIN_DELIVERY_H

#include <stdint.h>

typedef enum {
    CDX_DELIVERY_DELIVERED, /* a receipt: stored, done */
    CDX_DELIVERY_RETRY,     /* transient: try again later */
    CDX_DELIVERY_DEAD,      /* permanent: never again */
} cdx_delivery_verdict_t;

/* What the transport reported about one attempt. */
typedef enum {
    CDX_DELIVERY_TRANSPORT_OK,       /* a whole response arrived (see status) */
    CDX_DELIVERY_TRANSPORT_TLS_PEER, /* certificate chain, host name or institution binding */
    CDX_DELIVERY_TRANSPORT_FAILED,   /* anything else: refused, timeout, reset, malformed */
} cdx_delivery_transport_t;

/* The verdict of one attempt from its transport outcome and HTTP status. */
cdx_delivery_verdict_t cdx_delivery_classify(cdx_delivery_transport_t t, int status);

typedef struct cdx_delivery_policy {
    int64_t max_attempts; /* attempts in all, at least 1 */
    int64_t max_age_ms;   /* from the delivery's creation */
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
} cdx_delivery_policy_t;

/* The delay before attempt number attempts + 1 after attempts failed
 * ones: backoff_min_ms * 2^(attempts - 1), at most backoff_max_ms, of
 * which a random half (jitter, a number in [0, 1)) is taken off; never
 * less than the receiver's Retry-After (retry_after_s, -1 when none),
 * itself capped at the policy's age bound. */
int64_t cdx_delivery_backoff(const cdx_delivery_policy_t *p, int attempts, int64_t retry_after_s,
                             double jitter);

/* Whether a transient failure is given up: attempts (made so far)
 * reached max_attempts, or the next attempt, at next_ms, would come later
 * than max_age_ms after created_ms. */
int cdx_delivery_exhausted(const cdx_delivery_policy_t *p, int attempts, int64_t created_ms,
                           int64_t next_ms);

#endif
