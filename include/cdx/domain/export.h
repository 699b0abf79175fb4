/*
 * export: the de-identified forms of a research cohort's persons.
 *
 * Responsible for: which facts leave in an export and in what form (only
 * coded facts of the standard code systems of export_systems, a code and a
 * unit of plain characters, a numeric value, dates through deid.h: shifted
 * per person or the year alone), and the writers of each format: NDJSON
 * (one object per person), CSV (one row per fact), the OMOP CDM v5.4
 * tables (CSV, one writer per table) and the ustar archive that carries
 * them.  Nothing written here is a name, an address, a telecom, an
 * identifier, a document id, a narrative text or a local code: the
 * records are built from the few fields below, never from a document.
 * Not responsible for: choosing the persons (the cohort, the opt-outs),
 * reading the registry, or where the bytes go (export_run.c drives them).
 *
 * Pure functions of their input, writing to FILE streams the caller owns;
 * any thread.
 */
#ifndef CDX_DOMAIN_EXPORT_H
#define CDX_DOMAIN_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdx/domain/deid.h"

/* The formats of GET /v1/cohorts/{id}/export. */
typedef enum { CDX_EXPORT_NDJSON, CDX_EXPORT_CSV, CDX_EXPORT_OMOP } cdx_export_format_t;

/* "ndjson", "csv", "omop" to the format; returns 0 or CDX_EINVAL. */
int cdx_export_format_parse(const char *name, cdx_export_format_t *out);
const char *cdx_export_format_name(cdx_export_format_t f);
/* The media type of the answer in that format. */
const char *cdx_export_media_type(cdx_export_format_t f);

/* How dates leave: shifted per person (intervals kept) or the year alone. */
typedef enum { CDX_EXPORT_SHIFT = 0, CDX_EXPORT_SAFE_HARBOR = 1 } cdx_export_mode_t;

/* The kinds of fact, as the registry stores them ("problems", ...), and
 * as an export names them ("condition", ...). */
typedef enum {
    CDX_XK_CONDITION,
    CDX_XK_PROCEDURE,
    CDX_XK_MEDICATION,
    CDX_XK_IMMUNIZATION,
    CDX_XK_RESULT,
    CDX_XK_VITAL,
    CDX_XK_ENCOUNTER,
    CDX_XK_ALLERGY,
    CDX_XK_COUNT
} cdx_export_kind_t;

/* A fact as the registry gives it (borrowed strings, NULL when absent). */
typedef struct cdx_export_fact_in {
    const char *kind;   /* the registry's kind name */
    const char *system; /* code system OID */
    const char *code;
    const char *date;   /* HL7 TS or ISO 8601: the fact's date */
    const char *end;    /* the end of its interval, or NULL */
    int has_value;
    double value;
    const char *unit;
} cdx_export_fact_in_t;

/* A fact as it leaves: every string is plain text safe for CSV and JSON
 * (no quote, comma, control character or backslash). */
typedef struct cdx_export_fact {
    cdx_export_kind_t kind;
    const char *kind_name; /* "condition", ... */
    const char *system;    /* the system's name: "ICD-10", "LOINC", ... */
    char code[65];
    char date[11];         /* "" when it has none that reads */
    char end[11];
    int has_value;
    double value;
    char unit[33];         /* "" when none */
} cdx_export_fact_t;

/* The person as it leaves. */
typedef struct cdx_export_person {
    char pseudonym[CDX_DEID_PSEUDONYM_SIZE];
    char sex;            /* 'M', 'F' or 0 */
    char birth_year[5];  /* "" when unknown or pooled */
    int age_pooled;      /* 1: aged CDX_DEID_POOLED_AGE or more at the export */
    int offset_days;     /* the person's date shift (0 in safe_harbor mode) */
} cdx_export_person_t;

/* The code system name of an OID that an export may carry, or NULL for
 * any other (an institution's local codes never leave). */
const char *cdx_export_system_name(const char *oid);

/* Fills out from in for person p in mode.  Returns 0 when the fact leaves,
 * CDX_EINVAL when it does not (an unknown kind, a code system not in the
 * list, a code or unit with characters outside the plain set, no date). */
int cdx_export_fact(const cdx_export_fact_in_t *in, const cdx_export_person_t *p,
                    cdx_export_mode_t mode, cdx_export_fact_t *out);

/* Fills the person: pseudonym and offset from the project key, the birth
 * year from birth (YYYYMMDD as a number, 0 unknown) at today (days since
 * 1970-01-01), sex 'M', 'F' or other (none). */
void cdx_export_person(const unsigned char key[32], int64_t person_id, int32_t birth_ymd, char sex,
                       int32_t today, cdx_export_mode_t mode, cdx_export_person_t *out);

/* ---- NDJSON: one line per person ---------------------------------------
 * {"pseudonym":"…","sex":"F","birth_year":1960,"age_90_or_over":false,
 *  "facts":[{"kind":"condition","system":"ICD-10","code":"E11.9",
 *            "date":"2024-03-09","end":null,"value":null,"unit":null}, …]}
 * begin, then one fact call per fact, then end (which writes the newline). */
int cdx_export_ndjson_begin(FILE *out, const cdx_export_person_t *p);
int cdx_export_ndjson_fact(FILE *out, const cdx_export_fact_t *f, int first);
int cdx_export_ndjson_end(FILE *out);

/* ---- CSV: one row per fact ---------------------------------------------- */
int cdx_export_csv_header(FILE *out);
int cdx_export_csv_fact(FILE *out, const cdx_export_person_t *p, const cdx_export_fact_t *f);

/* ---- OMOP CDM v5.4 ------------------------------------------------------
 * The tables an export writes, each a CSV file with the CDM's columns;
 * concept ids are 0 (no vocabulary is loaded), source values are kept. */
typedef enum {
    CDX_OMOP_PERSON,
    CDX_OMOP_VISIT,
    CDX_OMOP_CONDITION,
    CDX_OMOP_DRUG,
    CDX_OMOP_MEASUREMENT,
    CDX_OMOP_PROCEDURE,
    CDX_OMOP_OBSERVATION,
    CDX_OMOP_TABLES
} cdx_omop_table_t;

/* "person.csv", ... */
const char *cdx_omop_file_name(cdx_omop_table_t t);
int cdx_omop_header(FILE *out, cdx_omop_table_t t);
/* The OMOP person_id of a pseudonym: its first 52 bits as a number. */
int64_t cdx_omop_person_id(const char *pseudonym);
/* The table a fact goes to. */
cdx_omop_table_t cdx_omop_table_of(cdx_export_kind_t k);
int cdx_omop_person_row(FILE *out, const cdx_export_person_t *p);
/* One row of the fact's table; row_id numbers the rows of that table. */
int cdx_omop_fact_row(FILE *out, int64_t row_id, const cdx_export_person_t *p,
                      const cdx_export_fact_t *f);

/* ---- ustar -------------------------------------------------------------- */
#define CDX_TAR_BLOCK 512
/* The header block of a regular file (name at most 99 bytes, size below
 * 8 GiB).  Returns 0 or CDX_EINVAL. */
int cdx_tar_header(unsigned char block[CDX_TAR_BLOCK], const char *name, uint64_t size,
                   int64_t mtime);
/* Appends name with the bytes of in (from its start to its end) to out,
 * padded to a block.  Returns 0 or CDX_EIO. */
int cdx_tar_append(FILE *out, const char *name, FILE *in, int64_t mtime);
/* The end of the archive: two zero blocks. */
int cdx_tar_finish(FILE *out);

#endif
