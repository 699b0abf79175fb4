/*
 * audit_events: the catalogue of audit events and outcomes.
 *
 * Responsible for: every event name the gateway writes into the audit
 * chain, when it is written, the outcomes it is written with, the DICOM
 * event (PS3.15 audit messages, as IHE ATNA uses them) it corresponds to,
 * and the README's table of them.  Callers name events and outcomes by the
 * constants below, never by bare strings or numbers.
 * Not responsible for: writing records (the store's audit chain does) or
 * deciding when one is due (ingest, the handlers and the commands do).
 */
#ifndef CDX_DOMAIN_AUDIT_EVENTS_H
#define CDX_DOMAIN_AUDIT_EVENTS_H

#include <stddef.h>
#include <stdio.h>

/* The DICOM EventOutcomeIndicator values: the only outcomes an audit
 * record carries (cdx_audit_event_t.outcome). */
typedef enum cdx_audit_outcome {
    CDX_AUDIT_SUCCESS = 0,
    CDX_AUDIT_MINOR_FAILURE = 4,
    CDX_AUDIT_SERIOUS_FAILURE = 8,
    CDX_AUDIT_MAJOR_FAILURE = 12,
} cdx_audit_outcome_t;

/* Event names.  String literals, so that they fit cdx_audit_event_t.event
 * and fixed buffers alike; each has its row in cdx_audit_events. */
#define CDX_AUDIT_DOCUMENT_INGEST    "document.ingest"
#define CDX_AUDIT_DOCUMENT_REJECT    "document.reject"
#define CDX_AUDIT_DOCUMENT_CONFLICT  "document.conflict"
#define CDX_AUDIT_SECURITY_ALERT     "security.alert"
#define CDX_AUDIT_DOCUMENT_READ      "document.read"
#define CDX_AUDIT_DOCUMENT_QUERY     "document.query"
#define CDX_AUDIT_ACCESS_DENIED      "access.denied"
#define CDX_AUDIT_INSTITUTION_UPSERT "institution.upsert"
#define CDX_AUDIT_PATIENT_LINK       "patient.link"
#define CDX_AUDIT_PATIENT_REVIEW     "patient.review"
#define CDX_AUDIT_PATIENT_UNLINK     "patient.unlink"
#define CDX_AUDIT_PATIENT_QUERY      "patient.query"
#define CDX_AUDIT_CONSENT_RECORD     "consent.record"
#define CDX_AUDIT_DELIVERY_SENT      "delivery.sent"
#define CDX_AUDIT_DELIVERY_DEAD      "delivery.dead"
#define CDX_AUDIT_DELIVERY_RETRY     "delivery.retry"
#define CDX_AUDIT_COHORT_QUERY       "cohort.query"
#define CDX_AUDIT_COHORT_EXPORT      "cohort.export"
#define CDX_AUDIT_AUDIT_READ         "audit.read"
#define CDX_AUDIT_REQUEST_CREATE     "request.create"
#define CDX_AUDIT_REQUEST_READ       "request.read"
#define CDX_AUDIT_SUBSCRIPTION_CREATE "subscription.create"
#define CDX_AUDIT_SUBSCRIPTION_DELETE "subscription.delete"
#define CDX_AUDIT_SUBSCRIPTION_READ  "subscription.read"

/* One row of the catalogue.  DICOM codes are from PS3.16 (coding scheme
 * DCM): the EventID and, where one fits, the EventTypeCode. */
typedef struct cdx_audit_event_def {
    const char *name;          /* the event as stored, e.g. "document.ingest" */
    const char *constant;      /* the name of its constant, e.g. "CDX_AUDIT_DOCUMENT_INGEST" */
    unsigned outcomes;         /* CDX_AUDIT_OUTCOME_BIT of each outcome it is written with */
    const char *event_code;    /* DICOM EventID code, e.g. "110107" */
    const char *event_display; /* its display name, e.g. "Import" */
    const char *type_code;     /* DICOM EventTypeCode, or NULL */
    const char *type_display;  /* its display name, or NULL */
    const char *meaning;       /* when it is written (Markdown, for the README) */
} cdx_audit_event_def_t;

#define CDX_AUDIT_OUTCOME_BIT(outcome) (1u << ((unsigned)(outcome) / 4u))

/* The catalogue, in the order the README lists it. */
extern const cdx_audit_event_def_t cdx_audit_events[];
extern const size_t cdx_naudit_events;

/* The row of the event called name, or NULL.  Any thread. */
const cdx_audit_event_def_t *cdx_audit_event_find(const char *name);

/* 1 when outcome is one of the four DICOM outcomes, else 0. */
int cdx_audit_outcome_valid(int outcome);

/* "success", "minor failure", "serious failure", "major failure", or NULL
 * for any other number. */
const char *cdx_audit_outcome_name(int outcome);

/* Writes the catalogue as the README's Markdown table, followed by the
 * line naming the outcomes. */
void cdx_audit_events_markdown(FILE *out);

#endif
