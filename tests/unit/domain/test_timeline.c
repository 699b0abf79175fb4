/* Unit tests of the merged timeline and its summary (gateway/domain/timeline.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/facts.h"
#include "cdx/domain/timeline.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/xml.h"
#include "cdx_test.h"

/* A row as the registry gives it; only the strings the test names. */
static cdx_tl_fact_t row(int64_t id, const char *doc, const char *inst, const char *kind,
                         const char *code, const char *value, const char *unit, const char *low,
                         const char *high, const char *status, const char *data)
{
    cdx_tl_fact_t f;
    memset(&f, 0, sizeof f);
    f.id = id;
    cdx_strlcpy(f.doc_uid, doc, sizeof f.doc_uid);
    f.institution_oid = inst ? strdup(inst) : NULL;
    f.kind = strdup(kind);
    f.code_system = code ? strdup("2.16.840.1.113883.6.1") : NULL;
    f.code = code ? strdup(code) : NULL;
    f.display = code ? NULL : strdup("free text");
    f.value = value ? strdup(value) : NULL;
    if (value != NULL && unit != NULL) {
        f.has_number = 1;
        f.number = atof(value);
    }
    f.unit = unit ? strdup(unit) : NULL;
    f.time_low = low ? strdup(low) : NULL;
    f.time_high = high ? strdup(high) : NULL;
    f.status = status ? strdup(status) : NULL;
    f.data = strdup(data ? data : "{}");
    return f;
}

