/*
 * tls_client: outbound TLS with OpenSSL memory BIOs, bound to the
 * destination institution.
 *
 * Responsible for: the client SSL_CTX (TLS 1.2 minimum, AEAD suites only,
 * no renegotiation, no compression, no tickets or resumption), our client
 * certificate and key, trusting the federation CA bundle only (the system
 * store only when an option asks for it), and per connection: SNI, the
 * peer certificate checked against the endpoint's host name (or IP
 * literal), its chain against the trusted CAs, and its binding to the
 * institution we mean to reach: a subjectAltName URI `urn:oid:<its OID>`,
 * or the SHA-256 of the certificate (DER) or of its SubjectPublicKeyInfo
 * being one of that institution's registered credentials.  A failed check
 * aborts the handshake before any request byte is sent, with a class
 * (chain, host, institution, protocol) and a short reason.
 * Not responsible for: sockets, timers or HTTP (the caller moves the
 * ciphertext; see net/http_client.h).
 *
 * Loop thread only: a context and its connections are used from one
 * thread.  A connection holds its own reference to the OpenSSL context, so
 * a context may be freed while connections made from it are still alive.
 */
#ifndef CDX_NET_TLS_CLIENT_H
#define CDX_NET_TLS_CLIENT_H

#include <stddef.h>

#include "cdx/domain/types.h"

typedef struct cdx_tls_client cdx_tls_client_t;
typedef struct cdx_tls_client_conn cdx_tls_client_conn_t;

typedef struct cdx_tls_client_options {
    const char *ca_file;   /* federation CA bundle (PEM), required */
    const char *cert_file; /* our client certificate chain (PEM), required */
    const char *key_file;  /* its private key (PEM), required */
    /* 1: also trust the operating system's store (OpenSSL's default paths,
     * SSL_CERT_FILE / SSL_CERT_DIR).  0, the default, trusts the federation
     * CA alone. */
    int use_system_store;
} cdx_tls_client_options_t;

/* Why a handshake failed.  CHAIN: the certificate does not verify against
 * the trusted CAs (unknown issuer, expired, bad signature, wrong purpose);
 * HOST: it does not name the endpoint's host; INSTITUTION: it verifies but
 * is not bound to the destination institution; PROTOCOL: anything else
 * (version or cipher mismatch, a malformed record, an alert). */
#define CDX_TLS_CLIENT_FAILURES(X)                                                                 \
    X(NONE, "none")                                                                                \
    X(CHAIN, "tls_chain")                                                                          \
    X(HOST, "tls_host")                                                                            \
    X(INSTITUTION, "tls_institution")                                                              \
    X(PROTOCOL, "tls_protocol")

typedef enum {
#define CDX_TLS_CLIENT_FAIL_ENUM(name, label) CDX_TLS_CLIENT_FAIL_##name,
    CDX_TLS_CLIENT_FAILURES(CDX_TLS_CLIENT_FAIL_ENUM)
#undef CDX_TLS_CLIENT_FAIL_ENUM
        CDX_TLS_CLIENT_FAIL_COUNT
} cdx_tls_client_failure_t;

/* A static label such as "tls_host", for metrics and logs. */
const char *cdx_tls_client_failure_label(cdx_tls_client_failure_t f);

/* Builds the client context from opt (paths are read now, not kept).
 * Returns 0 and sets *out, or CDX_EINVAL / CDX_ETLS / CDX_ENOMEM with a
 * reason naming the file in err. */
int cdx_tls_client_new(const cdx_tls_client_options_t *opt, cdx_tls_client_t **out, char *err,
                       size_t errlen);
/* NULL is a no-op. */
void cdx_tls_client_free(cdx_tls_client_t *cli);

/* A connection to host (a DNS name, or an IPv4 or IPv6 literal without
 * brackets), whose certificate must be bound to the institution `peer`.
 * host and peer are copied.  SNI is sent for DNS names only.  Returns 0
 * and sets *out, CDX_EINVAL (empty or overlong host, NULL peer, a peer
 * with neither an OID nor credentials) or CDX_ENOMEM. */
int cdx_tls_client_conn_new(cdx_tls_client_t *cli, const char *host,
                            const cdx_institution_t *peer, cdx_tls_client_conn_t **out);
/* NULL is a no-op. */
void cdx_tls_client_conn_free(cdx_tls_client_conn_t *c);

/* Hands ciphertext received from the server to TLS.  0 or CDX_ENOMEM. */
int cdx_tls_client_conn_feed(cdx_tls_client_conn_t *c, const char *data, size_t len);

/* Drives the handshake (the first call produces the ClientHello).
 * Returns 1 once it is complete and every check passed, 0 while more
 * ciphertext is needed (send what cdx_tls_client_conn_take() holds), or
 * CDX_ETLS (see cdx_tls_client_conn_failure() and _reason()). */
int cdx_tls_client_conn_handshake(cdx_tls_client_conn_t *c);

/* Reads plaintext after the handshake: the number of bytes (> 0), 0 when
 * more ciphertext is needed, CDX_EIO when the server sent close_notify, or
 * CDX_ETLS on failure. */
int cdx_tls_client_conn_read(cdx_tls_client_conn_t *c, char *out, size_t cap);

/* Encrypts plaintext after the handshake.  0, CDX_EINVAL before the
 * handshake completed, or CDX_ETLS. */
int cdx_tls_client_conn_write(cdx_tls_client_conn_t *c, const void *data, size_t len);

/* Ciphertext waiting to be sent: its size, and taking it as a heap buffer
 * the caller frees (*out NULL when there is none).  0 or CDX_ENOMEM. */
size_t cdx_tls_client_conn_pending(const cdx_tls_client_conn_t *c);
int cdx_tls_client_conn_take(cdx_tls_client_conn_t *c, char **out, size_t *len);

/* Queues close_notify (take it like any ciphertext). */
void cdx_tls_client_conn_shutdown(cdx_tls_client_conn_t *c);

/* Whether the server has sent close_notify. */
int cdx_tls_client_conn_closed_by_peer(const cdx_tls_client_conn_t *c);

/* The class of the failure (NONE while none happened) and a short reason
 * ("certificate does not match host example.org", "certificate not bound
 * to institution 1.2.3"), valid for the connection's life; never any
 * request or response content. */
cdx_tls_client_failure_t cdx_tls_client_conn_failure(const cdx_tls_client_conn_t *c);
const char *cdx_tls_client_conn_reason(const cdx_tls_client_conn_t *c);

/* How the certificate was bound to the institution, once the handshake is
 * complete: "san_uri", "cert_sha256" or "spki_sha256" (NULL before). */
const char *cdx_tls_client_conn_binding(const cdx_tls_client_conn_t *c);

/* Protocol and cipher names, for logs. */
const char *cdx_tls_client_conn_version(const cdx_tls_client_conn_t *c);
const char *cdx_tls_client_conn_cipher(const cdx_tls_client_conn_t *c);

#endif
