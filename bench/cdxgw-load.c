/*
 * cdxgw-load: pushes CDA documents to a cdxgw gateway over keep-alive
 * HTTPS connections with a client certificate, and reports throughput,
 * latency and the gateway's memory and CPU.
 *
 * Closed loop (no --rate): every connection sends its next document as
 * soon as the previous answer arrives, which measures peak throughput.
 * Open loop (--rate R): documents are due at a fixed rate whatever the
 * gateway does; a document that finds no free connection waits in a
 * backlog, and its latency is counted from the moment it was due, so a
 * stalled gateway cannot hide its stall (no coordinated omission).
 *
 * Documents are unique per push by default: the extension of the first
 * id element under the root (ClinicalDocument/id) gets a run- and
 * push-specific prefix, which gives a new document id and new bytes and
 * therefore the 201 path.  --repeat sends the bytes unchanged, which after
 * the first push of each document measures the 200 ("already stored")
 * path.  The tool never prints document content, only counts and sizes.
 *
 * One event loop drives every connection; TLS runs through memory BIOs so
 * that libuv owns the sockets.
 */
#include <dirent.h>
#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CONNS       65536
#define READ_CHUNK      65536
#define MAX_DOC_BYTES   (64u << 20)
#define TOKEN_MAX       48
#define BACKLOG_MAX     1000000u
#define MAX_RSS_SAMPLES 4096

/* ---- options ------------------------------------------------------------ */

typedef struct options {
    const char *host;
    int port;
    const char *path;
    const char *cacert, *cert, *key;
    const char *docs;
    const char *content_type;
    const char *label;
    const char *json_out;
    int conns;
    double rate;     /* documents per second, 0 = closed loop */
    double duration; /* seconds, 0 = until count */
    double warmup;   /* seconds excluded from the statistics */
    long long count; /* documents to push, 0 = until duration */
    double timeout;  /* seconds before an unanswered request is abandoned */
    int repeat;      /* send documents unchanged (200 path) */
    int pid;         /* gateway process to watch, 0 = none */
    int quiet;
} options_t;

/* ---- documents ---------------------------------------------------------- */

typedef struct doc {
    char *data;
    size_t len;
    size_t cut; /* where the unique token goes */
    int wrap;   /* 0: token goes inside an existing extension value;
                 * 1: a whole extension attribute is inserted at cut */
    int rewritable;
} doc_t;

static doc_t *docs;
static size_t ndocs, docs_cap;

/* Whether c may appear in an XML name (ASCII approximation, which is
 * enough to find tag boundaries). */