/* The rows moved to the heap, for cdx_tl_facts_free (which frees the array). */
static cdx_tl_fact_t *heap_rows(const cdx_tl_fact_t *rows, size_t n)
{
    cdx_tl_fact_t *h = malloc(n * sizeof *h);
    assert_non_null(h);
    memcpy(h, rows, n * sizeof *h);
    return h;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_time_key(void **state)
{
    (void)state;
    char key[CDX_TL_KEY_LEN];
    assert_int_equal(cdx_tl_time_key("2024", key), 0);
    assert_string_equal(key, "20240101000000");
    assert_int_equal(cdx_tl_time_key("202401040800+0900", key), 0);
    assert_string_equal(key, "20240103230000");
    assert_int_equal(cdx_tl_time_key("20240104+0900", key), 0); /* a date stays a date */
    assert_string_equal(key, "20240104000000");
    assert_int_equal(cdx_tl_time_key("20240230", key), CDX_EINVAL);
    assert_int_equal(cdx_tl_time_key("soon", key), CDX_EINVAL);
    assert_int_equal(cdx_tl_time_key(NULL, key), CDX_EINVAL);
    assert_true(cdx_tl_kind_bit("problems") != 0);
    assert_true(cdx_tl_kind_bit("vital_signs") != 0);
    assert_int_equal(cdx_tl_kind_bit("labs"), 0);
    assert_int_equal(cdx_tl_kind_bit(NULL), 0);
}

static void test_merge(void **state)
{
    (void)state;
    cdx_tl_fact_t rows[] = {
        /* Two documents of two institutions: one problem at two precisions. */
        row(1, "doc-a", "2.25.1", "problems", "E11", NULL, NULL, "2020", NULL, "active",
            "{\"section\":\"problems\",\"sectionTitle\":\"Problem list\"}"),
        row(2, "doc-b", "2.25.2", "problems", "E11", NULL, NULL, "20200315", NULL, "active",
            "{\"section\":\"problems\",\"sectionTitle\":\"Problems\"}"),
        /* The same again in a second section of doc-b. */
        row(3, "doc-b", "2.25.2", "problems", "E11", NULL, NULL, "20200315", NULL, "active",
            "{\"section\":\"problems\",\"sectionTitle\":\"Discharge diagnosis\"}"),
        /* Another year: another fact. */
        row(4, "doc-b", "2.25.2", "problems", "E11", NULL, NULL, "2019", NULL, NULL, NULL),
        /* One result, the same instant in two zones. */
        row(5, "doc-a", "2.25.1", "results", "2345-7", "182", "mg/dL", "202401040800+0900", NULL,
            NULL, "{\"unitOriginal\":\"mg/dl\"}"),
        row(6, "doc-b", "2.25.2", "results", "2345-7", "182", "mg/dL", "202401032300+0000", NULL,
            NULL, NULL),
        /* Another value at the same time: kept apart. */
        row(7, "doc-b", "2.25.2", "results", "2345-7", "190", "mg/dL", "202401032300+0000", NULL,
            NULL, NULL),
        /* No time: last. */
        row(8, "doc-a", "2.25.1", "allergies", NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        /* Unknown kind: never shown. */
        row(9, "doc-a", "2.25.1", "gossip", "X", NULL, NULL, "2020", NULL, NULL, NULL),
    };
    size_t n = CDX_ARRAY_SIZE(rows);
    cdx_tl_query_t q;
    memset(&q, 0, sizeof q);
    json_t *o = cdx_tl_timeline(rows, n, &q);
    assert_non_null(o);
    json_t *facts = json_object_get(o, "facts");
    assert_int_equal(json_array_size(facts), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 5);
    /* Time order: 2019, 2020-03-15 (merged), the two results, the allergy. */
    json_t *f0 = json_array_get(facts, 0), *f1 = json_array_get(facts, 1);
    assert_string_equal(sget(json_object_get(f0, "effectiveTime"), "low"), "2019");
    assert_int_equal(json_array_size(json_object_get(f0, "sources")), 1);
    assert_string_equal(sget(json_object_get(f1, "effectiveTime"), "low"), "20200315");
    json_t *src = json_object_get(f1, "sources");
    assert_int_equal(json_array_size(src), 3);
    int titles = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(src, i);
        const char *t = sget(s, "sectionTitle");
        titles += strcmp(t, "Problem list") == 0 || strcmp(t, "Problems") == 0 ||
                  strcmp(t, "Discharge diagnosis") == 0;
        assert_non_null(sget(json_object_get(s, "institution"), "oid"));
    }
    assert_int_equal(titles, 3);
    json_t *r1 = json_array_get(facts, 2), *r2 = json_array_get(facts, 3);
    assert_string_equal(sget(r1, "kind"), "results");
    assert_string_equal(sget(r2, "kind"), "results");
    json_t *merged = json_array_size(json_object_get(r1, "sources")) == 2 ? r1 : r2;
    json_t *single = merged == r1 ? r2 : r1;
    assert_int_equal(json_array_size(json_object_get(merged, "sources")), 2);
    assert_true(json_real_value(json_object_get(merged, "number")) == 182.0);
    assert_int_equal(json_array_size(json_object_get(single, "sources")), 1);
    assert_string_equal(sget(json_array_get(facts, 4), "kind"), "allergies");
    json_decref(o);

    /* kinds and a window: the window leaves undated facts out. */
    q.kinds = cdx_tl_kind_bit("problems");
    o = cdx_tl_timeline(rows, n, &q);
    assert_int_equal(json_array_size(json_object_get(o, "facts")), 2);
    json_decref(o);
    q.kinds = 0;
    assert_int_equal(cdx_tl_time_key("2020", q.from), 0);
    assert_int_equal(cdx_tl_time_key("2024", q.to), 0);
    o = cdx_tl_timeline(rows, n, &q);
    facts = json_object_get(o, "facts");
    assert_int_equal(json_array_size(facts), 1);
    assert_string_equal(sget(json_array_get(facts, 0), "code"), "E11");
    json_decref(o);
    assert_int_equal(cdx_tl_time_key("20240103", q.from), 0);
    q.to[0] = '\0';
    o = cdx_tl_timeline(rows, n, &q);
    assert_int_equal(json_array_size(json_object_get(o, "facts")), 2);
    json_decref(o);
    cdx_tl_facts_free(heap_rows(rows, n), n);
}

static void test_summary(void **state)
{
    (void)state;
    cdx_tl_fact_t rows[] = {
        row(1, "a", "2.25.1", "problems", "E11", NULL, NULL, "2020", NULL, "active", NULL),
        row(2, "a", "2.25.1", "problems", "J45", NULL, NULL, "2010", "2012", "resolved", NULL),
        row(3, "a", "2.25.1", "problems", "I10", NULL, NULL, "2018", NULL, NULL, NULL),
        row(4, "a", "2.25.1", "medications", "M1", NULL, NULL, "2024", NULL, "active", NULL),
        row(5, "a", "2.25.1", "medications", "M2", NULL, NULL, "2020", "2021", NULL, NULL),
        row(6, "a", "2.25.1", "medications", "M3", NULL, NULL, "2024", "2030", NULL, NULL),
        row(7, "a", "2.25.1", "allergies", "PCN", NULL, NULL, NULL, NULL, "active", NULL),
        row(8, "a", "2.25.1", "allergies", "OLD", NULL, NULL, NULL, NULL, "inactive", NULL),
        row(9, "a", "2.25.1", "results", "2345-7", "120", "mg/dL", "20230101", NULL, NULL, NULL),
        row(10, "b", "2.25.2", "results", "2345-7", "182", "mg/dL", "20240104", NULL, NULL, NULL),
        row(11, "b", "2.25.2", "results", "2345-7", "150", "mg/dL", "20230601", NULL, NULL, NULL),
        row(12, "b", "2.25.2", "results", "718-7", "13", "g/dL", "20220101", NULL, NULL, NULL),
        row(13, "b", "2.25.2", "vital_signs", "8480-6", "132", "mm[Hg]", "20240105", NULL, NULL,
            NULL),
        row(14, "b", "2.25.2", "problems", "X1", NULL, NULL, "2020", NULL, "active",
            "{\"negated\":true}"),
    };
    size_t n = CDX_ARRAY_SIZE(rows);
    cdx_tl_query_t q;
    memset(&q, 0, sizeof q);
    cdx_strlcpy(q.now, "20261203000000", sizeof q.now);
    json_t *o = cdx_tl_summary(rows, n, &q);
    assert_non_null(o);
    json_t *ap = json_object_get(o, "active_problems");
    assert_int_equal(json_array_size(ap), 2); /* E11 and I10, newest first */
    assert_string_equal(sget(json_array_get(ap, 0), "code"), "E11");
    assert_string_equal(sget(json_array_get(ap, 1), "code"), "I10");
    json_t *meds = json_object_get(o, "current_medications");
    assert_int_equal(json_array_size(meds), 2); /* M1, M3; M2 ended in 2021 */
    json_t *al = json_object_get(o, "allergies");
    assert_int_equal(json_array_size(al), 1);
    assert_string_equal(sget(json_array_get(al, 0), "code"), "PCN");
    json_t *res = json_object_get(o, "results");
    assert_int_equal(json_array_size(res), 2);
    json_t *glu = json_array_get(res, 0);
    assert_string_equal(sget(glu, "code"), "2345-7");
    assert_true(json_real_value(json_object_get(json_object_get(glu, "latest"), "number")) ==
                182.0);
    json_t *prev = json_object_get(glu, "previous");
    assert_int_equal(json_array_size(prev), 2);
    assert_true(json_real_value(json_object_get(json_array_get(prev, 0), "number")) == 150.0);
    assert_true(json_real_value(json_object_get(json_array_get(prev, 1), "number")) == 120.0);
    assert_int_equal(json_array_size(json_object_get(json_array_get(res, 1), "previous")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "vital_signs")), 1);
    json_decref(o);
    cdx_tl_facts_free(heap_rows(rows, n), n);
}

