/* Unit tests of fact rows (gateway/domain/facts.c): a row's data keeps only
 * what its columns do not, and cdx_fact_json puts the whole fact back,
 * equal to the extractor's, for rows stored either way; the rows written
 * straight from an extraction are, byte for byte, those made from its
 * JSON (odd facts, the samples, and the shared corpus). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"
#include "cdx/parsers/xml.h"
#include "cdx_test.h"

static const char FACTS[] =
    "{\"problems\":["
    /* columns and extras, effectiveTime left empty */
    "{\"section\":\"problems\",\"codeSystem\":\"2.16.840.1.113883.6.3\",\"code\":\"E11\","
    "\"displayName\":\"Diabetes\",\"effectiveTime\":{\"low\":\"2020\"},\"status\":\"active\","
    "\"negated\":false,\"extras\":{\"moodCode\":\"EVN\"}},"
    /* originalText only: the display column is its text */
    "{\"code\":\"X1\",\"originalText\":\"free text\"},"
    /* displayName equal to originalText */
    "{\"code\":\"X2\",\"displayName\":\"same\",\"originalText\":\"same\"},"
    /* displayName and another originalText */
    "{\"code\":\"X3\",\"displayName\":\"coded\",\"originalText\":\"typed\"},"
    /* an empty effectiveTime, one with more than low and high */
    "{\"code\":\"X4\",\"effectiveTime\":{}},"
    "{\"code\":\"X5\",\"effectiveTime\":{\"low\":\"2019\",\"high\":\"2021\",\"center\":\"2020\"}},"
    /* values that are not strings stay in data */
    "{\"code\":7,\"codeSystem\":null,\"status\":[\"a\"],\"effectiveTime\":{\"low\":2019}}],"
    "\"results\":["
    "{\"code\":\"2345-7\",\"number\":5.4,\"unit\":\"mmol/L\",\"value\":\"5.4\"},"
    "{\"code\":\"2345-7\",\"number\":5,\"unit\":\"mmol/L\"},"
    "{\"code\":\"2345-7\",\"number\":0.1,\"effectiveTime\":{\"high\":\"20240101\"}},"
    "{}]}";

/* Every fact, rebuilt from its row, equals the extractor's. */
static void test_rows_rebuild_whole(void **state)
{
    (void)state;
    json_t *facts = json_loads(FACTS, 0, NULL);
    assert_non_null(facts);
    cdx_fact_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &rows, &n), 0);
    assert_int_equal(n, 11);
    size_t k = 0, whole = 0, kept = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        json_array_foreach(list, i, f)
        {
            assert_string_equal(rows[k].kind, kind);
            char *orig = json_dumps(f, JSON_COMPACT);
            whole += strlen(orig);
            kept += strlen(rows[k].data);
            char *text = cdx_fact_json(&rows[k]);
            assert_non_null(text);
            json_t *back = json_loads(text, 0, NULL);
            if (!json_equal(back, f))
                fail_msg("fact %zu: %s rebuilt as %s (data %s)", k, orig, text, rows[k].data);
            /* A row stored whole (before data kept only extras) reads the same. */
            cdx_fact_row_t old = rows[k];
            old.data = orig;
            char *text2 = cdx_fact_json(&old);
            json_t *back2 = json_loads(text2, 0, NULL);
            assert_true(json_equal(back2, f));
            json_decref(back);
            json_decref(back2);
            free(text);
            free(text2);
            free(orig);
            k++;
        }
    }
    assert_int_equal(k, n);
    assert_string_equal(rows[n - 1].data, "{}");
    assert_string_equal(rows[0].data,
                        "{\"section\":\"problems\",\"negated\":false,"
                        "\"extras\":{\"moodCode\":\"EVN\"}}");
    assert_true(kept * 2 < whole);
    cdx_fact_rows_free(rows, n);
    json_decref(facts);
}

/* A row's json is what json_dumps(fact, JSON_COMPACT) gives, byte for
 * byte, and its data the same text as the extras built as an object:
 * the rows are written without jansson's dump, so its escapes and its
 * reals are checked here. */
static void test_rows_text_as_jansson(void **state)
{
    (void)state;
    json_t *facts = json_loads(FACTS, 0, NULL);
    assert_non_null(facts);
    json_t *odd = json_object();
    json_object_set_new(odd, "displayName",
                        json_string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xea\xb9\x80 \xe2\x80\xa8"));
    json_object_set_new(odd, "code", json_string(""));
    json_t *nums = json_array();
    const double reals[] = {0.1, 5.0, -0.0, 1e-7, 1.5e300, 123456789012345678.0, 2.5e-5,
                            -3.25, 1e21, 100.0};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        json_array_append_new(nums, json_real(reals[i]));
    json_array_append_new(nums, json_integer(-9007199254740993LL));
    json_array_append_new(nums, json_true());
    json_array_append_new(nums, json_null());
    json_array_append_new(nums, json_object());
    json_array_append_new(nums, json_array());
    json_object_set_new(odd, "values", nums);
    json_object_set_new(odd, "number", json_real(7.125));
    json_t *et = json_object();
    json_object_set_new(et, "center", json_string("2020"));
    json_object_set_new(et, "low", json_string("2019"));
    json_object_set_new(odd, "effectiveTime", et);
    json_array_append_new(json_object_get(facts, "results"), odd);
    cdx_fact_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &rows, &n), 0);
    assert_int_equal(n, 12);
    size_t k = 0;
    const char *kind;
    json_t *list;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        json_array_foreach(list, i, f)
        {
            char *want = json_dumps(f, JSON_COMPACT);
            assert_string_equal(rows[k].json, want);
            free(want);
            k++;
        }
    }
    assert_string_equal(rows[n - 1].data,
                        "{\"values\":[0.10000000000000001,5.0,-0.0,9.9999999999999995e-8,"
                        "1.5000000000000001e300,1.2345678901234568e17,2.5000000000000001e-5,-3.25,1e21,100.0,"
                        "-9007199254740993,true,null,{},[]],\"effectiveTime\":{\"center\":\"2020\"}}");
    cdx_fact_rows_free(rows, n);
    json_decref(facts);
}

