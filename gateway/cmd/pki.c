/* pki: demo certificate authority (see include/cdx/cmd/pki.h). */
#include "cdx/cmd/pki.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Organisation of the demo CA's subject, so certificates are recognisable. */
#define CA_ORG "cdxgw demo federation"

/* Certificates and keys are a few kilobytes; anything larger is not ours. */
#define PEM_MAX ((size_t)1 << 20)

/* A century bounds validity periods so day arithmetic cannot overflow. */
#define DAYS_MAX (100 * 366)

/* notBefore is backdated by this many seconds to tolerate clock skew. */
#define SKEW_SECS 3600L

/* Expired certificates were valid for this many days before they expired. */
#define EXPIRED_SPAN_DAYS 30

struct cdx_pki_ca {
    X509 *cert;
    EVP_PKEY *key;
};

/* Records why OpenSSL failed and empties the thread's error queue, because
 * stale entries would later be misread by SSL_get_error() on this thread. */
static int crypto_fail(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char ebuf[160] = "unknown";
    if (e != 0)
        ERR_error_string_n(e, ebuf, sizeof ebuf);
    CDX_DEBUG("pki.error", "op=%s reason=%s", what, cdx_log_q(ebuf));
    ERR_clear_error();
    return CDX_ECRYPTO;
}

/* Keeps CDX_ENOMEM distinguishable; every other file failure is CDX_EIO. */
static int file_fail(int rc)
{
    return rc == CDX_ENOMEM || rc == -ENOMEM ? CDX_ENOMEM : CDX_EIO;
}

static int gen_key(EVP_PKEY **out)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL)
        return crypto_fail("keygen");
    *out = key;
    return 0;
}

/* A 128-bit serial with the top bit set is positive, has a fixed length,
 * and is unpredictable, as RFC 5280 and the CA/B baseline ask. */
static int set_random_serial(X509 *x)
{
    int rc = 0;
    BIGNUM *bn = BN_new();
    if (bn == NULL || !BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        rc = crypto_fail("serial");
    BN_free(bn);
    return rc;
}

/* Positive days: valid from an hour ago.  Negative days: a window that
 * closed |days| days ago, so verifiers report the certificate as expired
 * rather than as not yet valid. */
static int set_validity(X509 *x, int days)
{
    long before_secs = -SKEW_SECS;
    int before_days = 0, after_days = days;
    if (days == 0 || days > DAYS_MAX || days < -DAYS_MAX)
        return CDX_EINVAL;
    if (days < 0) {
        before_secs = 0;
        before_days = days - EXPIRED_SPAN_DAYS;
        after_days = days;
    }
    if (X509_time_adj_ex(X509_getm_notBefore(x), before_days, before_secs, NULL) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), after_days, 0, NULL) == NULL)
        return crypto_fail("validity");
    return 0;
}

static int name_add(X509_NAME *name, const char *field, const char *value)
{
    if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                    -1, 0))
        return crypto_fail("subject");
    return 0;
}

/* Adds an extension given in openssl.cnf syntax.  Only constant strings
 * from this file are passed, never caller data, so no value can smuggle in
 * extra entries. */
static int add_conf_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    int rc = 0;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        rc = crypto_fail(OBJ_nid2sn(nid));
    X509_EXTENSION_free(ext);
    return rc;
}

/* SAN strings are IA5String: printable ASCII only, and never empty. */
static int valid_ia5(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    }
    return 1;
}

static int push_ia5_name(GENERAL_NAMES *gens, int type, const char *value)
{
    int rc = CDX_ECRYPTO;
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!valid_ia5(value)) {
        rc = CDX_EINVAL;
        goto out;
    }
    if (gn == NULL || s == NULL || !ASN1_STRING_set(s, value, (int)strlen(value))) {
        rc = crypto_fail("san");
        goto out;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    s = NULL;
    if (!sk_GENERAL_NAME_push(gens, gn)) {
        rc = crypto_fail("san");
        goto out;
    }
    gn = NULL;
    rc = 0;
out:
    ASN1_IA5STRING_free(s);
    GENERAL_NAME_free(gn);
    return rc;
}

