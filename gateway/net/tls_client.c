/* tls_client: outbound TLS over memory BIOs, bound to the destination
 * institution (see include/cdx/net/tls_client.h). */
#include "cdx/net/tls_client.h"
#include "cdx/base/common.h"
#include "tls_common.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

struct cdx_tls_client {
    SSL_CTX *ctx;
};

struct cdx_tls_client_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the server */
    BIO *wbio; /* ciphertext to the server */
    int done;
    int peer_closed;
    int leaf_checked; /* the binding check ran on the verified leaf */
    const char *binding;
    char host[256];
    char oid[128];
    size_t ncreds;
    cdx_credential_t creds[CDX_INST_MAX_CREDS];
    cdx_tls_client_failure_t failure;
    char reason[200];
};

static int client_conn_index = -1;

const char *cdx_tls_client_failure_label(cdx_tls_client_failure_t f)
{
    static const char *const labels[] = {
#define CDX_TLS_CLIENT_FAIL_LABEL(name, label) label,
        CDX_TLS_CLIENT_FAILURES(CDX_TLS_CLIENT_FAIL_LABEL)
#undef CDX_TLS_CLIENT_FAIL_LABEL
    };
    return (unsigned)f < CDX_ARRAY_SIZE(labels) ? labels[f] : "tls_protocol";
}

/* Records the first failure of a connection; later ones are consequences. */
static void fail(cdx_tls_client_conn_t *c, cdx_tls_client_failure_t f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(cdx_tls_client_conn_t *c, cdx_tls_client_failure_t f, const char *fmt, ...)
{
    if (c->failure != CDX_TLS_CLIENT_FAIL_NONE)
        return;
    c->failure = f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static int has_credential(const cdx_tls_client_conn_t *c, const char *hex, int spki)
{
    for (size_t i = 0; i < c->ncreds; i++) {
        if (c->creds[i].spki == spki && strcasecmp(c->creds[i].sha256, hex) == 0)
            return 1;
    }
    return 0;
}

/* Whether a subjectAltName URI of cert is exactly urn:oid:<oid> (the URN
 * scheme and namespace compare without case, the OID exactly). */
static int san_names_oid(X509 *cert, const char *oid)
{
    size_t oidlen = strlen(oid);
    if (oidlen == 0)
        return 0;
    int found = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && !found; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_URI)
            continue;
        const char *s = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        found = len >= 0 && (size_t)len == 8 + oidlen && strncasecmp(s, "urn:oid:", 8) == 0 &&
                memcmp(s + 8, oid, oidlen) == 0;
    }
    GENERAL_NAMES_free(sans);
    return found;
}

/* Which of the destination institution's proofs cert carries: a SAN URI
 * naming its OID (the federation CA vouches for it), or a registered
 * SHA-256 of the DER certificate or of its DER SubjectPublicKeyInfo.
 * NULL when none. */
static const char *binding_of(const cdx_tls_client_conn_t *c, X509 *cert)
{
    if (san_names_oid(cert, c->oid))
        return "san_uri";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[65];
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
        cdx_hex(md, 32, hex);
        if (has_credential(c, hex, 0))
            return "cert_sha256";
    }
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    int spki_ok = 0;
    if (len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
        mdlen == 32) {
        cdx_hex(md, 32, hex);
        spki_ok = has_credential(c, hex, 1);
    }
    OPENSSL_free(der);
    return spki_ok ? "spki_sha256" : NULL;
}

/* OpenSSL calls this for every verification step: with ok == 0 for each
 * error (chain, validity, purpose, host name), and with ok == 1 for each
 * certificate once its signature checked, the leaf (depth 0) last.  The
 * host name was checked before that last call, so binding the leaf there
 * means every check has passed. */
