/* ids: OID, UUID, UTF-8 and HL7 TS syntax (see include/cdx/parsers/ids.h). */
#include "cdx/parsers/ids.h"
#include "cdx/base/common.h"

#include <string.h>

/* ---- OIDs ------------------------------------------------------------------------------- */

/* The first fault of s as an OID; with strict 0 only NOT_DOTTED is looked for. */
static cdx_oid_fault_t oid_scan(const char *s, int strict, const char **arc, size_t *arclen)
{
    cdx_oid_fault_t fault = CDX_OID_OK;
    size_t dots = 0;
    const char *p = s, *start = s;
    for (;;) {
        start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (*p != '.' && *p != '\0'))
            fault = CDX_OID_NOT_DOTTED;
        else if (strict && n > 1 && start[0] == '0')
            fault = CDX_OID_LEADING_ZERO;
        else if (strict && dots == 0 && (n > 1 || start[0] > '2'))
            fault = CDX_OID_FIRST_ARC;
        if (fault != CDX_OID_OK || *p == '\0')
            break;
        dots++;
        p++;
    }
    if (fault == CDX_OID_OK && strict && dots == 0) {
        fault = CDX_OID_ONE_ARC;
        start = s;
    }
    if (fault != CDX_OID_OK && arc != NULL) {
        *arc = start;
        *arclen = (size_t)(p - start);
    }
    return fault;
}

cdx_oid_fault_t cdx_oid_check(const char *s, const char **arc, size_t *arclen)
{
    return oid_scan(s, 1, arc, arclen);
}

int cdx_oid_is_valid(const char *s, size_t maxlen)
{
    return s != NULL && oid_scan(s, 1, NULL, NULL) == CDX_OID_OK && strlen(s) <= maxlen;
}

int cdx_oid_is_dotted(const char *s)
{
    return s != NULL && oid_scan(s, 0, NULL, NULL) == CDX_OID_OK;
}

int cdx_oid_is_at_or_under(const char *oid, const char *base)
{
    size_t n = base != NULL ? strlen(base) : 0;
    return n > 0 && strncmp(oid, base, n) == 0 && (oid[n] == '\0' || oid[n] == '.');
}

/* ---- UUIDs ------------------------------------------------------------------------------ */

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int cdx_uuid_is_valid(const char *s)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    if (s == NULL)
        return 0;
    const char *p = s;
    for (size_t g = 0; g < CDX_ARRAY_SIZE(groups); g++) {
        for (size_t i = 0; i < groups[g]; i++, p++)
            if (!is_hex(*p))
                return 0;
        if (g + 1 < CDX_ARRAY_SIZE(groups) && *p++ != '-')
            return 0;
    }
    return *p == '\0';
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

int cdx_utf8_is_valid(const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    int text = (flags & CDX_UTF8_TEXT) != 0;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        unsigned cp;
        size_t extra;
        if (c < 0x80) {
            if (text && (c < 0x20 || c == 0x7F))
                return 0;
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F;
            extra = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return 0; /* a continuation byte, an overlong lead (C0, C1) or beyond F4 */
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and code points past U+10FFFF; two-byte
         * sequences below U+00A0 are the C1 controls, refused as text. */
        if ((extra == 1 && text && cp < 0xA0) || (extra == 2 && cp < 0x800) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* ---- HL7 timestamps --------------------------------------------------------------------- */

/* The value of the n digits at p (the caller has checked they are digits). */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

size_t cdx_ts_zone_len(const char *s)
{
    if (s == NULL || (s[0] != '+' && s[0] != '-'))
        return 0;
    size_t z = 0;
    while (s[1 + z] >= '0' && s[1 + z] <= '9')
        z++;
    if ((z != 2 && z != 4) || digits(s + 1, 2) > 14 || (z == 4 && digits(s + 3, 2) > 59))
        return 0;
    return z + 1;
}

int cdx_ts_scan(const char *s, cdx_ts_t *out)
{
    memset(out, 0, sizeof *out);
    int n = 0;
    while (n <= 14 && s[n] >= '0' && s[n] <= '9')
        n++;
    /* The precision is a year, month, day, hour, minute or second. */
    if (n < 4 || n > 14 || n % 2 != 0)
        return CDX_EINVAL;
    out->digits = n;
    out->year = digits(s, 4);
    out->month = n >= 6 ? digits(s + 4, 2) : 1;
    out->day = n >= 8 ? digits(s + 6, 2) : 1;
    out->hour = n >= 10 ? digits(s + 8, 2) : 0;
    out->minute = n >= 12 ? digits(s + 10, 2) : 0;
    out->second = n >= 14 ? digits(s + 12, 2) : 0;
    if (out->month < 1 || out->month > 12 || out->day < 1 ||
        out->day > days_in_month(out->year, out->month) || out->hour > 23 || out->minute > 59 ||
        out->second > 60)
        return CDX_EINVAL;
    const char *p = s + n;
    if (*p == '.') {
        /* Fractions of a second follow a full time only. */
        if (n != 14)
            return CDX_EINVAL;
        out->frac = ++p;
        while (p[out->nfrac] >= '0' && p[out->nfrac] <= '9')
            out->nfrac++;
        if (out->nfrac == 0)
            return CDX_EINVAL;
        p += out->nfrac;
    }
    if (*p == '+' || *p == '-') {
        size_t z = cdx_ts_zone_len(p);
        if (z == 0)
            return CDX_EINVAL;
        out->zone = p;
        out->zone_len = (int)z;
        out->zone_hour = digits(p + 1, 2);
        out->zone_minute = z == 5 ? digits(p + 3, 2) : 0;
        p += z;
    }
    return *p == '\0' ? 0 : CDX_EINVAL;
}
