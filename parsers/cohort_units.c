/* cohort_units: the tables cohort criteria are written in (see
 * include/cdx/parsers/cohort.h): code systems, UCUM units, conversions. */
#include "cdx/parsers/cohort.h"
#include "cdx/base/common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define OID_ICD10   "2.16.840.1.113883.6.3"
#define OID_ICD10CM "2.16.840.1.113883.6.90"
#define OID_KCD     "1.2.410.100110.40.2.3.2"
#define OID_SNOMED  "2.16.840.1.113883.6.96"
#define OID_LOINC   "2.16.840.1.113883.6.1"
#define OID_RXNORM  "2.16.840.1.113883.6.88"
#define OID_ATC     "2.16.840.1.113883.6.73"
#define OID_EDI     "1.2.410.100110.40.2.3.3"
#define OID_KD      "1.2.410.100110.40.2.3.4"
#define OID_CVX     "2.16.840.1.113883.12.292"

/* Code system names, and the OIDs each stands for. */
static const struct system {
    const char *names[4];
    const char *oids[CDX_COHORT_MAX_SYSTEMS];
} systems_table[] = {
    {{"ICD-10", "ICD10", NULL, NULL}, {OID_ICD10, OID_ICD10CM, OID_KCD, NULL}},
    {{"ICD-10-CM", "ICD10CM", NULL, NULL}, {OID_ICD10CM, OID_ICD10, OID_KCD, NULL}},
    {{"KCD", "KCD-8", "KCD8", NULL}, {OID_KCD, OID_ICD10, OID_ICD10CM, NULL}},
    {{"SNOMED CT", "SNOMED-CT", "SNOMED", "SNOMEDCT"}, {OID_SNOMED, NULL, NULL, NULL}},
    {{"LOINC", NULL, NULL, NULL}, {OID_LOINC, NULL, NULL, NULL}},
    {{"RxNorm", NULL, NULL, NULL}, {OID_RXNORM, NULL, NULL, NULL}},
    {{"ATC", NULL, NULL, NULL}, {OID_ATC, NULL, NULL, NULL}},
    {{"EDI", NULL, NULL, NULL}, {OID_EDI, NULL, NULL, NULL}},
    {{"KD", NULL, NULL, NULL}, {OID_KD, NULL, NULL, NULL}},
    {{"CVX", NULL, NULL, NULL}, {OID_CVX, NULL, NULL, NULL}},
};

static size_t copy_oids(const struct system *s, const char *out[CDX_COHORT_MAX_SYSTEMS])
{
    size_t n = 0;
    while (n < CDX_COHORT_MAX_SYSTEMS && s->oids[n] != NULL) {
        out[n] = s->oids[n];
        n++;
    }
    return n;
}

size_t cdx_cohort_system(const char *name, const char *systems[CDX_COHORT_MAX_SYSTEMS])
{
    if (name == NULL)
        return 0;
    if (strncmp(name, "urn:oid:", 8) == 0)
        name += 8;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(systems_table); i++) {
        const struct system *s = &systems_table[i];
        for (size_t k = 0; k < 4 && s->names[k] != NULL; k++)
            if (strcasecmp(s->names[k], name) == 0)
                return copy_oids(s, systems);
        if (strcmp(s->oids[0], name) == 0)
            return copy_oids(s, systems);
    }
    return 0;
}

/* UCUM units criteria may name, with the local spellings forgiven. */
static const struct unit {
    const char *ucum;
    const char *alias[3];
} units[] = {
    {"mg/dL", {"mg/dl", NULL, NULL}},
    {"mg/L", {"mg/l", NULL, NULL}},
    {"g/dL", {"g/dl", NULL, NULL}},
    {"g/L", {"g/l", NULL, NULL}},
    {"mmol/L", {"mmol/l", "mM", NULL}},
    {"umol/L", {"umol/l", "µmol/L", "micromol/L"}},
    {"mmol/mol", {NULL, NULL, NULL}},
    {"%", {"percent", NULL, NULL}},
    {"[IU]/L", {"IU/L", "iu/l", "U/L"}},
    {"10*3/uL", {"x10^3/uL", "10^3/uL", "K/uL"}},
    {"m[IU]/L", {"uIU/mL", "uiu/ml", "mIU/L"}},
    {"mm[Hg]", {"mmHg", "mmhg", NULL}},
    {"kg", {NULL, NULL, NULL}},
    {"g", {NULL, NULL, NULL}},
    {"[lb_av]", {"lb", "lbs", NULL}},
    {"cm", {NULL, NULL, NULL}},
    {"m", {NULL, NULL, NULL}},
    {"[in_i]", {"in", NULL, NULL}},
    {"kg/m2", {"kg/m^2", NULL, NULL}},
    {"Cel", {"C", "degC", NULL}},
    {"[degF]", {"F", "degF", NULL}},
    {"/min", {"bpm", "{beats}/min", NULL}},
    {"mL/min/{1.73_m2}", {"mL/min/1.73m2", NULL, NULL}},
};

const char *cdx_cohort_unit(const char *unit)
{
    if (unit == NULL)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(units); i++) {
        if (strcmp(units[i].ucum, unit) == 0)
            return units[i].ucum;
        for (size_t k = 0; k < 3 && units[i].alias[k] != NULL; k++)
            if (strcasecmp(units[i].alias[k], unit) == 0)
                return units[i].ucum;
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(units); i++)
        if (strcasecmp(units[i].ucum, unit) == 0)
            return units[i].ucum;
    return NULL;
}

