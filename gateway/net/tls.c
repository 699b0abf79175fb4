/* tls: server TLS over memory BIOs and peer identity (see include/cdx/net/tls.h). */
#include "cdx/net/tls.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "tls_common.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>

typedef struct cred_index {
    char sha256[65];
    int spki;
    size_t inst;
} cred_index_t;

struct cdx_tls_server {
    SSL_CTX *ctx;
    char client_ca[1024];
    char crl[1024];
    int require_client_cert;
    cdx_institution_t *insts;
    size_t ninsts;
    cred_index_t *creds; /* sorted by (sha256, spki) */
    size_t ncreds;
};

struct cdx_tls_conn {
    cdx_tls_server_t *srv;
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer */
    BIO *wbio; /* ciphertext to the peer */
    int done;
    int has_peer;
    cdx_institution_t peer;
    cdx_tls_failure_t failure;
};

static int conn_index = -1;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    if (e != 0 && n >= 0 && (size_t)n < errlen) {
        char ebuf[160];
        ERR_error_string_n(e, ebuf, sizeof ebuf);
        snprintf(err + n, errlen - (size_t)n, " (%s)", ebuf);
    }
    ERR_clear_error();
}

const char *cdx_tls_failure_label(cdx_tls_failure_t f)
{
    static const char *const labels[] = {
#define CDX_TLS_FAIL_LABEL(name, label) label,
        CDX_TLS_FAILURES(CDX_TLS_FAIL_LABEL)
#undef CDX_TLS_FAIL_LABEL
    };
    return (unsigned)f < CDX_ARRAY_SIZE(labels) ? labels[f] : "other";
}

static int cred_cmp(const void *a, const void *b)
{
    const cred_index_t *x = a, *y = b;
    int c = strcmp(x->sha256, y->sha256);
    return c != 0 ? c : x->spki - y->spki;
}

static const cdx_institution_t *find_by_cred(const cdx_tls_server_t *srv, const char *sha, int spki)
{
    cred_index_t key;
    memset(&key, 0, sizeof key);
    memcpy(key.sha256, sha, sizeof key.sha256);
    key.spki = spki;
    const cred_index_t *hit = bsearch(&key, srv->creds, srv->ncreds, sizeof key, cred_cmp);
    return hit ? &srv->insts[hit->inst] : NULL;
}

static const cdx_institution_t *find_by_oid(const cdx_tls_server_t *srv, const char *oid)
{
    for (size_t i = 0; i < srv->ninsts; i++) {
        if (strcmp(srv->insts[i].oid, oid) == 0)
            return &srv->insts[i];
    }
    return NULL;
}

/* The certificate maps to an institution by its fingerprint, its public
 * key's fingerprint, or a SAN URI urn:oid:<OID> naming a registered OID
 * (the CA vouches for that binding). */
static const cdx_institution_t *identify(const cdx_tls_server_t *srv, X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[65];
    const cdx_institution_t *inst = NULL;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
        cdx_hex(md, 32, hex);
        if ((inst = find_by_cred(srv, hex, 0)) != NULL)
            return inst;
    }
    /* The public-key credential is the SHA-256 of the DER SubjectPublicKeyInfo
     * (as HPKP and `openssl pkey -pubin -outform DER | sha256` compute it),
     * not X509_pubkey_digest's hash of the bare key bits. */
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (len > 0) {
        if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32) {
            cdx_hex(md, 32, hex);
            inst = find_by_cred(srv, hex, 1);
        }
        OPENSSL_free(der);
        if (inst != NULL)
            return inst;
    }
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && inst == NULL; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_URI)
            continue;
        const ASN1_IA5STRING *uri = gn->d.uniformResourceIdentifier;
        const char *s = (const char *)ASN1_STRING_get0_data(uri);
        int slen = ASN1_STRING_length(uri);
        if (slen > 8 && slen < 136 && strncmp(s, "urn:oid:", 8) == 0 &&
            memchr(s, '\0', (size_t)slen) == NULL) {
            char oid[128];
            memcpy(oid, s + 8, (size_t)slen - 8);
            oid[slen - 8] = '\0';
            inst = find_by_oid(srv, oid);
        }
    }
    GENERAL_NAMES_free(sans);
    return inst;
}

static cdx_tls_failure_t classify_verify_error(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return CDX_TLS_FAIL_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return CDX_TLS_FAIL_NOT_YET_VALID;
    case X509_V_ERR_CERT_REVOKED:
        return CDX_TLS_FAIL_REVOKED;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
        return CDX_TLS_FAIL_CRL_UNAVAILABLE;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return CDX_TLS_FAIL_UNKNOWN_CA;
    default:
        return CDX_TLS_FAIL_BAD_CERTIFICATE;
    }
}

