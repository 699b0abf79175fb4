/* tls_common: what the server (tls.c) and the client (tls_client.c) share
 * of OpenSSL over memory BIOs: one policy of versions and suites, and the
 * moving of bytes between a connection's BIOs and the socket.  Private to
 * net/. */
#ifndef CDX_NET_TLS_COMMON_H
#define CDX_NET_TLS_COMMON_H

#include <stddef.h>

#include <openssl/ssl.h>

/* TLS 1.2 minimum with AEAD suites only (ITI-19's four and their ECDSA
 * twins; TLS 1.3's three), no renegotiation, compression, tickets or
 * session cache.  Returns 0, or CDX_ETLS when OpenSSL refuses the suites. */
int cdx_net_tls_policy(SSL_CTX *ctx);

/* A connection of ctx wired to two fresh memory BIOs (rbio: bytes from the
 * peer; wbio: bytes for it; an empty rbio reads as "retry", not EOF).
 * Returns 0 or CDX_ENOMEM, with nothing left allocated. */
int cdx_net_tls_ssl_new(SSL_CTX *ctx, SSL **ssl, BIO **rbio, BIO **wbio);

/* Appends len bytes from the socket to rbio.  0 or CDX_ENOMEM. */
int cdx_net_tls_feed(BIO *rbio, const char *data, size_t len);

/* Takes what wbio holds for the socket into a heap buffer *out (NULL and
 * 0 when empty).  0 or CDX_ENOMEM. */
int cdx_net_tls_take(BIO *wbio, char **out, size_t *len);

#endif