/* From the extractor to the timeline: one problem listed in the problem
 * list and in the discharge diagnoses of one document is one fact with
 * both sections as its sources. */
static const char TWO_SECTIONS[] =
    "<ClinicalDocument xmlns=\"urn:hl7-org:v3\""
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><component><structuredBody>"
    "<component><section><code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<title>Problem List</title><entry><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"55607006\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "<effectiveTime><low value=\"20200315\"/></effectiveTime>"
    "<value xsi:type=\"CD\" code=\"44054006\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "</observation></entryRelationship></act></entry></section></component>"
    "<component><section><code code=\"11535-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<title>Hospital Discharge Diagnosis</title><entry><act classCode=\"ACT\" moodCode=\"EVN\">"
    "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"282291009\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "<effectiveTime><low value=\"20200315\"/></effectiveTime>"
    "<value xsi:type=\"CD\" code=\"44054006\" codeSystem=\"2.16.840.1.113883.6.96\"/>"
    "</observation></entryRelationship></act></entry></section></component>"
    "</structuredBody></component></ClinicalDocument>";

static char *opt_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void test_sections_of_one_document(void **state)
{
    (void)state;
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    assert_int_equal(cdx_xml_parse(TWO_SECTIONS, strlen(TWO_SECTIONS), &d, &doc), 0);
    cdx_extract_t x;
    assert_int_equal(cdx_extract(doc, &x, &d), 0);
    json_t *facts = cdx_extract_facts_json(&x);
    cdx_fact_row_t *fr = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_json(facts, &fr, &n), 0);
    assert_int_equal(n, 2);
    cdx_tl_fact_t *rows = calloc(n, sizeof *rows);
    assert_non_null(rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].id = (int64_t)i + 1;
        cdx_strlcpy(rows[i].doc_uid, "doc", sizeof rows[i].doc_uid);
        rows[i].kind = opt_dup(fr[i].kind);
        rows[i].code_system = opt_dup(fr[i].code_system);
        rows[i].code = opt_dup(fr[i].code);
        rows[i].time_low = opt_dup(fr[i].time_low);
        rows[i].status = opt_dup(fr[i].status);
        rows[i].data = opt_dup(fr[i].data);
    }
    cdx_tl_query_t q;
    memset(&q, 0, sizeof q);
    json_t *o = cdx_tl_timeline(rows, n, &q);
    json_t *list = json_object_get(o, "facts");
    assert_int_equal(json_array_size(list), 1);
    json_t *src = json_object_get(json_array_get(list, 0), "sources");
    assert_int_equal(json_array_size(src), 2);
    assert_string_equal(sget(json_array_get(src, 0), "document"), "doc");
    const char *t0 = sget(json_array_get(src, 0), "sectionCode");
    const char *t1 = sget(json_array_get(src, 1), "sectionCode");
    assert_true((strcmp(t0, "11450-4") == 0 && strcmp(t1, "11535-2") == 0) ||
                (strcmp(t0, "11535-2") == 0 && strcmp(t1, "11450-4") == 0));
    json_decref(o);
    cdx_tl_facts_free(rows, n);
    cdx_fact_rows_free(fr, n);
    json_decref(facts);
    cdx_extract_cleanup(&x);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
}

