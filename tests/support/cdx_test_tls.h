/* Shared by the loopback tests of the outbound TLS and HTTP clients
 * (tests/unit/net/test_tls_client.c, test_http_client.c).
 *
 * Certificates are made at test time with the project's PKI: a federation
 * CA and a second, foreign CA; a server certificate naming 127.0.0.1,
 * localhost and the destination institution's urn:oid: URI, one without
 * the URI (bound by fingerprint instead), one for another host, one from
 * the foreign CA; and our client certificate.  A small TLS server runs in
 * a thread with blocking OpenSSL and behaves as each case asks: answers,
 * stalls, trickles, misframes or closes.  Stalls wait on a pipe the test
 * writes to once the client has finished, so no case depends on a race.
 * request() runs one request on a fresh loop and checks that the loop
 * closes cleanly afterwards. */
#ifndef CDX_TEST_TLS_H
#define CDX_TEST_TLS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "cdx_test.h"
#include "cdx/cmd/pki.h"
#include "cdx/net/http_client.h"
#include "cdx/net/tls_client.h"

#define DEST_OID "1.2.826.0.1.3680043.10.1"
#define OTHER_OID "1.2.826.0.1.3680043.10.2"
#define OUR_OID "1.2.826.0.1.3680043.10.9"

enum {
    CA, CA_KEY, FOREIGN_CA, FOREIGN_CA_KEY, SRV, SRV_KEY, SRV_NOURI, SRV_NOURI_KEY,
    SRV_OTHERHOST, SRV_OTHERHOST_KEY, SRV_FOREIGN, SRV_FOREIGN_KEY, CLI, CLI_KEY, NPATHS
};
static const char *const file_names[NPATHS] = {
    "ca.pem",        "ca.key",         "foreign-ca.pem", "foreign-ca.key", "srv.pem",
    "srv.key",       "srv-nouri.pem",  "srv-nouri.key",  "srv-other.pem",  "srv-other.key",
    "srv-foreign.pem", "srv-foreign.key", "cli.pem",     "cli.key",
};

static struct {
    char dir[1024];
    char path[NPATHS][1100];
    cdx_tls_client_t *tls;
} fx;

/* ---- certificates ---- */

static inline void issue(cdx_pki_ca_t *ca, const char *cn, const char *dns, const char *ip,
                  const char *uri, int server, int cert, int key)
{
    const char *dnss[] = {dns}, *ips[] = {ip};
    cdx_pki_req_t req = {.cn = cn, .org = "cdxgw tests", .dns = dnss, .ndns = dns ? 1 : 0,
                         .ips = ips, .nips = ip ? 1 : 0, .uri = uri, .server = server,
                         .client = !server, .days = 30};
    assert_int_equal(cdx_pki_issue(ca, &req, fx.path[cert], fx.path[key]), 0);
}

static inline cdx_tls_client_t *client_ctx(int system_store)
{
    cdx_tls_client_options_t opt = {.ca_file = fx.path[CA], .cert_file = fx.path[CLI],
                                    .key_file = fx.path[CLI_KEY],
                                    .use_system_store = system_store};
    cdx_tls_client_t *tls = NULL;
    char err[256] = "";
    if (cdx_tls_client_new(&opt, &tls, err, sizeof err) != 0)
        fail_msg("client context: %s", err);
    return tls;
}

static inline int cdx_tls_fixture_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (cdx_test_scratch_dir(fx.dir, sizeof fx.dir, "tlsloop") != 0)
        return -1;
    for (int i = 0; i < NPATHS; i++)
        snprintf(fx.path[i], sizeof fx.path[i], "%s/%s", fx.dir, file_names[i]);
    cdx_pki_ca_t *ca = NULL, *foreign = NULL;
    if (cdx_pki_ca_create(fx.path[CA], fx.path[CA_KEY], "Federation CA", 30, &ca) != 0 ||
        cdx_pki_ca_create(fx.path[FOREIGN_CA], fx.path[FOREIGN_CA_KEY], "Foreign CA", 30,
                          &foreign) != 0)
        return -1;
    issue(ca, "dest", "localhost", "127.0.0.1", "urn:oid:" DEST_OID, 1, SRV, SRV_KEY);
    issue(ca, "dest-nouri", "localhost", "127.0.0.1", NULL, 1, SRV_NOURI, SRV_NOURI_KEY);
    issue(ca, "elsewhere", "other.example", "10.9.9.9", "urn:oid:" DEST_OID, 1, SRV_OTHERHOST,
          SRV_OTHERHOST_KEY);
    issue(foreign, "dest", "localhost", "127.0.0.1", "urn:oid:" DEST_OID, 1, SRV_FOREIGN,
          SRV_FOREIGN_KEY);
    issue(ca, "us", NULL, NULL, "urn:oid:" OUR_OID, 0, CLI, CLI_KEY);
    cdx_pki_ca_free(ca);
    cdx_pki_ca_free(foreign);
    fx.tls = client_ctx(0);
    return 0;
}

