/* time_key: HL7 and ISO 8601 times as UTC keys (see
 * include/cdx/parsers/time_key.h). */
#include "cdx/parsers/time_key.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"

#include <stdio.h>
#include <string.h>

long cdx_days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cdx_civil_from_days(long z, long *y, long *m, long *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* An ISO 8601 date or date-time rewritten as an HL7 TS (digits, then the
 * offset as +HHMM, Z as +0000).  Returns 0 or -1. */
static int iso_to_ts(const char *s, char *out, size_t outlen)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t o = 0, i = 0;
    for (; s[i] != '\0' && shape[i] != '\0'; i++) {
        char want = shape[i];
        if (want == 'd') {
            if (s[i] < '0' || s[i] > '9' || o + 1 >= outlen)
                return -1;
            out[o++] = s[i];
        } else if (s[i] != want) {
            break;
        }
    }
    /* Stops only after a whole field: 4, 7, 10, 13, 16 or 19 characters. */
    if (!(i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19))
        return -1;
    if (s[i] == '.' && i == 19) {
        i++;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (s[i] == 'Z' && s[i + 1] == '\0' && i >= 13) {
        if (o + 6 >= outlen)
            return -1;
        memcpy(out + o, "+0000", 6);
        return 0;
    }
    if ((s[i] == '+' || s[i] == '-') && i >= 13) {
        const char *z = s + i;
        if (strlen(z) != 6 || z[3] != ':' || o + 6 >= outlen)
            return -1;
        out[o++] = z[0];
        out[o++] = z[1];
        out[o++] = z[2];
        out[o++] = z[4];
        out[o++] = z[5];
        out[o] = '\0';
        return 0;
    }
    if (s[i] != '\0')
        return -1;
    out[o] = '\0';
    return 0;
}

int cdx_ts_utc_key(const char *s, char key[CDX_TS_KEY_LEN])
{
    char ts[40];
    key[0] = '\0';
    if (s == NULL || strlen(s) >= sizeof ts)
        return CDX_EINVAL;
    if (strchr(s, '-') != NULL && strlen(s) >= 5 && s[4] == '-') {
        if (iso_to_ts(s, ts, sizeof ts) != 0)
            return CDX_EINVAL;
    } else if (strchr(s, 'T') != NULL || strchr(s, ':') != NULL) {
        return CDX_EINVAL;
    } else {
        memcpy(ts, s, strlen(s) + 1);
    }
    cdx_ts_t t;
    if (cdx_ts_scan(ts, &t) != 0)
        return CDX_EINVAL;
    /* A year alone with an offset, or an offset on a date, shifts nothing
     * that the precision shows: only a time of day is moved to UTC. */
    long days = cdx_days_from_civil(t.year, t.month, t.day);
    long secs = (long)t.hour * 3600 + t.minute * 60 + (t.second > 59 ? 59 : t.second);
    if (t.zone != NULL && t.digits >= 10) {
        long off = (long)t.zone_hour * 3600 + (long)t.zone_minute * 60;
        secs -= t.zone[0] == '-' ? -off : off;
    }
    while (secs < 0) {
        secs += 86400;
        days--;
    }
    while (secs >= 86400) {
        secs -= 86400;
        days++;
    }
    long y, m, d;
    cdx_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return CDX_EINVAL;
    char text[48];
    snprintf(text, sizeof text, "%04ld%02ld%02ld%02ld%02ld%02ld", y, m, d, secs / 3600,
             (secs / 60) % 60, secs % 60);
    cdx_strlcpy(key, text, CDX_TS_KEY_LEN);
    return 0;
}
