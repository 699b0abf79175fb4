/*
 * delivery: the delivery worker, which empties the outbox over TLS.
 *
 * Responsible for: looking at the outbox (cdx/store/outbox.h) every
 * `delivery_poll_ms` on the gateway's loop, with a registry reader of its
 * own; for each destination with work due, up to `delivery_concurrency`
 * deliveries at once (each destination its own queue: a slow, dead or
 * hanging receiver only ever holds its own slots, bounded by the connect
 * and exchange timeouts); each attempt as one HTTPS POST of the original
 * bytes (net/http_client.h) to the destination's endpoint with our client
 * certificate, the receiver's certificate verified against the
 * federation CA, the endpoint's host name and bound to the destination
 * institution; writing each attempt's start and outcome through the
 * writer (the outcome with its audit record); one log line, metric and
 * audit record when a delivery is given up; per-destination metrics.
 * Not responsible for: what an outcome means (cdx/domain/delivery.h), or
 * creating deliveries (the changes that cause them do).
 *
 * Loop thread only.
 */
#ifndef CDX_API_DELIVERY_H
#define CDX_API_DELIVERY_H

#include "cdx/api/app.h"
#include "cdx/base/buf.h"

typedef struct cdx_delivery_worker cdx_delivery_worker_t;

/* Starts the worker on loop for app (whose writer is running): opens its
 * reader and the TLS client context from the configuration.  Returns 0
 * and sets app->delivery, or an error with the reason in err. */
int cdx_delivery_start(cdx_app_t *app, void *uv_loop, char *err, size_t errlen);

/* Stops looking at the outbox and abandons the attempts in flight (they
 * stay pending and in flight in the outbox, resumed first at the next
 * start).  Idempotent. */
void cdx_delivery_stop(cdx_delivery_worker_t *w);

/* Frees the worker once the loop has run its last callbacks.  NULL is a
 * no-op. */
void cdx_delivery_free(cdx_delivery_worker_t *w);

/* Appends the per-destination metrics in Prometheus text format. */
int cdx_delivery_metrics(cdx_delivery_worker_t *w, cdx_buf_t *out);

/* Looks at the outbox now (after a change that may have added work). */
void cdx_delivery_kick(cdx_delivery_worker_t *w);

#endif
