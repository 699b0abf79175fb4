/*
 * diag: what was wrong with an input, as data.
 *
 * Responsible for: collecting located issues (severity, a stable rule id, a
 * location as an XPath or "line:col", and a message an integrator can act
 * on), and the verdict that rejects an input as a whole (HTTP status and a
 * stable problem code such as XML_DTD_FORBIDDEN), bounded in count and
 * size so hostile input cannot make the list grow without limit.
 * Not responsible for: rendering HTTP responses (the gateway turns a diag
 * into application/problem+json).
 *
 * A diag has one owner; not thread-safe.
 */
#ifndef CDX_DIAG_H
#define CDX_DIAG_H

#include <stddef.h>

typedef enum { CDX_SEV_ERROR = 0, CDX_SEV_WARNING = 1 } cdx_severity_t;

typedef struct cdx_issue {
    cdx_severity_t severity;
    char *rule;     /* stable id, e.g. "CDA-HDR-007", "XSD", "KR-REF-003" */
    char *location; /* XPath such as /ClinicalDocument/recordTarget[1] or "12:7" */
    char *message;  /* what is wrong and what to do */
} cdx_issue_t;

#define CDX_DIAG_MAX_ISSUES 200

typedef struct cdx_diag {
    int status;        /* 0 while acceptable; else the HTTP status of the rejection */
    char code[48];     /* problem code of the rejection, e.g. "CDA_REQUIRED_FIELD" */
    char message[512]; /* one-line summary of the rejection */
    cdx_issue_t *issues;
    size_t nissues;
    size_t cap;
    size_t nerrors;
    size_t dropped; /* issues beyond CDX_DIAG_MAX_ISSUES, counted only */
} cdx_diag_t;

void cdx_diag_init(cdx_diag_t *d);
void cdx_diag_cleanup(cdx_diag_t *d);

/* Adds an issue (strings copied; location may be NULL).  Errors are
 * counted; a diag with errors is rejected by the pipeline with 422 unless
 * a verdict was set.  Returns 0 or CDX_ENOMEM. */
int cdx_diag_add(cdx_diag_t *d, cdx_severity_t sev, const char *rule, const char *location,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sets the verdict (first one wins): status, code and summary. */
void cdx_diag_reject(cdx_diag_t *d, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True when rejected (a verdict set). */
int cdx_diag_rejected(const cdx_diag_t *d);

/* The issues as a JSON array text [{"severity","rule","location","message"}]
 * (heap; caller frees), or NULL on allocation failure. */
char *cdx_diag_issues_json(const cdx_diag_t *d);

#endif