/* The facts' text put together from the rows written straight from the
 * extraction is json_dumps' text, byte for byte, for the lean extraction
 * (no extras text) as for the full one; each row's json is its fact
 * alone; a document without facts gives the eight empty lists. */
static void test_rows_join(void **state)
{
    (void)state;
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    assert_int_equal(cdx_xml_parse(TWO_SECTIONS, strlen(TWO_SECTIONS), &d, &doc), 0);
    cdx_extract_t full, lean;
    assert_int_equal(cdx_extract(doc, &full, &d), 0);
    assert_int_equal(cdx_extract_lean(doc, &lean, &d), 0);
    assert_int_equal(lean.nfacts, 2);
    assert_null(lean.facts[0].extras);
    json_t *a = cdx_extract_facts_json(&full);
    char *want = json_dumps(a, JSON_COMPACT);
    cdx_fact_row_t *fr = NULL;
    size_t n = 0;
    assert_int_equal(cdx_fact_rows_from_extract(&lean, &fr, &n), 0);
    assert_int_equal(n, 2);
    char *first = json_dumps(json_array_get(json_object_get(a, "problems"), 0), JSON_COMPACT);
    assert_string_equal(fr[0].json, first);
    char *joined = cdx_fact_rows_join(fr, n);
    assert_non_null(joined);
    assert_string_equal(joined, want);
    free(first);
    free(joined);
    free(want);
    cdx_fact_rows_free(fr, n);
    json_decref(a);
    cdx_extract_cleanup(&full);
    cdx_extract_cleanup(&lean);

    cdx_extract_t none;
    memset(&none, 0, sizeof none);
    json_t *empty = cdx_extract_facts_json(&none);
    assert_int_equal(cdx_fact_rows_from_extract(&none, &fr, &n), 0);
    assert_int_equal(n, 0);
    joined = cdx_fact_rows_join(fr, n);
    want = json_dumps(empty, JSON_COMPACT);
    assert_string_equal(joined, want);
    free(joined);
    free(want);
    json_decref(empty);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
}

int main(void)
{
    cdx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_key),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_sections_of_one_document),
        cmocka_unit_test(test_rows_join),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
