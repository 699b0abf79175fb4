/* Unit tests of the demographic match (gateway/domain/match.c) and of the
 * name keys it rests on (gateway/domain/names.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/base/common.h"
#include "cdx/domain/match.h"
#include "cdx/domain/names.h"
#include "cdx/parsers/extract.h"

/* A person as a document states it: family, one given part, name text,
 * birth, gender, street, postal code, phone. */
typedef struct person {
    const char *family, *given, *text, *birth, *gender, *street, *postal, *phone;
} person_t;

static cdx_demog_t demog(person_t p)
{
    const char *given[1] = {p.given};
    cdx_demog_input_t in = {.family = p.family,
                            .given = given,
                            .ngiven = p.given ? 1 : 0,
                            .name_text = p.text,
                            .birth = p.birth,
                            .gender = p.gender,
                            .street = p.street,
                            .postal = p.postal,
                            .phone = p.phone};
    cdx_demog_t d;
    assert_int_equal(cdx_demog_from(&in, &d), 0);
    return d;
}

static cdx_match_score_t score(person_t a, person_t b)
{
    cdx_demog_t da = demog(a), db = demog(b);
    cdx_match_score_t s, r;
    cdx_match_score(&da, &db, &s);
    cdx_match_score(&db, &da, &r);
    assert_true(s.total == r.total); /* symmetric */
    return s;
}

static cdx_match_verdict_t verdict(person_t a, person_t b)
{
    cdx_match_score_t s = score(a, b);
    return cdx_match_decide(&s, &cdx_match_default_thresholds);
}

static const person_t minjun = {"김", "민준", NULL, "19850314", "M", "중앙로 12", "04101",
                                "010-2345-6789"};

static void test_fold_and_romanize(void **state)
{
    (void)state;
    char out[96];
    cdx_name_fold("김민준", out, sizeof out);
    assert_string_equal(out, "gimminjun");
    cdx_name_fold("박 서연", out, sizeof out);
    assert_string_equal(out, "bakseoyeon");
    cdx_name_fold("최", out, sizeof out);
    assert_string_equal(out, "choe");
    cdx_name_fold("정한솔", out, sizeof out);
    assert_string_equal(out, "jeonghansol");
    cdx_name_fold("José Núñez-Łopez", out, sizeof out);
    assert_string_equal(out, "josenunezlopez");
    cdx_name_fold("Ærøskøbing Straße", out, sizeof out);
    assert_string_equal(out, "aeroskobingstrasse");
    cdx_name_fold_alnum("중앙로 12-3", out, sizeof out);
    assert_string_equal(out, "jungangro123");
    /* truncation stays inside the buffer */
    char small[4];
    assert_int_equal(cdx_name_fold("Abcdef", small, sizeof small), 3);
    assert_string_equal(small, "abc");
}

static void test_surname_variants(void **state)
{
    (void)state;
    static const char *const groups[][7] = {
        {"이", "Lee", "Yi", "Rhee", "Ri", "I", "LEE"}, {"박", "Park", "Pak", "Bak", NULL},
        {"김", "Kim", "Gim", "KIM", NULL},              {"최", "Choi", "Choe", NULL},
        {"정", "Jung", "Jeong", "Chung", NULL},         {"유", "류", "Yoo", "Yu", "Ryu", NULL},
        {"남궁", "Namgung", "Namkung", NULL},           {"선우", "Sunwoo", "Seonu", NULL},
    };
    for (size_t g = 0; g < CDX_ARRAY_SIZE(groups); g++) {
        char first[64], key[64];
        cdx_name_family_key(groups[g][0], first, sizeof first);
        for (size_t i = 1; i < 7 && groups[g][i]; i++) {
            cdx_name_family_key(groups[g][i], key, sizeof key);
            if (strcmp(first, key) != 0)
                fail_msg("%s gives %s, %s gives %s", groups[g][0], first, groups[g][i], key);
        }
    }
    char a[64], b[64];
    cdx_name_family_key("김", a, sizeof a);
    cdx_name_family_key("이", b, sizeof b);
    assert_string_not_equal(a, b);
}

