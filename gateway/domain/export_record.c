/* export_record: what of a fact and a person leaves in an export, and the
 * NDJSON and CSV writers (see include/cdx/domain/export.h). */
#include "cdx/domain/export.h"
#include "cdx/base/common.h"
#include "cdx/parsers/time_key.h"

#include <string.h>

int cdx_export_format_parse(const char *name, cdx_export_format_t *out)
{
    static const char *const names[] = {"ndjson", "csv", "omop"};
    for (size_t i = 0; name != NULL && i < CDX_ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (cdx_export_format_t)i;
            return 0;
        }
    return CDX_EINVAL;
}

const char *cdx_export_format_name(cdx_export_format_t f)
{
    return f == CDX_EXPORT_CSV ? "csv" : f == CDX_EXPORT_OMOP ? "omop" : "ndjson";
}

const char *cdx_export_media_type(cdx_export_format_t f)
{
    return f == CDX_EXPORT_CSV    ? "text/csv; charset=utf-8"
           : f == CDX_EXPORT_OMOP ? "application/x-tar"
                                  : "application/x-ndjson";
}

/* The code systems whose codes may leave: international terminologies and
 * the national ones of the mappings.  Any other OID is an institution's
 * own numbering or an unknown system, and its facts stay. */
static const struct {
    const char *oid, *name;
} systems[] = {
    {"2.16.840.1.113883.6.3", "ICD-10"},
    {"2.16.840.1.113883.6.90", "ICD-10-CM"},
    {"2.16.840.1.113883.6.4", "ICD-10-PCS"},
    {"2.16.840.1.113883.6.103", "ICD-9-CM"},
    {"2.16.840.1.113883.6.104", "ICD-9-CM-PROC"},
    {"1.2.410.100110.40.2.3.2", "KCD"},
    {"2.16.840.1.113883.6.96", "SNOMED CT"},
    {"2.16.840.1.113883.6.1", "LOINC"},
    {"2.16.840.1.113883.6.88", "RxNorm"},
    {"2.16.840.1.113883.6.73", "ATC"},
    {"2.16.840.1.113883.6.69", "NDC"},
    {"2.16.840.1.113883.6.12", "CPT"},
    {"2.16.840.1.113883.6.285", "HCPCS"},
    {"2.16.840.1.113883.4.9", "UNII"},
    {"1.2.410.100110.40.2.3.3", "EDI"},
    {"1.2.410.100110.40.2.3.4", "KD"},
    {"2.16.840.1.113883.12.292", "CVX"},
    {"2.16.840.1.113883.5.4", "ActCode"},
};

const char *cdx_export_system_name(const char *oid)
{
    if (oid == NULL)
        return NULL;
    if (strncmp(oid, "urn:oid:", 8) == 0)
        oid += 8;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(systems); i++)
        if (strcmp(oid, systems[i].oid) == 0)
            return systems[i].name;
    return NULL;
}

static const struct {
    const char *stored, *name;
} kinds[CDX_XK_COUNT] = {
    [CDX_XK_CONDITION] = {"problems", "condition"},
    [CDX_XK_PROCEDURE] = {"procedures", "procedure"},
    [CDX_XK_MEDICATION] = {"medications", "medication"},
    [CDX_XK_IMMUNIZATION] = {"immunizations", "immunization"},
    [CDX_XK_RESULT] = {"results", "result"},
    [CDX_XK_VITAL] = {"vital_signs", "vital"},
    [CDX_XK_ENCOUNTER] = {"encounters", "encounter"},
    [CDX_XK_ALLERGY] = {"allergies", "allergy"},
};

/* Copies s into out (n bytes) when it is 1 to n-1 characters of the
 * plain set: letters, digits and . - _ : / % [ ] { } * ^ + — nothing a
 * CSV or JSON string would have to escape, no space, so no narrative. */
static int plain_copy(const char *s, char *out, size_t n)
{
    size_t len = s != NULL ? strlen(s) : 0;
    out[0] = '\0';
    if (len == 0 || len >= n)
        return CDX_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr(".-_:/%[]{}*^+", c) != NULL;
        if (!ok || c == '\0')
            return CDX_EINVAL;
    }
    memcpy(out, s, len + 1);
    return 0;
}

