/* server: the event loop, connections, timeouts and jobs (see include/cdx/net/server.h). */
#include "cdx/net/server.h"
#include "cdx/domain/institution.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/base/problem.h"
#include "cdx/net/tls.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define READ_BUF_SIZE  65536
#define PLAIN_BUF_SIZE 16384
#define LINGER_MS      2000
#define MAX_COUNTERS   512
/* How many of the oldest handshakes are weighed when one must be evicted. */
#define EVICT_SCAN 64
/* After body_rate_grace_ms, how often the minimum body rate is checked. */
#define RATE_CHECK_MS 500

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
#define NBUCKETS (CDX_ARRAY_SIZE(latency_bounds) + 1)

typedef enum { C_HANDSHAKE, C_READ, C_HANDLING, C_CLOSING, C_SHUTDOWN, C_LINGER } conn_state_t;

typedef struct conn conn_t;

/* Why a connection was refused; the label of cdxgw_connections_refused_total. */
#define REFUSALS(X)                                                                                \
    X(MAX_CONNECTIONS, "max_connections")                                                          \
    X(SHUTTING_DOWN, "shutting_down")                                                              \
    X(PER_IP, "max_handshakes_per_ip")                                                             \
    X(PER_INSTITUTION, "max_connections_per_institution")                                          \
    X(NO_MEMORY, "out_of_memory")
typedef enum {
#define REFUSAL_ENUM(name, label) REFUSED_##name,
    REFUSALS(REFUSAL_ENUM)
#undef REFUSAL_ENUM
        REFUSED_COUNT
} refusal_t;
static const char *const refusal_labels[] = {
#define REFUSAL_LABEL(name, label) label,
    REFUSALS(REFUSAL_LABEL)
#undef REFUSAL_LABEL
};

/* A count of connections sharing a key: a client address (handshakes in
 * progress) or an institution (authenticated connections).  Entries live
 * in a chained hash table while their count is above zero. */
enum { KEY_ADDR = 'A', KEY_INSTITUTION = 'I' };
enum { HS_SILENT = 0, HS_TALKING = 1 };
typedef struct slot_count {
    struct slot_count *next;
    size_t n;
    size_t len;
    unsigned char key[1 + sizeof(((cdx_institution_t *)0)->oid)];
} slot_count_t;

typedef struct counter {
    int route; /* index, or -1 for unmatched */
    int status;
    uint64_t count;
} counter_t;

typedef struct metrics {
    counter_t counters[MAX_COUNTERS];
    size_t ncounters;
    uint64_t (*buckets)[NBUCKETS]; /* per route + 1 (unmatched) */
    double *sum;
    uint64_t *count;
    uint64_t conns_total;
    uint64_t conns_refused[REFUSED_COUNT];
    uint64_t conns_evicted;
    uint64_t tls_failures[CDX_TLS_FAIL_COUNT];
    uint64_t jobs_total;
    uint64_t jobs_refused;
} metrics_t;

struct cdx_server {
    uv_loop_t *loop;
    const cdx_config_t *cfg;
    cdx_registry_t *reg;
    const cdx_route_t *routes;
    size_t nroutes;
    cdx_tls_server_t *tls;
    cdx_http_limits_t limits;
    uv_tcp_t listener;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t shutdown_timer;
    uv_timer_t crl_timer;
    int port;
    int started;
    int stopping;
    int finished;
    conn_t *conns; /* doubly linked */
    size_t nconns;   /* until freed, closing ones included */
    size_t nlive;    /* not closing: what max_connections bounds */
    /* Connections in their TLS handshake, oldest first: [HS_SILENT] those
     * that have sent nothing yet, [HS_TALKING] those that have. */
    conn_t *hs_head[2], *hs_tail[2];
    size_t nhandshakes;
    slot_count_t **slots; /* per address and per institution counts */
    size_t nslots;        /* buckets, a power of two */
    uint64_t next_conn_id;
    size_t jobs;
    size_t held; /* requests waiting on work after their job (registry writes) */
    metrics_t m;
    void *app;
    int (*metrics_hook)(void *app, cdx_buf_t *out);
    void (*stop_hook)(void *app);
    void (*reject_hook)(void *app, const cdx_route_t *route, const char *peer_oid, int status,
                        const char *code);
    void (*deny_hook)(void *app, const cdx_request_t *rq);
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    cdx_server_t *srv;
    conn_t *prev, *next;
    int refs;         /* 1 for the loop, +1 per write and job in flight */
    int open_handles; /* tcp and timer until their close callbacks */
    int closing;
    conn_state_t state;
    uint64_t id;
    char peer_ip[64];
    int loopback;
    unsigned char addr_key[16]; /* IPv4 address, or an IPv6 /64 */
    size_t addr_len;
    conn_t *hs_prev, *hs_next;  /* in srv->hs_head[hs_list] while in_handshake */
    int in_handshake;
    int hs_list;                /* HS_SILENT or HS_TALKING */
    slot_count_t *addr_slot;   /* held while in_handshake */
    slot_count_t *inst_slot;   /* held while authenticated and open */
    int over_institution_cap;  /* answer 503 to the first request */
    cdx_tls_conn_t *tls;
    cdx_http_parser_t *http;
    int reading;
    int in_pump;
    int close_after;       /* no further request on this connection */
    int route_status;      /* 0, 404 or 405 (decided at the headers) */
    int discard;           /* the body is read and dropped */
    char allow[64];
    size_t write_queued;
    uint64_t accepted_ms, idle_since_ms, req_start_ms, body_start_ms, last_body_ms,
        last_write_ms, rate_check_ms;
    uint64_t handled_ns; /* uv_hrtime() when the request was dispatched */
    unsigned nrequests;
    cdx_request_t rq;
    int responded;
    char *plain;
    size_t plain_len, plain_off;
    char readbuf[READ_BUF_SIZE];
};

typedef struct write_req {
    uv_write_t req;
    conn_t *conn;
    char *data;
    size_t len;
} write_req_t;

typedef struct job {
    uv_work_t req;
    conn_t *conn;
    void (*work)(void *data);
    void (*done)(cdx_request_t *rq, void *data);
    void *data;
} job_t;