static int verify_cb(int ok, X509_STORE_CTX *xctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    cdx_tls_conn_t *c = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
    if (c == NULL)
        return 0;
    if (!ok) {
        if (c->failure == CDX_TLS_FAIL_OTHER)
            c->failure = classify_verify_error(X509_STORE_CTX_get_error(xctx));
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(xctx) != 0)
        return 1;
    const cdx_institution_t *inst = identify(c->srv, X509_STORE_CTX_get_current_cert(xctx));
    if (inst == NULL) {
        c->failure = CDX_TLS_FAIL_UNREGISTERED;
        X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    c->peer = *inst;
    c->has_peer = 1;
    return 1;
}

/* A fresh store holding the federation CA and the current CRLs.  Built
 * anew on every CRL reload so that a revocation bites at once. */
static X509_STORE *build_store(cdx_tls_server_t *srv, char *err, size_t errlen)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (X509_STORE_load_file(store, srv->client_ca) != 1) {
        set_err(err, errlen, "tls_client_ca: cannot load CA certificates from %s", srv->client_ca);
        goto fail;
    }
    if (srv->crl[0] != '\0') {
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        BIO *bio = BIO_new_file(srv->crl, "r");
        if (bio == NULL) {
            set_err(err, errlen, "tls_crl: cannot read %s", srv->crl);
            goto fail;
        }
        int count = 0;
        X509_CRL *crl;
        while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
            int ok = X509_STORE_add_crl(store, crl);
            X509_CRL_free(crl);
            if (ok != 1) {
                BIO_free(bio);
                set_err(err, errlen, "tls_crl: cannot add a CRL from %s", srv->crl);
                goto fail;
            }
            count++;
        }
        BIO_free(bio);
        ERR_clear_error(); /* the end of the PEM stream */
        if (count == 0) {
            set_err(err, errlen, "tls_crl: %s holds no PEM CRL", srv->crl);
            goto fail;
        }
    }
    return store;
fail:
    X509_STORE_free(store);
    return NULL;
}

int cdx_tls_server_reload_crl(cdx_tls_server_t *srv, char *err, size_t errlen)
{
    X509_STORE *store = build_store(srv, err, errlen);
    if (store == NULL)
        return CDX_ETLS;
    SSL_CTX_set_cert_store(srv->ctx, store); /* frees the old store */
    return 0;
}

int cdx_tls_server_new(const cdx_tls_options_t *opt, cdx_tls_server_t **out, char *err,
                       size_t errlen)
{
    int rc = CDX_ETLS;
    cdx_tls_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return CDX_ENOMEM;
    if (conn_index < 0)
        conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (cdx_strlcpy(srv->client_ca, opt->client_ca_file, sizeof srv->client_ca) != 0 ||
        cdx_strlcpy(srv->crl, opt->crl_file ? opt->crl_file : "", sizeof srv->crl) != 0) {
        set_err(err, errlen, "a TLS file path is too long");
        goto fail;
    }
    srv->require_client_cert = opt->require_client_cert;
    srv->ctx = SSL_CTX_new(TLS_server_method());
    if (srv->ctx == NULL) {
        set_err(err, errlen, "cannot create the TLS context");
        goto fail;
    }
    SSL_CTX *ctx = srv->ctx;
    /* The shared policy: no resumption either, so every connection
     * re-verifies the certificate and the CRL. */
    if (cdx_net_tls_policy(ctx) != 0) {
        set_err(err, errlen, "cannot restrict TLS versions and ciphers");
        goto fail;
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, opt->cert_file) != 1) {
        set_err(err, errlen, "tls_cert: cannot load a PEM certificate chain from %s",
                opt->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, opt->key_file, SSL_FILETYPE_PEM) != 1) {
        set_err(err, errlen, "tls_key: cannot load a PEM private key from %s", opt->key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, errlen, "tls_key: the key in %s does not match tls_cert %s", opt->key_file,
                opt->cert_file);
        goto fail;
    }
    X509_STORE *store = build_store(srv, err, errlen);
    if (store == NULL) {
        /* A configured CRL that cannot be read fails closed: the gateway
         * still starts (so the operator can fix the file while it runs)
         * but refuses every client until a reload succeeds.  A bad CA
         * bundle is a configuration error. */
        if (srv->crl[0] == '\0' || strncmp(err, "tls_crl", 7) != 0)
            goto fail;
        CDX_ERROR("tls.crl_unavailable", "reason=%s", cdx_log_q(err));
        store = X509_STORE_new();
        if (store == NULL || X509_STORE_load_file(store, srv->client_ca) != 1) {
            X509_STORE_free(store);
            set_err(err, errlen, "tls_client_ca: cannot load CA certificates from %s",
                    srv->client_ca);
            goto fail;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    SSL_CTX_set_cert_store(ctx, store);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(srv->client_ca);
    if (names == NULL) {
        set_err(err, errlen, "tls_client_ca: no CA certificate in %s", srv->client_ca);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    SSL_CTX_set_verify(ctx,
                       opt->require_client_cert ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                : SSL_VERIFY_PEER,
                       verify_cb);
    SSL_CTX_set_verify_depth(ctx, 4);
    *out = srv;
    return 0;
fail:
    cdx_tls_server_free(srv);
    return rc;
}

void cdx_tls_server_free(cdx_tls_server_t *srv)
{
    if (srv == NULL)
        return;
    SSL_CTX_free(srv->ctx);
    free(srv->insts);
    free(srv->creds);
    free(srv);
}

int cdx_tls_server_set_institutions(cdx_tls_server_t *srv, const cdx_institution_t *insts, size_t n)
{
    size_t ncreds = 0;
    for (size_t i = 0; i < n; i++)
        ncreds += insts[i].ncreds;
    cdx_institution_t *copy = n ? malloc(n * sizeof *copy) : NULL;
    cred_index_t *creds = ncreds ? calloc(ncreds, sizeof *creds) : NULL;
    if ((n && copy == NULL) || (ncreds && creds == NULL)) {
        free(copy);
        free(creds);
        return CDX_ENOMEM;
    }
    if (n)
        memcpy(copy, insts, n * sizeof *copy);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < insts[i].ncreds; j++, k++) {
            memcpy(creds[k].sha256, insts[i].creds[j].sha256, sizeof creds[k].sha256);
            creds[k].spki = insts[i].creds[j].spki;
            creds[k].inst = i;
        }
    }
    if (ncreds)
        qsort(creds, ncreds, sizeof *creds, cred_cmp);
    free(srv->insts);
    free(srv->creds);
    srv->insts = copy;
    srv->ninsts = n;
    srv->creds = creds;
    srv->ncreds = ncreds;
    return 0;
}

