/*
 * match: who is who.  Demographic match keys of a patient, the blocking
 * keys that find candidates, and the probabilistic score of two patients.
 *
 * Responsible for: turning the demographics a document carries (names in
 * Hangul or Latin script, birth date, sex, address, postal code, phone)
 * into comparable match keys (names folded across case, accents, spacing,
 * Hangul and its Revised Romanization, the usual surname spellings);
 * blocking keys, so that a new patient is compared only with the few
 * registered patients that share one; the score of a pair as the sum of
 * per-field agreement and disagreement weights (Fellegi-Sunter), with the
 * breakdown kept; the verdict against two thresholds.
 * Not responsible for: storing anything, national identifiers (they link
 * by keyed hash, not by score), or deciding what an administrator's
 * decision overrides (the patient index does).
 *
 * Pure functions of their arguments: callable from any thread.
 */
#ifndef CDX_DOMAIN_MATCH_H
#define CDX_DOMAIN_MATCH_H

#include <stddef.h>

/* Demographics as a document states them (borrowed strings, any may be
 * NULL or empty). */
typedef struct cdx_demog_input {
    const char *family;
    const char *const *given; /* given name parts */
    size_t ngiven;
    const char *name_text; /* the whole name when it has no parts */
    const char *birth;     /* HL7 TS or ISO 8601 date, any precision */
    const char *gender;    /* administrativeGenderCode/@code: M, F, UN, ... */
    const char *street;    /* first streetAddressLine */
    const char *city;
    const char *postal;
    const char *phone;     /* a telecom value, "tel:" allowed */
} cdx_demog_input_t;

struct cdx_doc_meta;

/* Fills out from the patient of an extracted header (cdx/parsers/extract.h):
 * its strings stay borrowed from m. */
void cdx_demog_input_from_meta(const struct cdx_doc_meta *m, cdx_demog_input_t *out);

/* Match keys ("" when unknown). */
typedef struct cdx_demog {
    char family[64];  /* folded, romanized, canonical surname spelling */
    char given[96];   /* folded, romanized, without spaces or hyphens */
    char birth[9];    /* YYYYMMDD, or YYYYMM / YYYY at lower precision */
    char sex;         /* 'M', 'F', or 0 when unknown */
    char postal[16];  /* upper-case letters and digits */
    char address[96]; /* folded street line: letters and digits only */
    char phone[16];   /* the last (up to) 10 digits */
} cdx_demog_t;

/* Fills out from in.  Returns 0, or CDX_EINVAL when nothing usable for
 * matching is left (no name and no birth date): such a patient is linked
 * by identifiers only. */
int cdx_demog_from(const cdx_demog_input_t *in, cdx_demog_t *out);

/* Blocking keys: a candidate shares at least one key with the patient.
 * Several keys, so that one wrong field (a typo in the birth date, a new
 * phone) does not hide the right candidate.  Returns how many were
 * written (at most CDX_DEMOG_MAX_BLOCKS). */
#define CDX_DEMOG_MAX_BLOCKS 6
#define CDX_DEMOG_BLOCK_LEN 64
size_t cdx_demog_block_keys(const cdx_demog_t *d, char keys[][CDX_DEMOG_BLOCK_LEN]);

/* The fields a score has, in this order. */
typedef enum {
    CDX_MATCH_FAMILY,
    CDX_MATCH_GIVEN,
    CDX_MATCH_BIRTH,
    CDX_MATCH_SEX,
    CDX_MATCH_POSTAL,
    CDX_MATCH_ADDRESS,
    CDX_MATCH_PHONE,
    CDX_MATCH_NFIELDS
} cdx_match_field_t;

/* How one field compared. */
typedef enum {
    CDX_MATCH_MISSING = 0, /* unknown on either side: weight 0 */
    CDX_MATCH_AGREE,
    CDX_MATCH_PARTIAL,     /* close: a typo, a transposed day and month, a variant */
    CDX_MATCH_DISAGREE,
} cdx_match_agreement_t;

typedef struct cdx_match_score {
    double total;
    int swapped; /* names compared with family and given swapped */
    cdx_match_agreement_t agreement[CDX_MATCH_NFIELDS];
    double weight[CDX_MATCH_NFIELDS];
} cdx_match_score_t;

/* Scores a pair (symmetric).  Each field adds its agreement, partial or
 * disagreement weight; names are also compared with family and given
 * swapped and the better reading kept (swapped set).  When the given names
 * do not agree, an agreeing address, postal code or phone adds nothing:
 * members of one household (twins) share them. */
void cdx_match_score(const cdx_demog_t *a, const cdx_demog_t *b, cdx_match_score_t *out);

/* The field's name in breakdowns: "family", "given", "birth", ... */
const char *cdx_match_field_name(cdx_match_field_t f);

/* The breakdown as compact JSON:
 * {"total":12.3,"swapped":false,"fields":{"family":{"agreement":"agree","weight":4.1},...}}
 * Returns the length written (like snprintf; truncated when >= n). */
int cdx_match_score_json(const cdx_match_score_t *s, char *out, size_t n);

typedef enum {
    CDX_MATCH_NONE = 0, /* below the review threshold: different persons */
    CDX_MATCH_REVIEW,   /* between: a person decides */
    CDX_MATCH_LINK,     /* at or above the link threshold: linked automatically */
} cdx_match_verdict_t;

typedef struct cdx_match_thresholds {
    double link;
    double review;
    int off; /* 1: no demographic matching at all (match_demographics = false) */
} cdx_match_thresholds_t;

/* Defaults calibrated by bench/cdxgw-match.c (docs/PERFORMANCE.md). */
extern const cdx_match_thresholds_t cdx_match_default_thresholds;

cdx_match_verdict_t cdx_match_decide(const cdx_match_score_t *s, const cdx_match_thresholds_t *t);

#endif