static void conn_pump(conn_t *c);
static void conn_close(conn_t *c, const char *reason);
static void conn_finish(conn_t *c);
static void conn_arm_timer(conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void server_check_drained(cdx_server_t *srv);

/* ---- metrics ---------------------------------------------------------- */

static void metrics_request(cdx_server_t *srv, int route, int status, double seconds)
{
    metrics_t *m = &srv->m;
    counter_t *hit = NULL;
    for (size_t i = 0; i < m->ncounters; i++) {
        if (m->counters[i].route == route && m->counters[i].status == status) {
            hit = &m->counters[i];
            break;
        }
    }
    if (hit == NULL && m->ncounters < MAX_COUNTERS) {
        hit = &m->counters[m->ncounters++];
        hit->route = route;
        hit->status = status;
        hit->count = 0;
    }
    if (hit != NULL)
        hit->count++;
    size_t r = route < 0 ? srv->nroutes : (size_t)route;
    size_t b = 0;
    while (b < CDX_ARRAY_SIZE(latency_bounds) && seconds > latency_bounds[b])
        b++;
    m->buckets[r][b]++;
    m->sum[r] += seconds;
    m->count[r]++;
}

static const char *route_label(const cdx_server_t *srv, int route)
{
    return route < 0 ? "unmatched" : srv->routes[route].name;
}

int cdx_server_metrics(cdx_server_t *srv, cdx_buf_t *out)
{
    metrics_t *m = &srv->m;
    int rc = 0;
    rc |= cdx_buf_puts(out, "# HELP cdxgw_http_requests_total HTTP requests answered, by route "
                            "and status.\n# TYPE cdxgw_http_requests_total counter\n");
    for (size_t i = 0; i < m->ncounters; i++)
        rc |= cdx_buf_printf(out, "cdxgw_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                             route_label(srv, m->counters[i].route), m->counters[i].status,
                             (unsigned long long)m->counters[i].count);
    rc |= cdx_buf_puts(out, "# HELP cdxgw_http_request_duration_seconds Time from the end of "
                            "the request head to the response, by route.\n"
                            "# TYPE cdxgw_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= srv->nroutes; r++) {
        if (m->count[r] == 0)
            continue;
        const char *label = route_label(srv, r == srv->nroutes ? -1 : (int)r);
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += m->buckets[r][b];
            if (b < CDX_ARRAY_SIZE(latency_bounds))
                rc |= cdx_buf_printf(out,
                                     "cdxgw_http_request_duration_seconds_bucket{route=\"%s\","
                                     "le=\"%g\"} %llu\n",
                                     label, latency_bounds[b], (unsigned long long)cum);
            else
                rc |= cdx_buf_printf(out,
                                     "cdxgw_http_request_duration_seconds_bucket{route=\"%s\","
                                     "le=\"+Inf\"} %llu\n",
                                     label, (unsigned long long)cum);
        }
        rc |= cdx_buf_printf(out, "cdxgw_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                             label, m->sum[r]);
        rc |= cdx_buf_printf(out, "cdxgw_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                             label, (unsigned long long)m->count[r]);
    }
    rc |= cdx_buf_printf(out,
                         "# HELP cdxgw_connections_active Open client connections.\n"
                         "# TYPE cdxgw_connections_active gauge\ncdxgw_connections_active %zu\n"
                         "# HELP cdxgw_connections_total Connections accepted.\n"
                         "# TYPE cdxgw_connections_total counter\ncdxgw_connections_total %llu\n"
                         "# HELP cdxgw_handshakes_active Connections in their TLS handshake.\n"
                         "# TYPE cdxgw_handshakes_active gauge\ncdxgw_handshakes_active %zu\n"
                         "# HELP cdxgw_connections_evicted_total Connections closed during their "
                         "TLS handshake, oldest first, to admit new ones (max_handshakes or "
                         "max_connections reached).\n"
                         "# TYPE cdxgw_connections_evicted_total counter\n"
                         "cdxgw_connections_evicted_total %llu\n"
                         "# HELP cdxgw_connections_refused_total Connections refused, by reason "
                         "(closed at accept; max_connections_per_institution: answered 503).\n"
                         "# TYPE cdxgw_connections_refused_total counter\n",
                         srv->nconns, (unsigned long long)m->conns_total, srv->nhandshakes,
                         (unsigned long long)m->conns_evicted);
    for (int r = 0; r < REFUSED_COUNT; r++)
        rc |= cdx_buf_printf(out, "cdxgw_connections_refused_total{reason=\"%s\"} %llu\n",
                             refusal_labels[r], (unsigned long long)m->conns_refused[r]);
    rc |= cdx_buf_puts(out, "# HELP cdxgw_tls_handshake_failures_total Failed TLS handshakes, "
                            "by reason.\n# TYPE cdxgw_tls_handshake_failures_total counter\n");
    for (int f = 0; f < CDX_TLS_FAIL_COUNT; f++)
        rc |= cdx_buf_printf(out, "cdxgw_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                             cdx_tls_failure_label((cdx_tls_failure_t)f),
                             (unsigned long long)m->tls_failures[f]);
    rc |= cdx_buf_printf(out,
                         "# HELP cdxgw_jobs_in_flight CPU jobs queued or running, plus requests "
                         "holding their results while the registry writes them.\n"
                         "# TYPE cdxgw_jobs_in_flight gauge\ncdxgw_jobs_in_flight %zu\n"
                         "# HELP cdxgw_jobs_max The bound on jobs in flight.\n"
                         "# TYPE cdxgw_jobs_max gauge\ncdxgw_jobs_max %lld\n"
                         "# HELP cdxgw_jobs_total CPU jobs run.\n"
                         "# TYPE cdxgw_jobs_total counter\ncdxgw_jobs_total %llu\n"
                         "# HELP cdxgw_jobs_refused_total Requests answered 503 because the job "
                         "queue was full.\n# TYPE cdxgw_jobs_refused_total counter\n"
                         "cdxgw_jobs_refused_total %llu\n",
                         srv->jobs + srv->held, (long long)srv->cfg->max_jobs,
                         (unsigned long long)m->jobs_total, (unsigned long long)m->jobs_refused);
    if (rc == 0 && srv->metrics_hook != NULL)
        rc = srv->metrics_hook(srv->app, out);
    return rc == 0 ? 0 : CDX_ENOMEM;
}

/* ---- connection budgets ------------------------------------------------ */

static size_t slot_hash(const unsigned char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)h;
}

static slot_count_t **slot_find(cdx_server_t *srv, const unsigned char *key, size_t len)
{
    slot_count_t **pp = &srv->slots[slot_hash(key, len) & (srv->nslots - 1)];
    while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->key, key, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Builds the key of kind for id (address bytes or an OID). */
static size_t slot_key(unsigned char *key, size_t cap, int kind, const void *id, size_t idlen)
{
    if (idlen + 1 > cap)
        idlen = cap - 1;
    key[0] = (unsigned char)kind;
    memcpy(key + 1, id, idlen);
    return idlen + 1;
}

static size_t slot_count(cdx_server_t *srv, int kind, const void *id, size_t idlen)
{
    unsigned char key[sizeof(((slot_count_t *)0)->key)];
    size_t len = slot_key(key, sizeof key, kind, id, idlen);
    slot_count_t *e = *slot_find(srv, key, len);
    return e ? e->n : 0;
}

/* Counts one more connection under the key; NULL when out of memory. */
static slot_count_t *slot_acquire(cdx_server_t *srv, int kind, const void *id, size_t idlen)
{
    unsigned char key[sizeof(((slot_count_t *)0)->key)];
    size_t len = slot_key(key, sizeof key, kind, id, idlen);
    slot_count_t **pp = slot_find(srv, key, len);
    if (*pp == NULL) {
        slot_count_t *e = calloc(1, sizeof *e);
        if (e == NULL)
            return NULL;
        memcpy(e->key, key, len);
        e->len = len;
        *pp = e;
    }
    (*pp)->n++;
    return *pp;
}

static void slot_release(cdx_server_t *srv, slot_count_t *e)
{
    if (e == NULL || --e->n > 0)
        return;
    slot_count_t **pp = slot_find(srv, e->key, e->len);
    CDX_ASSERT(*pp == e);
    *pp = e->next;
    free(e);
}

static void hs_unlink(conn_t *c)
{
    cdx_server_t *srv = c->srv;
    int l = c->hs_list;
    if (c->hs_prev)
        c->hs_prev->hs_next = c->hs_next;
    else
        srv->hs_head[l] = c->hs_next;
    if (c->hs_next)
        c->hs_next->hs_prev = c->hs_prev;
    else
        srv->hs_tail[l] = c->hs_prev;
    c->hs_prev = c->hs_next = NULL;
}

static void hs_append(conn_t *c, int list)
{
    cdx_server_t *srv = c->srv;
    c->hs_list = list;
    c->hs_next = NULL;
    c->hs_prev = srv->hs_tail[list];
    if (srv->hs_tail[list])
        srv->hs_tail[list]->hs_next = c;
    else
        srv->hs_head[list] = c;
    srv->hs_tail[list] = c;
}

/* The connection's first bytes arrived during its handshake: it moves
 * behind the silent ones in the eviction order. */
static void conn_handshake_talking(conn_t *c)
{
    if (!c->in_handshake || c->hs_list == HS_TALKING)
        return;
    hs_unlink(c);
    hs_append(c, HS_TALKING);
}

/* The connection's handshake ended (done, failed or closed): it leaves
 * the handshake budget and its address's count. */
static void conn_leave_handshake(conn_t *c)
{
    if (!c->in_handshake)
        return;
    cdx_server_t *srv = c->srv;
    c->in_handshake = 0;
    hs_unlink(c);
    srv->nhandshakes--;
    slot_release(srv, c->addr_slot);
    c->addr_slot = NULL;
}

/* ---- connection lifetime ----------------------------------------------- */

static void conn_unref(conn_t *c)
{
    CDX_ASSERT(c->refs > 0);
    if (--c->refs > 0 || c->open_handles > 0)
        return;
    cdx_server_t *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    cdx_tls_conn_free(c->tls);
    cdx_http_parser_free(c->http);
    free(c->plain);
    free(c);
    server_check_drained(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->open_handles--;
    if (c->open_handles == 0) {
        /* The loop's own reference goes with the last handle. */
        conn_unref(c);
    }
}

static void conn_close(conn_t *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->srv->nlive--;
    conn_leave_handshake(c);
    slot_release(c->srv, c->inst_slot);
    c->inst_slot = NULL;
    CDX_DEBUG("conn.close", "conn=%llu reason=%s requests=%u", (unsigned long long)c->id, reason,
              c->nrequests);
    uv_timer_stop(&c->timer);
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void conn_update_reading(conn_t *c)
{
    if (c->closing)
        return;
    int want = c->state == C_LINGER ||
               ((c->state == C_HANDSHAKE || c->state == C_READ) &&
                c->write_queued < (size_t)c->srv->cfg->write_high_water_bytes &&
                c->plain_off >= c->plain_len);
    if (want == c->reading)
        return;
    c->reading = want;
    if (want)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

/* ---- writing ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    conn_t *c = w->conn;
    c->write_queued -= w->len;
    c->last_write_ms = cdx_now_ms();
    free(w->data);
    free(w);
    if (status < 0 && !c->closing)
        conn_close(c, "write_error");
    if (!c->closing) {
        if (c->write_queued == 0 && c->state == C_CLOSING)
            conn_finish(c);
        else if (c->state == C_READ)
            conn_pump(c);
        if (!c->closing)
            conn_arm_timer(c);
    }
    conn_unref(c);
}

/* Moves TLS output to the socket. */
static void conn_flush(conn_t *c)
{
    while (!c->closing && cdx_tls_conn_pending(c->tls) > 0) {
        char *data;
        size_t len;
        if (cdx_tls_conn_take(c->tls, &data, &len) != 0 || data == NULL) {
            conn_close(c, "out_of_memory");
            return;
        }
        write_req_t *w = malloc(sizeof *w);
        if (w == NULL) {
            free(data);
            conn_close(c, "out_of_memory");
            return;
        }
        w->conn = c;
        w->data = data;
        w->len = len;
        uv_buf_t buf = uv_buf_init(data, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
        if (rc != 0) {
            free(data);
            free(w);
            conn_close(c, "write_error");
            return;
        }
        if (c->write_queued == 0)
            c->last_write_ms = cdx_now_ms();
        c->write_queued += len;
        c->refs++;
    }
}

static void conn_send(conn_t *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    if (cdx_tls_conn_write(c->tls, data, len) != 0) {
        conn_close(c, "tls_write_error");
        return;
    }
    conn_flush(c);
}

/* ---- lingering close --------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    if (!c->closing) {
        if (status < 0) {
            conn_close(c, "shutdown_error");
        } else {
            /* Read and drop what the client still sends, for a while, so
             * that closing with unread data does not reset the connection
             * before the client has read our last response. */
            c->state = C_LINGER;
            conn_update_reading(c);
            conn_arm_timer(c);
        }
    }
    conn_unref(c);
}

/* Ends the connection after its last response: close_notify, flush, then
 * a TCP half-close and a short linger. */
static void conn_finish(conn_t *c)
{
    if (c->closing)
        return;
    if (c->state != C_CLOSING) {
        c->state = C_CLOSING;
        cdx_tls_conn_shutdown(c->tls);
        conn_flush(c);
        if (c->closing)
            return;
    }
    conn_update_reading(c);
    if (c->write_queued > 0) {
        conn_arm_timer(c);
        return;
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req == NULL) {
        conn_close(c, "out_of_memory");
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close(c, "shutdown_error");
        return;
    }
    c->refs++;
    c->state = C_SHUTDOWN; /* until the shutdown callback */
    uv_timer_stop(&c->timer);
}

/* ---- responses --------------------------------------------------------- */

static void format_date(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void conn_after_response(conn_t *c);

static void send_response(conn_t *c, int status, const char *content_type, const void *body,
                          size_t len, const char *extra, int route)
{
    cdx_buf_t head;
    char date[64];
    format_date(date, sizeof date);
    if (c->srv->stopping)
        c->close_after = 1;
    cdx_buf_init(&head, 16384);
    int rc = cdx_buf_printf(&head,
                            "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                            "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
                            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                            "%s%s\r\n",
                            status, cdx_http_reason(status), date, content_type, len, c->rq.id,
                            c->close_after ? "Connection: close\r\n" : "", extra ? extra : "");
    if (rc != 0) {
        cdx_buf_cleanup(&head);
        conn_close(c, "response_too_large");
        return;
    }
    conn_send(c, head.data, head.len);
    cdx_buf_cleanup(&head);
    if (len > 0)
        conn_send(c, body, len);
    uint64_t now_ns = uv_hrtime();
    double seconds = (double)(now_ns - (c->handled_ns ? c->handled_ns : now_ns)) / 1e9;
    metrics_request(c->srv, route, status, seconds);
    const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
    CDX_INFO("http.request",
             "conn=%llu req=%s method=%s route=%s status=%d in_bytes=%llu out_bytes=%zu "
             "ms=%.1f institution=%s",
             (unsigned long long)c->id, c->rq.id, c->rq.http ? c->rq.http->method : "-",
             route_label(c->srv, route), status,
             (unsigned long long)(c->rq.http ? c->rq.http->body_received : 0), len,
             seconds * 1000.0, peer ? peer->oid : "-");
    c->responded = 1;
    conn_after_response(c);
}

static int route_index(const cdx_request_t *rq)
{
    if (rq->route == NULL)
        return -1;
    return (int)(rq->route - rq->server->routes);
}

void cdx_respond(cdx_request_t *rq, int status, const char *content_type, const void *body,
                 size_t len, const char *extra_headers)
{
    conn_t *c = rq->conn;
    CDX_ASSERT(!c->responded);
    send_response(c, status, content_type, body, len, extra_headers, route_index(rq));
}

static void respond_problem_raw(conn_t *c, int status, const char *code, const char *detail,
                                const char *issues, const char *extra, int route)
{
    cdx_buf_t body;
    cdx_buf_init(&body, 4u << 20);
    if (cdx_problem_render(&body, status, cdx_http_reason(status), code, detail, c->rq.id,
                           issues) != 0) {
        cdx_buf_reset(&body);
        cdx_problem_render(&body, status, cdx_http_reason(status), code, detail, c->rq.id, NULL);
    }
    send_response(c, status, "application/problem+json", body.data, body.len, extra, route);
    cdx_buf_cleanup(&body);
}

void cdx_respond_problem(cdx_request_t *rq, int status, const char *code, const char *detail,
                         const char *issues_json)
{
    conn_t *c = rq->conn;
    CDX_ASSERT(!c->responded);
    const char *extra = status == 503 ? "Retry-After: 1\r\n" : NULL;
    respond_problem_raw(c, status, code, detail, issues_json, extra, route_index(rq));
}

void cdx_respond_overloaded(cdx_request_t *rq)
{
    cdx_respond_problem(rq, 503, "OVERLOADED",
                        "the gateway is at its limit of concurrent work; retry after 1 second",
                        NULL);
}

/* Audits a request refused before its handler ran, when it was meant for
 * a route that stores something (the reject hook); the route comes from
 * the parsed head, or from the request line when the head failed. */
static void audit_refusal(conn_t *c, int status, const char *code)
{
    cdx_server_t *srv = c->srv;
    cdx_http_request_t *req = cdx_http_parser_request(c->http);
    const char *method = req->method, *path = req->path;
    char mbuf[16], pbuf[256];
    if (path == NULL || method[0] == '\0') {
        /* Refused while its head was read: the request line tells where it
         * was going. */
        path = NULL;
        if (cdx_http_parser_request_line(c->http, mbuf, sizeof mbuf, pbuf, sizeof pbuf)) {
            method = mbuf;
            path = pbuf;
        }
    }
    if (srv->reject_hook != NULL && path != NULL && method[0] != '\0') {
        /* Requests refused before their handler ran are audited too when
         * they were meant for a route that stores something. */
        int idx = cdx_router_match(srv->routes, srv->nroutes, method, path, NULL, NULL, 0);
        if (idx >= 0 && (srv->routes[idx].flags & CDX_ROUTE_BODY)) {
            const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
            srv->reject_hook(srv->app, &srv->routes[idx], peer ? peer->oid : NULL, status, code);
        }
    }
}

/* A framing error: answer, then close without parsing anything more. */
static void respond_fatal(conn_t *c, int status, const char *code, const char *detail)
{
    c->close_after = 1;
    audit_refusal(c, status, code);
    if (c->rq.id[0] == '\0')
        snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    respond_problem_raw(c, status, code, detail, NULL, NULL, -1);
}

/* ---- jobs -------------------------------------------------------------- */

static void job_work(uv_work_t *req)
{
    job_t *job = req->data;
    job->work(job->data);
}

static void job_after(uv_work_t *req, int status)
{
    job_t *job = req->data;
    conn_t *c = job->conn;
    cdx_server_t *srv = c->srv;
    srv->jobs--;
    (void)status;
    if (c->closing)
        job->done(NULL, job->data);
    else
        job->done(&c->rq, job->data);
    free(job);
    conn_unref(c);
}

int cdx_submit_job(cdx_request_t *rq, void (*work)(void *data),
                   void (*done)(cdx_request_t *rq, void *data), void *data)
{
    conn_t *c = rq->conn;
    cdx_server_t *srv = c->srv;
    if (srv->jobs + srv->held >= (size_t)srv->cfg->max_jobs) {
        srv->m.jobs_refused++;
        return CDX_EBUSY;
    }
    job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        return CDX_ENOMEM;
    job->conn = c;
    job->work = work;
    job->done = done;
    job->data = data;
    job->req.data = job;
    int rc = uv_queue_work(srv->loop, &job->req, job_work, job_after);
    if (rc != 0) {
        free(job);
        return rc;
    }
    srv->jobs++;
    srv->m.jobs_total++;
    c->refs++;
    return 0;
}

void *cdx_request_hold(cdx_request_t *rq)
{
    conn_t *c = rq->conn;
    c->refs++;
    /* A held request still owns its results (the parsed, normalized and
     * extracted document): it counts against max_jobs like a running job,
     * so memory stays bounded however far the writer falls behind. */
    c->srv->held++;
    return c;
}

cdx_request_t *cdx_request_resume(void *hold)
{
    conn_t *c = hold;
    c->srv->held--;
    cdx_request_t *rq = c->closing ? NULL : &c->rq;
    /* While open, the loop's own reference keeps c alive after this. */
    conn_unref(c);
    return rq;
}

void cdx_server_set_app(cdx_server_t *srv, void *app)
{
    srv->app = app;
}

void *cdx_server_app(const cdx_server_t *srv)
{
    return srv->app;
}

void cdx_server_set_reject_hook(cdx_server_t *srv,
                                void (*hook)(void *app, const cdx_route_t *route,
                                             const char *peer_oid, int status, const char *code))
{
    srv->reject_hook = hook;
}

void cdx_server_set_deny_hook(cdx_server_t *srv, void (*hook)(void *app, const cdx_request_t *rq))
{
    srv->deny_hook = hook;
}

void cdx_server_set_stop_hook(cdx_server_t *srv, void (*hook)(void *app))
{
    srv->stop_hook = hook;
}

void cdx_server_set_metrics_hook(cdx_server_t *srv, int (*hook)(void *app, cdx_buf_t *out))
{
    srv->metrics_hook = hook;
}

/* ---- request handling -------------------------------------------------- */

static void conn_after_response(conn_t *c)
{
    if (c->closing)
        return;
    c->nrequests++;
    if (c->close_after || c->srv->stopping) {
        conn_finish(c);
        return;
    }
    cdx_http_parser_next(c->http);
    memset(&c->rq, 0, sizeof c->rq);
    c->responded = 0;
    c->route_status = 0;
    c->discard = 0;
    c->req_start_ms = 0;
    c->idle_since_ms = cdx_now_ms();
    c->state = C_READ;
    if (!c->in_pump)
        conn_pump(c);
}

static int role_allows(const cdx_request_t *rq)
{
    const cdx_route_t *r = rq->route;
    if (r->role == 0)
        return 1;
    if ((r->flags & CDX_ROUTE_LOOPBACK_OR_ROLE) && rq->peer_loopback &&
        rq->server->cfg->metrics_loopback)
        return 1;
    return rq->peer != NULL && (rq->peer->roles & r->role) == r->role;
}

static const char *role_name(unsigned role)
{
    static char buf[64];
    cdx_roles_format(role, buf, sizeof buf);
    return buf;
}

/* Called when the request head is complete: decide before any body byte
 * is read. */
static void on_headers(conn_t *c)
{
    cdx_server_t *srv = c->srv;
    cdx_http_request_t *req = cdx_http_parser_request(c->http);
    c->handled_ns = uv_hrtime();
    snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    c->rq.server = srv;
    c->rq.http = req;
    c->rq.conn = c;
    c->rq.peer = cdx_tls_conn_peer(c->tls);
    c->rq.peer_loopback = c->loopback;
    if (!req->keep_alive)
        c->close_after = 1;
    int idx = cdx_router_match(srv->routes, srv->nroutes, req->method, req->path, &c->rq.params,
                               c->allow, sizeof c->allow);
    int refuse = 0;
    if (idx < 0) {
        c->route_status = -idx;
        refuse = 1;
    } else {
        c->rq.route = &srv->routes[idx];
        if (!role_allows(&c->rq)) {
            c->route_status = 403;
            refuse = 1;
        }
    }
    c->body_start_ms = c->last_body_ms = cdx_now_ms();
    c->rate_check_ms = c->body_start_ms + (uint64_t)srv->cfg->body_rate_grace_ms;
    if (req->has_body && refuse && req->expect_continue) {
        /* The client waits for our word before sending the body: give the
         * final answer now and do not read the body at all. */
        c->close_after = 1;
        c->discard = 1;
        return;
    }
    c->discard = refuse || (c->rq.route && !(c->rq.route->flags & CDX_ROUTE_BODY));
    if (req->has_body && req->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_send(c, cont, sizeof cont - 1);
    }
    cdx_http_parser_continue(c->http, c->discard);
}

static void dispatch(conn_t *c)
{
    c->state = C_HANDLING;
    uv_timer_stop(&c->timer);
    if (c->route_status == 404) {
        respond_problem_raw(c, 404, "NOT_FOUND", "no such resource; see the API documentation",
                            NULL, NULL, -1);
        return;
    }
    if (c->route_status == 405) {
        char extra[96];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", c->allow);
        respond_problem_raw(c, 405, "METHOD_NOT_ALLOWED",
                            "this resource does not support that method; see the Allow header",
                            NULL, extra, -1);
        return;
    }
    if (c->route_status == 403) {
        if (c->srv->reject_hook != NULL && (c->rq.route->flags & CDX_ROUTE_BODY))
            c->srv->reject_hook(c->srv->app, c->rq.route, c->rq.peer ? c->rq.peer->oid : NULL,
                                403, "FORBIDDEN");
        else if (c->srv->deny_hook != NULL)
            c->srv->deny_hook(c->srv->app, &c->rq);
        char detail[160];
        snprintf(detail, sizeof detail,
                 "this institution's certificate lacks the '%s' role needed here",
                 role_name(c->rq.route->role));
        cdx_respond_problem(&c->rq, 403, "FORBIDDEN", detail, NULL);
        return;
    }
    cdx_handler_fn fn = (cdx_handler_fn)(uintptr_t)c->rq.route->handler;
    fn(&c->rq);
}

static void count_handshake_failure(conn_t *c, cdx_tls_failure_t f)
{
    c->srv->m.tls_failures[f]++;
    CDX_WARN("tls.handshake_failed", "conn=%llu peer=%s reason=%s", (unsigned long long)c->id,
             c->peer_ip, cdx_tls_failure_label(f));
}

/* An authenticated connection counts against its institution's share; one
 * beyond max_connections_per_institution is kept only to tell the client
 * why at its first request (a TLS-level close would look like a network
 * fault). */
static void conn_admit_institution(conn_t *c, const cdx_institution_t *peer)
{
    cdx_server_t *srv = c->srv;
    if (peer == NULL)
        return;
    size_t oidlen = strlen(peer->oid);
    if (slot_count(srv, KEY_INSTITUTION, peer->oid, oidlen) >=
        (size_t)srv->cfg->max_connections_per_institution) {
        c->over_institution_cap = 1;
        srv->m.conns_refused[REFUSED_PER_INSTITUTION]++;
        CDX_WARN("conn.refused", "conn=%llu peer=%s reason=%s institution=%s",
                 (unsigned long long)c->id, c->peer_ip,
                 refusal_labels[REFUSED_PER_INSTITUTION], peer->oid);
        return;
    }
    c->inst_slot = slot_acquire(srv, KEY_INSTITUTION, peer->oid, oidlen);
    if (c->inst_slot == NULL)
        conn_close(c, "out_of_memory");
}

static void refuse_over_institution_cap(conn_t *c)
{
    char detail[200];
    c->close_after = 1;
    c->state = C_HANDLING;
    uv_timer_stop(&c->timer);
    snprintf(c->rq.id, sizeof c->rq.id, "%llx-%u", (unsigned long long)c->id, c->nrequests);
    snprintf(detail, sizeof detail,
             "this institution already has %lld open connections, the most allowed; reuse them "
             "(keep-alive) or retry after closing some",
             (long long)c->srv->cfg->max_connections_per_institution);
    audit_refusal(c, 503, "TOO_MANY_CONNECTIONS");
    respond_problem_raw(c, 503, "TOO_MANY_CONNECTIONS", detail, NULL, "Retry-After: 1\r\n", -1);
}

/* Moves data through TLS and the HTTP parser until input runs out or a
 * request is being handled. */
static void conn_pump(conn_t *c)
{
    if (c->in_pump)
        return;
    c->in_pump = 1;
    while (!c->closing && (c->state == C_HANDSHAKE || c->state == C_READ) &&
           c->write_queued < (size_t)c->srv->cfg->write_high_water_bytes) {
        if (c->plain_off < c->plain_len) {
            size_t used = 0;
            int in_headers = cdx_http_parser_in_headers(c->http);
            cdx_http_event_t ev = cdx_http_parser_feed(c->http, c->plain + c->plain_off,
                                                       c->plain_len - c->plain_off, &used);
            c->plain_off += used;
            uint64_t now = cdx_now_ms();
            if (in_headers && c->req_start_ms == 0 && cdx_http_parser_bytes_seen(c->http) > 0)
                c->req_start_ms = now;
            if (!in_headers && used > 0)
                c->last_body_ms = now;
            if (ev == CDX_HTTP_ERROR) {
                const cdx_http_error_t *e = cdx_http_parser_error(c->http);
                respond_fatal(c, e->status, e->code, e->detail);
                break;
            }
            if (ev == CDX_HTTP_HEADERS && c->over_institution_cap) {
                refuse_over_institution_cap(c);
                break;
            }
            if (ev == CDX_HTTP_HEADERS) {
                on_headers(c);
                if (c->discard && c->close_after && cdx_http_parser_request(c->http)->expect_continue) {
                    dispatch(c);
                    break;
                }
                continue;
            }
            if (ev == CDX_HTTP_COMPLETE) {
                dispatch(c);
                continue;
            }
            continue;
        }
        int n = cdx_tls_conn_read(c->tls, c->plain, PLAIN_BUF_SIZE);
        if (c->state == C_HANDSHAKE && cdx_tls_conn_handshake_done(c->tls) && n != CDX_ETLS) {
            const cdx_institution_t *peer = cdx_tls_conn_peer(c->tls);
            c->state = C_READ;
            c->idle_since_ms = cdx_now_ms();
            conn_leave_handshake(c);
            conn_admit_institution(c, peer);
            CDX_INFO("conn.tls", "conn=%llu peer=%s version=%s cipher=%s institution=%s",
                     (unsigned long long)c->id, c->peer_ip, cdx_tls_conn_version(c->tls),
                     cdx_tls_conn_cipher(c->tls), peer ? peer->oid : "-");
            conn_arm_timer(c);
        }
        if (n > 0) {
            c->plain_len = (size_t)n;
            c->plain_off = 0;
            continue;
        }
        if (n == 0)
            break;
        if (c->state == C_HANDSHAKE) {
            count_handshake_failure(c, cdx_tls_conn_failure(c->tls));
            conn_leave_handshake(c);
            conn_flush(c); /* the alert */
            c->state = C_CLOSING;
            conn_finish(c);
        } else if (n == CDX_EIO) {
            conn_close(c, "peer_closed");
        } else {
            conn_close(c, "tls_error");
        }
        break;
    }
    c->in_pump = 0;
    if (!c->closing) {
        conn_flush(c);
        conn_update_reading(c);
        conn_arm_timer(c);
    }
}

/* ---- reading ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->readbuf, sizeof c->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    (void)buf;
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state == C_HANDSHAKE)
            count_handshake_failure(c, CDX_TLS_FAIL_CLOSED);
        conn_close(c, nread == UV_EOF ? "eof" : "read_error");
        return;
    }
    if (nread == 0)
        return;
    if (c->state == C_LINGER)
        return; /* dropped */
    conn_handshake_talking(c);
    if (cdx_tls_conn_feed(c->tls, c->readbuf, (size_t)nread) != 0) {
        conn_close(c, "out_of_memory");
        return;
    }
    conn_pump(c);
}

/* ---- timers ------------------------------------------------------------ */

/* When the connection's current phase expires, in loop milliseconds; 0
 * for no deadline. */
static uint64_t conn_deadline(conn_t *c)
{
    const cdx_config_t *cfg = c->srv->cfg;
    if (c->write_queued > 0)
        return c->last_write_ms + (uint64_t)cfg->write_timeout_ms;
    switch (c->state) {
    case C_HANDSHAKE:
        return c->accepted_ms + (uint64_t)cfg->handshake_timeout_ms;
    case C_READ:
        if (cdx_http_parser_in_headers(c->http)) {
            if (c->req_start_ms != 0)
                return c->req_start_ms + (uint64_t)cfg->header_timeout_ms;
            return c->idle_since_ms + (uint64_t)(c->nrequests ? cfg->keepalive_timeout_ms
                                                               : cfg->header_timeout_ms);
        } else {
            uint64_t d = c->last_body_ms + (uint64_t)cfg->body_timeout_ms;
            /* The rate check keeps its own schedule (the end of the grace
             * period, then every RATE_CHECK_MS): a byte arriving does not
             * push it back. */
            if (cfg->body_min_rate_bps > 0)
                d = CDX_MIN(d, c->rate_check_ms);
            return d;
        }
    case C_LINGER:
        return c->last_write_ms + LINGER_MS;
    default:
        return 0;
    }
}

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->closing)
        return;
    const cdx_config_t *cfg = c->srv->cfg;
    uint64_t now = cdx_now_ms();
    if (c->write_queued > 0) {
        if (now >= c->last_write_ms + (uint64_t)cfg->write_timeout_ms) {
            CDX_WARN("conn.slow_reader", "conn=%llu queued=%zu", (unsigned long long)c->id,
                     c->write_queued);
            conn_close(c, "write_timeout");
            return;
        }
    } else if (c->state == C_HANDSHAKE) {
        if (now >= c->accepted_ms + (uint64_t)cfg->handshake_timeout_ms) {
            count_handshake_failure(c, CDX_TLS_FAIL_TIMEOUT);
            conn_close(c, "handshake_timeout");
            return;
        }
    } else if (c->state == C_LINGER) {
        conn_close(c, "linger_done");
        return;
    } else if (c->state == C_READ) {
        if (cdx_http_parser_in_headers(c->http)) {
            if (c->req_start_ms == 0) {
                uint64_t limit = (uint64_t)(c->nrequests ? cfg->keepalive_timeout_ms
                                                         : cfg->header_timeout_ms);
                if (now >= c->idle_since_ms + limit) {
                    conn_close(c, "idle_timeout");
                    return;
                }
            } else if (now >= c->req_start_ms + (uint64_t)cfg->header_timeout_ms) {
                respond_fatal(c, 408, "HTTP_HEADER_TIMEOUT",
                              "the request head did not arrive in time");
                return;
            }
        } else {
            uint64_t got = cdx_http_parser_request(c->http)->body_received;
            if (now >= c->last_body_ms + (uint64_t)cfg->body_timeout_ms) {
                respond_fatal(c, 408, "HTTP_BODY_TIMEOUT",
                              "the request body stopped arriving; nothing was stored");
                return;
            }
            uint64_t elapsed = now - c->body_start_ms;
            if (cfg->body_min_rate_bps > 0 && now >= c->rate_check_ms) {
                if (elapsed > 0 && got * 1000 / elapsed < (uint64_t)cfg->body_min_rate_bps) {
                    char detail[200];
                    snprintf(detail, sizeof detail,
                             "the request body arrived at %llu bytes/s, slower than the minimum "
                             "of %lld; nothing was stored",
                             (unsigned long long)(got * 1000 / elapsed),
                             (long long)cfg->body_min_rate_bps);
                    respond_fatal(c, 408, "HTTP_BODY_TOO_SLOW", detail);
                    return;
                }
                c->rate_check_ms = now + RATE_CHECK_MS;
            }
        }
    }
    conn_arm_timer(c);
}

static void conn_arm_timer(conn_t *c)
{
    if (c->closing)
        return;
    uint64_t d = conn_deadline(c);
    if (d == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = cdx_now_ms();
    uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- accepting --------------------------------------------------------- */

/* Reads the peer's address: its text for logs, whether it is loopback,
 * and the key its handshakes are counted under: the IPv4 address (also
 * when IPv4-mapped in IPv6), or the /64 prefix of an IPv6 address, the
 * block one IPv6 subscriber usually holds.  Returns 0, or a libuv error
 * when the peer is already gone. */
static int peer_address(conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->peer_ip[0] = '\0';
    int rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, c->peer_ip, sizeof c->peer_ip);
        c->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        memcpy(c->addr_key, &a->sin_addr, 4);
        c->addr_len = 4;
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        const unsigned char *b = a->sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        uv_ip6_name(a, c->peer_ip, sizeof c->peer_ip);
        if (memcmp(b, v4mapped, sizeof v4mapped) == 0) {
            c->loopback = b[12] == 127;
            memcpy(c->addr_key, b + 12, 4);
            c->addr_len = 4;
        } else {
            c->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
            memcpy(c->addr_key, b, 8);
            c->addr_len = 8;
        }
    } else {
        return UV_EAFNOSUPPORT;
    }
    return 0;
}

static void refuse_conn(conn_t *c, refusal_t why)
{
    cdx_server_t *srv = c->srv;
    srv->m.conns_refused[why]++;
    CDX_WARN("conn.refused", "conn=%llu peer=%s reason=%s active=%zu handshakes=%zu",
             (unsigned long long)c->id, c->peer_ip[0] ? c->peer_ip : "-", refusal_labels[why],
             srv->nlive - 1, srv->nhandshakes);
    conn_close(c, "refused");
}

/* Closes a connection still in its handshake, to make room: the oldest
 * among those that have not sent a byte yet (a flood of idle connections)
 * or, when none, among the others; and among the oldest EVICT_SCAN of
 * them, one from the address holding the most handshakes, so that a
 * client arriving from elsewhere is not pushed out by a flood from a few
 * addresses. */
static void evict_oldest_handshake(cdx_server_t *srv, const char *budget)
{
    conn_t *old = srv->hs_head[HS_SILENT] ? srv->hs_head[HS_SILENT] : srv->hs_head[HS_TALKING];
    if (old == NULL)
        return;
    size_t scanned = 0;
    for (conn_t *c = old->hs_next; c != NULL && ++scanned < EVICT_SCAN; c = c->hs_next) {
        if (c->addr_slot->n > old->addr_slot->n)
            old = c;
    }
    srv->m.conns_evicted++;
    CDX_WARN("conn.evicted", "conn=%llu peer=%s budget=%s age_ms=%llu",
             (unsigned long long)old->id, old->peer_ip, budget,
             (unsigned long long)(cdx_now_ms() - old->accepted_ms));
    conn_close(old, "evicted");
}

static void on_connection(uv_stream_t *listener, int status)
{
    cdx_server_t *srv = listener->data;
    if (status < 0) {
        CDX_WARN("server.accept_failed", "error=%s", cdx_log_q(uv_strerror(status)));
        return;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->plain = malloc(PLAIN_BUF_SIZE)) == NULL) {
        free(c);
        /* Accept and drop, or the listener would spin on this connection. */
        uv_tcp_t *tmp = malloc(sizeof *tmp);
        if (tmp != NULL && uv_tcp_init(srv->loop, tmp) == 0) {
            if (uv_accept(listener, (uv_stream_t *)tmp) == 0)
                srv->m.conns_refused[REFUSED_NO_MEMORY]++;
            uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
        } else {
            free(tmp);
        }
        return;
    }
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->refs = 1;
    c->accepted_ms = cdx_now_ms();
    c->state = C_HANDSHAKE;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->nlive++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, "accept_failed");
        return;
    }
    srv->m.conns_total++;
    if (srv->stopping) {
        refuse_conn(c, REFUSED_SHUTTING_DOWN);
        return;
    }
    if (peer_address(c) != 0) {
        conn_close(c, "peer_gone");
        return;
    }
    /* Budgets, so that clients who never finish a handshake cannot hold
     * every slot: first the address's own share of handshakes (it cannot
     * push anyone out beyond it), then room in the handshake budget and
     * under max_connections, made by closing the oldest connection still
     * in its handshake. */
    const cdx_config_t *cfg = srv->cfg;
    if (slot_count(srv, KEY_ADDR, c->addr_key, c->addr_len) >=
        (size_t)cfg->max_handshakes_per_ip) {
        refuse_conn(c, REFUSED_PER_IP);
        return;
    }
    size_t hs_budget = (size_t)CDX_MIN(cfg->max_handshakes, cfg->max_connections);
    if (srv->nlive > (size_t)cfg->max_connections) {
        if (srv->nhandshakes == 0) {
            refuse_conn(c, REFUSED_MAX_CONNECTIONS);
            return;
        }
        evict_oldest_handshake(srv, "max_connections");
    }
    if (srv->nhandshakes >= hs_budget)
        evict_oldest_handshake(srv, "max_handshakes");
    c->addr_slot = slot_acquire(srv, KEY_ADDR, c->addr_key, c->addr_len);
    if (c->addr_slot == NULL) {
        refuse_conn(c, REFUSED_NO_MEMORY);
        return;
    }
    c->in_handshake = 1;
    hs_append(c, HS_SILENT);
    srv->nhandshakes++;
    uv_tcp_nodelay(&c->tcp, 1);
    if (cdx_tls_conn_new(srv->tls, &c->tls) != 0 ||
        cdx_http_parser_new(&srv->limits, &c->http) != 0) {
        conn_close(c, "out_of_memory");
        return;
    }
    CDX_DEBUG("conn.open", "conn=%llu peer=%s", (unsigned long long)c->id, c->peer_ip);
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_arm_timer(c);
}

