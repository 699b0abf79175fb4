/* Unit tests of the configuration table (gateway/conf/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/conf/config.h"
#include "cdx/parsers/xml.h"

static char tmpdir[1024];

static int setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "config");
}

static void write_file(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_defaults(void **state)
{
    (void)state;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8443");
    assert_int_equal(cfg.max_body_bytes, 20971520);
    assert_int_equal(cfg.max_headers, 100);
    assert_int_equal(cfg.header_timeout_ms, 10000);
    /* The node budget's defaults are the parser's own. */
    assert_int_equal(cfg.xml_max_nodes, CDX_XML_DEFAULT_MAX_NODES);
    assert_int_equal(cfg.xml_max_nodes_per_kb, CDX_XML_DEFAULT_MAX_NODES_PER_KB);
    char err[256];
    /* Without TLS files, serving is refused with the key named. */
    assert_int_equal(cdx_config_finish(&cfg, err, sizeof err), 0);
    assert_int_equal(cdx_config_require_tls(&cfg, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "tls_cert"));
    cdx_config_cleanup(&cfg);
}

/* The delivery keys: defaults, and a backoff whose lower bound is above
 * its upper one refused with both named. */
static void test_delivery_keys(void **state)
{
    (void)state;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    assert_int_equal(cfg.delivery_max_attempts, 12);
    assert_int_equal(cfg.delivery_concurrency, 4);
    assert_int_equal(cfg.delivery_system_store, 0);
    char err[256];
    assert_int_equal(cdx_config_set(&cfg, "delivery-backoff-min-ms", "5000", err, sizeof err), 0);
    assert_int_equal(cdx_config_set(&cfg, "delivery_backoff_max_ms", "1000", err, sizeof err), 0);
    assert_int_equal(cdx_config_finish(&cfg, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "delivery_backoff_max_ms"));
    assert_int_equal(cdx_config_set(&cfg, "delivery_max_attempts", "0", err, sizeof err),
                     CDX_ECONFIG);
    cdx_config_cleanup(&cfg);
}

static void test_set_values(void **state)
{
    (void)state;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    char err[256];
    assert_int_equal(cdx_config_set(&cfg, "max-body-bytes", "2M", err, sizeof err), 0);
    assert_int_equal(cfg.max_body_bytes, 2 * 1024 * 1024);
    assert_int_equal(cdx_config_set(&cfg, "max_headers", "50", err, sizeof err), 0);
    assert_int_equal(cfg.max_headers, 50);
    assert_int_equal(cdx_config_set(&cfg, "listen", "[::1]:0", err, sizeof err), 0);
    assert_int_equal(cdx_config_set(&cfg, "log_level", "debug", err, sizeof err), 0);

    assert_int_equal(cdx_config_set(&cfg, "max_body_bytes", "abc", err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "max_body_bytes"));
    assert_int_equal(cdx_config_set(&cfg, "max_body_bytes", "0", err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "out of bounds"));
    assert_int_equal(cdx_config_set(&cfg, "max_body_bytes", "99999999999999999999999", err,
                                    sizeof err),
                     CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "max_body_bytes", "-5", err, sizeof err), CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "listen", "localhost:8443", err, sizeof err),
                     CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "listen", "127.0.0.1:70000", err, sizeof err),
                     CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "listen", "127.0.0.1", err, sizeof err), CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "log_level", "loud", err, sizeof err), CDX_ECONFIG);
    assert_int_equal(cdx_config_set(&cfg, "no_such_key", "1", err, sizeof err), CDX_ENOTFOUND);
    assert_non_null(strstr(err, "no_such_key"));
    /* The failed sets left the good values alone. */
    assert_int_equal(cfg.max_body_bytes, 2 * 1024 * 1024);
    cdx_config_cleanup(&cfg);
}

static void test_file(void **state)
{
    (void)state;
    char path[1200], err[512];
    write_file("good.conf",
               "# comment\n; another\n\nlisten = 127.0.0.1:9443\n  max_headers=64  \r\n"
               "tls_cert = pki/server.crt\ntls_key = /abs/server.key\ntls_client_ca = ca.crt\n"
               "\n[institution]\noid = urn:oid:2.25.42\nname = Test Hospital\nroles = submit\n"
               "cert_sha256 = "
               "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:"
               "44:55:66:77:88:99\n",
               path, sizeof path);
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    assert_int_equal(cdx_config_load_file(&cfg, path, err, sizeof err), 0);
    assert_int_equal(cdx_config_finish(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.listen, "127.0.0.1:9443");
    assert_int_equal(cfg.max_headers, 64);
    /* Relative paths resolve against the file's folder. */
    char want[1300];
    snprintf(want, sizeof want, "%s/pki/server.crt", tmpdir);
    assert_string_equal(cfg.tls_cert, want);
    assert_string_equal(cfg.tls_key, "/abs/server.key");
    assert_int_equal(cfg.ninstitutions, 1);
    assert_string_equal(cfg.institutions[0].oid, "2.25.42");
    assert_int_equal(cfg.institutions[0].ncreds, 1);
    /* --print-config masks the key file as a secret and prints the rest. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    cdx_config_print(&cfg, mem);
    fclose(mem);
    assert_non_null(strstr(buf, "listen = 127.0.0.1:9443"));
    assert_non_null(strstr(buf, "secret"));
    free(buf);
    cdx_config_cleanup(&cfg);
}

static void test_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"listen = 1.2.3.4:1\nbogus = 1\n", ":2: bogus: unknown"},
        {"max_headers = many\n", ":1: max_headers"},
        {"just words\n", ":1: expected `key = value`"},
        {"[server]\n", ":1: unknown section"},
        {"[institution]\nname = x\n", "institution ending here"},
        {"[institution]\noid = 1.02\n", ":2: oid"},
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        char path[1200], err[512];
        write_file("bad.conf", cases[i].text, path, sizeof path);
        cdx_config_t cfg;
        cdx_config_init(&cfg);
        assert_int_equal(cdx_config_load_file(&cfg, path, err, sizeof err), CDX_ECONFIG);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        cdx_config_cleanup(&cfg);
    }
    char err[256];
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    assert_int_equal(cdx_config_load_file(&cfg, "/nonexistent/cdxgw.conf", err, sizeof err),
                     CDX_ECONFIG);
    assert_non_null(strstr(err, "cannot read"));
    cdx_config_cleanup(&cfg);
}

static void test_help_lists_every_key(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    cdx_config_help_markdown(mem);
    fclose(mem);
    static const char *const some[] = {"`listen`", "`max_body_bytes`", "`tls_crl`",
                                       "`shutdown_timeout_ms`", "`schema_path`"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(some); i++)
        assert_non_null(strstr(buf, some[i]));
    free(buf);
}

/* The README's configuration table is the key table: every row the
 * table renders must appear in the README word for word. */
static void test_readme_matches_table(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset: README.md not found");
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", src);
    char *readme = NULL;
    size_t rlen = 0;
    assert_int_equal(cdx_read_file(path, 1u << 22, &readme, &rlen), 0);
    char *table = NULL;
    size_t tlen = 0;
    FILE *mem = open_memstream(&table, &tlen);
    cdx_config_help_markdown(mem);
    fclose(mem);
    for (char *line = strtok(table, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(readme, line) == NULL)
            fail_msg("README.md lacks the configuration row: %s", line);
    }
    free(table);
    free(readme);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_set_values),
        cmocka_unit_test(test_file),       cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_help_lists_every_key),
        cmocka_unit_test(test_delivery_keys),
        cmocka_unit_test(test_readme_matches_table),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
