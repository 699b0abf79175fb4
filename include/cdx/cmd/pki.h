/*
 * pki: a small certificate authority for `cdxgw demo` and for tests.
 *
 * Responsible for: creating (or loading) a demo CA, issuing server and
 * client certificates signed by it with the extensions a federation
 * verifier expects (basicConstraints, keyUsage, extendedKeyUsage,
 * subjectAltName with DNS names, IP addresses and a `urn:oid:` URI).  Keys
 * are EC P-256.  Private keys are written atomically with mode 0600;
 * certificates with 0644.
 * Not responsible for: production PKI (no HSM, no revocation service).
 *
 * All functions are synchronous and may be called from any thread, but a
 * cdx_pki_ca_t must not be shared between threads.
 */
#ifndef CDX_PKI_H
#define CDX_PKI_H

#include <stddef.h>

typedef struct cdx_pki_ca cdx_pki_ca_t;

/* Creates a self-signed CA (CN cn, valid `days` days) and writes its
 * certificate and key.  Returns 0 or a negative error; *out is set only on
 * success. */
int cdx_pki_ca_create(const char *cert_path, const char *key_path, const char *cn, int days,
                      cdx_pki_ca_t **out);

/* Loads an existing CA certificate and key. */
int cdx_pki_ca_load(const char *cert_path, const char *key_path, cdx_pki_ca_t **out);

/* NULL is a no-op. */
void cdx_pki_ca_free(cdx_pki_ca_t *ca);

typedef struct cdx_pki_req {
    const char *cn;                 /* subject CN, required */
    const char *org;                /* subject O, optional */
    const char *const *dns;         /* SAN DNS names */
    size_t ndns;
    const char *const *ips;         /* SAN IP addresses (textual IPv4/IPv6) */
    size_t nips;
    const char *uri;                /* SAN URI such as "urn:oid:2.25.1234", optional */
    int server;                     /* EKU serverAuth */
    int client;                     /* EKU clientAuth */
    int days;                       /* validity from now; negative: already expired */
} cdx_pki_req_t;

/* Issues a certificate for req signed by ca, with a fresh key, and writes
 * both files.  Returns 0 or a negative error. */
int cdx_pki_issue(cdx_pki_ca_t *ca, const cdx_pki_req_t *req, const char *cert_path,
                  const char *key_path);

#endif