static inline int cdx_tls_fixture_teardown(void **state)
{
    (void)state;
    cdx_tls_client_free(fx.tls);
    cdx_test_remove_dir(fx.dir);
    return 0;
}

/* SHA-256 of a certificate file's DER form, or of its SubjectPublicKeyInfo. */
static inline void fingerprint(int which, int spki, char hex[65])
{
    FILE *f = fopen(fx.path[which], "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (spki) {
        unsigned char *der = NULL;
        int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
        assert_true(n > 0);
        assert_int_equal(EVP_Digest(der, (size_t)n, md, &len, EVP_sha256(), NULL), 1);
        OPENSSL_free(der);
    } else {
        assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
    }
    X509_free(x);
    cdx_hex(md, len, hex);
}

static inline cdx_institution_t institution(const char *oid, int cred_of, int spki)
{
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    cdx_strlcpy(inst.oid, oid, sizeof inst.oid);
    if (cred_of >= 0) {
        inst.ncreds = 1;
        inst.creds[0].spki = spki;
        fingerprint(cred_of, spki, inst.creds[0].sha256);
    }
    return inst;
}

/* ---- the test server ---- */

typedef enum {
    M_OK, M_RETRY_DELTA, M_RETRY_DATE, M_CHUNKED, M_INTERIM, M_CLOSE_DELIMITED,
    M_CUT_WITHOUT_NOTIFY, M_MALFORMED, M_BIG_DECLARED, M_BIG_CHUNKED, M_STALL_BEFORE,
    M_STALL_AFTER, M_NO_READ, M_CLOSE_EARLY, M_TRICKLE, M_PLAINTEXT
} mode_t_;

typedef struct server {
    int lfd;
    unsigned port;
    pthread_t thread;
    mode_t_ mode;
    int cert;
    int stop[2];   /* the test to the server: stop waiting */
    int notify[2]; /* the server to the test: reached its point */
    char head[4096];
    size_t body_len;
    int handshake_ok;
    char client_uri[128];
} server_t;

/* Waits until the test says stop (bounded, so a failing test ends). */
static inline void wait_stop(server_t *s)
{
    struct pollfd pf = {.fd = s->stop[0], .events = POLLIN};
    (void)poll(&pf, 1, 10000);
}

static inline void notify(server_t *s)
{
    ssize_t n = write(s->notify[1], "!", 1);
    (void)n;
}

static inline SSL_CTX *server_ctx(const server_t *s)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, fx.path[s->cert]), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, fx.path[s->cert + 1], SSL_FILETYPE_PEM),
                     1);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, fx.path[CA], NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

static inline void note_client(server_t *s, SSL *ssl)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer == NULL)
        return;
    GENERAL_NAMES *sans = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_URI)
            snprintf(s->client_uri, sizeof s->client_uri, "%s",
                     (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
    }
    GENERAL_NAMES_free(sans);
    X509_free(peer);
}

/* Reads the request head and as much body as Content-Length says. */
static inline void read_request(server_t *s, SSL *ssl)
{
    char buf[16384];
    size_t have = 0, want = SIZE_MAX;
    char *end = NULL;
    while (have < want) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0)
            return;
        if (end == NULL) {
            size_t room = sizeof s->head - 1 - strlen(s->head);
            strncat(s->head, buf, CDX_MIN((size_t)n, room));
            end = strstr(s->head, "\r\n\r\n");
            if (end == NULL)
                continue;
            const char *cl = strstr(s->head, "Content-Length: ");
            size_t head_len = (size_t)(end + 4 - s->head);
            want = head_len + (cl ? strtoull(cl + 16, NULL, 10) : 0);
            s->head[head_len] = '\0';
        }
        have += (size_t)n;
    }
    s->body_len = have - strlen(s->head);
}

