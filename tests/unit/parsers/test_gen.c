/* Unit tests of the synthetic population generator (samples/gen/cdxgw-gen.c,
 * compiled in here without its main): same seed, same bytes; every
 * document parses with the hardened parser and normalizes with its
 * institution's mapping without errors or unmapped codes; --size-kb pads. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdx/base/common.h"
#include "cdx_test.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/normalize.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#define CDXGW_GEN_NO_MAIN
#include "../../../samples/gen/cdxgw-gen.c"

static char tmp_root[1024];
static cdx_mappings_t *mappings;

static int run_gen(const char *sub, const char *institution, const char *size_kb)
{
    char out[1200];
    snprintf(out, sizeof out, "%s/%s", tmp_root, sub);
    char *argv[] = {"cdxgw-gen",
                    "--seed",
                    "42",
                    "--patients",
                    "20",
                    "--docs-per-patient",
                    "2",
                    "--out",
                    out,
                    "--institution",
                    (char *)institution,
                    "--size-kb",
                    (char *)size_kb,
                    NULL};
    return cdx_gen_main(13, argv);
}

/* Compares every file under a with the same path under b. */
static const char *cmp_other;
static size_t cmp_count;

static int cmp_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    char other[4096];
    const char *rel = path + strlen(tmp_root) + 2; /* past "/a" */
    snprintf(other, sizeof other, "%s%s", cmp_other, rel);
    char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    assert_int_equal(cdx_read_file(path, 64u << 20, &x, &xl), 0);
    if (cdx_read_file(other, 64u << 20, &y, &yl) != 0)
        fail_msg("%s has no twin %s", path, other);
    if (xl != yl || memcmp(x, y, xl) != 0)
        fail_msg("%s differs between two runs with the same seed", rel);
    assert_int_equal((size_t)st->st_size, xl);
    free(x);
    free(y);
    cmp_count++;
    return 0;
}

static const struct {
    const char *name, *oid;
} insts[] = {
    {"hanbit", "2.25.83570720227913622468059417429842681918"},
    {"dasom", "2.25.20981123314685619330378792882634570198"},
    {"riverside", "2.25.171372773189504359489447086526480295415"},
};

static size_t parsed, sizes_total, sizes_n;

static int check_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 4 || strcmp(path + n - 4, ".xml") != 0)
        return 0;
    const char *oid = NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(insts); i++) {
        char want[64];
        snprintf(want, sizeof want, "/%s/", insts[i].name);
        if (strstr(path + strlen(tmp_root), want) != NULL)
            oid = insts[i].oid;
    }
    assert_non_null(oid);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(path, 64u << 20, &data, &len), 0);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    if (cdx_xml_parse(data, len, &d, &doc) != 0)
        fail_msg("%s does not parse: %s", path, d.message);
    xmlDocPtr out = NULL;
    if (cdx_normalize(mappings, oid, doc, &d, &out, NULL) != 0)
        fail_msg("%s does not normalize", path);
    for (size_t i = 0; i < d.nissues; i++)
        if (d.issues[i].severity == CDX_SEV_ERROR || strcmp(d.issues[i].rule, "MAP-UNMAPPED") == 0)
            fail_msg("%s: %s %s", path, d.issues[i].rule, d.issues[i].message);
    xmlFreeDoc(out);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
    free(data);
    parsed++;
    sizes_total += (size_t)st->st_size;
    sizes_n++;
    return 0;
}

static void test_deterministic_and_valid(void **state)
{
    (void)state;
    assert_int_equal(run_gen("a", "mixed", "0"), 0);
    assert_int_equal(run_gen("b", "mixed", "0"), 0);
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/a", tmp_root);
    snprintf(b, sizeof b, "%s/b", tmp_root);
    cmp_other = b;
    assert_int_equal(nftw(a, cmp_entry, 16, FTW_PHYS), 0);
    /* 40 documents and the manifest. */
    assert_int_equal(cmp_count, 41);
    assert_int_equal(nftw(a, check_entry, 16, FTW_PHYS), 0);
    assert_int_equal(parsed, 40);
    printf("generator: %zu documents identical across runs, all parse and normalize\n", parsed);
}

