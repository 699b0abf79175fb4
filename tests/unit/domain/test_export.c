/* The export's record writers: which facts leave and in what form, the
 * NDJSON and CSV lines, the OMOP tables' rows (as many columns as their
 * header), and the ustar archive (read back by tar). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/domain/export.h"
#include "cdx/domain/export_run.h"

static const unsigned char KEY[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6,
                                      7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2};

/* The whole of a stream written so far, as text (malloc'd). */
static char *contents(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void person(cdx_export_person_t *p, cdx_export_mode_t mode)
{
    /* Born 1961-05-04, exported on 2026-01-01 (day 20454). */
    cdx_export_person(KEY, 42, 19610504, 'F', 20454, mode, p);
}

static void test_person(void **state)
{
    (void)state;
    cdx_export_person_t p, q, old;
    person(&p, CDX_EXPORT_SHIFT);
    person(&q, CDX_EXPORT_SAFE_HARBOR);
    assert_string_equal(p.pseudonym, q.pseudonym);
    assert_int_equal(strlen(p.pseudonym), 64);
    assert_string_equal(p.birth_year, "1961");
    assert_int_equal(p.age_pooled, 0);
    assert_int_not_equal(p.offset_days, 0);
    assert_int_equal(q.offset_days, 0);
    assert_int_equal(p.sex, 'F');
    /* 90 and over: no year, pooled. */
    cdx_export_person(KEY, 43, 19350101, 'X', 20454, CDX_EXPORT_SHIFT, &old);
    assert_string_equal(old.birth_year, "");
    assert_int_equal(old.age_pooled, 1);
    assert_int_equal(old.sex, 0);
}

/* Local codes, narrative-looking codes and unknown kinds stay; a fact's
 * dates move with the person's offset or become years. */
static void test_fact_filter(void **state)
{
    (void)state;
    cdx_export_person_t p;
    person(&p, CDX_EXPORT_SHIFT);
    cdx_export_fact_t f;
    cdx_export_fact_in_t in = {.kind = "problems",
                               .system = "2.16.840.1.113883.6.3",
                               .code = "E11.9",
                               .date = "20200101",
                               .end = "20200301"};
    assert_int_equal(cdx_export_fact(&in, &p, CDX_EXPORT_SHIFT, &f), 0);
    assert_string_equal(f.kind_name, "condition");
    assert_string_equal(f.system, "ICD-10");
    assert_string_equal(f.code, "E11.9");
    assert_int_equal(strlen(f.date), 10);
    assert_string_not_equal(f.date, "2020-01-01");
    cdx_export_fact_t y;
    assert_int_equal(cdx_export_fact(&in, &p, CDX_EXPORT_SAFE_HARBOR, &y), 0);
    assert_string_equal(y.date, "2020");
    cdx_export_fact_in_t local = in;
    local.system = "2.25.83570720227913622468059417429842681918.6";
    assert_int_equal(cdx_export_fact(&local, &p, CDX_EXPORT_SHIFT, &f), CDX_EINVAL);
    cdx_export_fact_in_t text = in;
    text.code = "see note, Mr Kim";
    assert_int_equal(cdx_export_fact(&text, &p, CDX_EXPORT_SHIFT, &f), CDX_EINVAL);
    text.code = "E11\"9";
    assert_int_equal(cdx_export_fact(&text, &p, CDX_EXPORT_SHIFT, &f), CDX_EINVAL);
    cdx_export_fact_in_t kind = in;
    kind.kind = "narrative";
    assert_int_equal(cdx_export_fact(&kind, &p, CDX_EXPORT_SHIFT, &f), CDX_EINVAL);
    /* A unit out of the plain set is dropped, the value kept. */
    cdx_export_fact_in_t v = {.kind = "results", .system = "urn:oid:2.16.840.1.113883.6.1",
                              .code = "4548-4", .date = "2021", .has_value = 1, .value = 7.25,
                              .unit = "\xec\xa0\x95"};
    assert_int_equal(cdx_export_fact(&v, &p, CDX_EXPORT_SHIFT, &f), 0);
    assert_string_equal(f.date, "2021");
    assert_string_equal(f.unit, "");
    assert_int_equal(f.has_value, 1);
    assert_null(cdx_export_system_name("1.2.3.4"));
    assert_string_equal(cdx_export_system_name("2.16.840.1.113883.6.96"), "SNOMED CT");
}

static void test_ndjson_csv(void **state)
{
    (void)state;
    cdx_export_person_t p;
    person(&p, CDX_EXPORT_SAFE_HARBOR);
    cdx_export_fact_t f;
    cdx_export_fact_in_t in = {.kind = "vital_signs", .system = "2.16.840.1.113883.6.1",
                               .code = "8480-6", .date = "202002021629", .has_value = 1,
                               .value = 135, .unit = "mm[Hg]"};
    assert_int_equal(cdx_export_fact(&in, &p, CDX_EXPORT_SAFE_HARBOR, &f), 0);
    FILE *out = tmpfile();
    assert_int_equal(cdx_export_ndjson_begin(out, &p), 0);
    assert_int_equal(cdx_export_ndjson_fact(out, &f, 1), 0);
    assert_int_equal(cdx_export_ndjson_fact(out, &f, 0), 0);
    assert_int_equal(cdx_export_ndjson_end(out), 0);
    char *s = contents(out);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"pseudonym\":\"%s\",\"sex\":\"F\",\"birth_year\":1961,\"age_90_or_over\":false,"
             "\"facts\":[{\"kind\":\"vital\",\"system\":\"LOINC\",\"code\":\"8480-6\","
             "\"date\":\"2020\",\"end\":null,\"value\":135,\"unit\":\"mm[Hg]\"},"
             "{\"kind\":\"vital\",\"system\":\"LOINC\",\"code\":\"8480-6\",\"date\":\"2020\","
             "\"end\":null,\"value\":135,\"unit\":\"mm[Hg]\"}]}\n",
             p.pseudonym);
    assert_string_equal(s, want);
    free(s);
    fclose(out);
    out = tmpfile();
    assert_int_equal(cdx_export_csv_header(out), 0);
    assert_int_equal(cdx_export_csv_fact(out, &p, &f), 0);
    s = contents(out);
    snprintf(want, sizeof want,
             "pseudonym,kind,system,code,value,unit,date\r\n%s,vital,LOINC,8480-6,135,mm[Hg],2020\r\n",
             p.pseudonym);
    assert_string_equal(s, want);
    free(s);
    fclose(out);
}

