/* time_key: a point in time as a key that compares as text in UTC.
 *
 * Responsible for: reading an HL7 TS (2026, 202611, 20261104153012+0900)
 * or an ISO 8601 date or date-time (2026-11-04, 2026-11-04T15:30:12+09:00,
 * ...Z) and writing "YYYYMMDDHHMMSS" in UTC: the start of the period the
 * value names at its precision (2026 is 20260101000000).  A value without
 * an offset is taken as UTC; an offset moves only a time of day.
 * Shared by the query parameters (gateway/api/params.c) and the registry's
 * sort and filter keys, so both read a time the same way.  Pure: any
 * thread.
 */
#ifndef CDX_PARSERS_TIME_KEY_H
#define CDX_PARSERS_TIME_KEY_H

#define CDX_TS_KEY_LEN 15 /* 14 digits and the NUL */

/* Returns 0 with key filled, or CDX_EINVAL (key is then ""). */
int cdx_ts_utc_key(const char *s, char key[CDX_TS_KEY_LEN]);

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian), and
 * back. */
long cdx_days_from_civil(long y, long m, long d);
void cdx_civil_from_days(long days, long *y, long *m, long *d);

#endif