static int name_char(unsigned char c)
{
    return c == '_' || c == '-' || c == '.' || c == ':' || (c >= '0' && c <= '9') ||
           (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Finds where to make a document unique: inside the first element whose
 * local name is "id" after the root's start tag.  In a CDA header that is
 * ClinicalDocument/id, because only realmCode, typeId and templateId come
 * before it and none of them has child elements.  Comments and
 * processing instructions before it are skipped.  Returns 0 and fills
 * d->cut/d->wrap, or -1 when no such element is found (the document is then
 * sent unchanged). */
static int find_id_cut(doc_t *d)
{
    const char *s = d->data, *end = d->data + d->len;
    int depth = 0;
    const char *p = s;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (lt == NULL || lt + 1 >= end)
            return -1;
        if (lt[1] == '?' || lt[1] == '!') {
            const char *close = lt[1] == '!' && end - lt > 4 && memcmp(lt, "<!--", 4) == 0
                                    ? strstr(lt, "-->")
                                    : memchr(lt, '>', (size_t)(end - lt));
            if (close == NULL)
                return -1;
            p = close + 1;
            continue;
        }
        if (lt[1] == '/') {
            depth--;
            p = lt + 2;
            continue;
        }
        const char *n = lt + 1, *ne = n;
        while (ne < end && name_char((unsigned char)*ne))
            ne++;
        const char *local = n;
        for (const char *q = n; q < ne; q++)
            if (*q == ':')
                local = q + 1;
        const char *gt = memchr(ne, '>', (size_t)(end - ne));
        if (gt == NULL)
            return -1;
        int empty = gt > ne && gt[-1] == '/';
        if (depth == 1 && ne - local == 2 && memcmp(local, "id", 2) == 0) {
            /* Look for extension="..." or extension='...' inside the tag. */
            for (const char *q = ne; q + 11 < gt; q++) {
                if (memcmp(q, "extension", 9) == 0 && !name_char((unsigned char)q[-1])) {
                    const char *r = q + 9;
                    while (r < gt && (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'))
                        r++;
                    if (r < gt && *r == '=') {
                        r++;
                        while (r < gt && (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'))
                            r++;
                        if (r < gt && (*r == '"' || *r == '\'')) {
                            d->cut = (size_t)(r + 1 - s);
                            d->wrap = 0;
                            return 0;
                        }
                    }
                }
            }
            d->cut = (size_t)(ne - s);
            d->wrap = 1;
            return 0;
        }
        if (!empty)
            depth++;
        p = gt + 1;
    }
    return -1;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > MAX_DOC_BYTES) {
        fclose(f);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[st.st_size] = '\0';
    *out = buf;
    *len = (size_t)st.st_size;
    return 0;
}

static void add_doc(const char *path)
{
    char *data;
    size_t len;
    if (read_file(path, &data, &len) != 0) {
        fprintf(stderr, "cdxgw-load: skipping unreadable %s\n", path);
        return;
    }
    if (ndocs == docs_cap) {
        docs_cap = docs_cap ? docs_cap * 2 : 256;
        docs = realloc(docs, docs_cap * sizeof *docs);
        if (docs == NULL) {
            fprintf(stderr, "cdxgw-load: out of memory\n");
            exit(1);
        }
    }
    doc_t *d = &docs[ndocs++];
    memset(d, 0, sizeof *d);
    d->data = data;
    d->len = len;
    d->rewritable = find_id_cut(d) == 0;
}

static int xml_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot != NULL && strcasecmp(dot, ".xml") == 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every .xml file under path (sorted, so runs are repeatable). */
static void load_docs(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        add_doc(path);
        return;
    }
    DIR *dir = opendir(path);
    if (dir == NULL)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                exit(1);
        }
        size_t need = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(need);
        if (names[n] == NULL)
            exit(1);
        snprintf(names[n], need, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_path);
    for (size_t i = 0; i < n; i++) {
        struct stat est;
        if (stat(names[i], &est) == 0 && S_ISDIR(est.st_mode))
            load_docs(names[i]);
        else if (xml_name(names[i]))
            add_doc(names[i]);
        free(names[i]);
    }
    free(names);
}

/* Writes the body of one push into *buf: the document, made unique with
 * token unless repeat is set.  Returns the body length. */
static size_t build_body(const doc_t *d, const char *token, int repeat, char **buf, size_t *cap)
{
    char ins[TOKEN_MAX + 32];
    size_t inslen = 0;
    if (!repeat && d->rewritable)
        inslen = (size_t)(d->wrap ? snprintf(ins, sizeof ins, " extension=\"%s\"", token)
                                  : snprintf(ins, sizeof ins, "%s-", token));
    size_t need = d->len + inslen;
    if (need > *cap) {
        *cap = need + need / 4;
        *buf = realloc(*buf, *cap);
        if (*buf == NULL) {
            fprintf(stderr, "cdxgw-load: out of memory\n");
            exit(1);
        }
    }
    if (inslen == 0) {
        memcpy(*buf, d->data, d->len);
        return d->len;
    }
    memcpy(*buf, d->data, d->cut);
    memcpy(*buf + d->cut, ins, inslen);
    memcpy(*buf + d->cut + inslen, d->data + d->cut, d->len - d->cut);
    return need;
}

/* ---- statistics --------------------------------------------------------- */

/* Latencies are kept as sorted samples in microseconds: exact percentiles,
 * and at 4 bytes a sample even a 10-minute run at 2,000 docs/s is 5 MB. */
typedef struct samples {
    uint32_t *v;
    size_t n, cap;
} samples_t;

static void samples_add(samples_t *s, uint64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) {
            fprintf(stderr, "cdxgw-load: out of memory\n");
            exit(1);
        }
    }
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile (p in 0..100) of sorted samples. */
static uint32_t percentile(const samples_t *s, double p)
{
    if (s->n == 0)
        return 0;
    double rank = p / 100.0 * (double)s->n;
    size_t i = rank <= 1.0 ? 0 : (size_t)(rank + 0.999999) - 1;
    if (i >= s->n)
        i = s->n - 1;
    return s->v[i];
}

/* ---- gateway process ---------------------------------------------------- */

typedef struct proc_sample {
    double t;
    long rss_kb;
} proc_sample_t;

static long proc_rss_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            kb = strtol(line + flen + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* User plus system CPU seconds of pid, all its threads included. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields are counted
     * from the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- connections -------------------------------------------------------- */

typedef struct conn conn_t;
struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    SSL *ssl;
    BIO *rbio, *wbio;
    http_parser parser;
    int slot;
    int ready; /* handshake done */
    int busy;  /* a request is in flight */
    int closing;
    int done_msg; /* the parser finished a response */
    int keepalive;
    int status;
    uint64_t t_start; /* when this request was due or sent (ns) */
    uint64_t t_handshake;
    size_t body_len;
    int counted; /* within the measurement window */
    char *body;
    size_t body_cap;
    conn_t *next_idle;
};

typedef struct status_count {
    int status;
    unsigned long long n;
} status_count_t;

static struct {
    options_t o;
    uv_loop_t *loop;
    SSL_CTX *ctx;
    struct sockaddr_storage addr;
    conn_t *conns[MAX_CONNS];
    conn_t *idle, *idle_tail; /* FIFO, so that every connection is used in turn */
    int nready, nconnecting;
    uint64_t t0, t_warm, t_end_issue, t_last_done;
    int running, issuing, finished;
    unsigned long long issued, completed, completed_window, ok_window, bytes_window;
    unsigned long long created, identical;
    unsigned long long conn_errors, tls_errors, timeouts, resets, handshakes, reconnects;
    status_count_t statuses[64];
    size_t nstatuses;
    samples_t lat;
    /* Open loop. */
    uint64_t *backlog;
    size_t bl_head, bl_len, bl_max;
    unsigned long long dropped, late;
    uv_timer_t tick, sampler;
    char run_id[16];
    unsigned long long seq;
    size_t next_doc;
    /* Gateway process. */
    proc_sample_t rss[MAX_RSS_SAMPLES];
    size_t nrss;
    double cpu0, cpu1, self0, self1;
    long hwm_kb;
    double handshake_ms_max, handshake_ms_sum;
} g;

static void conn_start(int slot);
static void conn_close(conn_t *c);
static void dispatch(conn_t *c);

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void count_status(int status)
{
    for (size_t i = 0; i < g.nstatuses; i++)
        if (g.statuses[i].status == status) {
            g.statuses[i].n++;
            return;
        }
    if (g.nstatuses < sizeof g.statuses / sizeof g.statuses[0])
        g.statuses[g.nstatuses++] = (status_count_t){status, 1};
}

static void on_written(uv_write_t *req, int status)
{
    free(req->data);
    free(req);
    (void)status; /* a failed write shows up as a read error or a timeout */
}

/* Sends whatever TLS produced. */
static int flush_tls(conn_t *c)
{
    size_t pending = BIO_ctrl_pending(c->wbio);
    if (pending == 0 || c->closing)
        return 0;
    char *buf = malloc(pending);
    uv_write_t *req = malloc(sizeof *req);
    if (buf == NULL || req == NULL) {
        free(buf);
        free(req);
        return -1;
    }
    int n = BIO_read(c->wbio, buf, (int)pending);
    if (n <= 0) {
        free(buf);
        free(req);
        return -1;
    }
    req->data = buf;
    uv_buf_t ub = uv_buf_init(buf, (unsigned)n);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0) {
        free(buf);
        free(req);
        return -1;
    }
    return 0;
}

static void make_token(char *out, size_t n)
{
    snprintf(out, n, "L%s%llx", g.run_id, ++g.seq);
}

/* Sends the next document on c; t_due is when it was due (open loop) or 0. */
static void send_doc(conn_t *c, uint64_t t_due)
{
    const doc_t *d = &docs[g.next_doc];
    g.next_doc = (g.next_doc + 1) % ndocs;
    char token[TOKEN_MAX];
    make_token(token, sizeof token);
    /* The headers are written in front of the body in one buffer so that
     * TLS sends one stream of full records. */
    char head[512];
    size_t max_body = d->len + TOKEN_MAX + 32;
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                      "User-Agent: cdxgw-load\r\nContent-Length: %10zu\r\n\r\n",
                      g.o.path, g.o.host, g.o.port, g.o.content_type, max_body);
    if (hl < 0 || (size_t)hl >= sizeof head) {
        fprintf(stderr, "cdxgw-load: request line too long\n");
        exit(2);
    }
    char *bodybuf = c->body ? c->body + hl : NULL;
    size_t bodycap = c->body_cap > (size_t)hl ? c->body_cap - (size_t)hl : 0;
    if (c->body_cap < (size_t)hl + max_body) {
        c->body_cap = (size_t)hl + max_body + max_body / 4;
        c->body = realloc(c->body, c->body_cap);
        if (c->body == NULL)
            exit(1);
        bodybuf = c->body + hl;
        bodycap = c->body_cap - (size_t)hl;
    }
    size_t blen = build_body(d, token, g.o.repeat, &bodybuf, &bodycap);
    /* Content-Length was reserved with a fixed width; write the real one. */
    hl = snprintf(head, sizeof head,
                  "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                  "User-Agent: cdxgw-load\r\nContent-Length: %10zu\r\n\r\n",
                  g.o.path, g.o.host, g.o.port, g.o.content_type, blen);
    memcpy(c->body, head, (size_t)hl);
    uint64_t t = now_ns();
    c->t_start = t_due ? t_due : t;
    c->counted = c->t_start >= g.t_warm;
    c->body_len = blen;
    c->busy = 1;
    c->status = 0;
    c->done_msg = 0;
    g.issued++;
    /* Leading spaces in the fixed-width Content-Length are optional
     * whitespace, which HTTP allows around a field value. */
    int rc = SSL_write(c->ssl, c->body, (int)((size_t)hl + blen));
    if (rc <= 0 || flush_tls(c) != 0) {
        g.tls_errors++;
        conn_close(c);
    }
}