static inline void say(SSL *ssl, const char *text)
{
    SSL_write(ssl, text, (int)strlen(text));
}

static inline void respond(server_t *s, SSL *ssl)
{
    char buf[512];
    switch (s->mode) {
    case M_OK:
    case M_INTERIM:
        if (s->mode == M_INTERIM)
            say(ssl, "HTTP/1.1 100 Continue\r\n\r\n");
        snprintf(buf, sizeof buf, "{\"received\":%zu}", s->body_len);
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Receipt: r-42\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 strlen(buf));
        say(ssl, head);
        say(ssl, buf);
        break;
    case M_RETRY_DELTA:
        say(ssl, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n");
        break;
    case M_RETRY_DATE: {
        time_t later = time(NULL) + 120;
        struct tm tm;
        gmtime_r(&later, &tm);
        char date[64];
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
                 date);
        say(ssl, buf);
        break;
    }
    case M_CHUNKED:
        say(ssl, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
        usleep(20000);
        say(ssl, "lo\r\n6\r\n world\r\n");
        usleep(20000);
        say(ssl, "0\r\n\r\n");
        break;
    case M_CLOSE_DELIMITED:
    case M_CUT_WITHOUT_NOTIFY:
        say(ssl, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end");
        if (s->mode == M_CUT_WITHOUT_NOTIFY)
            return; /* the socket closes without close_notify */
        break;
    case M_MALFORMED:
        say(ssl, "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n");
        break;
    case M_BIG_DECLARED:
        say(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\nthe start of it");
        wait_stop(s);
        break;
    case M_BIG_CHUNKED:
        say(ssl, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        memset(buf, 'x', 400);
        for (int i = 0; i < 20; i++) {
            say(ssl, "190\r\n");
            SSL_write(ssl, buf, 400);
            say(ssl, "\r\n");
        }
        say(ssl, "0\r\n\r\n");
        break;
    case M_CLOSE_EARLY:
        say(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
        break;
    case M_TRICKLE: {
        say(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        struct pollfd pf = {.fd = s->stop[0], .events = POLLIN};
        while (poll(&pf, 1, 50) == 0 && SSL_write(ssl, "x", 1) == 1)
            ;
        break;
    }
    default:
        wait_stop(s);
        break;
    }
    SSL_shutdown(ssl);
}

static inline void *serve(void *arg)
{
    server_t *s = arg;
    struct pollfd pf[2] = {{.fd = s->lfd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
    if (poll(pf, 2, 10000) <= 0 || !(pf[0].revents & POLLIN))
        return NULL;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (s->mode == M_STALL_BEFORE || s->mode == M_PLAINTEXT) {
        static const char plain[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        if (s->mode == M_PLAINTEXT && write(fd, plain, sizeof plain - 1) < 0)
            fail_msg("cannot answer in plain text");
        notify(s);
        wait_stop(s);
        close(fd);
        return NULL;
    }
    SSL_CTX *ctx = server_ctx(s);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        s->handshake_ok = 1;
        note_client(s, ssl);
        if (s->mode == M_NO_READ) {
            notify(s);
            wait_stop(s);
        } else {
            read_request(s, ssl);
            notify(s);
            respond(s, ssl);
        }
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ERR_clear_error();
    return NULL;
}

static inline void server_start(server_t *s, mode_t_ mode, int cert)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->cert = cert;
    assert_int_equal(pipe(s->stop), 0);
    assert_int_equal(pipe(s->notify), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    int small = 4096; /* inherited by the accepted socket: a reader that stalls stalls soon */
    setsockopt(s->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static inline void server_stop(server_t *s)
{
    ssize_t n = write(s->stop[1], "!", 1);
    (void)n;
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
    close(s->notify[0]);
    close(s->notify[1]);
}

/* ---- the client side ---- */

typedef struct outcome {
    int called;
    cdx_http_client_error_t error;
    int status;
    int64_t retry_after;
    char reason[256];
    char body[256];
    size_t body_len;
    char type[64];
    char receipt[64];
    char binding[32];
    uint64_t ms;
} outcome_t;

static inline void on_done(const cdx_http_client_result_t *res, void *data)
{
    outcome_t *o = data;
    o->called++;
    o->error = res->error;
    o->status = res->status;
    o->retry_after = res->retry_after;
    cdx_strlcpy(o->reason, res->reason, sizeof o->reason);
    cdx_strlcpy(o->body, res->body, sizeof o->body);
    o->body_len = res->body_len;
    cdx_strlcpy(o->type, res->keep[0] ? res->keep[0] : "", sizeof o->type);
    cdx_strlcpy(o->receipt, res->keep[1] ? res->keep[1] : "", sizeof o->receipt);
    cdx_strlcpy(o->binding, res->tls_binding ? res->tls_binding : "", sizeof o->binding);
}

typedef struct call {
    const char *host;                /* "127.0.0.1" when NULL */
    unsigned port;                   /* the server's when 0 */
    const cdx_institution_t *peer;   /* DEST_OID by SAN when NULL */
    cdx_tls_client_t *tls;           /* fx.tls when NULL */
    cdx_http_client_limits_t limits; /* short defaults below when 0 */
    const char *body;
    size_t body_len;
    int cancel_on_notify; /* cancel when the server reaches its point */
} call_t;

typedef struct canceller {
    uv_poll_t poll;
    cdx_http_client_req_t *req;
} canceller_t;

static inline void on_notified(uv_poll_t *p, int status, int events)
{
    canceller_t *c = p->data;
    char byte;
    ssize_t n = read(p->io_watcher.fd, &byte, 1);
    (void)n;
    cdx_http_client_cancel(c->req);
    cdx_http_client_cancel(c->req); /* twice is harmless */
    uv_close((uv_handle_t *)p, NULL);
}

/* One request to the server s (or none) on a fresh loop, run until every
 * handle has closed; the loop must then close cleanly. */
static inline outcome_t request(server_t *s, const call_t *c)
{
    static const char *const keep[] = {"content-type", "X-Receipt"};
    const cdx_http_client_header_t headers[] = {{"Content-Type", "application/xml"},
                                                {"X-CDX-Document-Id", "doc-1"}};
    cdx_institution_t dest = institution(DEST_OID, -1, 0);
    char url[256];
    snprintf(url, sizeof url, "https://%s:%u/v1/documents?x=1", c->host ? c->host : "127.0.0.1",
             c->port ? c->port : s->port);
    cdx_http_client_request_t req = {
        .method = "POST", .url = url, .headers = headers, .nheaders = 2,
        .body = c->body ? c->body : "<doc/>", .body_len = c->body ? c->body_len : 6,
        .peer = c->peer ? c->peer : &dest, .keep = keep, .nkeep = 2, .limits = c->limits};
    if (req.limits.connect_ms == 0)
        req.limits.connect_ms = 5000;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    outcome_t o;
    memset(&o, 0, sizeof o);
    cdx_http_client_req_t *r = NULL;
    char err[256] = "";
    uint64_t t0 = cdx_now_ms();
    if (cdx_http_client_start(&loop, c->tls ? c->tls : fx.tls, &req, on_done, &o, &r, err,
                              sizeof err) != 0)
        fail_msg("start: %s", err);
    canceller_t can = {.req = r};
    if (c->cancel_on_notify) {
        assert_int_equal(uv_poll_init(&loop, &can.poll, s->notify[0]), 0);
        can.poll.data = &can;
        assert_int_equal(uv_poll_start(&can.poll, UV_READABLE, on_notified), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    o.ms = cdx_now_ms() - t0;
    assert_int_equal(uv_loop_close(&loop), 0);
    if (s != NULL)
        server_stop(s);
    assert_int_equal(o.called, c->cancel_on_notify ? 0 : 1);
    return o;
}

static inline void expect_error(const outcome_t *o, cdx_http_client_error_t e, const char *why)
{
    if (o->error != e)
        fail_msg("got %s (%s), expected %s", cdx_http_client_error_label(o->error), o->reason,
                 cdx_http_client_error_label(e));
    if (why != NULL && strstr(o->reason, why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", o->reason, why);
}


#endif