static void test_size(void **state)
{
    (void)state;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(insts); i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "s-%s", insts[i].name);
        assert_int_equal(run_gen(sub, insts[i].name, "100"), 0);
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", tmp_root, sub);
        parsed = sizes_total = sizes_n = 0;
        assert_int_equal(nftw(dir, check_entry, 16, FTW_PHYS), 0);
        size_t mean = sizes_total / sizes_n;
        printf("generator: %s --size-kb 100 gives %zu bytes on average\n", insts[i].name, mean);
        /* Roughly: EUC-KR shrinks Korean text, so allow a wide band. */
        assert_true(mean > 70 * 1024 && mean < 130 * 1024);
    }
}

/* The 1 MB documents of --size-kb 1000 use about a third of the default
 * node budget (the budget of a 1 MB body is 160 nodes per KB). */
static size_t budget_max_nodes, budget_files;
static double budget_max_share;

static int budget_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 4 || strcmp(path + n - 4, ".xml") != 0)
        return 0;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(path, 64u << 20, &data, &len), 0);
    assert_true(len > 900 * 1024);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    size_t nodes = 0;
    if (cdx_xml_parse_limited(data, len, NULL, &d, &doc, &nodes) != 0)
        fail_msg("%s: %s", path, d.message);
    double share = (double)nodes / (double)cdx_xml_node_budget(NULL, len);
    if (share > 0.5)
        fail_msg("%s: %zu nodes is %.0f %% of the default budget", path, nodes, share * 100);
    if (share > budget_max_share)
        budget_max_share = share;
    if (nodes > budget_max_nodes)
        budget_max_nodes = nodes;
    budget_files++;
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&d);
    free(data);
    return 0;
}

static void test_large_documents_within_node_budget(void **state)
{
    (void)state;
    char out[1200];
    snprintf(out, sizeof out, "%s/budget", tmp_root);
    char *argv[] = {"cdxgw-gen", "--seed", "9",  "--patients",    "2",           "--docs-per-patient",
                    "1",         "--out",  out,  "--institution", "mixed",       "--size-kb",
                    "1000",      NULL};
    assert_int_equal(cdx_gen_main(13, argv), 0);
    assert_int_equal(nftw(out, budget_entry, 16, FTW_PHYS), 0);
    assert_int_equal(budget_files, 2);
    printf("node budget: 1 MB generated documents use at most %.0f %% of it (%zu nodes)\n",
           budget_max_share * 100, budget_max_nodes);
}

/* Runs cdxgw-gen --planted-truth into <tmp_root>/<sub> and its .csv
 * (out, truth), one document a record. */
static int run_truth(const char *sub, const char *seed, const char *persons, char out[1200],
                     char truth[1300])
{
    snprintf(out, 1200, "%s/%s", tmp_root, sub);
    snprintf(truth, 1300, "%s/%s.csv", tmp_root, sub);
    char *argv[] = {"cdxgw-gen",
                    "--seed",
                    (char *)seed,
                    "--patients",
                    (char *)persons,
                    "--docs-per-patient",
                    "1",
                    "--out",
                    out,
                    "--planted-truth",
                    truth,
                    NULL};
    return cdx_gen_main(11, argv);
}

/* --planted-truth: every document parses and normalizes, the truth file
 * lists each of them once with its person, and persons appear at several
 * institutions under different ids. */
static void test_planted_truth(void **state)
{
    (void)state;
    char out[1200], truth[1300];
    assert_int_equal(run_truth("truth", "5", "60", out, truth), 0);
    parsed = 0;
    assert_int_equal(nftw(out, check_entry, 16, FTW_PHYS), 0);
    char *csv = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(truth, 1u << 20, &csv, &len), 0);
    assert_true(strncmp(csv, "path,institution,patient_id,person\n", 35) == 0);
    size_t lines = 0, multi = 0;
    long last_person = -1;
    char last_id[160] = "";
    int insts_of_person = 0;
    for (char *line = strtok(csv + 35, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char path[256], inst[32], id[160];
        long person = -1;
        if (sscanf(line, "%255[^,],%31[^,],%159[^,],%ld", path, inst, id, &person) != 4)
            fail_msg("bad truth line: %s", line);
        char full[1600];
        snprintf(full, sizeof full, "%s/%s", out, path);
        struct stat st;
        if (stat(full, &st) != 0)
            fail_msg("%s is in the truth file but was not written", path);
        assert_non_null(strchr(id, '|'));
        if (person == last_person) {
            assert_string_not_equal(id, last_id); /* another local id */
            if (++insts_of_person == 2)
                multi++;
        } else {
            assert_true(person == last_person + 1);
            insts_of_person = 1;
        }
        last_person = person;
        snprintf(last_id, sizeof last_id, "%s", id);
        lines++;
    }
    free(csv);
    assert_int_equal(lines, parsed);
    assert_int_equal(last_person, 59);
    assert_true(multi >= 10);
    printf("planted truth: 60 persons, %zu documents, %zu persons at two places or more\n", lines,
           multi);
}