static void assert_same_text(const char *what, size_t i, const char *got, const char *want)
{
    if (got == NULL && want == NULL)
        return;
    if (got == NULL || want == NULL || strcmp(got, want) != 0)
        fail_msg("row %zu %s: %s, want %s", i, what, got ? got : "NULL", want ? want : "NULL");
}

/* The rows of x written straight from it against those made from its
 * JSON, field by field, and their joined text against the JSON's dump;
 * returns how many rows. */
static size_t assert_rows_match(const cdx_extract_t *x)
{
    json_t *facts = cdx_extract_facts_json(x);
    assert_non_null(facts);
    cdx_fact_row_t *want = NULL, *got = NULL;
    size_t nwant = 0, ngot = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &want, &nwant), 0);
    assert_int_equal(cdx_fact_rows_from_extract(x, &got, &ngot), 0);
    assert_int_equal(ngot, nwant);
    for (size_t i = 0; i < ngot; i++) {
        const cdx_fact_row_t *g = &got[i], *w = &want[i];
        assert_same_text("kind", i, g->kind, w->kind);
        assert_same_text("json", i, g->json, w->json);
        assert_same_text("data", i, g->data, w->data);
        assert_same_text("code_system", i, g->code_system, w->code_system);
        assert_same_text("code", i, g->code, w->code);
        assert_same_text("display", i, g->display, w->display);
        assert_same_text("value", i, g->value, w->value);
        assert_same_text("unit", i, g->unit, w->unit);
        assert_same_text("time_low", i, g->time_low, w->time_low);
        assert_same_text("time_high", i, g->time_high, w->time_high);
        assert_same_text("status", i, g->status, w->status);
        assert_int_equal(g->has_number, w->has_number);
        assert_memory_equal(&g->number, &w->number, sizeof g->number);
        assert_int_equal(g->negated, w->negated);
        const char *texts[8] = {g->code_system, g->code,     g->display,   g->value,
                                g->unit,        g->time_low, g->time_high, g->status};
        for (size_t c = 0; c < 8; c++)
            if (texts[c] != NULL && texts[c][0] != '\0')
                assert_int_equal(g->text_len[c], strlen(texts[c]));
    }
    char *joined = cdx_fact_rows_join(got, ngot);
    char *dump = json_dumps(facts, JSON_COMPACT);
    assert_non_null(joined);
    assert_string_equal(joined, dump);
    free(joined);
    free(dump);
    cdx_fact_rows_free(got, ngot);
    cdx_fact_rows_free(want, nwant);
    json_decref(facts);
    return ngot;
}

/* Facts no document gives easily: escapes, a number jansson refuses, a
 * displayName equal to originalText, extras as text only, a reference
 * range, a section of no kind, a fact of no kind (left out). */
