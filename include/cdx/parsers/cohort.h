/*
 * cohort: research cohort definitions (JSON) parsed into a tree of
 * criteria, and the tables the criteria are written in: code systems by
 * name or OID, UCUM units and the analyte conversions between them.
 *
 * Responsible for: the syntax and limits of a definition, naming the JSON
 * path of the first thing wrong ("$.all[1].result.op"); code system names
 * to the OIDs the extraction stores; unit spellings to UCUM; converting a
 * value from one unit to another where a conversion is defined for the
 * analyte (LOINC code).  Pure: no I/O, any thread.
 * Not responsible for: evaluating a definition (the registry does, over
 * the facts' columns: gateway/store/cohorts.c), suppression and the
 * differencing guard (domain/cohort.h).
 */
#ifndef CDX_PARSERS_COHORT_H
#define CDX_PARSERS_COHORT_H

#include <stddef.h>
#include <stdint.h>

/* Limits of one definition. */
#define CDX_COHORT_MAX_BYTES   (64u * 1024u) /* the JSON text */
#define CDX_COHORT_MAX_DEPTH   8             /* nested all/any/not/window levels */
#define CDX_COHORT_MAX_WIDTH   32            /* members of one all or any */
#define CDX_COHORT_MAX_NODES   128           /* criteria and combinations in all */
#define CDX_COHORT_MAX_CODES   256           /* codes of one criterion */
#define CDX_COHORT_MAX_CODE    64            /* bytes of one code */
#define CDX_COHORT_MAX_SYSTEMS 4             /* OIDs one code system name stands for */

typedef enum cdx_cohort_node_kind {
    CDX_COHORT_ALL,
    CDX_COHORT_ANY,
    CDX_COHORT_NOT,
    CDX_COHORT_FACT,
    CDX_COHORT_AGE,
    CDX_COHORT_SEX,
    CDX_COHORT_INSTITUTION,
} cdx_cohort_node_kind_t;

/* What a fact criterion looks for, and the facts.kind it reads. */
typedef enum cdx_cohort_fact_kind {
    CDX_COHORT_CONDITION,
    CDX_COHORT_PROCEDURE,
    CDX_COHORT_MEDICATION,
    CDX_COHORT_IMMUNIZATION,
    CDX_COHORT_RESULT,
    CDX_COHORT_VITAL,
} cdx_cohort_fact_kind_t;

typedef enum cdx_cohort_op {
    CDX_COHORT_LT,
    CDX_COHORT_LE,
    CDX_COHORT_EQ,
    CDX_COHORT_GE,
    CDX_COHORT_GT,
} cdx_cohort_op_t;

typedef struct cdx_cohort_node cdx_cohort_node_t;

/* One fact criterion. Days count from 1970-01-01 (cdx_cohort_day). */
typedef struct cdx_cohort_fact {
    cdx_cohort_fact_kind_t kind;
    const char *fact_kind; /* facts.kind: "problems", "results", ... (a constant) */
    const char *systems[CDX_COHORT_MAX_SYSTEMS]; /* OIDs (constants) */
    size_t nsystems;
    char **codes; /* ncodes codes, each at most CDX_COHORT_MAX_CODE bytes */
    size_t ncodes;
    int prefix; /* "match": "prefix" */
    int has_value;
    cdx_cohort_op_t op;
    double value;
    const char *unit; /* UCUM (a constant), NULL without a value */
    int has_from, has_to;
    int32_t from_day, to_day;  /* inclusive */
    cdx_cohort_node_t *anchor; /* window: the index event, or NULL */
    int anchor_before;         /* window "before" (else "after") */
    int32_t window_days;
    unsigned min_count; /* distinct days with a match; at least 1 */
} cdx_cohort_fact_t;

struct cdx_cohort_node {
    cdx_cohort_node_kind_t kind;
    cdx_cohort_node_t **kids; /* ALL, ANY (nkids), NOT (one) */
    size_t nkids;
    cdx_cohort_fact_t fact; /* FACT */
    int has_min, has_max;   /* AGE, in whole years */
    int age_min, age_max;
    int32_t at_day; /* AGE: the index date (-1: the day the query runs) */
    char sex;       /* SEX: 'M' or 'F' */
    char oid[128];  /* INSTITUTION */
};

typedef struct cdx_cohort_def {
    cdx_cohort_node_t *root;
    size_t nnodes;
    size_t nfacts; /* fact criteria, anchors included */
} cdx_cohort_def_t;

/* Why a definition was refused: the JSON path of the offending member and
 * a sentence. */
typedef struct cdx_cohort_error {
    char path[192];
    char detail[256];
} cdx_cohort_error_t;

/* Parses json (len bytes, UTF-8).  On success *out is a new definition
 * (cdx_cohort_def_free).  On a refusal returns CDX_EINVAL with err filled;
 * CDX_ENOMEM when out of memory. */
int cdx_cohort_parse(const char *json, size_t len, cdx_cohort_def_t **out, cdx_cohort_error_t *err);

void cdx_cohort_def_free(cdx_cohort_def_t *def);

/* The OIDs a code system name (ICD-10, KCD, SNOMED CT, LOINC, RxNorm,
 * ATC, EDI, KD, CVX; any case) or OID stands for, into systems (at most
 * CDX_COHORT_MAX_SYSTEMS).  ICD-10, ICD-10-CM and KCD are one family: a
 * KCD-8 code is spelled as its ICD-10 code, and the extraction stores
 * KCD diagnoses under ICD-10.  Returns the count, 0 when unknown. */
size_t cdx_cohort_system(const char *name, const char *systems[CDX_COHORT_MAX_SYSTEMS]);

/* The UCUM spelling of unit (case and common local spellings such as
 * "mg/dl" forgiven), or NULL when it is not a unit the table knows. */
const char *cdx_cohort_unit(const char *unit);

/* Converts value from unit `from` to unit `to` (any spellings
 * cdx_cohort_unit knows) for the analyte LOINC code loinc (may be NULL).
 * Returns 0 and *out, or CDX_ENOTFOUND when no conversion is defined. */
int cdx_cohort_convert(const char *loinc, const char *from, const char *to, double value,
                       double *out);

/* Day number (days since 1970-01-01) of a date "YYYY-MM-DD" or an HL7
 * timestamp starting "YYYYMMDD"; CDX_EINVAL when it names no valid day. */
int cdx_cohort_day(const char *text, int32_t *out);

/* The comparison of op. */
int cdx_cohort_compare(cdx_cohort_op_t op, double a, double b);

#endif