/* ---- shutdown ---------------------------------------------------------- */

static void server_finish(cdx_server_t *srv)
{
    if (srv->finished)
        return;
    srv->finished = 1;
    uv_timer_stop(&srv->shutdown_timer);
    uv_timer_stop(&srv->crl_timer);
    uv_close((uv_handle_t *)&srv->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&srv->crl_timer, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    if (srv->stop_hook != NULL)
        srv->stop_hook(srv->app);
    CDX_INFO("server.stopped", "connections_served=%llu", (unsigned long long)srv->m.conns_total);
}

static void server_check_drained(cdx_server_t *srv)
{
    if (srv->stopping && srv->nconns == 0 && srv->jobs == 0)
        server_finish(srv);
}

static void on_shutdown_timer(uv_timer_t *t)
{
    cdx_server_t *srv = t->data;
    CDX_WARN("server.shutdown_timeout", "open_connections=%zu", srv->nconns);
    for (conn_t *c = srv->conns; c != NULL; c = c->next)
        conn_close(c, "shutdown_timeout");
}

void cdx_server_stop(cdx_server_t *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    CDX_INFO("server.stopping", "open_connections=%zu jobs=%zu", srv->nconns, srv->jobs);
    if (srv->started)
        uv_close((uv_handle_t *)&srv->listener, NULL);
    for (conn_t *c = srv->conns; c != NULL; c = c->next) {
        int idle = c->state == C_HANDSHAKE ||
                   (c->state == C_READ && cdx_http_parser_bytes_seen(c->http) == 0);
        if (idle)
            conn_close(c, "shutting_down");
        else
            c->close_after = 1;
    }
    uv_timer_start(&srv->shutdown_timer, on_shutdown_timer, (uint64_t)srv->cfg->shutdown_timeout_ms,
                   0);
    server_check_drained(srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cdx_server_t *srv = h->data;
    if (srv->stopping) {
        CDX_WARN("server.abort", "signal=%d", signum);
        _exit(1);
    }
    CDX_INFO("server.signal", "signal=%d", signum);
    cdx_server_stop(srv);
}

static void on_crl_timer(uv_timer_t *t)
{
    cdx_server_t *srv = t->data;
    char err[512];
    if (cdx_tls_server_reload_crl(srv->tls, err, sizeof err) != 0)
        CDX_ERROR("tls.crl_reload_failed", "reason=%s", cdx_log_q(err));
    else
        CDX_DEBUG("tls.crl_reloaded", "file=%s", cdx_log_q(srv->cfg->tls_crl));
}

/* ---- setup ------------------------------------------------------------- */

int cdx_server_reload_institutions(cdx_server_t *srv)
{
    cdx_institution_t *insts = NULL;
    size_t n = 0;
    int rc = cdx_registry_list_institutions(srv->reg, &insts, &n);
    if (rc != 0)
        return rc;
    rc = cdx_tls_server_set_institutions(srv->tls, insts, n);
    free(insts);
    if (rc == 0)
        CDX_INFO("server.institutions", "count=%zu", n);
    return rc;
}

int cdx_server_new(void *uv_loop, const cdx_config_t *cfg, cdx_registry_t *reg,
                   const cdx_route_t *routes, size_t nroutes, cdx_server_t **out, char *err,
                   size_t errlen)
{
    cdx_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return CDX_ENOMEM;
    srv->loop = uv_loop;
    srv->cfg = cfg;
    srv->reg = reg;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->limits.max_request_line = (size_t)cfg->max_request_line_bytes;
    srv->limits.max_header_bytes = (size_t)cfg->max_header_bytes;
    srv->limits.max_headers = (size_t)cfg->max_headers;
    srv->limits.max_body = (uint64_t)cfg->max_body_bytes;
    srv->m.buckets = calloc(nroutes + 1, sizeof *srv->m.buckets);
    srv->m.sum = calloc(nroutes + 1, sizeof *srv->m.sum);
    srv->m.count = calloc(nroutes + 1, sizeof *srv->m.count);
    srv->nslots = 64;
    while (srv->nslots < (size_t)cfg->max_connections)
        srv->nslots <<= 1;
    srv->slots = calloc(srv->nslots, sizeof *srv->slots);
    if (srv->m.buckets == NULL || srv->m.sum == NULL || srv->m.count == NULL ||
        srv->slots == NULL) {
        cdx_server_free(srv);
        return CDX_ENOMEM;
    }
    cdx_tls_options_t opt = {
        .cert_file = cfg->tls_cert,
        .key_file = cfg->tls_key,
        .client_ca_file = cfg->tls_client_ca,
        .crl_file = cfg->tls_crl,
        .require_client_cert = 1,
    };
    int rc = cdx_tls_server_new(&opt, &srv->tls, err, errlen);
    if (rc != 0) {
        cdx_server_free(srv);
        return rc;
    }
    rc = cdx_server_reload_institutions(srv);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read institutions from the registry: %s", cdx_strerror(rc));
        cdx_server_free(srv);
        return rc;
    }
    /* The thread pool reads its size once, at the first job. */
    char threads[16];
    snprintf(threads, sizeof threads, "%lld", (long long)cfg->worker_threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1);
    *out = srv;
    return 0;
}

void cdx_server_free(cdx_server_t *srv)
{
    if (srv == NULL)
        return;
    cdx_tls_server_free(srv->tls);
    free(srv->m.buckets);
    free(srv->m.sum);
    free(srv->m.count);
    for (size_t i = 0; srv->slots != NULL && i < srv->nslots; i++) {
        while (srv->slots[i] != NULL) {
            slot_count_t *e = srv->slots[i];
            srv->slots[i] = e->next;
            free(e);
        }
    }
    free(srv->slots);
    free(srv);
}

int cdx_server_start(cdx_server_t *srv, char *err, size_t errlen)
{
    const cdx_config_t *cfg = srv->cfg;
    char host[64];
    int port;
    struct sockaddr_storage addr;
    if (cdx_config_parse_listen(cfg->listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "listen: '%s' is not ADDR:PORT", cfg->listen);
        return CDX_ECONFIG;
    }
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc == 0)
        rc = uv_tcp_init(srv->loop, &srv->listener);
    if (rc != 0) {
        snprintf(err, errlen, "listen: %s: %s", cfg->listen, uv_strerror(rc));
        return rc;
    }
    srv->listener.data = srv;
    srv->started = 1;
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "listen: cannot listen on %s: %s", cfg->listen, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    uv_signal_init(srv->loop, &srv->sigterm);
    uv_signal_init(srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(srv->loop, &srv->shutdown_timer);
    uv_timer_init(srv->loop, &srv->crl_timer);
    srv->shutdown_timer.data = srv->crl_timer.data = srv;
    if (cfg->tls_crl[0] != '\0')
        uv_timer_start(&srv->crl_timer, on_crl_timer, (uint64_t)cfg->crl_reload_ms,
                       (uint64_t)cfg->crl_reload_ms);
    CDX_INFO("server.listening",
             "addr=%s port=%d max_connections=%lld max_handshakes=%lld workers=%lld", host,
             srv->port, (long long)cfg->max_connections,
             (long long)CDX_MIN(cfg->max_handshakes, cfg->max_connections),
             (long long)cfg->worker_threads);
    return 0;
}

int cdx_server_port(const cdx_server_t *srv)
{
    return srv->port;
}

cdx_registry_t *cdx_server_registry(cdx_server_t *srv)
{
    return srv->reg;
}

const cdx_config_t *cdx_server_config(cdx_server_t *srv)
{
    return srv->cfg;
}
