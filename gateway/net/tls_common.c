/* tls_common: the TLS policy and memory-BIO plumbing of the server and the
 * client (see tls_common.h). */
#include "tls_common.h"
#include "cdx/base/common.h"

#include <openssl/err.h>
#include <stdint.h>
#include <stdlib.h>

static const char TLS12_CIPHERS[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
static const char TLS13_SUITES[] =
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

int cdx_net_tls_policy(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1)
        return CDX_ETLS;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    /* No resumption: every connection verifies the certificate afresh. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

int cdx_net_tls_ssl_new(SSL_CTX *ctx, SSL **ssl, BIO **rbio, BIO **wbio)
{
    *ssl = SSL_new(ctx);
    *rbio = BIO_new(BIO_s_mem());
    *wbio = BIO_new(BIO_s_mem());
    if (*ssl == NULL || *rbio == NULL || *wbio == NULL) {
        SSL_free(*ssl);
        BIO_free(*rbio);
        BIO_free(*wbio);
        *ssl = NULL;
        *rbio = *wbio = NULL;
        ERR_clear_error();
        return CDX_ENOMEM;
    }
    BIO_set_mem_eof_return(*rbio, -1);
    SSL_set_bio(*ssl, *rbio, *wbio); /* the SSL owns both BIOs now */
    return 0;
}

int cdx_net_tls_feed(BIO *rbio, const char *data, size_t len)
{
    while (len > 0) {
        int chunk = len > 1u << 30 ? 1 << 30 : (int)len;
        int n = BIO_write(rbio, data, chunk);
        if (n <= 0) {
            ERR_clear_error();
            return CDX_ENOMEM;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int cdx_net_tls_take(BIO *wbio, char **out, size_t *len)
{
    size_t n = BIO_ctrl_pending(wbio);
    *out = NULL;
    *len = 0;
    if (n == 0)
        return 0;
    if (n > INT32_MAX)
        n = INT32_MAX;
    char *buf = malloc(n);
    if (buf == NULL)
        return CDX_ENOMEM;
    int got = BIO_read(wbio, buf, (int)n);
    if (got <= 0) {
        free(buf);
        return 0;
    }
    *out = buf;
    *len = (size_t)got;
    return 0;
}