static void test_phonetic_given(void **state)
{
    (void)state;
    const char *same[] = {"Minjun", "Min-Jun", "Min Jun", "Minjoon", "민준", "MIN JUN"};
    char ref[64], f[64], k[64];
    cdx_name_fold(same[0], f, sizeof f);
    cdx_name_phonetic(f, ref, sizeof ref);
    for (size_t i = 1; i < CDX_ARRAY_SIZE(same); i++) {
        cdx_name_fold(same[i], f, sizeof f);
        cdx_name_phonetic(f, k, sizeof k);
        if (strcmp(ref, k) != 0)
            fail_msg("%s: %s, expected %s", same[i], k, ref);
    }
    assert_true(cdx_name_jaro_winkler("martha", "marhta") > 0.95);
    assert_true(cdx_name_jaro_winkler("abc", "xyz") < 0.1);
    assert_int_equal(cdx_name_edit_distance("minjun", "minjnu", 2), 1);
    assert_int_equal(cdx_name_edit_distance("minjun", "seoyeon", 2), 3);
}

static void test_split(void **state)
{
    (void)state;
    char f[64], g[64];
    cdx_name_split("김민준", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "김");
    assert_string_equal(g, "민준");
    cdx_name_split("김 민 준", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "김");
    assert_string_equal(g, "민준");
    cdx_name_split("남궁민수", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "남궁");
    assert_string_equal(g, "민수");
    cdx_name_split("Kim, Min-Jun", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "Kim");
    assert_string_equal(g, "Min-Jun");
    cdx_name_split("Olivia Grace Smith", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "Smith");
    assert_string_equal(g, "Olivia Grace");
    cdx_name_split("PARK Seoyeon", f, sizeof f, g, sizeof g);
    assert_string_equal(f, "PARK");
    assert_string_equal(g, "Seoyeon");
}

static void test_demog_keys(void **state)
{
    (void)state;
    cdx_demog_t d = demog((person_t){"Lee", "Ji-Woo", NULL, "19850314093000+0900", "F",
                                     "12 Alder St.", "972-01", "tel:+82-10-2345-6789"});
    assert_string_equal(d.family, "lee");
    assert_string_equal(d.given, "jiwoo");
    assert_string_equal(d.birth, "19850314");
    assert_int_equal(d.sex, 'F');
    assert_string_equal(d.postal, "97201");
    assert_string_equal(d.address, "12alderst");
    assert_string_equal(d.phone, "1023456789");
    d = demog((person_t){NULL, NULL, "이지우", "1985-03-14", "UN", NULL, NULL, "010-2345-6789"});
    assert_string_equal(d.family, "lee");
    assert_string_equal(d.given, "jiu");
    assert_string_equal(d.birth, "19850314");
    assert_int_equal(d.sex, 0);
    assert_string_equal(d.phone, "1023456789");
    d = demog((person_t){"Kim", NULL, NULL, "198513", NULL, NULL, NULL, NULL});
    assert_string_equal(d.birth, "1985"); /* month 13: year only */
    cdx_demog_input_t empty = {0};
    cdx_demog_t e;
    assert_int_equal(cdx_demog_from(&empty, &e), CDX_EINVAL);
}

static void test_hangul_against_romanized(void **state)
{
    (void)state;
    person_t rom = minjun;
    rom.family = "KIM";
    rom.given = "Min-Joon";
    cdx_match_score_t s = score(minjun, rom);
    assert_int_equal(s.agreement[CDX_MATCH_FAMILY], CDX_MATCH_AGREE);
    assert_int_equal(s.agreement[CDX_MATCH_GIVEN], CDX_MATCH_AGREE);
    assert_int_equal(verdict(minjun, rom), CDX_MATCH_LINK);
    /* a whole name with spaces and no parts */
    person_t text = minjun;
    text.family = NULL;
    text.given = NULL;
    text.text = "김 민준";
    assert_int_equal(verdict(minjun, text), CDX_MATCH_LINK);
    /* Latin case and accents */
    person_t a = {"Müller", "José", NULL, "1970-02-01", "M", "1 Alder St", "97201", "5035550100"};
    person_t b = {"MULLER", "jose", NULL, "19700201", "M", NULL, NULL, NULL};
    assert_int_equal(score(a, b).agreement[CDX_MATCH_FAMILY], CDX_MATCH_AGREE);
    assert_int_equal(verdict(a, b), CDX_MATCH_LINK);
}

static void test_swapped_names(void **state)
{
    (void)state;
    person_t sw = minjun;
    sw.family = "Minjun";
    sw.given = "Kim";
    cdx_match_score_t s = score(minjun, sw);
    assert_int_equal(s.swapped, 1);
    assert_int_equal(s.agreement[CDX_MATCH_FAMILY], CDX_MATCH_AGREE);
    assert_int_equal(s.agreement[CDX_MATCH_GIVEN], CDX_MATCH_AGREE);
    assert_int_equal(verdict(minjun, sw), CDX_MATCH_LINK);
    assert_int_equal(score(minjun, minjun).swapped, 0);
}

