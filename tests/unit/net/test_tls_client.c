/* Loopback tests of the outbound TLS client (gateway/net/tls_client.c):
 * the federation CA alone is trusted, the certificate must name the host
 * we connect to, and it must be bound to the institution we send to, by a
 * urn:oid: SAN or a registered fingerprint.  The fixture and the TLS test
 * server are in tests/support/cdx_test_tls.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test_tls.h"

static void test_bound_by_san_uri(void **state)
{
    (void)state;
    server_t s;
    call_t c = {.host = "localhost"}; /* SNI and the DNS name check */
    server_start(&s, M_OK, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_string_equal(o.binding, "san_uri");
    assert_string_equal(s.client_uri, "urn:oid:" OUR_OID); /* our certificate was sent */
    c.host = "127.0.0.1"; /* the IP address check */
    server_start(&s, M_OK, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    assert_string_equal(o.binding, "san_uri");
}

static void test_wrong_ca(void **state)
{
    (void)state;
    server_t s;
    call_t c = {0};
    server_start(&s, M_OK, SRV_FOREIGN);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_CHAIN, "certificate chain");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.binding, "");
    assert_int_equal(s.head[0], '\0'); /* nothing was sent */
}

/* The system store is consulted only when asked: a certificate from a CA
 * that OpenSSL's default paths trust (SSL_CERT_FILE here) is refused by
 * default and accepted with use_system_store. */
static void test_federation_ca_only(void **state)
{
    (void)state;
    assert_int_equal(setenv("SSL_CERT_FILE", fx.path[FOREIGN_CA], 1), 0);
    cdx_tls_client_t *plain = client_ctx(0), *with_system = client_ctx(1);
    server_t s;
    call_t c = {.tls = plain};
    server_start(&s, M_OK, SRV_FOREIGN);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_CHAIN, NULL);
    c.tls = with_system;
    server_start(&s, M_OK, SRV_FOREIGN);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_OK, NULL);
    cdx_tls_client_free(plain);
    cdx_tls_client_free(with_system);
    unsetenv("SSL_CERT_FILE");
}

static void test_host_mismatch(void **state)
{
    (void)state;
    server_t s;
    call_t c = {.host = "localhost"};
    server_start(&s, M_OK, SRV_OTHERHOST);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_HOST, "does not match host localhost");
    c.host = "127.0.0.1";
    server_start(&s, M_OK, SRV_OTHERHOST);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_HOST, "does not match host 127.0.0.1");
    assert_int_equal(s.head[0], '\0');
}

static void test_institution_mismatch(void **state)
{
    (void)state;
    /* The certificate names DEST_OID; we are sending to OTHER_OID. */
    cdx_institution_t other = institution(OTHER_OID, -1, 0);
    server_t s;
    call_t c = {.peer = &other};
    server_start(&s, M_OK, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_INSTITUTION, "not bound to institution " OTHER_OID);
    assert_int_equal(s.head[0], '\0');
    /* A registered fingerprint of some other certificate does not help. */
    other = institution(OTHER_OID, SRV_NOURI, 0);
    server_start(&s, M_OK, SRV);
    o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_INSTITUTION, NULL);
}

static void test_fingerprint_binding(void **state)
{
    (void)state;
    static const struct {
        int cred_of, spki;
        cdx_http_client_error_t want;
        const char *binding;
    } cases[] = {
        {SRV_NOURI, 0, CDX_HTTP_CLIENT_OK, "cert_sha256"},
        {SRV_NOURI, 1, CDX_HTTP_CLIENT_OK, "spki_sha256"},
        {-1, 0, CDX_HTTP_CLIENT_TLS_INSTITUTION, ""},  /* no URI and no credential */
        {SRV, 0, CDX_HTTP_CLIENT_TLS_INSTITUTION, ""}, /* another certificate's */
        {SRV, 1, CDX_HTTP_CLIENT_TLS_INSTITUTION, ""}, /* another key's */
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(cases); i++) {
        cdx_institution_t dest = institution(DEST_OID, cases[i].cred_of, cases[i].spki);
        server_t s;
        call_t c = {.peer = &dest};
        server_start(&s, M_OK, SRV_NOURI);
        outcome_t o = request(&s, &c);
        expect_error(&o, cases[i].want, NULL);
        assert_string_equal(o.binding, cases[i].binding);
    }
    /* The certificate fingerprint registered as a key fingerprint is not one. */
    cdx_institution_t dest = institution(DEST_OID, SRV_NOURI, 0);
    dest.creds[0].spki = 1;
    server_t s;
    call_t c = {.peer = &dest};
    server_start(&s, M_OK, SRV_NOURI);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_INSTITUTION, NULL);
}