static size_t commas(const char *s)
{
    size_t n = 0;
    for (; *s && *s != '\r'; s++)
        n += *s == ',';
    return n;
}

/* Every row has the columns of its table's header. */
static void test_omop_rows(void **state)
{
    (void)state;
    cdx_export_person_t p;
    person(&p, CDX_EXPORT_SHIFT);
    static const char *const kinds[] = {"problems", "procedures",  "medications", "immunizations",
                                        "results",  "vital_signs", "encounters",  "allergies"};
    for (size_t k = 0; k < CDX_ARRAY_SIZE(kinds); k++) {
        cdx_export_fact_in_t in = {.kind = kinds[k], .system = "2.16.840.1.113883.6.96",
                                   .code = "12345", .date = "20200102", .has_value = 1,
                                   .value = 1.5, .unit = "mg"};
        cdx_export_fact_t f;
        assert_int_equal(cdx_export_fact(&in, &p, CDX_EXPORT_SHIFT, &f), 0);
        cdx_omop_table_t t = cdx_omop_table_of(f.kind);
        FILE *h = tmpfile(), *r = tmpfile();
        assert_int_equal(cdx_omop_header(h, t), 0);
        assert_int_equal(cdx_omop_fact_row(r, 7, &p, &f), 0);
        char *hs = contents(h), *rs = contents(r);
        assert_int_equal(commas(hs), commas(rs));
        assert_non_null(strstr(rs, "SNOMED CT:12345"));
        assert_int_equal(strncmp(rs, "7,", 2), 0);
        free(hs);
        free(rs);
        fclose(h);
        fclose(r);
    }
    FILE *h = tmpfile(), *r = tmpfile();
    assert_int_equal(cdx_omop_header(h, CDX_OMOP_PERSON), 0);
    assert_int_equal(cdx_omop_person_row(r, &p), 0);
    char *hs = contents(h), *rs = contents(r);
    assert_int_equal(commas(hs), commas(rs));
    assert_non_null(strstr(rs, p.pseudonym));
    assert_non_null(strstr(rs, ",1961,"));
    free(hs);
    free(rs);
    fclose(h);
    fclose(r);
    assert_true(cdx_omop_person_id(p.pseudonym) > 0);
    assert_true(cdx_omop_person_id(p.pseudonym) < (INT64_C(1) << 52));
}

