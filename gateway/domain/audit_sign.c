/* audit_sign: the audit signing key and checkpoint signatures (see
 * include/cdx/domain/audit_sign.h). */
#include "cdx/domain/audit_sign.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

struct cdx_audit_key {
    EVP_PKEY *pkey;
    int private_half;
    char id[33];
};

static int key_wrap(EVP_PKEY *pkey, int private_half, cdx_audit_key_t **out, char *err,
                    size_t errlen, const char *path)
{
    unsigned char raw[32], md[EVP_MAX_MD_SIZE];
    size_t rawlen = sizeof raw;
    unsigned int mdlen = 0;
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != 32) {
        cdx_errf(err, errlen, "%s: not an Ed25519 key", path);
        EVP_PKEY_free(pkey);
        return CDX_ECONFIG;
    }
    cdx_audit_key_t *k = calloc(1, sizeof *k);
    if (k == NULL || EVP_Digest(raw, rawlen, md, &mdlen, EVP_sha256(), NULL) != 1) {
        free(k);
        EVP_PKEY_free(pkey);
        cdx_errf(err, errlen, "%s: cannot read the key", path);
        return k == NULL ? CDX_ENOMEM : CDX_ECRYPTO;
    }
    k->pkey = pkey;
    k->private_half = private_half;
    cdx_hex(md, 16, k->id);
    *out = k;
    return 0;
}

/* Makes a new key and writes it to path as PEM, mode 0600. */
static int key_create(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *mem = BIO_new(BIO_s_mem());
    int rc = CDX_ECRYPTO;
    char *data = NULL;
    long len = 0;
    if (pkey == NULL || mem == NULL ||
        PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(mem, &data)) <= 0) {
        cdx_errf(err, errlen, "audit_signing_key_file: cannot make a key for %s", path);
        goto out;
    }
    char *copy = strdup(path), *slash = copy ? strrchr(copy, '/') : NULL;
    if (slash != NULL && slash != copy) {
        *slash = '\0';
        cdx_mkdirs(copy, 0700);
    }
    free(copy);
    rc = cdx_write_file_atomic(path, data, (size_t)len, 0600);
    if (rc != 0)
        cdx_errf(err, errlen, "audit_signing_key_file: cannot create %s: %s", path,
                 cdx_strerror(rc));
    else
        CDX_INFO("keys.created", "file=%s", cdx_log_q(path));
out:
    if (mem != NULL)
        BIO_free(mem); /* the PEM text lives in mem: freed with it */
    EVP_PKEY_free(pkey);
    return rc;
}

int cdx_audit_key_load(const char *path, int create, cdx_audit_key_t **out, char *err,
                       size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, 16384, &data, &len);
    if (rc == -ENOENT && create) {
        rc = key_create(path, err, errlen);
        if (rc != 0)
            return rc;
        rc = cdx_read_file(path, 16384, &data, &len);
    }
    if (rc != 0) {
        cdx_errf(err, errlen, "audit_signing_key_file: cannot read %s: %s", path, cdx_strerror(rc));
        return rc == -ENOENT ? CDX_ENOTFOUND : CDX_ECONFIG;
    }
    BIO *mem = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = mem != NULL ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL) : NULL;
    BIO_free(mem);
    OPENSSL_cleanse(data, len);
    free(data);
    if (pkey == NULL) {
        cdx_errf(err, errlen, "audit_signing_key_file: %s holds no PEM private key", path);
        return CDX_ECONFIG;
    }
    return key_wrap(pkey, 1, out, err, errlen, path);
}

