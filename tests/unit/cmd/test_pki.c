/* Unit tests for gateway/cmd/pki.c: the demo CA, issued certificates and their
 * fingerprints, checked both with OpenSSL's verifier and the openssl tool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cdx/base/common.h"
#include "cdx/conf/institution.h"
#include "cdx/cmd/pki.h"
#include "cdx_test.h"

typedef struct {
    char dir[4096];
    cdx_pki_ca_t *ca;
} fixture_t;

static fixture_t fx;

/* Builds dir/name into a static ring so a test can hold a few paths. */
static const char *path_of(const char *name)
{
    static char ring[8][4200];
    static unsigned next;
    char *p = ring[next++ % 8];
    int n = snprintf(p, sizeof ring[0], "%s/%s", fx.dir, name);
    assert_true(n > 0 && (size_t)n < sizeof ring[0]);
    return p;
}

/* snprintf that fails the test on truncation, so no command is cut short. */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int len = vsnprintf(buf, n, f, ap);
    va_end(ap);
    assert_true(len >= 0 && (size_t)len < n);
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    assert_int_equal(fclose(f), 0);
    assert_non_null(x);
    return x;
}

/* Returns X509_V_OK or the verifier's error for leaf against the CA alone,
 * checked for the given X509_PURPOSE_*. */
static int verify(const char *ca_path, const char *leaf_path, int purpose)
{
    X509 *ca = read_cert(ca_path);
    X509 *leaf = read_cert(leaf_path);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    X509_free(ca);
    ERR_clear_error();
    return rc;
}

/* Runs cmd through the shell and returns its first output line, trimmed;
 * the command must exit 0. */
static void run(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (fgets(out, (int)outlen, p) == NULL)
        out[0] = '\0';
    char sink[256];
    while (fgets(sink, sizeof sink, p) != NULL) {
    }
    int status = pclose(p);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    out[strcspn(out, "\r\n")] = '\0';
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)st.st_mode & 07777;
}

static int setup(void **state)
{
    if (cdx_test_scratch_dir(fx.dir, sizeof fx.dir, "pki") != 0)
        return -1;
    /* The shell commands below quote paths with single quotes. */
    if (strchr(fx.dir, '\'') != NULL)
        return -1;
    int rc = cdx_pki_ca_create(path_of("ca.crt"), path_of("ca.key"), "cdxgw test CA", 30, &fx.ca);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    cdx_pki_ca_free(fx.ca);
    fx.ca = NULL;
    char cmd[4200];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir) >= (int)sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

static void issue_server(const char *name, int days)
{
    static const char *const dns[] = {"localhost"};
    static const char *const ips[] = {"127.0.0.1"};
    char crt[64], key[64];
    fmt(crt, sizeof crt, "%s.crt", name);
    fmt(key, sizeof key, "%s.key", name);
    cdx_pki_req_t req = {.cn = "server.test",
                         .org = "Test Org",
                         .dns = dns,
                         .ndns = 1,
                         .ips = ips,
                         .nips = 1,
                         .server = 1,
                         .days = days};
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of(crt), path_of(key)), 0);
}

static void issue_client(void)
{
    cdx_pki_req_t req = {.cn = "client.test", .uri = "urn:oid:2.25.1", .client = 1, .days = 7};
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("client.crt"), path_of("client.key")), 0);
}

static void test_ca_properties(void **state)
{
    X509 *ca = read_cert(path_of("ca.crt"));
    assert_int_equal(X509_get_version(ca), X509_VERSION_3);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_get_pathlen(ca), 0);
    assert_true(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    assert_non_null(X509_get0_subject_key_id(ca));
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);

    /* Serial: positive, exactly 128 bits. */
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_int_equal(BN_num_bits(serial), 128);
    BN_free(serial);

    char o[64];
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_organizationName, o,
                                          sizeof o) > 0);
    assert_string_equal(o, "cdxgw demo federation");
    assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
    X509_free(ca);

    assert_int_equal(file_mode(path_of("ca.key")), 0600);
    assert_int_equal(file_mode(path_of("ca.crt")), 0644);
}

