/*
 * timeline: a person's facts from every institution, merged into one
 * list in time order, and the summary a clinician scans first.
 *
 * Responsible for: the rules of the merged timeline, on fact rows the
 * registry read (cdx_registry_person_facts): which facts a query keeps
 * (kinds, a time window), which facts are one (the same kind, code system
 * and code, the same value and unit, the same time at the precision both
 * share: reported by two documents, or by two sections of one document,
 * they become one fact with every source), their order, and the summary
 * (active problems, current medications, allergies, and per result or
 * vital sign code the latest value with the earlier ones as its trend).
 * Not responsible for: reading the rows (the store), which documents
 * count (the store reads current documents only), or HTTP.
 *
 * Pure functions with no global state: any thread.
 */
#ifndef CDX_DOMAIN_TIMELINE_H
#define CDX_DOMAIN_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

struct json_t;

/* One stored fact of one current document of the person, as the registry
 * gives it.  Heap strings, NULL when the fact does not say; freed by
 * cdx_tl_facts_free. */
typedef struct cdx_tl_fact {
    int64_t id;
    char doc_uid[33];      /* the document's registry id */
    char *institution_oid; /* the submitting institution */
    char *institution_name;
    char *kind; /* "problems", "medications", ... (cdx_fact_kind_name) */
    char *code_system;
    char *code;
    char *display;
    char *value;
    int has_number;
    double number;
    char *unit;
    char *time_low; /* HL7 TS as extracted */
    char *time_high;
    char *status;
    char *data; /* the fact's whole JSON object as extracted */
} cdx_tl_fact_t;

void cdx_tl_facts_free(cdx_tl_fact_t *rows, size_t n);

/* A time key: "YYYYMMDDHHMMSS" in UTC, the start of the period a
 * timestamp names at its precision (the form cdx_time_key of the query
 * parameters gives). */
#define CDX_TL_KEY_LEN 15 /* CDX_TS_KEY_LEN of cdx/parsers/time_key.h */

/* The key of an HL7 TS (a time of day with an offset is moved to UTC; a
 * date, or a time without an offset, is taken as written).  Returns 0 or
 * CDX_EINVAL. */
int cdx_tl_time_key(const char *hl7ts, char key[CDX_TL_KEY_LEN]);

/* The bit of a kind name ("problems", ... "encounters"), or 0 when the
 * name is not one. */
unsigned cdx_tl_kind_bit(const char *name);

typedef struct cdx_tl_query {
    unsigned kinds;            /* bits of cdx_tl_kind_bit; 0: every kind */
    char from[CDX_TL_KEY_LEN]; /* keep facts whose time is >= from; "" none */
    char to[CDX_TL_KEY_LEN];   /* and < to; "" none */
    char now[CDX_TL_KEY_LEN];  /* for "current" in the summary; "" never ends */
} cdx_tl_query_t;

/* The facts of rows that q keeps, merged, in time order (a fact's time is
 * its effective time's low, else its high; facts without one come last),
 * as {"facts": [...], "count": n}.  Each fact: kind, codeSystem, code,
 * display, value, number, unit, unitOriginal, interpretation, status,
 * negated, effectiveTime {low, high}, and sources [{document, institution
 * {oid, name}, section, sectionCode, sectionTitle}].  A window (from, to)
 * leaves out facts without a time.  Returns a new reference, NULL when out
 * of memory. */
struct json_t *cdx_tl_timeline(const cdx_tl_fact_t *rows, size_t n, const cdx_tl_query_t *q);

/* The summary of the merged facts q keeps: {"active_problems": [...],
 * "current_medications": [...], "allergies": [...], "results": [trend],
 * "vital_signs": [trend]}, a trend being {codeSystem, code, display,
 * latest: fact, previous: [facts, newest first]} per code, newest first.
 * A problem is active when its status says so ("active", SNOMED 55561003),
 * or when it has no end and no status that closes it (resolved, inactive;
 * an observation's "completed" closes nothing); a medication is current unless its status
 * says it ended or its end is before q->now; an allergy counts unless
 * resolved or inactive; negated facts count nowhere.  Returns a new
 * reference, NULL when out of memory. */
struct json_t *cdx_tl_summary(const cdx_tl_fact_t *rows, size_t n, const cdx_tl_query_t *q);

#endif