int cdx_audit_key_load_public(const char *path, cdx_audit_key_t **out, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, 16384, &data, &len);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: %s", path, cdx_strerror(rc));
        return rc;
    }
    BIO *mem = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = mem != NULL ? PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL) : NULL;
    if (pkey == NULL && mem != NULL) {
        (void)BIO_reset(mem);
        pkey = PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL);
    }
    BIO_free(mem);
    OPENSSL_cleanse(data, len);
    free(data);
    if (pkey == NULL) {
        cdx_errf(err, errlen, "%s: holds no PEM public key", path);
        return CDX_ECONFIG;
    }
    /* Verification only, whatever the file held. */
    return key_wrap(pkey, 0, out, err, errlen, path);
}

void cdx_audit_key_free(cdx_audit_key_t *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

int cdx_audit_key_public_pem(const cdx_audit_key_t *key, char **out, size_t *len)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    int rc = CDX_ECRYPTO;
    if (mem != NULL && PEM_write_bio_PUBKEY(mem, key->pkey) == 1 &&
        (n = BIO_get_mem_data(mem, &data)) > 0) {
        char *copy = malloc((size_t)n + 1);
        rc = CDX_ENOMEM;
        if (copy != NULL) {
            memcpy(copy, data, (size_t)n);
            copy[n] = '\0';
            *out = copy;
            *len = (size_t)n;
            rc = 0;
        }
    }
    BIO_free(mem);
    return rc;
}

const char *cdx_audit_key_id(const cdx_audit_key_t *key)
{
    return key->id;
}

int cdx_audit_key_can_sign(const cdx_audit_key_t *key)
{
    return key != NULL && key->private_half;
}

/* The signed message: the tag, then seq, hash and ts, each line-ended.
 * hash is 64 hex digits and ts holds no line end, so no two checkpoints
 * share a message. */
static int checkpoint_message(int64_t seq, const char *hash, const char *ts, char *out,
                              size_t outlen, size_t *len)
{
    if (hash == NULL || ts == NULL || strlen(hash) != 64 ||
        strspn(hash, "0123456789abcdef") != 64 || strcspn(ts, "\r\n") != strlen(ts) || seq < 1)
        return CDX_EINVAL;
    int n =
        snprintf(out, outlen, "cdx.audit.checkpoint.v1\n%lld\n%s\n%s\n", (long long)seq, hash, ts);
    if (n < 0 || (size_t)n >= outlen)
        return CDX_EINVAL;
    *len = (size_t)n;
    return 0;
}

int cdx_audit_checkpoint_sign(const cdx_audit_key_t *key, int64_t seq, const char *hash,
                              const char *ts, char sig[CDX_AUDIT_SIG_HEX])
{
    char msg[256];
    size_t mlen = 0;
    if (!cdx_audit_key_can_sign(key) || checkpoint_message(seq, hash, ts, msg, sizeof msg, &mlen))
        return CDX_EINVAL;
    unsigned char raw[64];
    size_t rawlen = sizeof raw;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
             EVP_DigestSign(ctx, raw, &rawlen, (const unsigned char *)msg, mlen) == 1 &&
             rawlen == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return CDX_ECRYPTO;
    cdx_hex(raw, 64, sig);
    return 0;
}

int cdx_audit_checkpoint_verify(const cdx_audit_key_t *key, int64_t seq, const char *hash,
                                const char *ts, const char *sig)
{
    char msg[256];
    size_t mlen = 0;
    unsigned char raw[64];
    if (key == NULL || checkpoint_message(seq, hash, ts, msg, sizeof msg, &mlen) != 0 ||
        sig == NULL || strlen(sig) != 128)
        return CDX_ECONFLICT;
    for (size_t i = 0; i < 64; i++) {
        int hi = cdx_hex_digit((unsigned char)sig[2 * i]);
        int lo = cdx_hex_digit((unsigned char)sig[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CDX_ECONFLICT;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CDX_ECRYPTO;
    int rc = CDX_ECRYPTO;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1)
        rc = EVP_DigestVerify(ctx, raw, sizeof raw, (const unsigned char *)msg, mlen) == 1
                 ? 0
                 : CDX_ECONFLICT;
    EVP_MD_CTX_free(ctx);
    return rc;
}