static void test_typo_is_partial(void **state)
{
    (void)state;
    person_t t = minjun;
    t.family = "Kim";
    t.given = "Minjnu";
    cdx_match_score_t s = score(minjun, t);
    assert_int_equal(s.agreement[CDX_MATCH_GIVEN], CDX_MATCH_PARTIAL);
    assert_true(s.weight[CDX_MATCH_GIVEN] > 0);
    assert_int_equal(verdict(minjun, t), CDX_MATCH_LINK);
}

static void test_twins_not_linked(void **state)
{
    (void)state;
    person_t twin = minjun;
    twin.given = "서연";
    twin.gender = "F";
    assert_int_not_equal(verdict(minjun, twin), CDX_MATCH_LINK);
    twin.given = "민호";
    twin.gender = "M";
    cdx_match_score_t s = score(minjun, twin);
    assert_int_equal(s.agreement[CDX_MATCH_GIVEN], CDX_MATCH_DISAGREE);
    assert_int_not_equal(cdx_match_decide(&s, &cdx_match_default_thresholds), CDX_MATCH_LINK);
}

static void test_address_change_keeps_link(void **state)
{
    (void)state;
    person_t moved = minjun;
    moved.street = "평화로 300";
    moved.postal = "48000";
    moved.phone = "010-9999-1111";
    cdx_match_score_t s = score(minjun, moved);
    assert_int_equal(s.agreement[CDX_MATCH_ADDRESS], CDX_MATCH_DISAGREE);
    assert_int_equal(s.agreement[CDX_MATCH_PHONE], CDX_MATCH_DISAGREE);
    assert_int_equal(cdx_match_decide(&s, &cdx_match_default_thresholds), CDX_MATCH_LINK);
    /* and with no address at all */
    moved.street = moved.postal = moved.phone = NULL;
    assert_int_equal(verdict(minjun, moved), CDX_MATCH_LINK);
}

static void test_birth_partial(void **state)
{
    (void)state;
    person_t t = minjun;
    t.birth = "19850315";
    assert_int_equal(score(minjun, t).agreement[CDX_MATCH_BIRTH], CDX_MATCH_PARTIAL); /* digit */
    person_t a = minjun, b = minjun;
    a.birth = "19850307";
    b.birth = "1985-07-03";
    cdx_match_score_t s = score(a, b);
    assert_int_equal(s.agreement[CDX_MATCH_BIRTH], CDX_MATCH_PARTIAL);
    assert_true(s.weight[CDX_MATCH_BIRTH] > 0);
    assert_true(s.weight[CDX_MATCH_BIRTH] < score(a, a).weight[CDX_MATCH_BIRTH]);
    assert_int_not_equal(verdict(a, b), CDX_MATCH_NONE);
    b.birth = "1985";
    assert_int_equal(score(a, b).agreement[CDX_MATCH_BIRTH], CDX_MATCH_PARTIAL);
}

static void test_namesakes_not_linked(void **state)
{
    (void)state;
    person_t other = minjun;
    other.birth = "19920822";
    other.street = "바다로 5";
    other.postal = "48100";
    other.phone = "010-5555-0000";
    assert_int_equal(verdict(minjun, other), CDX_MATCH_NONE);
    /* same name and birth year, different day, nothing else known */
    person_t a = {"Smith", "Olivia", NULL, "19800115", "F", NULL, NULL, NULL};
    person_t b = {"Smith", "Olivia", NULL, "19800923", "F", NULL, NULL, NULL};
    assert_int_equal(verdict(a, b), CDX_MATCH_NONE);
}

