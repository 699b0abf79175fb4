/*
 * purpose: the purposes of use a request may declare (X-CDX-Purpose).
 *
 * Responsible for: the one table of HL7 v3 PurposeOfUse codes (code
 * system 2.16.840.1.113883.5.8, ActReason) the gateway accepts, each with
 * its meaning; looking a declared value up; listing the accepted codes
 * (problem details) and rendering the table as Markdown rows (README.md's
 * "Purposes of use" table is checked against it).
 * Not responsible for: deciding whether a purpose allows a disclosure
 * (access.h) or recording it (the audit).
 *
 * The table is constant; any thread may call these.
 */
#ifndef CDX_DOMAIN_PURPOSE_H
#define CDX_DOMAIN_PURPOSE_H

#include <stddef.h>
#include <stdio.h>

/* The purpose a request declares when it sends no X-CDX-Purpose. */
#define CDX_PURPOSE_DEFAULT "TREAT"

typedef struct cdx_purpose {
    const char *code;    /* the PurposeOfUse code, upper case, e.g. "ETREAT" */
    const char *meaning; /* what a request declaring it is for */
} cdx_purpose_t;

/* The entry whose code is exactly code (case matters, as in HL7), or NULL
 * for NULL or an unknown value. */
const cdx_purpose_t *cdx_purpose_find(const char *code);

/* The whole table; *n receives its length. */
const cdx_purpose_t *cdx_purpose_table(size_t *n);

/* Writes the accepted codes as "TREAT, ETREAT, ..." into out (size n,
 * truncated if too small, always terminated). */
void cdx_purpose_list(char *out, size_t n);

/* Writes what a refusal of an unknown purpose tells the client: the
 * accepted codes and the default (size n, always terminated). */
void cdx_purpose_unknown_detail(char *out, size_t n);

/* Writes one Markdown table row per purpose, "| `TREAT` | meaning |". */
void cdx_purpose_markdown(FILE *out);

#endif
