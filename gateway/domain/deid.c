/* deid: pseudonyms, date shifts and birth years for research exports (see
 * include/cdx/domain/deid.h). */
#include "cdx/domain/deid.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/time_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

/* HMAC-SHA256 under key of "tag|person".  A failure gives all zeros, which
 * names nobody in particular and is never a person's real value by chance. */
static void keyed(const unsigned char key[32], const char *tag, int64_t person,
                  unsigned char md[32])
{
    char msg[64];
    int len = snprintf(msg, sizeof msg, "%s|%lld", tag, (long long)person);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mc = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    unsigned char buf[EVP_MAX_MD_SIZE];
    int ok = mc != NULL && len > 0 && EVP_MAC_init(mc, key, 32, params) == 1 &&
             EVP_MAC_update(mc, (const unsigned char *)msg, (size_t)len) == 1 &&
             EVP_MAC_final(mc, buf, &outl, sizeof buf) == 1 && outl == 32;
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    if (ok)
        memcpy(md, buf, 32);
    else
        memset(md, 0, 32);
    OPENSSL_cleanse(buf, sizeof buf);
}

void cdx_deid_pseudonym(const unsigned char key[32], int64_t person,
                        char out[CDX_DEID_PSEUDONYM_SIZE])
{
    unsigned char md[32];
    keyed(key, "cdx.pseudonym.v1", person, md);
    cdx_hex(md, 32, out);
}

int cdx_deid_date_offset(const unsigned char key[32], int64_t person)
{
    unsigned char md[32];
    keyed(key, "cdx.dateshift.v1", person, md);
    uint32_t v = ((uint32_t)md[0] << 24) | ((uint32_t)md[1] << 16) | ((uint32_t)md[2] << 8) | md[3];
    /* 2 * MAX values, none of them 0: -MAX..-1 and 1..MAX. */
    int k = (int)(v % (2u * CDX_DEID_MAX_SHIFT_DAYS));
    return k < CDX_DEID_MAX_SHIFT_DAYS ? k - CDX_DEID_MAX_SHIFT_DAYS
                                       : k - CDX_DEID_MAX_SHIFT_DAYS + 1;
}

/* The date part of a time as written (the local date: a time of day with
 * an offset is not moved to another day): year, month, day and how many of
 * them it gives (1, 2 or 3).  The whole time must read as an HL7 TS or an
 * ISO 8601 date or date-time. */
static int read_date(const char *ts, long *y, long *m, long *d, int *parts)
{
    char key[CDX_TS_KEY_LEN], date[16];
    if (ts == NULL || cdx_ts_utc_key(ts, key) != 0)
        return CDX_EINVAL;
    size_t k = 0;
    for (const char *p = ts; *p != '\0' && k < 8; p++) {
        if (*p >= '0' && *p <= '9')
            date[k++] = *p;
        else if (*p != '-' || k == 0 || k % 2 != 0)
            break; /* ISO's hyphens sit after 4 and 6 digits; anything else ends the date */
    }
    date[k] = '\0';
    *parts = k >= 8 ? 3 : (k >= 6 ? 2 : 1);
    *m = *d = 1;
    int got = sscanf(date, "%4ld%2ld%2ld", y, m, d);
    return got == *parts ? 0 : CDX_EINVAL;
}

int cdx_deid_date(const char *ts, int offset_days, int year_only, char *out, size_t n)
{
    long y, m, d;
    int parts;
    if (n > 0)
        out[0] = '\0';
    if (read_date(ts, &y, &m, &d, &parts) != 0)
        return CDX_EINVAL;
    if (!year_only && parts > 1) {
        long days = cdx_days_from_civil(y, m, d) + offset_days;
        cdx_civil_from_days(days, &y, &m, &d);
    }
    if (y < 0 || y > 9999)
        return CDX_EINVAL;
    int w = year_only || parts == 1 ? snprintf(out, n, "%04ld", y)
                                    : (parts == 2 ? snprintf(out, n, "%04ld-%02ld", y, m)
                                                  : snprintf(out, n, "%04ld-%02ld-%02ld", y, m, d));
    if (w < 0 || (size_t)w >= n) {
        if (n > 0)
            out[0] = '\0';
        return CDX_ERANGE;
    }
    return 0;
}

int cdx_deid_birth(const char *birth, const char *at, char year[5], int *age, int *pooled)
{
    long by, bm, bd, ay, am, ad;
    int bparts, aparts;
    year[0] = '\0';
    *age = 0;
    *pooled = 0;
    if (read_date(birth, &by, &bm, &bd, &bparts) != 0 || read_date(at, &ay, &am, &ad, &aparts) != 0)
        return CDX_EINVAL;
    long a = ay - by - ((am < bm || (am == bm && ad < bd)) ? 1 : 0);
    if (a < 0)
        return CDX_EINVAL;
    *age = (int)a;
    if (a >= CDX_DEID_POOLED_AGE) {
        *pooled = 1;
        return 0;
    }
    snprintf(year, 5, "%04ld", by);
    return 0;
}
