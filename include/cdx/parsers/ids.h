/* ids: the syntax of the identifiers and literals that documents, mapping
 * files and the institution registry share: ISO OIDs, UUIDs, UTF-8 text
 * and HL7 v3 timestamps (TS).
 *
 * Syntax only: nothing here knows who owns an OID, which institution a
 * root belongs to or what a time means, and nothing here writes a message.
 * Callers phrase their own messages and keep their own length bounds (a
 * registry field and a document attribute do not have the same room).
 * Every function is pure and may be called from any thread. */
#ifndef CDX_PARSERS_IDS_H
#define CDX_PARSERS_IDS_H

#include <stddef.h>

/* What is wrong with a string read as an OID in dotted form. */
typedef enum cdx_oid_fault {
    CDX_OID_OK = 0,
    CDX_OID_NOT_DOTTED,   /* empty, an empty arc, or a character other than a digit or a dot */
    CDX_OID_LEADING_ZERO, /* an arc of two or more digits that starts with 0 */
    CDX_OID_FIRST_ARC,    /* the first arc is not 0, 1 or 2 */
    CDX_OID_ONE_ARC,      /* a single arc: an OID has at least two */
} cdx_oid_fault_t;

/* Reads s (not NULL) arc by arc from the left and returns the first fault:
 * within an arc NOT_DOTTED comes before LEADING_ZERO, which comes before
 * FIRST_ARC; ONE_ARC only when every arc is sound.  When arc is not NULL,
 * *arc and *arclen name the arc at fault (for NOT_DOTTED, from where the
 * arc starts to the character that broke it; for ONE_ARC, the whole
 * string).  No length bound is applied. */
cdx_oid_fault_t cdx_oid_check(const char *s, const char **arc, size_t *arclen);

/* Whether s is an OID (cdx_oid_check() finds no fault) of at most maxlen
 * characters.  NULL is not an OID. */
int cdx_oid_is_valid(const char *s, size_t maxlen);

/* Whether s is decimal arcs separated by single dots, the loose form that
 * mapping files accept (one arc, leading zeros and any first arc allowed).
 * NULL and "" are not. */
int cdx_oid_is_dotted(const char *s);

/* Whether oid is base itself or an OID under it (base, a dot, more arcs).
 * An empty or NULL base contains nothing. */
int cdx_oid_is_at_or_under(const char *oid, const char *base);

/* Whether s is a UUID in 8-4-4-4-12 hexadecimal form, either case, with
 * nothing around it (no braces, no urn:uuid: prefix).  NULL is not. */
int cdx_uuid_is_valid(const char *s);

/* Flags of cdx_utf8_is_valid(). */
#define CDX_UTF8_TEXT 1u /* also refuse C0 controls (tab and newline too), DEL and C1 controls */

/* Whether s[0..n) is well-formed UTF-8: no stray continuation byte, no
 * truncated sequence, no overlong form, no surrogate, nothing above
 * U+10FFFF.  A NUL byte inside the range counts as a (C0) character. */
int cdx_utf8_is_valid(const char *s, size_t n, unsigned flags);

/* An HL7 v3 TS literal read into its fields.  Pointers point into the
 * scanned string. */
typedef struct cdx_ts {
    int digits; /* 4 (year), 6, 8, 10, 12 or 14 (second) */
    /* Absent fields are 1 for the month and the day, else 0. */
    int year, month, day, hour, minute, second;
    const char *frac; /* fraction of a second (digits only), or NULL */
    int nfrac;        /* its length */
    const char *zone; /* the offset's sign, or NULL */
    int zone_len;     /* 3 (+HH) or 5 (+HHMM); 0 without an offset */
    int zone_hour, zone_minute;
} cdx_ts_t;

/* Length of the time zone offset at the start of s: a sign and either two
 * digits (hours) or four (hours and minutes), hours at most 14 and minutes
 * at most 59, not followed by another digit.  0 when s holds none. */
size_t cdx_ts_zone_len(const char *s);

/* Reads YYYY[MM[DD[HH[MM[SS[.F+]]]]]][+|-HH[MM]] from s (not NULL) into
 * *out: every field in range (month 1-12, the day within its month, hour
 * 0-23, minute 0-59, second 0-60 for a leap second), a fraction only
 * after seconds and with at least one digit, and nothing after the
 * offset.  The year itself (0000 included), the fraction's length and
 * whether an offset may follow a year alone are left to the caller, whose
 * rules differ.  Returns 0, or CDX_EINVAL (*out then undefined). */
int cdx_ts_scan(const char *s, cdx_ts_t *out);

#endif