static int push_ip_name(GENERAL_NAMES *gens, const char *text)
{
    int rc = CDX_ECRYPTO;
    GENERAL_NAME *gn = NULL;
    /* a2i_IPADDRESS parses both IPv4 and IPv6 into network-order bytes. */
    ASN1_OCTET_STRING *ip = text != NULL ? a2i_IPADDRESS(text) : NULL;
    if (ip == NULL) {
        ERR_clear_error();
        rc = CDX_EINVAL;
        goto out;
    }
    gn = GENERAL_NAME_new();
    if (gn == NULL) {
        rc = crypto_fail("san");
        goto out;
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    ip = NULL;
    if (!sk_GENERAL_NAME_push(gens, gn)) {
        rc = crypto_fail("san");
        goto out;
    }
    gn = NULL;
    rc = 0;
out:
    ASN1_OCTET_STRING_free(ip);
    GENERAL_NAME_free(gn);
    return rc;
}

/* Builds the subjectAltName from typed GENERAL_NAMEs rather than a config
 * string, so a name containing a comma cannot become a second entry. */
static int add_san(X509 *cert, const cdx_pki_req_t *req)
{
    int rc = 0;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (gens == NULL) {
        rc = crypto_fail("san");
        goto out;
    }
    for (size_t i = 0; i < req->ndns; i++) {
        rc = push_ia5_name(gens, GEN_DNS, req->dns[i]);
        if (rc != 0)
            goto out;
    }
    for (size_t i = 0; i < req->nips; i++) {
        rc = push_ip_name(gens, req->ips[i]);
        if (rc != 0)
            goto out;
    }
    if (req->uri != NULL) {
        rc = push_ia5_name(gens, GEN_URI, req->uri);
        if (rc != 0)
            goto out;
    }
    /* An empty SAN extension is invalid DER for GeneralNames; omit it. */
    if (sk_GENERAL_NAME_num(gens) > 0 &&
        X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        rc = crypto_fail("san");
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

/* Serialises the certificate, or the key when key is given, into a memory
 * BIO and writes it atomically, so a crash never leaves half a file.  Keys
 * go through a secure-memory BIO, which is wiped when freed. */
static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, unsigned mode)
{
    int rc = 0;
    BIO *bio = BIO_new(key != NULL ? BIO_s_secmem() : BIO_s_mem());
    if (bio == NULL) {
        rc = crypto_fail("pem");
        goto out;
    }
    int ok = key != NULL ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_X509(bio, cert);
    if (!ok) {
        rc = crypto_fail("pem");
        goto out;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        rc = crypto_fail("pem");
        goto out;
    }
    rc = cdx_write_file_atomic(path, data, (size_t)len, mode);
    if (rc != 0) {
        CDX_DEBUG("pki.write_failed", "path=%s err=%s", cdx_log_q(path), cdx_strerror(rc));
        rc = file_fail(rc);
    }
out:
    BIO_free(bio);
    return rc;
}

static int write_pair(X509 *cert, EVP_PKEY *key, const char *cert_path, const char *key_path)
{
    /* The key goes first so that a certificate on disk always has its key. */
    int rc = write_pem(key_path, NULL, key, 0600);
    if (rc == 0)
        rc = write_pem(cert_path, cert, NULL, 0644);
    return rc;
}

static int sign(X509 *cert, EVP_PKEY *key)
{
    if (X509_sign(cert, key, EVP_sha256()) <= 0)
        return crypto_fail("sign");
    return 0;
}

int cdx_pki_ca_create(const char *cert_path, const char *key_path, const char *cn, int days,
                      cdx_pki_ca_t **out)
{
    int rc = 0;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    cdx_pki_ca_t *ca = NULL;
    if (cert_path == NULL || key_path == NULL || cn == NULL || *cn == '\0' || days <= 0 ||
        out == NULL) {
        rc = CDX_EINVAL;
        goto out;
    }
    rc = gen_key(&key);
    if (rc != 0)
        goto out;
    cert = X509_new();
    if (cert == NULL) {
        rc = crypto_fail("x509_new");
        goto out;
    }
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_pubkey(cert, key)) {
        rc = crypto_fail("ca_fields");
        goto out;
    }
    if ((rc = set_random_serial(cert)) != 0 || (rc = set_validity(cert, days)) != 0)
        goto out;
    X509_NAME *name = X509_get_subject_name(cert);
    if ((rc = name_add(name, "CN", cn)) != 0 || (rc = name_add(name, "O", CA_ORG)) != 0)
        goto out;
    if (!X509_set_issuer_name(cert, name)) {
        rc = crypto_fail("issuer");
        goto out;
    }
    /* pathlen 0: the demo CA signs end entities only, never another CA. */
    if ((rc = add_conf_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) != 0 ||
        (rc = add_conf_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")) != 0 ||
        (rc = add_conf_ext(cert, cert, NID_subject_key_identifier, "hash")) != 0)
        goto out;
    if ((rc = sign(cert, key)) != 0 || (rc = write_pair(cert, key, cert_path, key_path)) != 0)
        goto out;
    ca = calloc(1, sizeof *ca);
    if (ca == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    ca->cert = cert;
    ca->key = key;
    cert = NULL;
    key = NULL;
    *out = ca;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Reads a PEM file into a memory BIO, so files are read with the project's
 * size cap and errno mapping rather than through OpenSSL's FILE layer. */
static int read_pem_bio(const char *path, BIO **out, char **buf, size_t *len)
{
    int rc = cdx_read_file(path, PEM_MAX, buf, len);
    if (rc != 0) {
        CDX_DEBUG("pki.read_failed", "path=%s err=%s", cdx_log_q(path), cdx_strerror(rc));
        return file_fail(rc);
    }
    if (*len > (size_t)INT_MAX || (*out = BIO_new_mem_buf(*buf, (int)*len)) == NULL) {
        OPENSSL_clear_free(*buf, *len);
        *buf = NULL;
        return crypto_fail("bio");
    }
    return 0;
}

/* A NULL password callback would make OpenSSL prompt on the terminal for
 * an encrypted key; refusing instead keeps a server from hanging. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

int cdx_pki_ca_load(const char *cert_path, const char *key_path, cdx_pki_ca_t **out)
{
    int rc = 0;
    BIO *cbio = NULL, *kbio = NULL;
    char *cbuf = NULL, *kbuf = NULL;
    size_t clen = 0, klen = 0;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    cdx_pki_ca_t *ca = NULL;
    if (cert_path == NULL || key_path == NULL || out == NULL) {
        rc = CDX_EINVAL;
        goto out;
    }
    if ((rc = read_pem_bio(cert_path, &cbio, &cbuf, &clen)) != 0 ||
        (rc = read_pem_bio(key_path, &kbio, &kbuf, &klen)) != 0)
        goto out;
    cert = PEM_read_bio_X509(cbio, NULL, no_password, NULL);
    if (cert == NULL) {
        rc = crypto_fail("read_cert");
        goto out;
    }
    key = PEM_read_bio_PrivateKey(kbio, NULL, no_password, NULL);
    if (key == NULL) {
        rc = crypto_fail("read_key");
        goto out;
    }
    /* Issuing with a certificate that cannot sign certificates would only
     * produce chains every verifier rejects, so refuse it up front. */
    if (X509_check_ca(cert) == 0) {
        CDX_DEBUG("pki.not_ca", "path=%s", cdx_log_q(cert_path));
        rc = CDX_EINVAL;
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        rc = crypto_fail("key_mismatch");
        goto out;
    }
    ca = calloc(1, sizeof *ca);
    if (ca == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    ca->cert = cert;
    ca->key = key;
    cert = NULL;
    key = NULL;
    *out = ca;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cbio);
    BIO_free(kbio);
    free(cbuf);
    /* The key's PEM text must not linger in freed heap memory. */
    if (kbuf != NULL)
        OPENSSL_clear_free(kbuf, klen);
    return rc;
}

void cdx_pki_ca_free(cdx_pki_ca_t *ca)
{
    if (ca == NULL)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    free(ca);
}

static int valid_req(const cdx_pki_req_t *req)
{
    if (req->cn == NULL || *req->cn == '\0')
        return 0;
    if ((req->ndns > 0 && req->dns == NULL) || (req->nips > 0 && req->ips == NULL))
        return 0;
    /* A certificate usable for neither TLS role has no use in a federation. */
    return req->server || req->client;
}

int cdx_pki_issue(cdx_pki_ca_t *ca, const cdx_pki_req_t *req, const char *cert_path,
                  const char *key_path)
{
    int rc = 0;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (ca == NULL || req == NULL || cert_path == NULL || key_path == NULL || !valid_req(req)) {
        rc = CDX_EINVAL;
        goto out;
    }
    rc = gen_key(&key);
    if (rc != 0)
        goto out;
    cert = X509_new();
    if (cert == NULL) {
        rc = crypto_fail("x509_new");
        goto out;
    }
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_pubkey(cert, key) ||
        !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert))) {
        rc = crypto_fail("cert_fields");
        goto out;
    }
    if ((rc = set_random_serial(cert)) != 0 || (rc = set_validity(cert, req->days)) != 0)
        goto out;
    X509_NAME *name = X509_get_subject_name(cert);
    if ((rc = name_add(name, "CN", req->cn)) != 0)
        goto out;
    if (req->org != NULL && (rc = name_add(name, "O", req->org)) != 0)
        goto out;
    const char *eku = req->server && req->client ? "serverAuth,clientAuth"
                      : req->server              ? "serverAuth"
                                                 : "clientAuth";
    /* keyAgreement is kept alongside digitalSignature for ECDH cipher suites
     * that use the certificate's key statically. */
    if ((rc = add_conf_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
        (rc = add_conf_ext(cert, ca->cert, NID_key_usage,
                           "critical,digitalSignature,keyAgreement")) != 0 ||
        (rc = add_conf_ext(cert, ca->cert, NID_ext_key_usage, eku)) != 0 ||
        (rc = add_san(cert, req)) != 0 ||
        (rc = add_conf_ext(cert, ca->cert, NID_subject_key_identifier, "hash")) != 0 ||
        (rc = add_conf_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always")) != 0)
        goto out;
    if ((rc = sign(cert, ca->key)) != 0)
        goto out;
    rc = write_pair(cert, key, cert_path, key_path);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
