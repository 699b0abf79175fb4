/* Unit tests of the identifier and literal syntax (parsers/ids.c): OIDs
 * strict and loose, UUIDs, UTF-8 with and without control characters,
 * HL7 TS fields and offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/validate.h"

/* The fault and, when given, the arc it names. */
static void oid_fault(const char *s, cdx_oid_fault_t want, const char *want_arc)
{
    const char *arc = NULL;
    size_t len = 0;
    cdx_oid_fault_t got = cdx_oid_check(s, &arc, &len);
    if (got != want)
        fail_msg("'%s': fault %d, want %d", s, (int)got, (int)want);
    if (want_arc != NULL &&
        (arc == NULL || len != strlen(want_arc) || memcmp(arc, want_arc, len) != 0))
        fail_msg("'%s': arc '%.*s', want '%s'", s, (int)len, arc ? arc : "", want_arc);
}

static void test_oid_strict(void **state)
{
    (void)state;
    oid_fault("2.16.840.1.113883.19.5", CDX_OID_OK, NULL);
    oid_fault("0.0", CDX_OID_OK, NULL);
    oid_fault("1.0.3", CDX_OID_OK, NULL);
    oid_fault("2.25.329800735698586629295641978511506172918", CDX_OID_OK, NULL);
    /* Leading zeros, in any arc, the first included. */
    oid_fault("2.016.840", CDX_OID_LEADING_ZERO, "016");
    oid_fault("01.2", CDX_OID_LEADING_ZERO, "01");
    oid_fault("00", CDX_OID_LEADING_ZERO, "00");
    /* First arc above 2, or of two digits. */
    oid_fault("3.1.2", CDX_OID_FIRST_ARC, "3");
    oid_fault("9", CDX_OID_FIRST_ARC, "9");
    oid_fault("12.3", CDX_OID_FIRST_ARC, "12");
    /* Empty arcs, a trailing or leading dot, other characters. */
    oid_fault("", CDX_OID_NOT_DOTTED, "");
    oid_fault("2.16..840", CDX_OID_NOT_DOTTED, "");
    oid_fault("2.16.840.", CDX_OID_NOT_DOTTED, "");
    oid_fault(".2.16", CDX_OID_NOT_DOTTED, "");
    oid_fault("2.16.8a", CDX_OID_NOT_DOTTED, "8");
    oid_fault("urn:oid:2.16", CDX_OID_NOT_DOTTED, "");
    oid_fault("2.16 ", CDX_OID_NOT_DOTTED, "16");
    oid_fault("-1.2", CDX_OID_NOT_DOTTED, "");
    /* One arc. */
    oid_fault("2", CDX_OID_ONE_ARC, "2");
    oid_fault("0", CDX_OID_ONE_ARC, "0");
    /* Reading order: the first arc's fault wins over a later one. */
    oid_fault("01.x", CDX_OID_LEADING_ZERO, "01");
    oid_fault("3.01", CDX_OID_FIRST_ARC, "3");
    oid_fault("2.01.x", CDX_OID_LEADING_ZERO, "01");
    /* Within an arc, a bad character comes before its leading zero. */
    oid_fault("2.01a", CDX_OID_NOT_DOTTED, "01");
    cdx_oid_check("3.1", NULL, NULL); /* the arc is optional */

    assert_true(cdx_oid_is_valid("1.2", 3));
    assert_false(cdx_oid_is_valid("1.2", 2));
    assert_false(cdx_oid_is_valid(NULL, 128));
    assert_false(cdx_oid_is_valid("1.02", 128));
}

static void test_oid_loose_and_under(void **state)
{
    (void)state;
    assert_true(cdx_oid_is_dotted("2.16.840"));
    assert_true(cdx_oid_is_dotted("5"));
    assert_true(cdx_oid_is_dotted("01.002"));
    assert_true(cdx_oid_is_dotted("9.9.9"));
    assert_false(cdx_oid_is_dotted("01.x")); /* the bad arc after a leading zero still counts */
    assert_false(cdx_oid_is_dotted(""));
    assert_false(cdx_oid_is_dotted(NULL));
    assert_false(cdx_oid_is_dotted("1..2"));
    assert_false(cdx_oid_is_dotted("1.2."));
    assert_false(cdx_oid_is_dotted(".1"));
    assert_false(cdx_oid_is_dotted("1.2'"));

    assert_true(cdx_oid_is_at_or_under("1.2.3", "1.2.3"));
    assert_true(cdx_oid_is_at_or_under("1.2.3.4", "1.2.3"));
    assert_false(cdx_oid_is_at_or_under("1.2.34", "1.2.3"));
    assert_false(cdx_oid_is_at_or_under("1.2", "1.2.3"));
    assert_false(cdx_oid_is_at_or_under("1.2", ""));
    assert_false(cdx_oid_is_at_or_under("1.2", NULL));
}

