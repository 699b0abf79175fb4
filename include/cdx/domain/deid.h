/*
 * deid: how a person's data is de-identified for research.
 *
 * Responsible for: the pseudonym of a person in one research project (an
 * HMAC-SHA256 of the registry's person key under the project's key, so
 * the same person has unrelated pseudonyms in two projects and nobody
 * without the key can recompute one from an identifier), the per-person
 * date offset derived from the same key (every date of a person moves by
 * the same number of days, so intervals are kept), dates written shifted
 * or as the year alone (Safe Harbor), and the birth year with ages over 89
 * pooled.
 * Not responsible for: choosing which persons and facts are exported or
 * leaving out identifiers and narrative (the export does, with these).
 *
 * Pure functions of their input; any thread.
 */
#ifndef CDX_DOMAIN_DEID_H
#define CDX_DOMAIN_DEID_H

#include <stddef.h>
#include <stdint.h>

#define CDX_DEID_PSEUDONYM_SIZE 65 /* 64 hex digits and the NUL */
#define CDX_DEID_MAX_SHIFT_DAYS 180
#define CDX_DEID_POOLED_AGE     90 /* ages from this one up are reported as "90+" */

/* The person's pseudonym in the project whose key is key. */
void cdx_deid_pseudonym(const unsigned char key[32], int64_t person,
                        char out[CDX_DEID_PSEUDONYM_SIZE]);

/* The person's date offset in the project: a number of days from
 * -CDX_DEID_MAX_SHIFT_DAYS to +CDX_DEID_MAX_SHIFT_DAYS, never 0. */
int cdx_deid_date_offset(const unsigned char key[32], int64_t person);

/* A time (HL7 TS or ISO 8601 date or date-time, as a fact or a document
 * holds it) as the export writes it: shifted by offset_days and written at
 * its own precision up to the day ("2024", "2024-03", "2024-03-09"; the
 * time of day is dropped: it would narrow a shifted date back down), or the
 * year alone, unshifted, when year_only (Safe Harbor).  A year alone is
 * never shifted (a shift of months would invent precision).  Returns 0, or
 * CDX_EINVAL for an unreadable time (out is then ""). */
int cdx_deid_date(const char *ts, int offset_days, int year_only, char *out, size_t n);

/* The birth year to export, from the birth time and the export's index
 * date (both HL7 TS or ISO 8601): *age is the age in whole years at the
 * index date; when it is CDX_DEID_POOLED_AGE or more, *pooled is 1 and
 * year is "" (the year would give the age away).  Returns 0 or CDX_EINVAL. */
int cdx_deid_birth(const char *birth, const char *at, char year[5], int *age, int *pooled);

#endif