static void test_rows_from_extract_odd(void **state)
{
    (void)state;
    cdx_fact_t f[6];
    memset(f, 0, sizeof f);
    f[0].kind = CDX_FACT_RESULT;
    f[0].section = CDX_FACT_VITAL_SIGN;
    f[0].location = (char *)"/a[1]";
    f[0].code = (char *)"2345-7";
    f[0].display_name = (char *)"q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xea\xb9\x80 \xe2\x80\xa8";
    f[0].value = (char *)"1e400 mg";
    f[0].has_number = 1;
    f[0].number = HUGE_VAL;
    f[0].ref_high = (char *)"5";
    f[0].time_high = (char *)"2024";
    f[0].negated = 1;
    f[0].extras = (char *)"{\"moodCode\":\"EVN\",\"n\":[1,2.5,null]}";
    f[1].kind = CDX_FACT_PROBLEM;
    f[1].section = (cdx_fact_kind_t)99;
    f[1].display_name = (char *)"same";
    f[1].original_text = (char *)"same";
    f[1].time_low = (char *)"2020";
    f[1].status = (char *)"active";
    f[2].kind = CDX_FACT_RESULT;
    f[2].original_text = (char *)"typed";
    f[2].has_number = 1;
    f[2].number = 0.1;
    f[2].unit = (char *)"mmol/L";
    f[2].unit_original = (char *)"mmol/l";
    f[2].ref_low = (char *)"1";
    f[2].ref_text = (char *)"normal";
    f[2].interpretation = (char *)"N";
    f[2].extras_obj = json_pack("{s:s,s:{s:[i,b]}}", "route", "PO", "dose", "v", 3, 1);
    f[3].kind = CDX_FACT_KINDS; /* no kind: no row */
    f[3].code = (char *)"X";
    f[4].kind = CDX_FACT_ENCOUNTER;
    f[4].display_name = (char *)"coded";
    f[4].original_text = (char *)"typed";
    f[4].has_number = 1;
    f[4].number = NAN;
    f[5].kind = CDX_FACT_PROBLEM;
    cdx_extract_t x;
    memset(&x, 0, sizeof x);
    x.facts = f;
    x.nfacts = CDX_ARRAY_SIZE(f);
    assert_int_equal(assert_rows_match(&x), 5);
    cdx_fact_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_extract(&x, &rows, &n), 0);
    assert_string_equal(rows[0].kind, "problems");
    assert_string_equal(rows[0].display, "same");
    assert_string_equal(rows[2].kind, "results");
    assert_int_equal(rows[2].has_number, 0); /* an infinity is no number */
    assert_string_equal(rows[4].kind, "encounters");
    /* Out of order, the rows are not the extractor's: no text. */
    cdx_fact_row_t swapped[2] = {rows[2], rows[0]};
    assert_null(cdx_fact_rows_join(swapped, 2));
    cdx_fact_rows_free(rows, n);
    json_decref((json_t *)f[2].extras_obj);
    x.nfacts = 0;
    assert_int_equal(cdx_fact_rows_from_extract(&x, &rows, &n), 0);
    assert_null(rows);
    assert_int_equal(n, 0);
    char *empty = cdx_fact_rows_join(NULL, 0);
    assert_string_equal(empty, "{\"problems\":[],\"medications\":[],\"allergies\":[],\"results\":[],"
                               "\"vital_signs\":[],\"procedures\":[],\"immunizations\":[],"
                               "\"encounters\":[]}");
    free(empty);
}

/* The documents under dir (and its folders), both extractions of each,
 * checked with assert_rows_match; returns how many documents. */
static size_t check_dir(const char *dir, size_t *rows)
{
    DIR *d = opendir(dir);
    size_t docs = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        const char *dot = strrchr(e->d_name, '.');
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            docs += check_dir(path, rows);
            continue;
        }
        if (!S_ISREG(st.st_mode) || dot == NULL ||
            (strcasecmp(dot, ".xml") != 0 && strcasecmp(dot, ".ccd") != 0))
            continue;
        char *data = NULL;
        size_t len = 0;
        if (cdx_read_file(path, 64u << 20, &data, &len) != 0)
            continue;
        /* What libxml2 reads without network or entities, as the
         * extractor's own corpus test does (the hardened loader refuses
         * some of the corpus). */
        xmlDocPtr doc = xmlReadMemory(data, (int)len, "doc.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        free(data);
        cdx_extract_t x;
        for (int lean = 0; doc != NULL && lean < 2; lean++) {
            int rc = lean ? cdx_extract_lean(doc, &x, NULL) : cdx_extract(doc, &x, NULL);
            if (rc != 0)
                break;
            *rows += assert_rows_match(&x);
            docs += lean;
            cdx_extract_cleanup(&x);
        }
        xmlFreeDoc(doc);
    }
    closedir(d);
    return docs;
}

static void test_rows_from_extract_samples(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/samples", src && src[0] ? src : ".");
    size_t rows = 0, docs = check_dir(dir, &rows);
    assert_true(docs >= 8);
    assert_true(rows >= 50);
}

static void test_rows_from_extract_corpus(void **state)
{
    (void)state;
    const char *corpus = getenv("CDX_CORPUS_DIR");
    const char *src = getenv("CDX_SOURCE_DIR");
    char dir[PATH_MAX];
    struct stat st;
    if (corpus != NULL && corpus[0] != '\0')
        snprintf(dir, sizeof dir, "%s/ccda", corpus);
    else
        snprintf(dir, sizeof dir, "%s/../shared/corpus/ccda", src && src[0] ? src : ".");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        CDX_SKIP("corpus absent: %s (set CDX_CORPUS_DIR)", dir);
    }
    size_t rows = 0, docs = check_dir(dir, &rows);
    fprintf(stderr, "# corpus: %zu documents, %zu rows alike\n", docs, rows);
    assert_true(docs >= 300);
}

int main(int argc, char **argv)
{
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_rebuild_whole),
        cmocka_unit_test(test_rows_text_as_jansson),
        cmocka_unit_test(test_rows_from_extract_odd),
        cmocka_unit_test(test_rows_from_extract_samples),
    };
    /* CDX_CORPUS_TESTS: the cases that need the shared corpus. */
    const struct CMUnitTest corpus_tests[] = {
        cmocka_unit_test(test_rows_from_extract_corpus),
    };
    if (cdx_test_corpus_group(argc, argv))
        return cdx_test_exit(cmocka_run_group_tests(corpus_tests, NULL, NULL));
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