int cdx_tls_conn_new(cdx_tls_server_t *srv, cdx_tls_conn_t **out)
{
    cdx_tls_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return CDX_ENOMEM;
    c->srv = srv;
    c->failure = CDX_TLS_FAIL_OTHER;
    if (cdx_net_tls_ssl_new(srv->ctx, &c->ssl, &c->rbio, &c->wbio) != 0) {
        free(c);
        return CDX_ENOMEM;
    }
    SSL_set_ex_data(c->ssl, conn_index, c);
    SSL_set_accept_state(c->ssl);
    *out = c;
    return 0;
}

void cdx_tls_conn_free(cdx_tls_conn_t *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c);
}

int cdx_tls_conn_feed(cdx_tls_conn_t *c, const char *data, size_t len)
{
    return cdx_net_tls_feed(c->rbio, data, len);
}

static cdx_tls_failure_t classify_ssl_error(cdx_tls_conn_t *c)
{
    if (c->failure != CDX_TLS_FAIL_OTHER)
        return c->failure;
    unsigned long e = ERR_peek_error();
    cdx_tls_failure_t f = CDX_TLS_FAIL_OTHER;
    if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (ERR_GET_REASON(e)) {
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_UNKNOWN_PROTOCOL:
        case SSL_R_HTTP_REQUEST:
            f = CDX_TLS_FAIL_PROTOCOL;
            break;
        case SSL_R_NO_SHARED_CIPHER:
            f = CDX_TLS_FAIL_CIPHER;
            break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            f = CDX_TLS_FAIL_NO_CERTIFICATE;
            break;
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            f = classify_verify_error((int)SSL_get_verify_result(c->ssl));
            break;
        default:
            break;
        }
    }
    ERR_clear_error();
    c->failure = f;
    return f;
}

int cdx_tls_conn_read(cdx_tls_conn_t *c, char *out, size_t cap)
{
    if (!c->done) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
            classify_ssl_error(c);
            return CDX_ETLS;
        }
        c->done = 1;
        if (c->srv->require_client_cert && !c->has_peer) {
            c->failure = CDX_TLS_FAIL_UNREGISTERED;
            return CDX_ETLS;
        }
    }
    int n = SSL_read(c->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return CDX_EIO;
    }
    classify_ssl_error(c);
    return CDX_ETLS;
}

int cdx_tls_conn_write(cdx_tls_conn_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int chunk = len > 1u << 30 ? 1 << 30 : (int)len;
        int n = SSL_write(c->ssl, p, chunk);
        if (n <= 0) {
            ERR_clear_error();
            return CDX_ETLS;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void cdx_tls_conn_shutdown(cdx_tls_conn_t *c)
{
    if (c->done)
        SSL_shutdown(c->ssl);
    ERR_clear_error();
}

size_t cdx_tls_conn_pending(cdx_tls_conn_t *c)
{
    return BIO_ctrl_pending(c->wbio);
}

int cdx_tls_conn_take(cdx_tls_conn_t *c, char **out, size_t *len)
{
    return cdx_net_tls_take(c->wbio, out, len);
}

int cdx_tls_conn_handshake_done(const cdx_tls_conn_t *c)
{
    return c->done;
}

const cdx_institution_t *cdx_tls_conn_peer(const cdx_tls_conn_t *c)
{
    return c->has_peer ? &c->peer : NULL;
}

cdx_tls_failure_t cdx_tls_conn_failure(const cdx_tls_conn_t *c)
{
    return c->failure;
}

const char *cdx_tls_conn_version(const cdx_tls_conn_t *c)
{
    return SSL_get_version(c->ssl);
}

const char *cdx_tls_conn_cipher(const cdx_tls_conn_t *c)
{
    return SSL_get_cipher_name(c->ssl);
}