/* Conversions: to = from * factor + offset.  An analyte conversion names
 * the LOINC codes it holds for (NULL-terminated); a dimensional one
 * (NULL analytes) holds for any analyte. */
#define GLUCOSE                                                                                    \
    {                                                                                              \
        "2345-7", "2339-0", "1558-6", "41653-7", NULL                                              \
    }
#define CHOLESTEROL                                                                                \
    {                                                                                              \
        "2093-3", "2085-9", "13457-7", "2089-1", NULL                                              \
    }
#define TRIGLYC                                                                                    \
    {                                                                                              \
        "2571-8", NULL, NULL, NULL, NULL                                                           \
    }
#define CREATININE                                                                                 \
    {                                                                                              \
        "2160-0", "38483-4", NULL, NULL, NULL                                                      \
    }
#define HBA1C                                                                                      \
    {                                                                                              \
        "4548-4", "17856-6", NULL, NULL, NULL                                                      \
    }
#define ANY                                                                                        \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL                                                               \
    }

static const struct conversion {
    const char *analytes[5];
    const char *from, *to;
    double factor, offset;
} conversions[] = {
    {GLUCOSE, "mg/dL", "mmol/L", 1.0 / 18.016, 0},
    {CHOLESTEROL, "mg/dL", "mmol/L", 1.0 / 38.67, 0},
    {TRIGLYC, "mg/dL", "mmol/L", 1.0 / 88.57, 0},
    {CREATININE, "mg/dL", "umol/L", 88.42, 0},
    /* IFCC mmol/mol from NGSP % (the master equation). */
    {HBA1C, "%", "mmol/mol", 10.929, -10.929 * 2.15},
    {ANY, "g/dL", "g/L", 10.0, 0},
    {ANY, "mg/dL", "mg/L", 10.0, 0},
    {ANY, "mg/dL", "g/L", 0.01, 0},
    {ANY, "mmol/L", "umol/L", 1000.0, 0},
    {ANY, "kg", "g", 1000.0, 0},
    {ANY, "[lb_av]", "kg", 0.45359237, 0},
    {ANY, "m", "cm", 100.0, 0},
    {ANY, "[in_i]", "cm", 2.54, 0},
    {ANY, "[degF]", "Cel", 5.0 / 9.0, -160.0 / 9.0},
};

static int holds_for(const struct conversion *c, const char *loinc)
{
    if (c->analytes[0] == NULL)
        return 1;
    for (size_t i = 0; loinc != NULL && i < 5 && c->analytes[i] != NULL; i++)
        if (strcmp(c->analytes[i], loinc) == 0)
            return 1;
    return 0;
}

int cdx_cohort_convert(const char *loinc, const char *from, const char *to, double value,
                       double *out)
{
    const char *f = cdx_cohort_unit(from), *t = cdx_cohort_unit(to);
    if (f == NULL || t == NULL)
        return CDX_ENOTFOUND;
    if (f == t) {
        *out = value;
        return 0;
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(conversions); i++) {
        const struct conversion *c = &conversions[i];
        if (!holds_for(c, loinc))
            continue;
        if (strcmp(c->from, f) == 0 && strcmp(c->to, t) == 0) {
            *out = value * c->factor + c->offset;
            return 0;
        }
        if (strcmp(c->from, t) == 0 && strcmp(c->to, f) == 0) {
            *out = (value - c->offset) / c->factor;
            return 0;
        }
    }
    return CDX_ENOTFOUND;
}

static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil. */
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int cdx_cohort_day(const char *text, int32_t *out)
{
    char ymd[9];
    if (text == NULL)
        return CDX_EINVAL;
    size_t len = strlen(text);
    if (len == 10 && text[4] == '-' && text[7] == '-' && digits(text, 4) && digits(text + 5, 2) &&
        digits(text + 8, 2)) {
        memcpy(ymd, text, 4);
        memcpy(ymd + 4, text + 5, 2);
        memcpy(ymd + 6, text + 8, 2);
    } else if (len >= 8 && digits(text, 8) &&
               (len == 8 || (text[8] >= '0' && text[8] <= '9') || text[8] == '+' ||
                text[8] == '-')) {
        memcpy(ymd, text, 8);
    } else {
        return CDX_EINVAL;
    }
    ymd[8] = '\0';
    int y = (ymd[0] - '0') * 1000 + (ymd[1] - '0') * 100 + (ymd[2] - '0') * 10 + (ymd[3] - '0');
    unsigned m = (unsigned)((ymd[4] - '0') * 10 + (ymd[5] - '0'));
    unsigned d = (unsigned)((ymd[6] - '0') * 10 + (ymd[7] - '0'));
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1800 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return CDX_EINVAL;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return CDX_EINVAL;
    *out = days_from_civil(y, m, d);
    return 0;
}

static double dmax(double a, double b)
{
    return a > b ? a : b;
}

int cdx_cohort_compare(cdx_cohort_op_t op, double a, double b)
{
    /* Equality allows for the rounding of a conversion. */
    double tol = 1e-9 * dmax(1.0, dmax(fabs(a), fabs(b)));
    switch (op) {
    case CDX_COHORT_LT:
        return a < b - tol;
    case CDX_COHORT_LE:
        return a <= b + tol;
    case CDX_COHORT_EQ:
        return fabs(a - b) <= tol;
    case CDX_COHORT_GE:
        return a >= b - tol;
    case CDX_COHORT_GT:
        return a > b + tol;
    }
    return 0;
}