/* The population in memory: the same records for the same seed, and over
 * a few thousand persons every kind of difference, twins and namesakes. */
static void test_population_variations(void **state)
{
    (void)state;
    unsigned seen = 0, twins = 0, namesakes = 0, romanized_riverside = 0;
    size_t records = 0;
    for (unsigned long i = 0; i < 3000; i++) {
        pop_record_t a[POP_MAX_RECORDS], b[POP_MAX_RECORDS];
        size_t n = pop_person_records(3, i, a);
        assert_true(n >= 1 && n <= POP_MAX_RECORDS);
        assert_int_equal(pop_person_records(3, i, b), n);
        assert_memory_equal(a, b, n * sizeof a[0]);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(a[k].person, i);
            seen |= a[k].variations;
            if ((a[k].variations & POP_ROMANIZED) != 0) {
                assert_int_equal(a[k].p.inst, INST_RIVERSIDE);
                assert_true((unsigned char)a[k].p.family[0] < 0x80);
                romanized_riverside++;
            }
        }
        twins += a[0].relation == POP_TWIN;
        namesakes += a[0].relation == POP_NAMESAKE;
        records += n;
    }
    assert_int_equal(seen, 0x1ffu); /* every POP_* difference occurs */
    assert_true(twins > 20 && namesakes > 20 && romanized_riverside > 100);
    printf("population: 3000 persons, %zu records, %u twins, %u namesakes\n", records, twins,
           namesakes);
}

/* 1 when s converts to EUC-KR. */
static int euckr_ok(iconv_t cd, const char *s)
{
    char out[256];
    char *ip = (char *)s, *op = out;
    size_t il = strlen(s), ol = sizeof out;
    iconv(cd, NULL, NULL, NULL, NULL);
    return iconv(cd, &ip, &il, &op, &ol) != (size_t)-1;
}

/* Dasom writes its referrals in EUC-KR, which has codes for 2,350 of the
 * 11,172 Hangul syllables: every name and address of a Dasom record, typos
 * included, is one it can write, for several seeds (seed 11 once made a
 * typo 혝 that stopped cdxgw-gen --planted-truth at its 475th record). */
static void test_dasom_records_encode(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {3, 5, 11, 42, 2026};
    iconv_t cd = iconv_open("EUC-KR", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t dasom = 0, typos = 0;
    for (size_t si = 0; si < CDX_ARRAY_SIZE(seeds); si++) {
        for (unsigned long i = 0; i < 3000; i++) {
            pop_record_t rec[POP_MAX_RECORDS];
            size_t n = pop_person_records(seeds[si], i, rec);
            for (size_t k = 0; k < n; k++) {
                const patient_t *p = &rec[k].p;
                if (p->inst != INST_DASOM)
                    continue;
                const char *fields[] = {p->family, p->given, p->street, p->city, p->state};
                for (size_t f = 0; f < CDX_ARRAY_SIZE(fields); f++)
                    if (!euckr_ok(cd, fields[f]))
                        fail_msg("seed %llu person %lu: \"%s\" has no EUC-KR code",
                                 (unsigned long long)seeds[si], i, fields[f]);
                dasom++;
                typos += (rec[k].variations & POP_TYPO) != 0;
            }
        }
    }
    iconv_close(cd);
    assert_true(typos > 50);
    /* The generator writes them all: the run seed 11 stopped once. */
    char out[1200], truth[1300];
    assert_int_equal(run_truth("euckr", "11", "500", out, truth), 0);
    printf("population: %zu Dasom records over %zu seeds (%zu with a typo) all EUC-KR\n", dasom,
           CDX_ARRAY_SIZE(seeds), typos);
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    char dir[1200], err[1024];
    cdx_xml_global_init();
    cdx_xslt_global_init();
    if (cdx_test_scratch_dir(tmp_root, sizeof tmp_root, "gen") != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/mappings", src ? src : ".");
    if (cdx_mappings_load(dir, &mappings, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdx_mappings_free(mappings);
    cdx_test_remove_dir(tmp_root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_and_valid),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_large_documents_within_node_budget),
        cmocka_unit_test(test_planted_truth),
        cmocka_unit_test(test_population_variations),
        cmocka_unit_test(test_dasom_records_encode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
