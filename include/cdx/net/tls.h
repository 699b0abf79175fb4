/*
 * tls: the server's TLS with OpenSSL memory BIOs, and peer identity.
 *
 * Responsible for: the server SSL_CTX (TLS 1.2 minimum, AEAD suites only,
 * no renegotiation, no compression, no tickets), verifying client
 * certificates against the federation CA bundle only (never the system
 * store), CRL checking that fails closed, mapping the verified certificate
 * to a registered institution (SHA-256 of the certificate or of its public
 * key, or a SAN URI urn:oid:<OID>), and per-connection TLS state driven
 * by the caller with ciphertext in and out (no sockets here).
 * Not responsible for: sockets, timers or HTTP.
 *
 * Loop thread only: a cdx_tls_server_t and its connections are used from
 * one thread.
 */
#ifndef CDX_TLS_H
#define CDX_TLS_H

#include <stddef.h>

#include "cdx/domain/types.h"

typedef struct cdx_tls_server cdx_tls_server_t;
typedef struct cdx_tls_conn cdx_tls_conn_t;

typedef struct cdx_tls_options {
    const char *cert_file;
    const char *key_file;
    const char *client_ca_file;
    const char *crl_file;        /* "" or NULL: no CRL checking */
    int require_client_cert;     /* 1 in production */
} cdx_tls_options_t;

/* Handshake failure reasons, for metrics and logs. */
#define CDX_TLS_FAILURES(X)                                                                        \
    X(NO_CERTIFICATE, "no_certificate")                                                            \
    X(UNKNOWN_CA, "unknown_ca")                                                                    \
    X(EXPIRED, "expired")                                                                          \
    X(NOT_YET_VALID, "not_yet_valid")                                                              \
    X(REVOKED, "revoked")                                                                          \
    X(CRL_UNAVAILABLE, "crl_unavailable")                                                          \
    X(BAD_CERTIFICATE, "bad_certificate")                                                          \
    X(UNREGISTERED, "unregistered")                                                                \
    X(PROTOCOL, "protocol_version")                                                                \
    X(CIPHER, "no_shared_cipher")                                                                  \
    X(TIMEOUT, "timeout")                                                                          \
    X(CLOSED, "closed_by_peer")                                                                    \
    X(OTHER, "other")

typedef enum {
#define CDX_TLS_FAIL_ENUM(name, label) CDX_TLS_FAIL_##name,
    CDX_TLS_FAILURES(CDX_TLS_FAIL_ENUM)
#undef CDX_TLS_FAIL_ENUM
    CDX_TLS_FAIL_COUNT
} cdx_tls_failure_t;

const char *cdx_tls_failure_label(cdx_tls_failure_t f);

/* Builds the server context.  On failure returns a negative error with a
 * reason naming the file in err. */
int cdx_tls_server_new(const cdx_tls_options_t *opt, cdx_tls_server_t **out, char *err,
                       size_t errlen);
void cdx_tls_server_free(cdx_tls_server_t *srv);

/* Replaces the institutions the server recognizes.  The array is copied. */
int cdx_tls_server_set_institutions(cdx_tls_server_t *srv, const cdx_institution_t *insts,
                                    size_t n);

/* Re-reads the CRL file.  On failure the previous CRLs stay (and once they
 * are past nextUpdate every client is refused).  Returns 0 or an error
 * with the reason in err. */
int cdx_tls_server_reload_crl(cdx_tls_server_t *srv, char *err, size_t errlen);

/* Per connection. */
int cdx_tls_conn_new(cdx_tls_server_t *srv, cdx_tls_conn_t **out);
void cdx_tls_conn_free(cdx_tls_conn_t *c);

/* Hands ciphertext received from the peer to TLS.  Returns 0 or CDX_ENOMEM. */
int cdx_tls_conn_feed(cdx_tls_conn_t *c, const char *data, size_t len);

/* Drives the handshake and reads plaintext into out.  Returns the number
 * of bytes (> 0), 0 when more ciphertext is needed, CDX_EIO when the peer
 * closed cleanly, or CDX_ETLS on failure (see cdx_tls_conn_failure()). */
int cdx_tls_conn_read(cdx_tls_conn_t *c, char *out, size_t cap);

/* Encrypts plaintext.  Returns 0 or CDX_ETLS. */
int cdx_tls_conn_write(cdx_tls_conn_t *c, const void *data, size_t len);

/* Sends close_notify. */
void cdx_tls_conn_shutdown(cdx_tls_conn_t *c);

/* Ciphertext waiting to be sent: the number of bytes, and taking them as
 * a heap buffer (the caller frees it).  Returns 0, or CDX_ENOMEM. */
size_t cdx_tls_conn_pending(cdx_tls_conn_t *c);
int cdx_tls_conn_take(cdx_tls_conn_t *c, char **out, size_t *len);

int cdx_tls_conn_handshake_done(const cdx_tls_conn_t *c);
/* The institution of the verified peer (NULL before the handshake or when
 * client certificates are optional and none was sent).  The pointer stays
 * valid for the connection's life. */
const cdx_institution_t *cdx_tls_conn_peer(const cdx_tls_conn_t *c);
cdx_tls_failure_t cdx_tls_conn_failure(const cdx_tls_conn_t *c);
/* Protocol and cipher names, for logs. */
const char *cdx_tls_conn_version(const cdx_tls_conn_t *c);
const char *cdx_tls_conn_cipher(const cdx_tls_conn_t *c);

#endif
