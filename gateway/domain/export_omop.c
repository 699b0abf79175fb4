/* export_omop: the OMOP CDM v5.4 tables of an export and the ustar archive
 * that carries them (see include/cdx/domain/export.h).
 *
 * Each table is a CSV file with every column of the CDM's table, in the
 * CDM's order, so that the CDM's own load scripts read it.  No vocabulary
 * is loaded: every *_concept_id is 0, and each *_source_value keeps the
 * code as "SYSTEM:code" (the system's name of export_record.c).  Dates are
 * full dates as the CDM needs them: a shifted date at its precision is
 * filled to the first of its month or year. */
#include "cdx/domain/export.h"
#include "cdx/base/common.h"

#include <string.h>

/* The tables' header rows: every column of the CDM v5.4 table, in order. */
static const char H_PERSON[] =
    "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,"
    "birth_datetime,race_concept_id,ethnicity_concept_id,location_id,"
    "provider_id,care_site_id,person_source_value,gender_source_value,"
    "gender_source_concept_id,race_source_value,race_source_concept_id,"
    "ethnicity_source_value,ethnicity_source_concept_id";
static const char H_VISIT[] =
    "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,"
    "visit_start_datetime,visit_end_date,visit_end_datetime,"
    "visit_type_concept_id,provider_id,care_site_id,visit_source_value,"
    "visit_source_concept_id,admitted_from_concept_id,"
    "admitted_from_source_value,discharged_to_concept_id,"
    "discharged_to_source_value,preceding_visit_occurrence_id";
static const char H_CONDITION[] =
    "condition_occurrence_id,person_id,condition_concept_id,"
    "condition_start_date,condition_start_datetime,condition_end_date,"
    "condition_end_datetime,condition_type_concept_id,"
    "condition_status_concept_id,stop_reason,provider_id,"
    "visit_occurrence_id,visit_detail_id,condition_source_value,"
    "condition_source_concept_id,condition_status_source_value";
static const char H_DRUG[] =
    "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
    "drug_exposure_start_datetime,drug_exposure_end_date,"
    "drug_exposure_end_datetime,verbatim_end_date,drug_type_concept_id,"
    "stop_reason,refills,quantity,days_supply,sig,route_concept_id,lot_number,"
    "provider_id,visit_occurrence_id,visit_detail_id,drug_source_value,"
    "drug_source_concept_id,route_source_value,dose_unit_source_value";
static const char H_MEASUREMENT[] =
    "measurement_id,person_id,measurement_concept_id,measurement_date,"
    "measurement_datetime,measurement_time,measurement_type_concept_id,"
    "operator_concept_id,value_as_number,value_as_concept_id,"
    "unit_concept_id,range_low,range_high,provider_id,"
    "visit_occurrence_id,visit_detail_id,measurement_source_value,"
    "measurement_source_concept_id,unit_source_value,"
    "unit_source_concept_id,value_source_value,measurement_event_id,"
    "meas_event_field_concept_id";
static const char H_PROCEDURE[] =
    "procedure_occurrence_id,person_id,procedure_concept_id,"
    "procedure_date,procedure_datetime,procedure_end_date,"
    "procedure_end_datetime,procedure_type_concept_id,"
    "modifier_concept_id,quantity,provider_id,visit_occurrence_id,"
    "visit_detail_id,procedure_source_value,procedure_source_concept_id,"
    "modifier_source_value";
static const char H_OBSERVATION[] =
    "observation_id,person_id,observation_concept_id,observation_date,"
    "observation_datetime,observation_type_concept_id,value_as_number,"
    "value_as_string,value_as_concept_id,qualifier_concept_id,"
    "unit_concept_id,provider_id,visit_occurrence_id,visit_detail_id,"
    "observation_source_value,observation_source_concept_id,"
    "unit_source_value,qualifier_source_value,value_source_value,"
    "observation_event_id,obs_event_field_concept_id";

