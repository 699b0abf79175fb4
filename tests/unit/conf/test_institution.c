/* Unit tests of institution entries as configured: role lists, the
 * [institution] keys one by one, complete entries, the institutions file
 * with its line-precise errors, and certificate files turned into
 * fingerprints (gateway/conf/institution.c, gateway/domain/institution.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdx_test.h"
#include "cdx_test_institution.h"

#include "cdx/base/common.h"
#include "cdx/conf/institution.h"
#include "cdx/store/registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[1024];

static int group_setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "institution");
}

static int group_teardown(void **state)
{
    (void)state;
    return cdx_test_remove_dir(tmpdir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* ---- Roles ----------------------------------------------------------------------------- */

static void test_roles(void **state)
{
    unsigned r = 99;
    assert_int_equal(cdx_roles_parse("submit,query", &r), 0);
    assert_int_equal(r, CDX_ROLE_SUBMIT | CDX_ROLE_QUERY);
    assert_int_equal(cdx_roles_parse(" research  admin ", &r), 0);
    assert_int_equal(r, CDX_ROLE_RESEARCH | CDX_ROLE_ADMIN);
    assert_int_equal(cdx_roles_parse("submit, query ,admin", &r), 0);
    assert_int_equal(r, CDX_ROLE_SUBMIT | CDX_ROLE_QUERY | CDX_ROLE_ADMIN);
    assert_int_equal(cdx_roles_parse("", &r), 0);
    assert_int_equal(r, 0);
    r = 99;
    assert_int_equal(cdx_roles_parse("none", &r), 0);
    assert_int_equal(r, 0);

    r = 7;
    assert_int_equal(cdx_roles_parse("bogus", &r), CDX_EINVAL);
    assert_int_equal(r, 7);
    assert_int_equal(cdx_roles_parse("submit,bogus", &r), CDX_EINVAL);
    assert_int_equal(cdx_roles_parse("submit;query", &r), CDX_EINVAL);
    assert_int_equal(cdx_roles_parse("none,submit", &r), CDX_EINVAL);
    assert_int_equal(cdx_roles_parse(NULL, &r), CDX_EINVAL);

    char buf[64];
    cdx_roles_format(0, buf, sizeof buf);
    assert_string_equal(buf, "none");
    cdx_roles_format(CDX_ROLE_QUERY | CDX_ROLE_SUBMIT, buf, sizeof buf);
    assert_string_equal(buf, "submit,query");
    cdx_roles_format(CDX_ROLE_SUBMIT | CDX_ROLE_QUERY | CDX_ROLE_RESEARCH | CDX_ROLE_ADMIN, buf,
                     sizeof buf);
    assert_string_equal(buf, "submit,query,research,admin");
    assert_int_equal(cdx_roles_parse(buf, &r), 0);
    assert_int_equal(r, 15);
    char small[8];
    cdx_roles_format(15, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

/* ---- Institution keys ------------------------------------------------------------------ */

static int set(cdx_institution_t *inst, const char *key, const char *value, char *err,
               size_t errlen)
{
    err[0] = '\0';
    return cdx_institution_set_key(inst, key, value, tmpdir, err, errlen);
}

static void expect_bad(const char *key, const char *value, const char *needle)
{
    cdx_institution_t inst = make_inst("2.25.7", "Keep", CDX_ROLE_QUERY, "https://keep.example");
    cdx_institution_t before = inst;
    char err[512];
    int rc = set(&inst, key, value, err, sizeof err);
    if (rc != CDX_ECONFIG)
        fail_msg("%s = '%s' was accepted", key, value);
    if (strstr(err, needle) == NULL)
        fail_msg("%s = '%s': message '%s' lacks '%s'", key, value, err, needle);
    /* A refused value leaves the institution as it was. */
    assert_memory_equal(&inst, &before, sizeof inst);
}

static void test_set_key_good(void **state)
{
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    char err[512];

    assert_int_equal(set(&inst, "oid", "2.25.12345", err, sizeof err), 0);
    assert_string_equal(inst.oid, "2.25.12345");
    assert_int_equal(set(&inst, "oid", "urn:oid:1.2.840.113619.2", err, sizeof err), 0);
    assert_string_equal(inst.oid, "1.2.840.113619.2");
    assert_int_equal(set(&inst, "oid", "0.0", err, sizeof err), 0);
    assert_int_equal(set(&inst, "oid", "2.999.0.10", err, sizeof err), 0);
    char longest[128];
    memset(longest, '1', 127);
    longest[0] = '2';
    longest[1] = '.';
    longest[127] = '\0';
    assert_int_equal(set(&inst, "oid", longest, err, sizeof err), 0);

    assert_int_equal(set(&inst, "name", "St. Elsewhere", err, sizeof err), 0);
    assert_string_equal(inst.name, "St. Elsewhere");
    assert_int_equal(set(&inst, "name",
                         "H\xc3\xb4pital Saint-\xc3\x89loi \xe2\x80\x94 \xf0\x9f\x8f\xa5", err,
                         sizeof err),
                     0);
    char n255[256];
    memset(n255, 'n', 255);
    n255[255] = '\0';
    assert_int_equal(set(&inst, "name", n255, err, sizeof err), 0);

    assert_int_equal(set(&inst, "roles", "submit, query", err, sizeof err), 0);
    assert_int_equal(inst.roles, CDX_ROLE_SUBMIT | CDX_ROLE_QUERY);
    assert_int_equal(set(&inst, "roles", "", err, sizeof err), 0);
    assert_int_equal(inst.roles, 0);

    static const char *const endpoints[] = {
        "",
        "https://gw.example.org",
        "https://gw.example.org:8443/cdx/in?x=1",
        "https://[::1]:8443/x",
        "https://10.0.0.1/",
        "HTTPS://GW.EXAMPLE.ORG",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(endpoints); i++) {
        if (set(&inst, "endpoint", endpoints[i], err, sizeof err) != 0)
            fail_msg("endpoint '%s' refused: %s", endpoints[i], err);
        assert_string_equal(inst.endpoint, endpoints[i]);
    }

    assert_int_equal(set(&inst, "cert_sha256",
                         "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
                         "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
                         err, sizeof err),
                     0);
    assert_int_equal(inst.ncreds, 1);
    assert_int_equal(inst.creds[0].spki, 0);
    assert_string_equal(inst.creds[0].sha256,
                        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    assert_int_equal(set(&inst, "spki-sha256",
                         "1111111111111111111111111111111111111111111111111111111111111111", err,
                         sizeof err),
                     0);
    assert_int_equal(inst.ncreds, 2);
    assert_int_equal(inst.creds[1].spki, 1);

    /* Repeatable up to the limit, then refused. */
    char hex[65];
    for (int i = 2; i < CDX_INST_MAX_CREDS; i++) {
        memset(hex, "23456789"[i], 64);
        hex[64] = '\0';
        assert_int_equal(set(&inst, "cert_sha256", hex, err, sizeof err), 0);
    }
    assert_int_equal(inst.ncreds, CDX_INST_MAX_CREDS);
    memset(hex, 'f', 64);
    assert_int_equal(set(&inst, "cert_sha256", hex, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "at most"));
    assert_int_equal(inst.ncreds, CDX_INST_MAX_CREDS);

    /* id_root repeats, drops urn:oid:, and is bounded. */
    assert_int_equal(set(&inst, "id_root", "urn:oid:1.2.840.99.1", err, sizeof err), 0);
    assert_int_equal(set(&inst, "id-root", "2.16.840.1.113883.19.5", err, sizeof err), 0);
    assert_int_equal(inst.nid_roots, 2);
    assert_string_equal(inst.id_roots[0], "1.2.840.99.1");
    assert_string_equal(inst.id_roots[1], "2.16.840.1.113883.19.5");
    for (size_t i = 2; i < CDX_INST_MAX_ID_ROOTS; i++) {
        char root[32];
        snprintf(root, sizeof root, "1.2.3.%zu", i);
        assert_int_equal(set(&inst, "id_root", root, err, sizeof err), 0);
    }
    assert_int_equal(set(&inst, "id_root", "1.2.3.999", err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "at most"));
    assert_int_equal(inst.nid_roots, CDX_INST_MAX_ID_ROOTS);
}

static void test_set_key_bad(void **state)
{
    expect_bad("oid", "1.02.3", "leading zero");
    expect_bad("oid", "3.1", "first arc");
    expect_bad("oid", "abc", "'abc' is not an OID (digits separated by dots, e.g. 2.25.12345)");
    expect_bad("oid", "1.2.x", "'1.2.x' is not an OID (digits separated by dots");
    expect_bad("oid", "1", "at least two arcs");
    expect_bad("oid", "", "oid: required");
    expect_bad("oid", "urn:oid:", "oid: required");
    expect_bad("oid", "1..2", "not an OID");
    expect_bad("oid", "1.2.", "not an OID");
    expect_bad("oid", ".1.2", "not an OID");
    expect_bad("oid", "1.2 .3", "not an OID");
    expect_bad("oid", "-1.2", "not an OID");
    expect_bad("oid", "10.2", "first arc");
    char long_oid[200];
    memset(long_oid, '1', 128);
    long_oid[1] = '.';
    long_oid[128] = '\0';
    expect_bad("oid", long_oid, "longer than 127");

    expect_bad("name", "", "name: required");
    char n256[257];
    memset(n256, 'n', 256);
    n256[256] = '\0';
    expect_bad("name", n256, "too long");
    expect_bad("name", "tab\there", "control");
    expect_bad("name", "del\x7f", "control");
    expect_bad("name", "latin1 caf\xe9", "UTF-8");
    expect_bad("name", "overlong \xc0\xaf", "UTF-8");
    expect_bad("name", "c1 \xc2\x85", "control");
    expect_bad("name", "surrogate \xed\xa0\x80", "UTF-8");
    expect_bad("name", "cut \xe2\x80", "UTF-8");

    expect_bad("roles", "submit,bogus", "unknown role 'bogus'");
    expect_bad("roles", "none submit", "cannot be combined");

    expect_bad("endpoint", "http://x", "must be an https URL (https://host[:port][/path])");
    expect_bad("endpoint", "ftp://x", "https URL");
    expect_bad("endpoint", "x", "https URL");
    expect_bad("endpoint", "https://", "host");
    expect_bad("endpoint", "https:///path", "host");
    expect_bad("endpoint", "https://user:pw@host/", "user information");
    expect_bad("endpoint", "https://host:0/", "port");
    expect_bad("endpoint", "https://host:65536", "port");
    expect_bad("endpoint", "https://host:/", "port");
    expect_bad("endpoint", "https://host:8443x/", "port");
    expect_bad("endpoint", "https://ho st/", "space");
    expect_bad("endpoint", "https://host/a b", "space");
    expect_bad("endpoint", "https://host?x=1", "https://host[:port][/path]");
    expect_bad("endpoint", "https://[zz]/", "IPv6");
    expect_bad("endpoint", "https://-host/", "host");

    expect_bad("cert_sha256", "abc", "not a SHA-256 fingerprint");
    expect_bad("spki_sha256", "abc", "spki_sha256:");
    char hex[80];
    memset(hex, 'a', 63);
    hex[63] = '\0';
    expect_bad("cert_sha256", hex, "64 hex digits");
    memset(hex, 'a', 65);
    hex[65] = '\0';
    expect_bad("cert_sha256", hex, "64 hex digits");
    memset(hex, 'g', 64);
    hex[64] = '\0';
    expect_bad("cert_sha256", hex, "64 hex digits");
    expect_bad("cert_sha256", "", "64 hex digits");

    expect_bad("cert_file", "no-such-cert.pem", "no-such-cert.pem");
    expect_bad("cert_file", "", "cert_file");

    expect_bad("id_root", "1.2.abc", "id_root: '1.2.abc' is not an OID");
    expect_bad("id_root", "", "id_root: required");
    expect_bad("id_root", "9.1", "first arc");
    expect_bad("color", "red", "unknown key 'color' in [institution]");
    expect_bad("OID", "1.2", "unknown key 'OID'");

    /* The same fingerprint twice in one institution. */
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    char err[512];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    assert_int_equal(set(&inst, "cert_sha256", hex, err, sizeof err), 0);
    assert_int_equal(set(&inst, "spki_sha256", hex, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "already listed"));
    assert_int_equal(inst.ncreds, 1);
    /* ... and the same id root twice. */
    assert_int_equal(set(&inst, "id_root", "1.2.5", err, sizeof err), 0);
    assert_int_equal(set(&inst, "id_root", "urn:oid:1.2.5", err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "already listed"));
    assert_int_equal(inst.nid_roots, 1);
}

static void test_institution_check(void **state)
{
    char err[512];
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    assert_int_equal(cdx_institution_check(&inst, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "oid"));
    snprintf(inst.oid, sizeof inst.oid, "2.25.1");
    assert_int_equal(cdx_institution_check(&inst, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "name"));
    snprintf(inst.name, sizeof inst.name, "A");
    assert_int_equal(cdx_institution_check(&inst, err, sizeof err), 0);
    snprintf(inst.endpoint, sizeof inst.endpoint, "http://a");
    assert_int_equal(cdx_institution_check(&inst, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, "endpoint"));
    inst.endpoint[0] = '\0';
    add_cred(&inst, 0, 'A');
    assert_int_equal(cdx_institution_check(&inst, err, sizeof err), CDX_ECONFIG);
}

/* ---- Institutions file ----------------------------------------------------------------- */

static void file_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void test_file_load_good(void **state)
{
    char path[1200], err[1024] = "";
    file_path(path, sizeof path, "good.conf");
    write_text(path,
               "\xEF\xBB\xBF# Federation members\n"
               "; maintained by the federation office\n"
               "\n"
               "[institution]\n"
               "  oid   =   urn:oid:2.25.100  \n"
               "name = St. Elsewhere; Cardiology # not a comment\r\n"
               "roles = submit, query\n"
               "endpoint = https://elsewhere.example:8443/cdx\n"
               "cert_sha256 = AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:"
               "AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA:AA\n"
               "spki_sha256 = bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
               "\n"
               "  # indented comment\n"
               "[ institution ]\n"
               "oid = 1.3.6.1.4.1.99\n"
               "name = Research Lab\n"
               "roles = research");
    cdx_institution_t *list = NULL;
    size_t n = 0;
    int rc = cdx_institutions_file_load(path, &list, &n, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].oid, "2.25.100");
    assert_string_equal(list[0].name, "St. Elsewhere; Cardiology # not a comment");
    assert_int_equal(list[0].roles, CDX_ROLE_SUBMIT | CDX_ROLE_QUERY);
    assert_string_equal(list[0].endpoint, "https://elsewhere.example:8443/cdx");
    assert_int_equal(list[0].ncreds, 2);
    assert_int_equal(list[0].creds[0].spki, 0);
    assert_string_equal(list[0].creds[0].sha256,
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(list[0].creds[1].spki, 1);
    assert_string_equal(list[1].oid, "1.3.6.1.4.1.99");
    assert_string_equal(list[1].name, "Research Lab");
    assert_int_equal(list[1].roles, CDX_ROLE_RESEARCH);
    assert_string_equal(list[1].endpoint, "");
    assert_int_equal(list[1].ncreds, 0);

    /* What the file holds can be stored as is. */
    char db[1200];
    snprintf(db, sizeof db, "%s/stored.db", tmpdir);
    cdx_registry_t *reg = NULL;
    assert_int_equal(cdx_registry_open(db, &reg, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cdx_registry_put_institution(reg, &list[i], "local:load"), 0);
    cdx_registry_close(reg);
    free(list);

    /* A file of comments only is valid and empty. */
    write_text(path, "# nothing yet\n\n");
    list = (cdx_institution_t *)1;
    assert_int_equal(cdx_institutions_file_load(path, &list, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(list);
}

static void expect_file_error(const char *text, int line, const char *needle)
{
    char path[1200], err[1024] = "", prefix[1300];
    file_path(path, sizeof path, "bad.conf");
    write_text(path, text);
    cdx_institution_t *list = (cdx_institution_t *)1;
    size_t n = 5;
    int rc = cdx_institutions_file_load(path, &list, &n, err, sizeof err);
    if (rc != CDX_ECONFIG)
        fail_msg("accepted (rc %d):\n%s", rc, text);
    assert_null(list);
    assert_int_equal(n, 0);
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, needle) == NULL)
        fail_msg("message '%s' should start with '%s' and contain '%s'", err, prefix, needle);
}

static void test_file_load_errors(void **state)
{
    expect_file_error("# comment\n\noid = 2.25.1\n[institution]\n", 3, "before any [institution]");
    expect_file_error("[institution]\noid = 2.25.1\nname = A\n\n[site]\n", 5,
                      "unknown section '[site]'");
    expect_file_error("[institution\n", 1, "unknown section");
    expect_file_error("[institution]\noid = 2.25.1\ncolor = red\n", 3,
                      "unknown key 'color' in [institution]");
    expect_file_error("[institution]\noid = 2.25.1\nname = A\n"
                      "[institution]\nname = B\noid = 2.25.1\n",
                      6, "duplicate oid 2.25.1");
    expect_file_error("[institution]\noid = 2.25.1\nname = A\n\n"
                      "[institution]\noid = 2.25.2\n\n[institution]\noid = 2.25.3\nname = C\n",
                      5, "name");
    expect_file_error("[institution]\nname = A\n", 1, "oid");
    expect_file_error("[institution]\noid = 1.02\n", 2, "leading zero");
    expect_file_error("[institution]\njust words\n", 2, "expected `key = value`");
    expect_file_error("[institution]\n = 1.2\n", 2, "missing key");
    expect_file_error("[institution]\noid = 2.25.1\nendpoint = http://x\n", 3, "https");

    /* A line over 64 KiB. */
    size_t big = 70000;
    char *text = malloc(big + 64);
    assert_non_null(text);
    strcpy(text, "[institution]\nname = ");
    size_t used = strlen(text);
    memset(text + used, 'x', big);
    strcpy(text + used + big, "\n");
    expect_file_error(text, 2, "line longer");
    free(text);

    /* A missing file names its path. */
    char path[1200], err[1024] = "";
    file_path(path, sizeof path, "missing.conf");
    cdx_institution_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cdx_institutions_file_load(path, &list, &n, err, sizeof err), CDX_ECONFIG);
    assert_non_null(strstr(err, path));
}

/* ---- Certificate files ----------------------------------------------------------------- */

static void test_cert_file(void **state)
{
    char dir[1200], cmd[3000], expected[65], err[1024];
    snprintf(dir, sizeof dir, "%s/certs", tmpdir);
    assert_int_equal(cdx_mkdirs(dir, 0700), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-subj /CN=t -days 1 -keyout k -out c >/dev/null 2>&1",
             dir);
    if (system(cmd) != 0)
        CDX_SKIP("the openssl command could not make a test certificate");

    snprintf(cmd, sizeof cmd, "openssl x509 -noout -fingerprint -sha256 -in '%s/c'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    const char *eq = strchr(line, '=');
    assert_non_null(eq);
    size_t k = 0;
    for (const char *s = eq + 1; *s && k < 64; s++) {
        if (isxdigit((unsigned char)*s))
            expected[k++] = (char)tolower((unsigned char)*s);
    }
    expected[k] = '\0';
    assert_int_equal(k, 64);

    /* Relative to base_dir. */
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    assert_int_equal(cdx_institution_set_key(&inst, "cert_file", "c", dir, err, sizeof err), 0);
    assert_int_equal(inst.ncreds, 1);
    assert_int_equal(inst.creds[0].spki, 0);
    assert_string_equal(inst.creds[0].sha256, expected);

    /* The printed fingerprint, colons and all, names the same credential. */
    char printed[200];
    snprintf(printed, sizeof printed, "%s", eq + 1);
    printed[strcspn(printed, "\r\n")] = '\0';
    cdx_institution_t other;
    memset(&other, 0, sizeof other);
    assert_int_equal(cdx_institution_set_key(&other, "cert_sha256", printed, NULL, err, sizeof err),
                     0);
    assert_string_equal(other.creds[0].sha256, expected);

    /* An absolute path ignores base_dir. */
    char abs[1300];
    snprintf(abs, sizeof abs, "%s/c", dir);
    memset(&other, 0, sizeof other);
    assert_int_equal(
        cdx_institution_set_key(&other, "cert_file", abs, "/nonexistent", err, sizeof err), 0);
    assert_string_equal(other.creds[0].sha256, expected);

    /* A missing file is named with its resolved path; a key is not a certificate. */
    assert_int_equal(cdx_institution_set_key(&inst, "cert_file", "nope.pem", dir, err, sizeof err),
                     CDX_ECONFIG);
    char missing[3000];
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    assert_non_null(strstr(err, missing));
    assert_int_equal(cdx_institution_set_key(&inst, "cert_file", "k", dir, err, sizeof err),
                     CDX_ECONFIG);
    assert_non_null(strstr(err, "certificate"));
    assert_int_equal(inst.ncreds, 1);

    /* In an institutions file, cert_file is relative to the file's folder. */
    char conf[1300];
    snprintf(conf, sizeof conf, "%s/members.conf", dir);
    write_text(conf, "[institution]\noid = 2.25.9\nname = T\ncert_file = c\n");
    cdx_institution_t *list = NULL;
    size_t n = 0;
    int rc = cdx_institutions_file_load(conf, &list, &n, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].ncreds, 1);
    assert_string_equal(list[0].creds[0].sha256, expected);
    free(list);

    write_text(conf, "[institution]\noid = 2.25.9\nname = T\ncert_file = gone.pem\n");
    assert_int_equal(cdx_institutions_file_load(conf, &list, &n, err, sizeof err), CDX_ECONFIG);
    snprintf(missing, sizeof missing, "%s:4: cert_file: cannot read '%s/gone.pem'", conf, dir);
    if (strncmp(err, missing, strlen(missing)) != 0)
        fail_msg("'%s' should start with '%s'", err, missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),          cmocka_unit_test(test_set_key_good),
        cmocka_unit_test(test_set_key_bad),    cmocka_unit_test(test_institution_check),
        cmocka_unit_test(test_file_load_good), cmocka_unit_test(test_file_load_errors),
        cmocka_unit_test(test_cert_file),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