static void test_uuid(void **state)
{
    (void)state;
    assert_true(cdx_uuid_is_valid("db734647-fc99-424c-a864-7e3cda82e703"));
    assert_true(cdx_uuid_is_valid("DB734647-FC99-424C-A864-7E3CDA82E703"));
    assert_true(cdx_uuid_is_valid("Db734647-fC99-424c-A864-7e3cdA82e703"));
    assert_true(cdx_uuid_is_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(cdx_uuid_is_valid(NULL));
    assert_false(cdx_uuid_is_valid(""));
    assert_false(cdx_uuid_is_valid("db734647fc99424ca8647e3cda82e703"));       /* no hyphens */
    assert_false(cdx_uuid_is_valid("db734647-fc99424c-a864-7e3cda82e703"));    /* one missing */
    assert_false(cdx_uuid_is_valid("db73464-7fc99-424c-a864-7e3cda82e703"));   /* misplaced */
    assert_false(cdx_uuid_is_valid("db734647-fc99-424c-a864-7e3cda82e70"));    /* short */
    assert_false(cdx_uuid_is_valid("db734647-fc99-424c-a864-7e3cda82e7033"));  /* long */
    assert_false(cdx_uuid_is_valid("{db734647-fc99-424c-a864-7e3cda82e703}")); /* braces */
    assert_false(cdx_uuid_is_valid("urn:uuid:db734647-fc99-424c-a864-7e3cda82e703"));
    assert_false(cdx_uuid_is_valid("gb734647-fc99-424c-a864-7e3cda82e703")); /* not hex */
    assert_false(cdx_uuid_is_valid("db734647-fc99-424c-a864-7e3cda82e703 "));
    assert_false(cdx_uuid_is_valid("db734647-fc99-424c-a864_7e3cda82e703"));
}

static int utf8(const char *s, unsigned flags)
{
    return cdx_utf8_is_valid(s, strlen(s), flags);
}

static void test_utf8(void **state)
{
    (void)state;
    const unsigned flags[] = {0, CDX_UTF8_TEXT};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(flags); i++) {
        unsigned f = flags[i];
        assert_true(utf8("", f));
        assert_true(utf8("Hanbit Hospital", f));
        assert_true(utf8("\xed\x95\x9c\xeb\xb9\x9b \xeb\xb3\x91\xec\x9b\x90", f)); /* Korean */
        assert_true(utf8("\xc2\xa0", f));         /* U+00A0, first after C1 */
        assert_true(utf8("\xf0\x9f\x98\x80", f)); /* U+1F600 */
        assert_true(utf8("\xf4\x8f\xbf\xbf", f)); /* U+10FFFF */
        assert_true(utf8("\xee\x80\x80", f));     /* U+E000, after the surrogates */
        assert_true(utf8("\xed\x9f\xbf", f));     /* U+D7FF, before them */
        /* Overlong forms. */
        assert_false(utf8("\xc0\xaf", f));
        assert_false(utf8("\xc1\xbf", f));
        assert_false(utf8("\xe0\x80\xaf", f));
        assert_false(utf8("\xe0\x9f\xbf", f));
        assert_false(utf8("\xf0\x8f\xbf\xbf", f));
        /* Surrogates, and past U+10FFFF. */
        assert_false(utf8("\xed\xa0\x80", f));
        assert_false(utf8("\xed\xbf\xbf", f));
        assert_false(utf8("\xf4\x90\x80\x80", f));
        assert_false(utf8("\xf5\x80\x80\x80", f));
        assert_false(utf8("\xff", f));
        /* Stray continuation bytes, truncated sequences. */
        assert_false(utf8("\x80", f));
        assert_false(utf8("a\xbf", f));
        assert_false(utf8("\xe2\x82", f));
        assert_false(utf8("\xe2\x82x", f));
        assert_false(utf8("\xf0\x9f\x98", f));
        /* The length bounds the check: a sequence cut by n is truncated. */
        assert_false(cdx_utf8_is_valid("\xe2\x82\xac", 2, f));
        assert_true(cdx_utf8_is_valid("\xe2\x82\xac", 3, f));
    }
    /* Control characters: refused as text only. */
    assert_true(utf8("a\tb\nc\x7f", 0));
    assert_true(utf8("\xc2\x80\xc2\x9f", 0)); /* C1 */
    assert_false(utf8("a\tb", CDX_UTF8_TEXT));
    assert_false(utf8("a\nb", CDX_UTF8_TEXT));
    assert_false(utf8("\x1f", CDX_UTF8_TEXT));
    assert_false(utf8("\x7f", CDX_UTF8_TEXT));
    assert_false(utf8("\xc2\x80", CDX_UTF8_TEXT));
    assert_false(utf8("\xc2\x9f", CDX_UTF8_TEXT));
    assert_true(cdx_utf8_is_valid("a\0b", 3, 0));
    assert_false(cdx_utf8_is_valid("a\0b", 3, CDX_UTF8_TEXT));
}

