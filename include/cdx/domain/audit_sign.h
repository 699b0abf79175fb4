/*
 * audit_sign: the gateway's audit signing key and the signed checkpoints of
 * the audit chain.
 *
 * Responsible for: reading (or creating, mode 0600) the Ed25519 private key
 * file, reading a published public key, the public key as PEM and its
 * identifier, and signing and verifying the checkpoint message
 * ("cdx.audit.checkpoint.v1", seq, the chain's hash at seq, the time), so
 * that a registry copied or cut elsewhere can be checked offline against
 * the public key alone.
 * Not responsible for: when a checkpoint is due or where it is kept (the
 * store's audit chain), or the chain's own hashes.
 *
 * A key is immutable once loaded: any thread may sign or verify with it.
 */
#ifndef CDX_DOMAIN_AUDIT_SIGN_H
#define CDX_DOMAIN_AUDIT_SIGN_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdx_audit_key cdx_audit_key_t;

/* The signature as stored: 64 bytes as lower-case hex, and its NUL. */
#define CDX_AUDIT_SIG_HEX 129

/* Reads the PEM Ed25519 private key at path; when the file does not exist
 * and create is 1, makes a new key and writes it there (mode 0600, parent
 * folders 0700).  Returns 0 with *out (free with cdx_audit_key_free), or a
 * negative error with the reason in err (CDX_ECONFIG for a file that holds
 * no Ed25519 private key). */
int cdx_audit_key_load(const char *path, int create, cdx_audit_key_t **out, char *err,
                       size_t errlen);

/* Reads a PEM public key (or a private key, whose public half is used) at
 * path; only Ed25519 is accepted.  Returns 0 with *out, or a negative error
 * with the reason in err. */
int cdx_audit_key_load_public(const char *path, cdx_audit_key_t **out, char *err, size_t errlen);

/* NULL is a no-op. */
void cdx_audit_key_free(cdx_audit_key_t *key);

/* The public key as a PEM "PUBLIC KEY" block, NUL-terminated, in a heap
 * buffer the caller frees.  Returns 0 or a negative error. */
int cdx_audit_key_public_pem(const cdx_audit_key_t *key, char **out, size_t *len);

/* The key's identifier: SHA-256 of its 32 raw public bytes, first 16 bytes
 * as hex. */
const char *cdx_audit_key_id(const cdx_audit_key_t *key);

/* 1 when key holds the private half (it can sign). */
int cdx_audit_key_can_sign(const cdx_audit_key_t *key);

/* Signs the checkpoint (seq, hash, ts) into sig (hex).  hash is the
 * chain's 64-hex hash of record seq; ts the checkpoint's time.  Returns 0,
 * CDX_EINVAL for a key without its private half or a malformed field, or
 * CDX_ECRYPTO. */
int cdx_audit_checkpoint_sign(const cdx_audit_key_t *key, int64_t seq, const char *hash,
                              const char *ts, char sig[CDX_AUDIT_SIG_HEX]);

/* 0 when sig is key's signature of the checkpoint (seq, hash, ts);
 * CDX_ECONFLICT when it is not (or is malformed); CDX_ECRYPTO. */
int cdx_audit_checkpoint_verify(const cdx_audit_key_t *key, int64_t seq, const char *hash,
                                const char *ts, const char *sig);

#endif