static const struct {
    const char *file;
    const char *header;
} tables[CDX_OMOP_TABLES] = {
    [CDX_OMOP_PERSON] = {"person.csv", H_PERSON},
    [CDX_OMOP_VISIT] = {"visit_occurrence.csv", H_VISIT},
    [CDX_OMOP_CONDITION] = {"condition_occurrence.csv", H_CONDITION},
    [CDX_OMOP_DRUG] = {"drug_exposure.csv", H_DRUG},
    [CDX_OMOP_MEASUREMENT] = {"measurement.csv", H_MEASUREMENT},
    [CDX_OMOP_PROCEDURE] = {"procedure_occurrence.csv", H_PROCEDURE},
    [CDX_OMOP_OBSERVATION] = {"observation.csv", H_OBSERVATION},
};

const char *cdx_omop_file_name(cdx_omop_table_t t)
{
    return t < CDX_OMOP_TABLES ? tables[t].file : "unknown.csv";
}

static int ok(int w)
{
    return w < 0 ? CDX_EIO : 0;
}

int cdx_omop_header(FILE *out, cdx_omop_table_t t)
{
    if (t >= CDX_OMOP_TABLES)
        return CDX_EINVAL;
    return ok(fprintf(out, "%s\r\n", tables[t].header));
}

int64_t cdx_omop_person_id(const char *pseudonym)
{
    int64_t v = 0;
    for (int i = 0; i < 13 && pseudonym[i] != '\0'; i++)
        v = v * 16 + cdx_hex_digit((unsigned char)pseudonym[i]);
    return v;
}

cdx_omop_table_t cdx_omop_table_of(cdx_export_kind_t k)
{
    switch (k) {
    case CDX_XK_CONDITION:
        return CDX_OMOP_CONDITION;
    case CDX_XK_PROCEDURE:
        return CDX_OMOP_PROCEDURE;
    case CDX_XK_MEDICATION:
    case CDX_XK_IMMUNIZATION:
        return CDX_OMOP_DRUG;
    case CDX_XK_RESULT:
    case CDX_XK_VITAL:
        return CDX_OMOP_MEASUREMENT;
    case CDX_XK_ENCOUNTER:
        return CDX_OMOP_VISIT;
    default:
        return CDX_OMOP_OBSERVATION;
    }
}

int cdx_omop_person_row(FILE *out, const cdx_export_person_t *p)
{
    char sex[2] = {p->sex, '\0'};
    /* year_of_birth is left empty for a pooled age (90 or over), as the
     * year would give the age away. */
    return ok(fprintf(out, "%lld,0,%s,,,,0,0,,,,%s,%s,0,,0,,0\r\n",
                      (long long)cdx_omop_person_id(p->pseudonym), p->birth_year, p->pseudonym,
                      sex));
}

/* A CDM date from an export date: "2024-03-09", "2024-03" → "2024-03-01",
 * "2024" → "2024-01-01", "" → "". */
static void full_date(const char *d, char out[11])
{
    size_t n = strlen(d);
    if (n == 4)
        snprintf(out, 11, "%s-01-01", d);
    else if (n == 7)
        snprintf(out, 11, "%s-01", d);
    else
        snprintf(out, 11, "%s", d);
}

/* Long: one row per table, each a line of the CDM's columns in order. */
int cdx_omop_fact_row(FILE *out, int64_t row_id, const cdx_export_person_t *p,
                      const cdx_export_fact_t *f)
{
    long long id = (long long)row_id, pid = (long long)cdx_omop_person_id(p->pseudonym);
    char start[11], end[11], value[32] = "", source[96];
    full_date(f->date, start);
    full_date(f->end, end);
    if (f->has_value)
        snprintf(value, sizeof value, "%.15g", f->value);
    snprintf(source, sizeof source, "%s:%s", f->system, f->code);
    switch (cdx_omop_table_of(f->kind)) {
    case CDX_OMOP_CONDITION:
        return ok(fprintf(out, "%lld,%lld,0,%s,,%s,,0,0,,,,,%s,0,\r\n", id, pid, start, end,
                          source));
    case CDX_OMOP_PROCEDURE:
        return ok(fprintf(out, "%lld,%lld,0,%s,,%s,,0,0,,,,,%s,0,\r\n", id, pid, start, end,
                          source));
    case CDX_OMOP_DRUG:
        return ok(fprintf(out, "%lld,%lld,0,%s,,%s,,,0,,,,,,0,,,,,%s,0,,%s\r\n", id, pid, start,
                          end[0] ? end : start, source, f->unit));
    case CDX_OMOP_MEASUREMENT:
        return ok(fprintf(out, "%lld,%lld,0,%s,,,0,0,%s,0,0,,,,,,%s,0,%s,0,%s,,\r\n", id, pid,
                          start, value, source, f->unit, value));
    case CDX_OMOP_VISIT:
        return ok(fprintf(out, "%lld,%lld,0,%s,,%s,,0,,,%s,0,0,,0,,\r\n", id, pid, start,
                          end[0] ? end : start, source));
    default:
        return ok(fprintf(out, "%lld,%lld,0,%s,,0,%s,,0,0,0,,,,%s,0,%s,,,,\r\n", id, pid, start,
                          value, source, f->unit));
    }
}