static int share_key(const cdx_demog_t *a, const cdx_demog_t *b)
{
    char ka[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN], kb[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    size_t na = cdx_demog_block_keys(a, ka), nb = cdx_demog_block_keys(b, kb);
    assert_true(na <= CDX_DEMOG_MAX_BLOCKS && nb <= CDX_DEMOG_MAX_BLOCKS);
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (strcmp(ka[i], kb[j]) == 0)
                return 1;
    return 0;
}

static void test_block_keys_survive_one_wrong_field(void **state)
{
    (void)state;
    cdx_demog_t d = demog(minjun);
    person_t variants[7];
    for (size_t i = 0; i < CDX_ARRAY_SIZE(variants); i++)
        variants[i] = minjun;
    variants[0].birth = "19850413";   /* one digit */
    variants[1].birth = "19851403";   /* invalid month: year only */
    variants[2].family = "Gim";       /* spelling */
    variants[3].given = "Minjnu";     /* typo */
    variants[4].phone = "01099990000"; /* new phone */
    variants[5].family = "민준";       /* swapped */
    variants[5].given = "김";
    variants[6].gender = "F";
    for (size_t i = 0; i < CDX_ARRAY_SIZE(variants); i++) {
        cdx_demog_t v = demog(variants[i]);
        if (!share_key(&d, &v))
            fail_msg("variant %zu shares no blocking key", i);
    }
    /* a transposed day and month */
    person_t a = minjun, b = minjun;
    a.birth = "19850307";
    b.birth = "19850703";
    b.phone = NULL;
    b.given = "Minjnu";
    cdx_demog_t da = demog(a), db = demog(b);
    assert_true(share_key(&da, &db));
    /* someone else shares none */
    cdx_demog_t o = demog((person_t){"Smith", "Olivia", NULL, "19700115", "F", NULL, NULL, NULL});
    assert_false(share_key(&d, &o));
}

static void test_json_breakdown(void **state)
{
    (void)state;
    person_t t = minjun;
    t.family = "Kim";
    t.given = "Minjun";
    t.phone = NULL;
    cdx_match_score_t s = score(minjun, t);
    char out[1024];
    int n = cdx_match_score_json(&s, out, sizeof out);
    assert_true(n > 0 && (size_t)n < sizeof out);
    assert_true(strncmp(out, "{\"total\":", 9) == 0);
    assert_non_null(strstr(out, "\"swapped\":false,\"fields\":{\"family\":{\"agreement\":\"agree\","
                                "\"weight\":"));
    assert_non_null(strstr(out, "\"phone\":{\"agreement\":\"missing\",\"weight\":0.00}}}"));
    for (int f = 0; f < CDX_MATCH_NFIELDS; f++) {
        char key[32];
        snprintf(key, sizeof key, "\"%s\":{", cdx_match_field_name((cdx_match_field_t)f));
        assert_non_null(strstr(out, key));
    }
    char small[10];
    assert_int_equal(cdx_match_score_json(&s, small, sizeof small), n);
    assert_int_equal(strlen(small), 9);
    assert_string_equal(cdx_match_field_name(CDX_MATCH_NFIELDS), "unknown");
}

static void test_input_from_meta(void **state)
{
    (void)state;
    cdx_doc_meta_t m;
    memset(&m, 0, sizeof m);
    char family[] = "홍", g1[] = "길동", street[] = "세종대로 110", postal[] = "03080";
    char phone[] = "tel:+82-10-1234-5678", birth[] = "19800101", sex[] = "M";
    char *given[] = {g1};
    m.patient_family = family;
    m.patient_given = given;
    m.npatient_given = 1;
    m.patient_birth_time.raw = birth;
    m.patient_gender.code = sex;
    m.patient_street = street;
    m.patient_postal_code = postal;
    m.patient_phone = phone;
    cdx_demog_input_t in;
    cdx_demog_input_from_meta(&m, &in);
    cdx_demog_t d;
    assert_int_equal(cdx_demog_from(&in, &d), 0);
    assert_string_equal(d.family, "hong");
    assert_string_equal(d.given, "gildong");
    assert_string_equal(d.birth, "19800101");
    assert_int_equal(d.sex, 'M');
    assert_string_equal(d.address, "sejongdaero110");
    assert_string_equal(d.postal, "03080");
    assert_string_equal(d.phone, "1012345678");
}

static void test_decide_thresholds(void **state)
{
    (void)state;
    cdx_match_thresholds_t t = {.link = 10, .review = 5};
    cdx_match_score_t s = {.total = 10};
    assert_int_equal(cdx_match_decide(&s, &t), CDX_MATCH_LINK);
    s.total = 9.99;
    assert_int_equal(cdx_match_decide(&s, &t), CDX_MATCH_REVIEW);
    s.total = 4;
    assert_int_equal(cdx_match_decide(&s, &t), CDX_MATCH_NONE);
    assert_true(cdx_match_default_thresholds.link > cdx_match_default_thresholds.review);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_and_romanize),
        cmocka_unit_test(test_surname_variants),
        cmocka_unit_test(test_phonetic_given),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_demog_keys),
        cmocka_unit_test(test_hangul_against_romanized),
        cmocka_unit_test(test_swapped_names),
        cmocka_unit_test(test_typo_is_partial),
        cmocka_unit_test(test_twins_not_linked),
        cmocka_unit_test(test_address_change_keeps_link),
        cmocka_unit_test(test_birth_partial),
        cmocka_unit_test(test_namesakes_not_linked),
        cmocka_unit_test(test_block_keys_survive_one_wrong_field),
        cmocka_unit_test(test_json_breakdown),
        cmocka_unit_test(test_input_from_meta),
        cmocka_unit_test(test_decide_thresholds),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