static void test_server_cert(void **state)
{
    issue_server("server", 7);
    assert_int_equal(verify(path_of("ca.crt"), path_of("server.crt"), X509_PURPOSE_SSL_SERVER),
                     X509_V_OK);
    /* serverAuth only: the same certificate must not pass as a client. */
    assert_int_not_equal(verify(path_of("ca.crt"), path_of("server.crt"), X509_PURPOSE_SSL_CLIENT),
                         X509_V_OK);

    X509 *x = read_cert(path_of("server.crt"));
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_extended_key_usage(x) == XKU_SSL_SERVER);
    assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_non_null(X509_get0_authority_key_id(x));

    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    int type = -1;
    ASN1_STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, 0), &type);
    assert_int_equal(type, GEN_DNS);
    assert_int_equal(ASN1_STRING_length(v), 9);
    assert_memory_equal(ASN1_STRING_get0_data(v), "localhost", 9);
    v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, 1), &type);
    assert_int_equal(type, GEN_IPADD);
    assert_int_equal(ASN1_STRING_length(v), 4);
    assert_memory_equal(ASN1_STRING_get0_data(v), "\x7f\x00\x00\x01", 4);
    GENERAL_NAMES_free(gens);

    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    X509_free(x);

    assert_int_equal(file_mode(path_of("server.key")), 0600);
    assert_int_equal(file_mode(path_of("server.crt")), 0644);
}

static void test_client_cert(void **state)
{
    issue_client();
    assert_int_equal(verify(path_of("ca.crt"), path_of("client.crt"), X509_PURPOSE_SSL_CLIENT),
                     X509_V_OK);

    X509 *x = read_cert(path_of("client.crt"));
    assert_true(X509_get_extended_key_usage(x) == XKU_SSL_CLIENT);
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
    int type = -1;
    ASN1_STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, 0), &type);
    assert_int_equal(type, GEN_URI);
    assert_int_equal(ASN1_STRING_length(v), (int)strlen("urn:oid:2.25.1"));
    assert_memory_equal(ASN1_STRING_get0_data(v), "urn:oid:2.25.1", strlen("urn:oid:2.25.1"));
    GENERAL_NAMES_free(gens);
    X509_free(x);
    assert_int_equal(file_mode(path_of("client.key")), 0600);

    char cmd[9000], line[512];
    fmt(cmd, sizeof cmd, "openssl verify -CAfile '%s' '%s' 2>&1", path_of("ca.crt"),
        path_of("client.crt"));
    run(cmd, line, sizeof line);
    size_t n = strlen(line);
    assert_true(n >= 4 && strcmp(line + n - 4, ": OK") == 0);
}

static void test_ipv6_san(void **state)
{
    static const char *const ips[] = {"::1", "2001:db8::5"};
    cdx_pki_req_t req = {
        .cn = "v6.test", .ips = ips, .nips = 2, .server = 1, .client = 1, .days = 1};
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("v6.crt"), path_of("v6.key")), 0);
    X509 *x = read_cert(path_of("v6.crt"));
    assert_true(X509_get_extended_key_usage(x) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "2001:db8::5", 0), 1);
    X509_free(x);
}

static void test_load_and_issue(void **state)
{
    cdx_pki_ca_t *loaded = NULL;
    assert_int_equal(cdx_pki_ca_load(path_of("ca.crt"), path_of("ca.key"), &loaded), 0);
    assert_non_null(loaded);
    static const char *const dns[] = {"again.test"};
    cdx_pki_req_t req = {.cn = "again.test", .dns = dns, .ndns = 1, .server = 1, .days = 2};
    assert_int_equal(cdx_pki_issue(loaded, &req, path_of("again.crt"), path_of("again.key")), 0);
    cdx_pki_ca_free(loaded);
    assert_int_equal(verify(path_of("ca.crt"), path_of("again.crt"), X509_PURPOSE_SSL_SERVER),
                     X509_V_OK);
}

static void test_expired(void **state)
{
    issue_server("expired", -1);
    assert_int_equal(verify(path_of("ca.crt"), path_of("expired.crt"), X509_PURPOSE_SSL_SERVER),
                     X509_V_ERR_CERT_HAS_EXPIRED);
}

/* Keeps the hex digits of s, lower-cased, dropping colons and anything else. */
static void hex_only(const char *s, char *out, size_t outlen)
{
    size_t j = 0;
    for (; *s != '\0' && j + 1 < outlen; s++) {
        if (isxdigit((unsigned char)*s))
            out[j++] = (char)tolower((unsigned char)*s);
    }
    out[j] = '\0';
}

static void test_fingerprint_cert(void **state)
{
    issue_client();
    char mine[65], cmd[4400], line[512], theirs[128];
    assert_int_equal(cdx_cert_fingerprint_file(path_of("client.crt"), 0, mine), 0);
    fmt(cmd, sizeof cmd, "openssl x509 -noout -fingerprint -sha256 -in '%s'",
        path_of("client.crt"));
    run(cmd, line, sizeof line);
    const char *eq = strchr(line, '=');
    assert_non_null(eq);
    hex_only(eq + 1, theirs, sizeof theirs);
    assert_string_equal(mine, theirs);
}