/* ---- ustar ---------------------------------------------------------------- */

/* An octal field of width w: w-1 digits and a NUL. */
static int octal(unsigned char *field, size_t w, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%0*llo", (int)(w - 1), (unsigned long long)v);
    if (n < 0 || (size_t)n != w - 1)
        return CDX_EINVAL;
    memcpy(field, tmp, w);
    return 0;
}

int cdx_tar_header(unsigned char block[CDX_TAR_BLOCK], const char *name, uint64_t size,
                   int64_t mtime)
{
    size_t len = name != NULL ? strlen(name) : 0;
    memset(block, 0, CDX_TAR_BLOCK);
    if (len == 0 || len > 99 || mtime < 0)
        return CDX_EINVAL;
    memcpy(block, name, len);                           /* name[100] */
    if (octal(block + 100, 8, 0644) != 0 ||             /* mode */
        octal(block + 108, 8, 0) != 0 ||                /* uid */
        octal(block + 116, 8, 0) != 0 ||                /* gid */
        octal(block + 124, 12, size) != 0 ||            /* size: below 8 GiB */
        octal(block + 136, 12, (uint64_t)mtime) != 0)   /* mtime */
        return CDX_EINVAL;
    block[156] = '0';                                   /* typeflag: a regular file */
    memcpy(block + 257, "ustar", 6);                    /* magic, NUL-terminated */
    memcpy(block + 263, "00", 2);                       /* version */
    memcpy(block + 265, "cdxgw", 5);                    /* uname */
    memcpy(block + 297, "cdxgw", 5);                    /* gname */
    /* The checksum: the sum of the header's bytes with its own field as
     * eight spaces, written as six octal digits, a NUL and a space. */
    memset(block + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < CDX_TAR_BLOCK; i++)
        sum += block[i];
    char ck[8];
    snprintf(ck, sizeof ck, "%06o", sum);
    memcpy(block + 148, ck, 6);
    block[154] = '\0';
    block[155] = ' ';
    return 0;
}

int cdx_tar_append(FILE *out, const char *name, FILE *in, int64_t mtime)
{
    if (fflush(in) != 0 || fseek(in, 0, SEEK_END) != 0)
        return CDX_EIO;
    long size = ftell(in);
    unsigned char block[CDX_TAR_BLOCK];
    if (size < 0 || fseek(in, 0, SEEK_SET) != 0)
        return CDX_EIO;
    if (cdx_tar_header(block, name, (uint64_t)size, mtime) != 0)
        return CDX_EINVAL;
    if (fwrite(block, 1, sizeof block, out) != sizeof block)
        return CDX_EIO;
    char buf[65536];
    uint64_t left = (uint64_t)size;
    while (left > 0) {
        size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        if (got != want || fwrite(buf, 1, got, out) != got)
            return CDX_EIO;
        left -= got;
    }
    size_t pad = (size_t)((CDX_TAR_BLOCK - (uint64_t)size % CDX_TAR_BLOCK) % CDX_TAR_BLOCK);
    memset(block, 0, sizeof block);
    if (pad > 0 && fwrite(block, 1, pad, out) != pad)
        return CDX_EIO;
    return 0;
}

int cdx_tar_finish(FILE *out)
{
    unsigned char zero[2 * CDX_TAR_BLOCK];
    memset(zero, 0, sizeof zero);
    return fwrite(zero, 1, sizeof zero, out) == sizeof zero ? 0 : CDX_EIO;
}