/* Idle connections are used in turn (first in, first out), as a client's
 * connection pool spreading requests would; a stack would leave the
 * connections at its bottom idle until the gateway's idle timeout closed
 * them, and the run would measure reconnections. */
static void idle_push(conn_t *c)
{
    c->next_idle = NULL;
    if (g.idle_tail != NULL)
        g.idle_tail->next_idle = c;
    else
        g.idle = c;
    g.idle_tail = c;
}

static conn_t *idle_pop(void)
{
    conn_t *c = g.idle;
    if (c != NULL) {
        g.idle = c->next_idle;
        if (g.idle == NULL)
            g.idle_tail = NULL;
    }
    return c;
}

/* Finds work for a connection that just became free. */
static void dispatch(conn_t *c)
{
    if (c->closing || !c->ready || c->busy)
        return;
    if (!g.issuing) {
        idle_push(c);
        return;
    }
    if (g.o.rate > 0) {
        if (g.bl_len > 0) {
            uint64_t due = g.backlog[g.bl_head];
            g.bl_head = (g.bl_head + 1) % BACKLOG_MAX;
            g.bl_len--;
            send_doc(c, due);
        } else {
            idle_push(c);
        }
        return;
    }
    if (g.o.count > 0 && g.issued >= (unsigned long long)g.o.count) {
        g.issuing = 0;
        return;
    }
    send_doc(c, 0);
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->status = (int)p->status_code;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->done_msg = 1;
    c->keepalive = http_should_keep_alive(p);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void request_done(conn_t *c)
{
    uint64_t t = now_ns();
    c->busy = 0;
    g.completed++;
    g.t_last_done = t;
    count_status(c->status);
    if (c->status == 201)
        g.created++;
    else if (c->status == 200)
        g.identical++;
    if (c->counted && g.running) {
        g.completed_window++;
        samples_add(&g.lat, (t - c->t_start) / 1000u);
        if (c->status >= 200 && c->status < 300) {
            g.ok_window++;
            g.bytes_window += c->body_len;
        }
    }
    if (g.o.count > 0 && g.completed >= (unsigned long long)g.o.count)
        g.issuing = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[READ_CHUNK];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void handshake_done(conn_t *c)
{
    c->ready = 1;
    double ms = (double)(now_ns() - c->t_handshake) / 1e6;
    g.handshakes++;
    g.handshake_ms_sum += ms;
    if (ms > g.handshake_ms_max)
        g.handshake_ms_max = ms;
    g.nready++;
    if (g.running)
        dispatch(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        if (c->busy || !c->ready)
            g.resets++;
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        conn_close(c);
        return;
    }
    if (!c->ready) {
        int rc = SSL_do_handshake(c->ssl);
        flush_tls(c);
        if (rc != 1) {
            int e = SSL_get_error(c->ssl, rc);
            if (e != SSL_ERROR_WANT_READ) {
                unsigned long err = ERR_get_error();
                char msg[256];
                ERR_error_string_n(err, msg, sizeof msg);
                if (!g.o.quiet)
                    fprintf(stderr, "cdxgw-load: TLS handshake failed: %s\n", msg);
                g.tls_errors++;
                conn_close(c);
            }
            return;
        }
        handshake_done(c);
    }
    char plain[READ_CHUNK];
    for (;;) {
        int n = SSL_read(c->ssl, plain, sizeof plain);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            flush_tls(c);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e != SSL_ERROR_ZERO_RETURN)
                g.tls_errors++;
            else if (c->busy)
                g.resets++;
            conn_close(c);
            return;
        }
        size_t used = http_parser_execute(&c->parser, &parser_settings, plain, (size_t)n);
        if (c->parser.http_errno != HPE_OK || used != (size_t)n) {
            if (!g.o.quiet)
                fprintf(stderr, "cdxgw-load: bad response: %s\n",
                        http_errno_description((enum http_errno)c->parser.http_errno));
            g.tls_errors++;
            conn_close(c);
            return;
        }
        if (c->done_msg) {
            c->done_msg = 0;
            int keep = c->keepalive;
            if (c->busy)
                request_done(c);
            if (!keep) {
                conn_close(c);
                return;
            }
            dispatch(c);
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    g.nconnecting--;
    if (status != 0) {
        g.conn_errors++;
        if (!g.o.quiet && g.conn_errors <= 3)
            fprintf(stderr, "cdxgw-load: connect: %s\n", uv_strerror(status));
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->t_handshake = now_ns();
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    int rc = SSL_do_handshake(c->ssl);
    if (rc != 1 && SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ) {
        g.tls_errors++;
        conn_close(c);
        return;
    }
    flush_tls(c);
}

static void on_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    int slot = c->slot;
    SSL_free(c->ssl);
    free(c->body);
    free(c);
    g.conns[slot] = NULL;
    /* A connection lost while the run goes on is replaced, so that the
     * offered concurrency stays what was asked for. */
    if (g.issuing && !g.finished) {
        g.reconnects++;
        conn_start(slot);
    }
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->ready)
        g.nready--;
    if (c->busy) {
        c->busy = 0;
        g.completed++;
        count_status(0);
    }
    /* Take it off the idle list. */
    conn_t *prev = NULL;
    for (conn_t *q = g.idle; q != NULL; prev = q, q = q->next_idle)
        if (q == c) {
            if (prev != NULL)
                prev->next_idle = q->next_idle;
            else
                g.idle = q->next_idle;
            if (g.idle_tail == q)
                g.idle_tail = prev;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void conn_start(int slot)
{
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        exit(1);
    c->slot = slot;
    g.conns[slot] = c;
    c->ssl = SSL_new(g.ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL)
        exit(1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    /* The gateway's certificate must name the address we dial. */
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, g.o.host) != 1) {
        SSL_set_tlsext_host_name(c->ssl, g.o.host);
        SSL_set1_host(c->ssl, g.o.host);
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    g.nconnecting++;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&g.addr, on_connect);
    if (rc != 0) {
        g.nconnecting--;
        g.conn_errors++;
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

/* ---- run control -------------------------------------------------------- */

static void sample_proc(double t)
{
    if (g.o.pid <= 0 || g.nrss >= MAX_RSS_SAMPLES)
        return;
    long kb = proc_rss_kb(g.o.pid, "VmRSS");
    if (kb >= 0)
        g.rss[g.nrss++] = (proc_sample_t){t, kb};
}

static void stop_everything(void)
{
    g.finished = 1;
    g.issuing = 0;
    uv_timer_stop(&g.tick);
    uv_timer_stop(&g.sampler);
    for (int i = 0; i < g.o.conns; i++)
        if (g.conns[i] != NULL)
            conn_close(g.conns[i]);
}

static int in_flight(void)
{
    int n = 0;
    for (int i = 0; i < g.o.conns; i++)
        if (g.conns[i] != NULL && g.conns[i]->busy)
            n++;
    return n;
}

static void end_window(void)
{
    if (!g.running)
        return;
    g.running = 0;
    g.t_end_issue = now_ns();
    if (g.o.pid > 0) {
        g.cpu1 = proc_cpu_s(g.o.pid);
        g.hwm_kb = proc_rss_kb(g.o.pid, "VmHWM");
    }
    g.self1 = self_cpu_s();
}

/* How many documents of an open loop are due after elapsed seconds:
 * document k is due at k / rate, so the first one is due at once. */
static unsigned long long due_by(double elapsed, double rate)
{
    return (unsigned long long)(elapsed * rate) + 1;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ns();
    double elapsed = (double)(now - g.t0) / 1e9;
    if (g.issuing && g.o.duration > 0 && elapsed >= g.o.duration + g.o.warmup) {
        g.issuing = 0;
        end_window();
    }
    if (g.issuing && g.o.rate > 0) {
        /* Every document that has come due since the last tick is sent now
         * or queued with its due time. */
        unsigned long long due_total = due_by(elapsed, g.o.rate);
        unsigned long long scheduled = g.issued + g.bl_len + g.dropped;
        if (g.o.count > 0 && due_total > (unsigned long long)g.o.count)
            due_total = (unsigned long long)g.o.count;
        while (scheduled < due_total) {
            uint64_t due = g.t0 + (uint64_t)((double)scheduled / g.o.rate * 1e9);
            scheduled++;
            if (g.idle != NULL) {
                conn_t *c = idle_pop();
                if (now > due + 2000000u)
                    g.late++;
                send_doc(c, due);
            } else if (g.bl_len < BACKLOG_MAX) {
                g.backlog[(g.bl_head + g.bl_len) % BACKLOG_MAX] = due;
                g.bl_len++;
                if (g.bl_len > g.bl_max)
                    g.bl_max = g.bl_len;
            } else {
                g.dropped++;
            }
        }
        if (g.o.count > 0 && scheduled >= (unsigned long long)g.o.count && g.bl_len == 0)
            g.issuing = 0;
    }
    /* Abandon requests nobody answers, so a stuck gateway ends the run. */
    for (int i = 0; i < g.o.conns; i++) {
        conn_t *c = g.conns[i];
        if (c != NULL && c->busy && (double)(now - c->t_start) / 1e9 > g.o.timeout) {
            g.timeouts++;
            conn_close(c);
        }
    }
    if (!g.issuing) {
        /* A duration run's window closes when issuing stops; a count run's
         * closes with the last answer, so its last documents are counted. */
        if (g.o.count <= 0)
            end_window();
        static uint64_t drain_start;
        if (drain_start == 0)
            drain_start = now;
        if (in_flight() == 0 || (double)(now - drain_start) / 1e9 > g.o.timeout) {
            end_window();
            stop_everything();
        }
    }
}

static void on_sample(uv_timer_t *t)
{
    (void)t;
    sample_proc((double)(now_ns() - g.t0) / 1e9);
}

static void begin_run(void)
{
    g.t0 = now_ns();
    g.t_warm = g.t0 + (uint64_t)(g.o.warmup * 1e9);
    g.running = 1;
    g.issuing = 1;
    if (g.o.pid > 0)
        g.cpu0 = proc_cpu_s(g.o.pid);
    g.self0 = self_cpu_s();
    sample_proc(0);
    uv_timer_start(&g.tick, on_tick, 1, 1);
    uv_timer_start(&g.sampler, on_sample, 1000, 1000);
    /* Every connection that is ready starts working now: in a closed loop
     * it sends at once, in an open loop it joins the idle list that the
     * scheduler hands due documents to. */
    for (int i = 0; i < g.o.conns; i++)
        if (g.conns[i] != NULL)
            dispatch(g.conns[i]);
}

/* Waits for every connection's handshake before the clock starts, so that
 * the numbers describe steady keep-alive traffic. */
static void on_connect_wait(uv_timer_t *t)
{
    if (g.nconnecting > 0 || g.nready + (int)g.conn_errors + (int)g.tls_errors < g.o.conns) {
        static int waited;
        if (++waited < 30000)
            return;
    }
    uv_timer_stop(t);
    if (g.nready == 0) {
        fprintf(stderr, "cdxgw-load: no connection could be established\n");
        g.finished = 1;
        uv_timer_stop(&g.tick);
        return;
    }
    /* Failed connections were replaced only if the run had started; from
     * here on, they are. */
    begin_run();
}

/* ---- report ------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* What a run measured, computed once for both report formats. */
typedef struct summary {
    double secs, dps, mbps, gw_cpu, self_cpu;
    long rss_first, rss_last, rss_max, rss_min, rss_mid;
    size_t doc_bytes;
} summary_t;

static summary_t summarize(void)
{
    summary_t m;
    uint64_t end = g.t_end_issue ? g.t_end_issue : now_ns();
    if (g.o.count > 0 && g.t_last_done > end)
        end = g.t_last_done;
    /* In count mode the window closes with the last answer, which is what
     * "time to push N documents" means. */
    if (g.o.count > 0 && g.t_last_done > g.t_warm)
        end = g.t_last_done;
    m.secs = (double)(end - g.t_warm) / 1e9;
    if (m.secs <= 0)
        m.secs = 1e-9;
    qsort(g.lat.v, g.lat.n, sizeof *g.lat.v, cmp_u32);
    m.dps = (double)g.ok_window / m.secs;
    m.mbps = (double)g.bytes_window / m.secs / 1e6;
    m.gw_cpu = g.o.pid > 0 && g.cpu0 >= 0 && g.cpu1 >= 0 ? (g.cpu1 - g.cpu0) / m.secs : -1;
    m.self_cpu = (g.self1 - g.self0) / m.secs;
    m.rss_first = g.nrss ? g.rss[0].rss_kb : -1;
    m.rss_last = g.nrss ? g.rss[g.nrss - 1].rss_kb : -1;
    m.rss_max = -1;
    m.rss_min = -1;
    for (size_t i = 0; i < g.nrss; i++) {
        if (m.rss_max < g.rss[i].rss_kb)
            m.rss_max = g.rss[i].rss_kb;
        if (m.rss_min < 0 || m.rss_min > g.rss[i].rss_kb)
            m.rss_min = g.rss[i].rss_kb;
    }
    /* Flatness over a soak: RSS at the end of the second half against the
     * end of the first half. */
    m.rss_mid = g.nrss ? g.rss[g.nrss / 2].rss_kb : -1;
    m.doc_bytes = 0;
    for (size_t i = 0; i < ndocs; i++)
        m.doc_bytes += docs[i].len;
    return m;
}

static void report_text(FILE *f, const summary_t *m)
{
    fprintf(f, "cdxgw-load %s: %s, %d connections, %s, %.1f s measured (%.1f s warm-up)\n",
            g.o.label ? g.o.label : "", g.o.rate > 0 ? "open loop" : "closed loop", g.o.conns,
            g.o.repeat ? "repeated documents (200 path)" : "unique documents (201 path)", m->secs,
            g.o.warmup);
    fprintf(f, "  documents: %zu files, mean %.1f KB\n", ndocs,
            ndocs ? (double)m->doc_bytes / (double)ndocs / 1024 : 0);
    if (g.o.rate > 0)
        fprintf(f, "  offered:   %.1f docs/s; backlog max %zu, late %llu, dropped %llu\n", g.o.rate,
                g.bl_max, g.late, g.dropped);
    fprintf(f, "  throughput: %.1f docs/s, %.2f MB/s (2xx answers in the window: %llu)\n", m->dps,
            m->mbps, g.ok_window);
    fprintf(f, "  latency:   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%zu samples)\n",
            percentile(&g.lat, 50) / 1e3, percentile(&g.lat, 90) / 1e3,
            percentile(&g.lat, 99) / 1e3, percentile(&g.lat, 100) / 1e3, g.lat.n);
    fprintf(f, "  answers:  ");
    for (size_t i = 0; i < g.nstatuses; i++)
        fprintf(f, " %s%d=%llu", g.statuses[i].status ? "" : "no-answer:", g.statuses[i].status,
                g.statuses[i].n);
    fprintf(f,
            "\n  errors:    connect %llu, tls/protocol %llu, reset %llu, timeout %llu, "
            "reconnects %llu\n",
            g.conn_errors, g.tls_errors, g.resets, g.timeouts, g.reconnects);
    fprintf(f, "  handshakes: %llu, mean %.2f ms, max %.2f ms\n", g.handshakes,
            g.handshakes ? g.handshake_ms_sum / (double)g.handshakes : 0, g.handshake_ms_max);
    if (g.o.pid > 0)
        fprintf(f,
                "  gateway pid %d: CPU %.2f cores; RSS start %.1f MB, mid %.1f MB, end "
                "%.1f MB, max %.1f MB, peak (VmHWM) %.1f MB\n",
                g.o.pid, m->gw_cpu, m->rss_first / 1024.0, m->rss_mid / 1024.0,
                m->rss_last / 1024.0, m->rss_max / 1024.0, g.hwm_kb / 1024.0);
    fprintf(f, "  load generator CPU: %.2f cores\n", m->self_cpu);
}

static void report_json(FILE *f, const summary_t *m)
{
    fprintf(f, "{\"tool\":\"cdxgw-load\",\"label\":");
    json_str(f, g.o.label ? g.o.label : "");
    fprintf(f,
            ",\"mode\":\"%s\",\"connections\":%d,\"unique\":%s,\"rate\":%.3f,"
            "\"seconds\":%.3f,\"warmup_s\":%.3f,\"docs\":%zu,\"doc_mean_bytes\":%.0f,",
            g.o.rate > 0 ? "open" : "closed", g.o.conns, g.o.repeat ? "false" : "true", g.o.rate,
            m->secs, g.o.warmup, ndocs, ndocs ? (double)m->doc_bytes / (double)ndocs : 0);
    fprintf(f,
            "\"docs_per_s\":%.2f,\"mb_per_s\":%.3f,\"answers_per_s\":%.2f,\"ok\":%llu,"
            "\"created\":%llu,\"identical\":%llu,",
            m->dps, m->mbps, (double)g.completed_window / m->secs, g.ok_window, g.created,
            g.identical);
    fprintf(f, "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"n\":%zu},",
            percentile(&g.lat, 50) / 1e3, percentile(&g.lat, 90) / 1e3,
            percentile(&g.lat, 99) / 1e3, percentile(&g.lat, 100) / 1e3, g.lat.n);
    fprintf(f, "\"status\":{");
    for (size_t i = 0; i < g.nstatuses; i++)
        fprintf(f, "%s\"%d\":%llu", i ? "," : "", g.statuses[i].status, g.statuses[i].n);
    fprintf(f,
            "},\"errors\":{\"connect\":%llu,\"tls\":%llu,\"reset\":%llu,\"timeout\":%llu,"
            "\"reconnects\":%llu},",
            g.conn_errors, g.tls_errors, g.resets, g.timeouts, g.reconnects);
    fprintf(f, "\"backlog_max\":%zu,\"late\":%llu,\"dropped\":%llu,", g.bl_max, g.late, g.dropped);
    fprintf(f, "\"handshake_ms_mean\":%.3f,\"loadgen_cpu_cores\":%.3f",
            g.handshakes ? g.handshake_ms_sum / (double)g.handshakes : 0, m->self_cpu);
    if (g.o.pid > 0) {
        fprintf(f,
                ",\"gateway\":{\"pid\":%d,\"cpu_cores\":%.3f,\"rss_mb_start\":%.1f,"
                "\"rss_mb_mid\":%.1f,\"rss_mb_end\":%.1f,\"rss_mb_min\":%.1f,"
                "\"rss_mb_max\":%.1f,\"hwm_mb\":%.1f,\"rss_mb_series\":[",
                g.o.pid, m->gw_cpu, m->rss_first / 1024.0, m->rss_mid / 1024.0,
                m->rss_last / 1024.0, m->rss_min / 1024.0, m->rss_max / 1024.0, g.hwm_kb / 1024.0);
        /* At most about 60 points, evenly spread, keep the line readable. */
        size_t step = g.nrss > 60 ? (g.nrss + 59) / 60 : 1;
        for (size_t i = 0; i < g.nrss; i += step)
            fprintf(f, "%s[%.0f,%.1f]", i ? "," : "", g.rss[i].t, g.rss[i].rss_kb / 1024.0);
        fprintf(f, "]}");
    }
    fprintf(f, "}\n");
}

static void report(FILE *f, int json)
{
    summary_t m = summarize();
    if (json)
        report_json(f, &m);
    else
        report_text(f, &m);
}

/* ---- self-test ---------------------------------------------------------- */

static int self_test(void)
{
    int passed = 0, failed = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
        }                                                                                          \
    } while (0)
    samples_t s = {0};
    for (uint64_t i = 1; i <= 1000; i++)
        samples_add(&s, 1001 - i);
    qsort(s.v, s.n, sizeof *s.v, cmp_u32);
    CHECK(percentile(&s, 50) == 500);
    CHECK(percentile(&s, 99) == 990);
    CHECK(percentile(&s, 100) == 1000);
    CHECK(percentile(&s, 0) == 1);
    free(s.v);

    CHECK(due_by(0, 2) == 1);
    CHECK(due_by(0.49, 2) == 1);
    CHECK(due_by(0.5, 2) == 2);
    CHECK(due_by(10, 20) == 201);

    static const char with_ext[] =
        "<?xml version=\"1.0\"?>\n<!-- <id extension=\"no\"/> -->\n"
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><realmCode code=\"US\"/>"
        "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
        "<templateId root=\"1.2\"/><id root=\"1.2.3\" extension='abc'/><code code=\"x\"/>"
        "</ClinicalDocument>";
    doc_t d = {.data = (char *)with_ext, .len = sizeof with_ext - 1};
    CHECK(find_id_cut(&d) == 0);
    CHECK(d.wrap == 0 && memcmp(with_ext + d.cut, "abc'", 4) == 0);
    d.rewritable = 1;
    char *buf = NULL;
    size_t cap = 0;
    size_t n = build_body(&d, "T1", 0, &buf, &cap);
    /* The body is not NUL-terminated: search a terminated copy. */
    char text[1024];
    CHECK(n < sizeof text);
    size_t m = n < sizeof text ? n : sizeof text - 1;
    memcpy(text, buf, m);
    text[m] = '\0';
    CHECK(n == d.len + 3 && strstr(text, "extension='T1-abc'") != NULL);
    n = build_body(&d, "T1", 1, &buf, &cap);
    CHECK(n == d.len && memcmp(buf, with_ext, n) == 0);

    static const char no_ext[] = "<hl7:ClinicalDocument xmlns:hl7=\"urn:hl7-org:v3\">"
                                 "<hl7:typeId root=\"x\" extension=\"y\"/><hl7:id root=\"1.2.3\"/>"
                                 "</hl7:ClinicalDocument>";
    doc_t e = {.data = (char *)no_ext, .len = sizeof no_ext - 1, .rewritable = 1};
    CHECK(find_id_cut(&e) == 0 && e.wrap == 1);
    n = build_body(&e, "T2", 0, &buf, &cap);
    CHECK(n < sizeof text);
    m = n < sizeof text ? n : sizeof text - 1;
    memcpy(text, buf, m);
    text[m] = '\0';
    CHECK(n > e.len && strstr(text, "<hl7:id extension=\"T2\" root=\"1.2.3\"/>") != NULL);

    static const char none[] = "<a><b><id extension=\"deep\"/></b></a>";
    doc_t f = {.data = (char *)none, .len = sizeof none - 1};
    CHECK(find_id_cut(&f) == -1);
    free(buf);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
#undef CHECK
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: cdxgw-load --cacert CA --cert CRT --key KEY --docs DIR|FILE [options]\n"
               "  --target HOST:PORT     gateway address (default 127.0.0.1:8443)\n"
               "  --path PATH            request path (default /v1/documents)\n"
               "  --connections N        keep-alive TLS connections (default 2)\n"
               "  --rate R               open loop at R documents/s (default: closed loop)\n"
               "  --duration S           measure for S seconds (after --warmup)\n"
               "  --count N              push N documents (the window ends with the last answer)\n"
               "  --warmup S             seconds left out of the statistics (default 0)\n"
               "  --repeat               send documents unchanged (200 path after the first push)\n"
               "  --content-type T       default application/xml\n"
               "  --timeout S            abandon a request after S seconds (default 60)\n"
               "  --pid PID              report the gateway's RSS and CPU from /proc/PID\n"
               "  --label TEXT           name of this run in the JSON line\n"
               "  --json FILE            also append the JSON line to FILE\n"
               "  --quiet                no per-error messages\n"
               "  --self-test            check the tool's own arithmetic and exit\n"
               "Prints a human-readable summary, then one JSON line.\n");
}

static int parse_target(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    static char host[256];
    size_t hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    g.o.host = host;
    g.o.port = atoi(colon + 1);
    if (g.o.port <= 0 || g.o.port > 65535)
        return -1;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&g.addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&g.addr;
    if (uv_ip4_addr(host, g.o.port, a4) == 0)
        return 0;
    if (uv_ip6_addr(host, g.o.port, a6) == 0)
        return 0;
    if (strcmp(host, "localhost") == 0)
        return uv_ip4_addr("127.0.0.1", g.o.port, a4);
    return -1;
}

/* Reads the options into g.o, checks them and loads the documents.
 * Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv)
{
    const char *target = "127.0.0.1:8443";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (strcmp(a, "--self-test") == 0)
            return self_test();
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--repeat") == 0)
            g.o.repeat = 1;
        else if (strcmp(a, "--quiet") == 0)
            g.o.quiet = 1;
        else if (OPT("--target"))
            target = v;
        else if (OPT("--path"))
            g.o.path = v;
        else if (OPT("--cacert"))
            g.o.cacert = v;
        else if (OPT("--cert"))
            g.o.cert = v;
        else if (OPT("--key"))
            g.o.key = v;
        else if (OPT("--docs"))
            g.o.docs = v;
        else if (OPT("--content-type"))
            g.o.content_type = v;
        else if (OPT("--label"))
            g.o.label = v;
        else if (OPT("--json"))
            g.o.json_out = v;
        else if (OPT("--connections"))
            g.o.conns = atoi(v);
        else if (OPT("--rate"))
            g.o.rate = atof(v);
        else if (OPT("--duration"))
            g.o.duration = atof(v);
        else if (OPT("--warmup"))
            g.o.warmup = atof(v);
        else if (OPT("--count"))
            g.o.count = atoll(v);
        else if (OPT("--timeout"))
            g.o.timeout = atof(v);
        else if (OPT("--pid"))
            g.o.pid = atoi(v);
        else {
            fprintf(stderr, "cdxgw-load: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef OPT
    }
    if (g.o.cacert == NULL || g.o.cert == NULL || g.o.key == NULL || g.o.docs == NULL ||
        g.o.conns < 1 || g.o.conns > MAX_CONNS || (g.o.duration <= 0 && g.o.count <= 0) ||
        g.o.rate < 0 || parse_target(target) != 0) {
        usage(stderr);
        return 2;
    }
    if (g.o.count > 0 && g.o.warmup > 0) {
        fprintf(stderr, "cdxgw-load: --warmup goes with --duration only\n");
        return 2;
    }
    load_docs(g.o.docs);
    if (ndocs == 0) {
        fprintf(stderr, "cdxgw-load: no .xml documents in %s\n", g.o.docs);
        return 2;
    }
    size_t fixed = 0;
    for (size_t i = 0; i < ndocs; i++)
        fixed += !docs[i].rewritable;
    if (fixed > 0 && !g.o.repeat)
        fprintf(stderr,
                "cdxgw-load: %zu of %zu documents have no ClinicalDocument/id to rewrite; "
                "they are sent unchanged\n",
                fixed, ndocs);
    return -1;
}

int main(int argc, char **argv)
{
    g.o.path = "/v1/documents";
    g.o.content_type = "application/xml";
    g.o.conns = 2;
    g.o.timeout = 60;
    int rc = parse_args(argc, argv);
    if (rc >= 0)
        return rc;

    g.ctx = SSL_CTX_new(TLS_client_method());
    if (g.ctx == NULL || SSL_CTX_set_min_proto_version(g.ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(g.ctx, g.o.cacert, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(g.ctx, g.o.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(g.ctx, g.o.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(g.ctx) != 1) {
        char msg[256];
        ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
        fprintf(stderr, "cdxgw-load: TLS set-up: %s\n", msg);
        return 2;
    }
    SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER, NULL);

    /* A run identifier keeps documents of successive runs against the same
     * registry distinct. */
    snprintf(g.run_id, sizeof g.run_id, "%llx",
             (unsigned long long)(uv_hrtime() / 1000u) & 0xffffffffffull);
    if (g.o.rate > 0) {
        g.backlog = malloc(BACKLOG_MAX * sizeof *g.backlog);
        if (g.backlog == NULL)
            return 1;
    }
    g.loop = uv_default_loop();
    uv_timer_init(g.loop, &g.tick);
    uv_timer_init(g.loop, &g.sampler);
    for (int i = 0; i < g.o.conns; i++)
        conn_start(i);
    uv_timer_t wait;
    uv_timer_init(g.loop, &wait);
    uv_timer_start(&wait, on_connect_wait, 1, 1);
    uv_run(g.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&wait, NULL);
    uv_close((uv_handle_t *)&g.tick, NULL);
    uv_close((uv_handle_t *)&g.sampler, NULL);
    uv_run(g.loop, UV_RUN_DEFAULT);
    if (g.t0 == 0)
        return 1;
    report(stdout, 0);
    report(stdout, 1);
    if (g.o.json_out != NULL) {
        FILE *f = fopen(g.o.json_out, "a");
        if (f != NULL) {
            report(f, 1);
            fclose(f);
        }
    }
    fflush(stdout);
    for (size_t i = 0; i < ndocs; i++)
        free(docs[i].data);
    free(docs);
    free(g.lat.v);
    free(g.backlog);
    SSL_CTX_free(g.ctx);
    return g.ok_window > 0 ? 0 : 1;
}