/* The header's fields and checksum, as POSIX ustar lays them out. */
static void test_tar_header(void **state)
{
    (void)state;
    unsigned char b[CDX_TAR_BLOCK];
    assert_int_equal(cdx_tar_header(b, "person.csv", 1234, 1700000000), 0);
    assert_string_equal((char *)b, "person.csv");
    assert_memory_equal(b + 124, "00000002322", 12); /* 1234 in octal, NUL */
    assert_memory_equal(b + 257, "ustar\0" "00", 8);
    assert_int_equal(b[156], '0');
    unsigned sum = 0;
    for (int i = 0; i < CDX_TAR_BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : b[i];
    assert_int_equal(strtoul((char *)b + 148, NULL, 8), sum);
    char longname[120];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(cdx_tar_header(b, longname, 1, 0), CDX_EINVAL);
    assert_int_equal(cdx_tar_header(b, "x", UINT64_C(1) << 34, 0), CDX_EINVAL);
}

/* An archive tar itself lists and extracts, byte for byte. */
static void test_tar_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/cdx-tar-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[768];
    snprintf(path, sizeof path, "%s/a.tar", dir);
    FILE *out = fopen(path, "wb");
    FILE *a = cdx_export_spool(dir), *b = cdx_export_spool(dir);
    assert_non_null(a);
    assert_non_null(b);
    fputs("person_id\r\n1\r\n", a);
    for (int i = 0; i < 1000; i++)
        fprintf(b, "row %d\n", i);
    assert_int_equal(cdx_tar_append(out, "person.csv", a, 1700000000), 0);
    assert_int_equal(cdx_tar_append(out, "measurement.csv", b, 1700000000), 0);
    assert_int_equal(cdx_tar_finish(out), 0);
    long size = ftell(out);
    fclose(out);
    assert_int_equal(size % CDX_TAR_BLOCK, 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && tar -xf a.tar && printf 'person_id\\r\\n1\\r\\n' | cmp - person.csv && "
             "test $(wc -l < measurement.csv) -eq 1000 && tar -tf a.tar | tr '\\n' ' ' | "
             "grep -qx 'person.csv measurement.csv '",
             dir);
    assert_int_equal(system(cmd), 0);
    fclose(a);
    fclose(b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_formats(void **state)
{
    (void)state;
    cdx_export_format_t f;
    assert_int_equal(cdx_export_format_parse("omop", &f), 0);
    assert_int_equal(f, CDX_EXPORT_OMOP);
    assert_string_equal(cdx_export_media_type(f), "application/x-tar");
    assert_int_equal(cdx_export_format_parse("xml", &f), CDX_EINVAL);
    assert_int_equal(cdx_export_format_parse(NULL, &f), CDX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person),         cmocka_unit_test(test_fact_filter),
        cmocka_unit_test(test_ndjson_csv),     cmocka_unit_test(test_omop_rows),
        cmocka_unit_test(test_tar_header),     cmocka_unit_test(test_tar_roundtrip),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