static void test_fingerprint_spki(void **state)
{
    issue_client();
    char mine[65], cmd[4400], line[512], theirs[128];
    assert_int_equal(cdx_cert_fingerprint_file(path_of("client.crt"), 1, mine), 0);
    fmt(cmd, sizeof cmd,
        "openssl x509 -pubkey -noout -in '%s' | openssl pkey -pubin -outform DER | "
        "openssl dgst -sha256 -r",
        path_of("client.crt"));
    run(cmd, line, sizeof line);
    line[strcspn(line, " ")] = '\0';
    hex_only(line, theirs, sizeof theirs);
    assert_string_equal(mine, theirs);

    char cert_fp[65];
    assert_int_equal(cdx_cert_fingerprint_file(path_of("client.crt"), 0, cert_fp), 0);
    assert_string_not_equal(mine, cert_fp);
}

static void test_load_missing(void **state)
{
    cdx_pki_ca_t *ca = NULL;
    int rc = cdx_pki_ca_load(path_of("missing.crt"), path_of("ca.key"), &ca);
    assert_true(rc < 0);
    assert_int_equal(rc, CDX_EIO);
    assert_null(ca);
    rc = cdx_pki_ca_load(path_of("ca.crt"), path_of("missing.key"), &ca);
    assert_int_equal(rc, CDX_EIO);
    assert_null(ca);
    assert_int_equal(cdx_cert_fingerprint_file(path_of("missing.crt"), 0, (char[65]){0}), CDX_EIO);
}

static void test_load_mismatch(void **state)
{
    cdx_pki_ca_t *other = NULL;
    assert_int_equal(
        cdx_pki_ca_create(path_of("other.crt"), path_of("other.key"), "other CA", 1, &other), 0);
    cdx_pki_ca_free(other);

    cdx_pki_ca_t *ca = NULL;
    int rc = cdx_pki_ca_load(path_of("ca.crt"), path_of("other.key"), &ca);
    assert_true(rc < 0);
    assert_null(ca);
    /* A leaf certificate is not a CA, even with its own key. */
    issue_client();
    rc = cdx_pki_ca_load(path_of("client.crt"), path_of("client.key"), &ca);
    assert_true(rc < 0);
    assert_null(ca);
    /* Garbage in place of PEM. */
    assert_int_equal(cdx_write_file_atomic(path_of("junk.pem"), "junk\n", 5, 0600), 0);
    rc = cdx_pki_ca_load(path_of("junk.pem"), path_of("ca.key"), &ca);
    assert_int_equal(rc, CDX_ECRYPTO);
    assert_null(ca);
    /* Loading failures must not leave errors queued for later TLS calls. */
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_bad_args(void **state)
{
    cdx_pki_ca_t *ca = NULL;
    assert_int_equal(cdx_pki_ca_create(path_of("x.crt"), path_of("x.key"), "x", 0, &ca),
                     CDX_EINVAL);
    assert_int_equal(cdx_pki_ca_create(path_of("x.crt"), path_of("x.key"), "", 1, &ca), CDX_EINVAL);
    assert_int_equal(cdx_pki_ca_create(NULL, path_of("x.key"), "x", 1, &ca), CDX_EINVAL);
    assert_null(ca);
    assert_int_equal(cdx_pki_ca_load(NULL, NULL, &ca), CDX_EINVAL);

    static const char *const bad_ip[] = {"not-an-ip"};
    static const char *const bad_dns[] = {"bad name"};
    cdx_pki_req_t req = {.cn = "x", .server = 1, .days = 1};
    assert_int_equal(cdx_pki_issue(NULL, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    assert_int_equal(cdx_pki_issue(fx.ca, NULL, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    req.days = 0;
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    req.days = 1;
    req.cn = NULL;
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    req.cn = "x";
    req.ips = bad_ip;
    req.nips = 1;
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    req.nips = 0;
    req.dns = bad_dns;
    req.ndns = 1;
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    req.ndns = 0;
    req.server = 0;
    assert_int_equal(cdx_pki_issue(fx.ca, &req, path_of("x.crt"), path_of("x.key")), CDX_EINVAL);
    struct stat st;
    assert_int_not_equal(stat(path_of("x.crt"), &st), 0);
    assert_int_not_equal(stat(path_of("x.key"), &st), 0);
    assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_properties),    cmocka_unit_test(test_server_cert),
        cmocka_unit_test(test_client_cert),      cmocka_unit_test(test_ipv6_san),
        cmocka_unit_test(test_load_and_issue),   cmocka_unit_test(test_expired),
        cmocka_unit_test(test_fingerprint_cert), cmocka_unit_test(test_fingerprint_spki),
        cmocka_unit_test(test_load_missing),     cmocka_unit_test(test_load_mismatch),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