static void test_ts_scan(void **state)
{
    (void)state;
    cdx_ts_t t;
    assert_int_equal(cdx_ts_scan("20240105093012.1234567-0530", &t), 0);
    assert_int_equal(t.digits, 14);
    assert_int_equal(t.year, 2024);
    assert_int_equal(t.month, 1);
    assert_int_equal(t.day, 5);
    assert_int_equal(t.hour, 9);
    assert_int_equal(t.minute, 30);
    assert_int_equal(t.second, 12);
    assert_int_equal(t.nfrac, 7);
    assert_memory_equal(t.frac, "1234567", 7);
    assert_non_null(t.zone);
    assert_int_equal(t.zone[0], '-');
    assert_int_equal(t.zone_len, 5);
    assert_int_equal(t.zone_hour, 5);
    assert_int_equal(t.zone_minute, 30);

    assert_int_equal(cdx_ts_scan("2024", &t), 0);
    assert_int_equal(t.digits, 4);
    assert_int_equal(t.month, 1);
    assert_int_equal(t.day, 1);
    assert_null(t.frac);
    assert_null(t.zone);
    assert_int_equal(cdx_ts_scan("0000", &t), 0); /* the year is the caller's to judge */
    assert_int_equal(cdx_ts_scan("2024+09", &t), 0);
    assert_int_equal(t.zone_len, 3);
    assert_int_equal(t.zone_hour, 9);
    assert_int_equal(cdx_ts_scan("20240229", &t), 0);
    assert_int_equal(cdx_ts_scan("20000229", &t), 0);
    assert_int_equal(cdx_ts_scan("20240105235960", &t), 0); /* leap second */
    assert_int_equal(cdx_ts_scan("202401052359+1400", &t), 0);

    const char *bad[] = {
        "",
        "202",
        "20241",
        "202401051",
        "202401050930001",
        "2024-01-05",
        "20230229",
        "19000229",
        "20241301",
        "20240001",
        "20240100",
        "20240431",
        "2024010524",
        "202401052360",
        "20240105235961",
        "20240105.5",
        "20240105093000.",
        "20240105093000.5x",
        "2024+",
        "2024+9",
        "2024+090",
        "2024+09001",
        "2024+1500",
        "2024+0960",
        "20240105+0900Z",
        "20240105 ",
        "x2024",
        "2024010509300",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(bad); i++)
        if (cdx_ts_scan(bad[i], &t) == 0)
            fail_msg("'%s' scanned", bad[i]);

    assert_int_equal(cdx_ts_zone_len("+0900"), 5);
    assert_int_equal(cdx_ts_zone_len("-14"), 3);
    assert_int_equal(cdx_ts_zone_len("+0900x"), 5);
    assert_int_equal(cdx_ts_zone_len("+09001"), 0);
    assert_int_equal(cdx_ts_zone_len("+1460"), 0);
    assert_int_equal(cdx_ts_zone_len("0900"), 0);
    assert_int_equal(cdx_ts_zone_len(NULL), 0);
}

/* The two policies built on the scanner keep their differences: the
 * validator takes microseconds and +HH offsets after a date; extraction
 * takes nanoseconds, +HHMM only, an offset after a year, never year 0. */
static void test_ts_policies(void **state)
{
    (void)state;
    char iso[48];
    int prec = 0;
    assert_true(cdx_validate_is_ts("20240105093000.123456"));
    assert_false(cdx_validate_is_ts("20240105093000.1234567"));
    assert_int_equal(cdx_ts_parse("20240105093000.123456789", iso, sizeof iso, &prec), 0);
    assert_string_equal(iso, "2024-01-05T09:30:00.123456789");
    assert_int_equal(prec, 23);
    assert_int_equal(cdx_ts_parse("20240105093000.1234567890", iso, sizeof iso, &prec), CDX_EINVAL);

    assert_true(cdx_validate_is_ts("20240105+09"));
    assert_int_equal(cdx_ts_parse("20240105+09", iso, sizeof iso, &prec), CDX_EINVAL);
    assert_false(cdx_validate_is_ts("2024+0900"));
    assert_int_equal(cdx_ts_parse("2024+0900", iso, sizeof iso, &prec), 0);
    assert_string_equal(iso, "2024");

    assert_true(cdx_validate_is_ts("0000"));
    assert_int_equal(cdx_ts_parse("0000", iso, sizeof iso, &prec), CDX_EINVAL);
    assert_string_equal(iso, "");
    assert_int_equal(prec, 0);

    assert_int_equal(cdx_ts_parse("202401050930-0330", iso, sizeof iso, &prec), 0);
    assert_string_equal(iso, "2024-01-05T09:30-03:30");
    assert_int_equal(prec, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oid_strict), cmocka_unit_test(test_oid_loose_and_under),
        cmocka_unit_test(test_uuid),       cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_ts_scan),    cmocka_unit_test(test_ts_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
