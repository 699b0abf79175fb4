/* Unit tests of the [institution] key table (gateway/conf/institution.c):
 * the table drives the parser, the unknown-key message and the README's
 * table of institution keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_readme.h"
#include "cdx_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/conf/institution.h"

static char tmpdir[1024];
static int have_certs;

/* Two certificates, a.pem and b.pem, for cert_file. */
static int setup(void **state)
{
    (void)state;
    if (cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "institution") != 0)
        return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && for n in a b; do openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.pem -subj /CN=$n -days 1 "
             ">/dev/null 2>&1 || exit 1; done",
             tmpdir);
    have_certs = system(cmd) == 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cdx_test_remove_dir(tmpdir);
}

/* Two good values of every key.  A key of the table without a row here
 * fails test_every_key_parses: a new key comes with its samples. */
static const struct {
    const char *key, *a, *b;
} samples[] = {
    {"oid", "2.25.1", "urn:oid:2.25.2"},
    {"name", "Hanbit", "Riverside"},
    {"roles", "submit", "query, research"},
    {"endpoint", "https://a.example/cdx", "https://b.example/cdx"},
    {"cert_sha256", "0000000000000000000000000000000000000000000000000000000000000001",
     "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
     "02"},
    {"spki_sha256", "1000000000000000000000000000000000000000000000000000000000000000",
     "2000000000000000000000000000000000000000000000000000000000000000"},
    {"cert_file", "a.pem", "b.pem"},
    {"schema_policy", "strict", "standard"},
    {"identity_policy", "custodian_or_author", "custodian"},
    {"id_root", "2.25.77", "urn:oid:2.25.78"},
};

static int sample_of(const char *key)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(samples); i++) {
        if (strcmp(samples[i].key, key) == 0)
            return (int)i;
    }
    return -1;
}

static size_t values(const cdx_institution_t *inst)
{
    return inst->ncreds + inst->nid_roots;
}

/* Each key writes its value; a second line adds a value when the key is
 * repeatable and replaces the first when it is not. */
static void test_every_key_parses(void **state)
{
    (void)state;
    if (!have_certs)
        CDX_SKIP("openssl could not make the certificates for cert_file");
    size_t n = 0;
    const cdx_conf_key_t *keys = cdx_institution_keys(&n);
    assert_int_equal(n, CDX_ARRAY_SIZE(samples));
    for (size_t i = 0; i < n; i++) {
        const cdx_conf_key_t *k = &keys[i];
        int s = sample_of(k->name);
        if (s < 0)
            fail_msg("key %s has no samples in this test", k->name);
        char err[512];
        cdx_institution_t empty, one, two;
        memset(&empty, 0, sizeof empty);
        one = empty;
        if (cdx_institution_set_key(&one, k->name, samples[s].a, tmpdir, err, sizeof err) != 0)
            fail_msg("%s = %s: %s", k->name, samples[s].a, err);
        if (memcmp(&one, &empty, sizeof one) == 0)
            fail_msg("%s = %s changed nothing", k->name, samples[s].a);
        two = one;
        if (cdx_institution_set_key(&two, k->name, samples[s].b, tmpdir, err, sizeof err) != 0)
            fail_msg("%s = %s: %s", k->name, samples[s].b, err);
        if (memcmp(&two, &one, sizeof two) == 0)
            fail_msg("a second %s changed nothing", k->name);
        if (k->flags & CDX_KEY_REPEATABLE) {
            if (values(&two) != values(&one) + 1)
                fail_msg("%s is repeatable, but a second line did not add a value", k->name);
        } else if (values(&two) != values(&one)) {
            fail_msg("%s is not repeatable, but a second line added a value", k->name);
        }
    }
}

/* Dashes read as underscores, as in the main configuration. */
static void test_dashes(void **state)
{
    (void)state;
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    char err[512];
    assert_int_equal(cdx_institution_set_key(&inst, "identity-policy", "custodian_or_author", NULL,
                                             err, sizeof err),
                     0);
    assert_int_equal(inst.policy, CDX_POLICY_AUTHOR_OK);
}

/* The unknown key's message names every key of the table, in its order,
 * word for word as it always has. */
static void test_unknown_key_message(void **state)
{
    (void)state;
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    char err[512];
    assert_int_equal(cdx_institution_set_key(&inst, "colour", "red", NULL, err, sizeof err),
                     CDX_ECONFIG);
    assert_string_equal(err, "unknown key 'colour' in [institution] (known: oid, name, roles, "
                             "endpoint, cert_sha256, spki_sha256, cert_file, schema_policy, "
                             "identity_policy, id_root)");
    /* A key longer than any in the table is unknown, not cut to fit one. */
    assert_int_equal(cdx_institution_set_key(&inst, "oid_and_then_many_more_characters_here",
                                             "2.25.1", NULL, err, sizeof err),
                     CDX_ECONFIG);
    assert_non_null(strstr(err, "unknown key"));
}

/* The keys the table marks required are the ones a complete entry needs,
 * and no others. */
static void test_required_keys(void **state)
{
    (void)state;
    size_t n = 0;
    const cdx_conf_key_t *keys = cdx_institution_keys(&n);
    char err[512];
    cdx_institution_t all;
    memset(&all, 0, sizeof all);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].flags & CDX_KEY_REQUIRED)
            assert_int_equal(cdx_institution_set_key(&all, keys[i].name,
                                                     samples[sample_of(keys[i].name)].a, NULL, err,
                                                     sizeof err),
                             0);
    }
    if (cdx_institution_check(&all, err, sizeof err) != 0)
        fail_msg("an entry with only the required keys is refused: %s", err);
    for (size_t r = 0; r < n; r++) {
        if (!(keys[r].flags & CDX_KEY_REQUIRED))
            continue;
        cdx_institution_t inst;
        memset(&inst, 0, sizeof inst);
        for (size_t i = 0; i < n; i++) {
            if (i != r && (keys[i].flags & CDX_KEY_REQUIRED))
                cdx_institution_set_key(&inst, keys[i].name, samples[sample_of(keys[i].name)].a,
                                        NULL, err, sizeof err);
        }
        assert_int_equal(cdx_institution_check(&inst, err, sizeof err), CDX_ECONFIG);
        char want[64];
        snprintf(want, sizeof want, "%s: required", keys[r].name);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("without %s: '%s' should start with '%s'", keys[r].name, err, want);
    }
}

/* The README's table of institution keys is the key table. */
static void test_readme_matches_table(void **state)
{
    (void)state;
    cdx_readme_assert_table(cdx_institution_keys_markdown);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_parses),     cmocka_unit_test(test_dashes),
        cmocka_unit_test(test_unknown_key_message),  cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_readme_matches_table),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