int cdx_export_fact(const cdx_export_fact_in_t *in, const cdx_export_person_t *p,
                    cdx_export_mode_t mode, cdx_export_fact_t *out)
{
    memset(out, 0, sizeof *out);
    int k = -1;
    for (int i = 0; in->kind != NULL && i < CDX_XK_COUNT; i++)
        if (strcmp(in->kind, kinds[i].stored) == 0)
            k = i;
    if (k < 0)
        return CDX_EINVAL;
    out->kind = (cdx_export_kind_t)k;
    out->kind_name = kinds[k].name;
    out->system = cdx_export_system_name(in->system);
    if (out->system == NULL || plain_copy(in->code, out->code, sizeof out->code) != 0)
        return CDX_EINVAL;
    int year_only = mode == CDX_EXPORT_SAFE_HARBOR;
    if (in->date != NULL)
        (void)cdx_deid_date(in->date, p->offset_days, year_only, out->date, sizeof out->date);
    if (in->end != NULL)
        (void)cdx_deid_date(in->end, p->offset_days, year_only, out->end, sizeof out->end);
    if (in->has_value && in->value == in->value && in->value < 1e300 && in->value > -1e300) {
        out->has_value = 1;
        out->value = in->value;
    }
    if (in->unit != NULL && plain_copy(in->unit, out->unit, sizeof out->unit) != 0)
        out->unit[0] = '\0'; /* a unit out of the plain set is dropped, the value kept */
    return 0;
}

void cdx_export_person(const unsigned char key[32], int64_t person_id, int32_t birth_ymd, char sex,
                       int32_t today, cdx_export_mode_t mode, cdx_export_person_t *out)
{
    memset(out, 0, sizeof *out);
    cdx_deid_pseudonym(key, person_id, out->pseudonym);
    out->offset_days = mode == CDX_EXPORT_SAFE_HARBOR ? 0 : cdx_deid_date_offset(key, person_id);
    out->sex = sex == 'M' || sex == 'F' ? sex : 0;
    if (birth_ymd > 0) {
        char birth[16], at[16];
        long y, m, d;
        cdx_civil_from_days(today, &y, &m, &d);
        snprintf(birth, sizeof birth, "%08ld", (long)birth_ymd);
        snprintf(at, sizeof at, "%04ld%02ld%02ld", y, m, d);
        int age = 0, pooled = 0;
        if (cdx_deid_birth(birth, at, out->birth_year, &age, &pooled) == 0)
            out->age_pooled = pooled;
        else
            out->birth_year[0] = '\0';
    }
}

/* ---- NDJSON -------------------------------------------------------------- */

static int ok(int w)
{
    return w < 0 ? CDX_EIO : 0;
}

/* A number as JSON and CSV write it: integers without a point, others
 * with up to 15 significant digits. */
static void number(double v, char *out, size_t n)
{
    snprintf(out, n, "%.15g", v);
}

int cdx_export_ndjson_begin(FILE *out, const cdx_export_person_t *p)
{
    char sex[8] = "null", birth[8] = "null";
    if (p->sex)
        snprintf(sex, sizeof sex, "\"%c\"", p->sex);
    if (p->birth_year[0])
        snprintf(birth, sizeof birth, "%s", p->birth_year);
    return ok(fprintf(out,
                      "{\"pseudonym\":\"%s\",\"sex\":%s,\"birth_year\":%s,"
                      "\"age_90_or_over\":%s,\"facts\":[",
                      p->pseudonym, sex, birth, p->age_pooled ? "true" : "false"));
}

/* A JSON value of plain text: "text", or null when empty. */
static void jstr(const char *s, char *out, size_t n)
{
    if (s == NULL || s[0] == '\0')
        snprintf(out, n, "null");
    else
        snprintf(out, n, "\"%s\"", s);
}

int cdx_export_ndjson_fact(FILE *out, const cdx_export_fact_t *f, int first)
{
    char date[16], end[16], value[32], unit[40];
    jstr(f->date, date, sizeof date);
    jstr(f->end, end, sizeof end);
    jstr(f->unit, unit, sizeof unit);
    if (f->has_value)
        number(f->value, value, sizeof value);
    else
        snprintf(value, sizeof value, "null");
    return ok(fprintf(out,
                      "%s{\"kind\":\"%s\",\"system\":\"%s\",\"code\":\"%s\",\"date\":%s,"
                      "\"end\":%s,\"value\":%s,\"unit\":%s}",
                      first ? "" : ",", f->kind_name, f->system, f->code, date, end, value, unit));
}

int cdx_export_ndjson_end(FILE *out)
{
    return ok(fputs("]}\n", out));
}

/* ---- CSV ----------------------------------------------------------------- */

int cdx_export_csv_header(FILE *out)
{
    return ok(fputs("pseudonym,kind,system,code,value,unit,date\r\n", out));
}

int cdx_export_csv_fact(FILE *out, const cdx_export_person_t *p, const cdx_export_fact_t *f)
{
    char value[32] = "";
    if (f->has_value)
        number(f->value, value, sizeof value);
    /* Every field is of the plain set but the system name, which may hold
     * a space ("SNOMED CT"): no field needs quoting. */
    return ok(fprintf(out, "%s,%s,%s,%s,%s,%s,%s\r\n", p->pseudonym, f->kind_name, f->system,
                      f->code, value, f->unit, f->date));
}