static int verify_cb(int ok, X509_STORE_CTX *xctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    cdx_tls_client_conn_t *c = ssl ? SSL_get_ex_data(ssl, client_conn_index) : NULL;
    if (c == NULL)
        return 0;
    int depth = X509_STORE_CTX_get_error_depth(xctx);
    if (!ok) {
        int e = X509_STORE_CTX_get_error(xctx);
        if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
            fail(c, CDX_TLS_CLIENT_FAIL_HOST, "certificate does not match host %s", c->host);
        else
            fail(c, CDX_TLS_CLIENT_FAIL_CHAIN, "certificate chain: %s (depth %d)",
                 X509_verify_cert_error_string(e), depth);
        return 0;
    }
    if (depth != 0)
        return 1;
    const char *how = binding_of(c, X509_STORE_CTX_get_current_cert(xctx));
    if (how == NULL) {
        fail(c, CDX_TLS_CLIENT_FAIL_INSTITUTION, "certificate not bound to institution %s",
             c->oid[0] ? c->oid : "(no OID)");
        X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    c->binding = how;
    c->leaf_checked = 1;
    return 1;
}

static void ctx_err(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    cdx_errf(err, errlen, "%s %s%s%s%s", what, path ? path : "", why ? " (" : "", why ? why : "",
             why ? ")" : "");
    ERR_clear_error();
}

/* The trust store: the federation CA bundle, and the system's only when
 * asked for. */
static X509_STORE *build_trust(const cdx_tls_client_options_t *opt, char *err, size_t errlen)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        ctx_err(err, errlen, "out of memory", NULL);
        return NULL;
    }
    if (X509_STORE_load_file(store, opt->ca_file) != 1) {
        ctx_err(err, errlen, "cannot load CA certificates from", opt->ca_file);
        X509_STORE_free(store);
        return NULL;
    }
    if (opt->use_system_store && X509_STORE_set_default_paths(store) != 1) {
        ctx_err(err, errlen, "cannot load the system trust store", NULL);
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}

static int configure(SSL_CTX *ctx, const cdx_tls_client_options_t *opt, char *err, size_t errlen)
{
    /* The server's policy (tls_common.c), resumption off included. */
    if (cdx_net_tls_policy(ctx) != 0) {
        ctx_err(err, errlen, "cannot restrict TLS versions and ciphers", NULL);
        return CDX_ETLS;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, opt->cert_file) != 1) {
        ctx_err(err, errlen, "cannot load a PEM certificate chain from", opt->cert_file);
        return CDX_ETLS;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, opt->key_file, SSL_FILETYPE_PEM) != 1) {
        ctx_err(err, errlen, "cannot load a PEM private key from", opt->key_file);
        return CDX_ETLS;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ctx_err(err, errlen, "the key does not match the certificate in", opt->cert_file);
        return CDX_ETLS;
    }
    X509_STORE *store = build_trust(opt, err, errlen);
    if (store == NULL)
        return CDX_ETLS;
    SSL_CTX_set_cert_store(ctx, store);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_verify_depth(ctx, 4);
    return 0;
}

int cdx_tls_client_new(const cdx_tls_client_options_t *opt, cdx_tls_client_t **out, char *err,
                       size_t errlen)
{
    if (opt == NULL || opt->ca_file == NULL || opt->cert_file == NULL || opt->key_file == NULL) {
        cdx_errf(err, errlen, "the CA bundle, client certificate and key are all required");
        return CDX_EINVAL;
    }
    if (client_conn_index < 0)
        client_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    cdx_tls_client_t *cli = calloc(1, sizeof *cli);
    if (cli == NULL)
        return CDX_ENOMEM;
    cli->ctx = SSL_CTX_new(TLS_client_method());
    if (cli->ctx == NULL) {
        ctx_err(err, errlen, "cannot create the TLS client context", NULL);
        cdx_tls_client_free(cli);
        return CDX_ETLS;
    }
    int rc = configure(cli->ctx, opt, err, errlen);
    if (rc != 0) {
        cdx_tls_client_free(cli);
        return rc;
    }
    *out = cli;
    return 0;
}

void cdx_tls_client_free(cdx_tls_client_t *cli)
{
    if (cli == NULL)
        return;
    SSL_CTX_free(cli->ctx);
    free(cli);
}

/* SNI and the name the certificate must carry: a DNS name, or an IP
 * address (which RFC 6066 keeps out of SNI). */
static int set_peer_name(cdx_tls_client_conn_t *c)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
    unsigned char addr[16];
    if (inet_pton(AF_INET, c->host, addr) == 1 || inet_pton(AF_INET6, c->host, addr) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(param, c->host) != 1)
            return CDX_EINVAL;
    } else if (SSL_set_tlsext_host_name(c->ssl, c->host) != 1 ||
               X509_VERIFY_PARAM_set1_host(param, c->host, 0) != 1) {
        return CDX_EINVAL;
    }
    return 0;
}

static int copy_peer(cdx_tls_client_conn_t *c, const char *host, const cdx_institution_t *peer)
{
    if (host == NULL || host[0] == '\0' || peer == NULL ||
        cdx_strlcpy(c->host, host, sizeof c->host) != 0 ||
        memchr(peer->oid, '\0', sizeof peer->oid) == NULL || peer->ncreds > CDX_INST_MAX_CREDS)
        return CDX_EINVAL;
    memcpy(c->oid, peer->oid, sizeof c->oid);
    c->ncreds = peer->ncreds;
    memcpy(c->creds, peer->creds, sizeof c->creds);
    for (size_t i = 0; i < c->ncreds; i++)
        c->creds[i].sha256[64] = '\0';
    /* A peer that names nothing could never be bound: refuse it now. */
    return c->oid[0] != '\0' || c->ncreds > 0 ? 0 : CDX_EINVAL;
}

