/*
 * outbox: the durable queue of deliveries (gateway/store/outbox.c).
 *
 * Responsible for: one row per (document, destination institution) with
 * its state (pending, delivered, dead), attempts, the time of its next
 * attempt, its last error, the receipt, and the reason it exists
 * (referral, request, subscription, with that cause's id); the reads the
 * delivery worker makes (destinations with work due, the due rows of one
 * destination, in-flight rows first), the changes it makes through the
 * writer (an attempt started, an outcome, with the audit record of the
 * outcome in the same transaction), the operators' list and retry, and
 * counts per destination for metrics; which gateway relayed a document.
 * Not responsible for: deciding what an outcome means or when to retry
 * (cdx/domain/delivery.h), or sending anything.
 *
 * Like the registry: one thread at a time per connection; changes inside
 * the caller's transaction (the writer's savepoint) or one of their own.
 */
#ifndef CDX_STORE_OUTBOX_H
#define CDX_STORE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/types.h"
#include "cdx/store/registry.h"

typedef struct cdx_delivery {
    int64_t id;
    char document_uid[33];
    char destination[128];
    char state[16];  /* pending, delivered, dead */
    char reason[16]; /* referral, request, subscription */
    char reason_id[64];
    int attempts;
    int in_flight;
    int64_t next_attempt_ms;
    int64_t created_ms;
    char created_at[32];
    char updated_at[32];
    char last_error[256];
    int receipt_status; /* 0 when none */
    char receipt_sha256[65];
    char receipt_summary[256];
    int64_t latency_ms; /* -1 when not delivered */
    /* The purpose of use the delivery was asked for (a record request's
     * X-CDX-Purpose); "" when none was stored (referrals, subscriptions,
     * rows from before schema step 16). */
    char purpose[16];
} cdx_delivery_t;

/* Adds a pending delivery of document doc_uid to destination, due at
 * now_ms, asked for with purpose (a purpose of use code; NULL or "": none
 * stored).  A row for the same document and destination already there is
 * kept as it is, its purpose too (*created 0).  Returns 0 or a negative
 * error. */
int cdx_outbox_add(cdx_registry_t *reg, const char *doc_uid, const char *destination,
                   const char *reason, const char *reason_id, const char *purpose, int64_t now_ms,
                   int *created);

/* The destinations with a pending delivery due at now_ms (or in flight),
 * at most max, into out (128 bytes each).  Returns 0 or an error. */
int cdx_outbox_due_destinations(cdx_registry_t *reg, int64_t now_ms, char (*out)[128],
                                size_t max, size_t *n);

/* The earliest next_attempt_ms of a pending delivery, or -1 when none. */
int cdx_outbox_next_due(cdx_registry_t *reg, int64_t *ms);

/* The pending deliveries to destination due at now_ms, those in flight
 * when the gateway stopped first, then by id; at most max into out.
 * Returns 0 or an error. */
int cdx_outbox_due(cdx_registry_t *reg, const char *destination, int64_t now_ms,
                   cdx_delivery_t *out, size_t max, size_t *n);

/* An attempt starts: attempts + 1, in flight. */
int cdx_outbox_started(cdx_registry_t *reg, int64_t id);

/* The outcome of an attempt, written with its audit record (*audit, may
 * be NULL) in one transaction.  state "pending" (retry at next_ms),
 * "delivered" (receipt_* and latency_ms kept) or "dead".  Only a pending
 * row changes: *changed is 0 when the row was no longer pending (an
 * operator's change won), and then no audit record is written either. */
typedef struct cdx_outbox_outcome {
    int64_t id;
    const char *state;
    int64_t next_ms;
    const char *error; /* NULL: none */
    int receipt_status;
    const char *receipt_sha256;
    const char *receipt_summary;
    int64_t latency_ms;
} cdx_outbox_outcome_t;

int cdx_outbox_finish(cdx_registry_t *reg, const cdx_outbox_outcome_t *o,
                      const cdx_audit_event_t *audit, int *changed);

/* One delivery by id.  0, CDX_ENOTFOUND or an error. */
int cdx_outbox_get(cdx_registry_t *reg, int64_t id, cdx_delivery_t *out);

/* Deliveries newest first (by id), with state and destination (NULL: any),
 * of id < before (0: from the newest), at most max.  0 or an error. */
int cdx_outbox_list(cdx_registry_t *reg, const char *state, const char *destination,
                    int64_t before, cdx_delivery_t *out, size_t max, size_t *n);

/* An operator's retry: delivery id (or, id 0, every dead one) becomes
 * pending again, due at now_ms, its attempts and age counted afresh;
 * *count receives how many changed (a delivered row never does).  The
 * audit record is appended once per call. */
int cdx_outbox_retry(cdx_registry_t *reg, int64_t id, int64_t now_ms,
                     const cdx_audit_event_t *audit, int64_t *count);

/* Counts per destination and state, for metrics: fn is called for each
 * (destination, state, count) group. */
int cdx_outbox_counts(cdx_registry_t *reg,
                      void (*fn)(void *arg, const char *destination, const char *state,
                                 int64_t count),
                      void *arg);

/* Whether oid is a registered destination: an institution with a role or
 * an endpoint (not one only ever named as a custodian).  0 or an error. */
int cdx_outbox_destination_known(cdx_registry_t *reg, const char *oid, int *known);

/* Records that document doc_uid came in through relay_oid. */
int cdx_outbox_set_relay(cdx_registry_t *reg, const char *doc_uid, const char *relay_oid);

/* The relay of a document: "" when it came directly.  0 or an error. */
int cdx_outbox_relay_of(cdx_registry_t *reg, const char *doc_uid, char out[128]);

#endif