/* A server that does not speak TLS is a protocol failure, not a
 * certificate one. */
static void test_protocol_failure(void **state)
{
    (void)state;
    server_t s;
    call_t c = {0};
    server_start(&s, M_PLAINTEXT, SRV);
    outcome_t o = request(&s, &c);
    expect_error(&o, CDX_HTTP_CLIENT_TLS_PROTOCOL, "handshake");
}

static void test_context_and_connection_api(void **state)
{
    (void)state;
    cdx_institution_t dest = institution(DEST_OID, -1, 0);
    /* The TLS context's own checks. */
    cdx_tls_client_options_t opt = {.ca_file = "/nonexistent/ca.pem", .cert_file = fx.path[CLI],
                                     .key_file = fx.path[CLI_KEY]};
    cdx_tls_client_t *tls = NULL;
    char err[256] = "";
    assert_int_equal(cdx_tls_client_new(&opt, &tls, err, sizeof err), CDX_ETLS);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    opt.ca_file = fx.path[CA];
    opt.key_file = fx.path[SRV_KEY];
    assert_int_equal(cdx_tls_client_new(&opt, &tls, err, sizeof err), CDX_ETLS);
    if (strstr(err, "key values mismatch") == NULL && strstr(err, "does not match") == NULL)
        fail_msg("a mismatched key: %s", err);
    opt.key_file = NULL;
    assert_int_equal(cdx_tls_client_new(&opt, &tls, err, sizeof err), CDX_EINVAL);
    cdx_tls_client_free(NULL);
    /* A peer naming nothing could never be bound. */
    cdx_institution_t nobody = institution("", -1, 0);
    cdx_tls_client_conn_t *conn = NULL;
    assert_int_equal(cdx_tls_client_conn_new(fx.tls, "localhost", &nobody, &conn), CDX_EINVAL);
    assert_int_equal(cdx_tls_client_conn_new(fx.tls, "", &dest, &conn), CDX_EINVAL);
    assert_int_equal(cdx_tls_client_conn_new(fx.tls, "localhost", &dest, &conn), 0);
    assert_int_equal(cdx_tls_client_conn_write(conn, "x", 1), CDX_EINVAL);
    assert_int_equal(cdx_tls_client_conn_failure(conn), CDX_TLS_CLIENT_FAIL_NONE);
    assert_null(cdx_tls_client_conn_binding(conn));
    assert_int_equal(cdx_tls_client_conn_handshake(conn), 0);
    assert_true(cdx_tls_client_conn_pending(conn) > 0); /* the ClientHello */
    cdx_tls_client_conn_free(conn);
    cdx_tls_client_conn_free(NULL);
    assert_string_equal(cdx_tls_client_failure_label(CDX_TLS_CLIENT_FAIL_HOST), "tls_host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_by_san_uri),
        cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_federation_ca_only),
        cmocka_unit_test(test_host_mismatch),
        cmocka_unit_test(test_institution_mismatch),
        cmocka_unit_test(test_fingerprint_binding),
        cmocka_unit_test(test_protocol_failure),
        cmocka_unit_test(test_context_and_connection_api),
    };
    return cdx_test_exit(
        cmocka_run_group_tests(tests, cdx_tls_fixture_setup, cdx_tls_fixture_teardown));
}