int cdx_tls_client_conn_new(cdx_tls_client_t *cli, const char *host, const cdx_institution_t *peer,
                            cdx_tls_client_conn_t **out)
{
    cdx_tls_client_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return CDX_ENOMEM;
    int rc = copy_peer(c, host, peer);
    if (rc != 0) {
        free(c);
        return rc;
    }
    if (cdx_net_tls_ssl_new(cli->ctx, &c->ssl, &c->rbio, &c->wbio) != 0) {
        free(c);
        return CDX_ENOMEM;
    }
    SSL_set_ex_data(c->ssl, client_conn_index, c);
    SSL_set_connect_state(c->ssl);
    if (set_peer_name(c) != 0) {
        ERR_clear_error();
        cdx_tls_client_conn_free(c);
        return CDX_EINVAL;
    }
    *out = c;
    return 0;
}

void cdx_tls_client_conn_free(cdx_tls_client_conn_t *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c);
}

int cdx_tls_client_conn_feed(cdx_tls_client_conn_t *c, const char *data, size_t len)
{
    return cdx_net_tls_feed(c->rbio, data, len);
}

/* A failure OpenSSL reported without our verify callback naming it. */
static int protocol_failure(cdx_tls_client_conn_t *c, const char *when)
{
    unsigned long e = ERR_peek_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    fail(c, CDX_TLS_CLIENT_FAIL_PROTOCOL, "%s: %s", when, why ? why : "unexpected end");
    ERR_clear_error();
    return CDX_ETLS;
}

int cdx_tls_client_conn_handshake(cdx_tls_client_conn_t *c)
{
    if (c->done)
        return 1;
    if (c->failure != CDX_TLS_CLIENT_FAIL_NONE)
        return CDX_ETLS;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        /* Fail closed should the callback ever not have seen the leaf. */
        if (!c->leaf_checked || SSL_get_verify_result(c->ssl) != X509_V_OK) {
            fail(c, CDX_TLS_CLIENT_FAIL_CHAIN, "server certificate not verified");
            return CDX_ETLS;
        }
        c->done = 1;
        return 1;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return protocol_failure(c, "handshake");
}

int cdx_tls_client_conn_read(cdx_tls_client_conn_t *c, char *out, size_t cap)
{
    if (!c->done)
        return CDX_EINVAL;
    int n = SSL_read(c->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        c->peer_closed = 1;
        ERR_clear_error();
        return CDX_EIO;
    }
    return protocol_failure(c, "read");
}

int cdx_tls_client_conn_write(cdx_tls_client_conn_t *c, const void *data, size_t len)
{
    if (!c->done)
        return CDX_EINVAL;
    const char *p = data;
    while (len > 0) {
        int chunk = len > 1u << 30 ? 1 << 30 : (int)len;
        int n = SSL_write(c->ssl, p, chunk);
        if (n <= 0)
            return protocol_failure(c, "write");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t cdx_tls_client_conn_pending(const cdx_tls_client_conn_t *c)
{
    return BIO_ctrl_pending(c->wbio);
}

int cdx_tls_client_conn_take(cdx_tls_client_conn_t *c, char **out, size_t *len)
{
    return cdx_net_tls_take(c->wbio, out, len);
}

void cdx_tls_client_conn_shutdown(cdx_tls_client_conn_t *c)
{
    if (c->done)
        SSL_shutdown(c->ssl);
    ERR_clear_error();
}

int cdx_tls_client_conn_closed_by_peer(const cdx_tls_client_conn_t *c)
{
    return c->peer_closed;
}

cdx_tls_client_failure_t cdx_tls_client_conn_failure(const cdx_tls_client_conn_t *c)
{
    return c->failure;
}

const char *cdx_tls_client_conn_reason(const cdx_tls_client_conn_t *c)
{
    return c->reason;
}

const char *cdx_tls_client_conn_binding(const cdx_tls_client_conn_t *c)
{
    return c->done ? c->binding : NULL;
}

const char *cdx_tls_client_conn_version(const cdx_tls_client_conn_t *c)
{
    return SSL_get_version(c->ssl);
}

const char *cdx_tls_client_conn_cipher(const cdx_tls_client_conn_t *c)
{
    return SSL_get_cipher_name(c->ssl);
}
