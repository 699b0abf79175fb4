/*
 * net_internal: what the server's files share (private to gateway/net/).
 *
 * The server is one object spread over files by concern: server.c (its
 * life: creation, signals, timers, shutdown, the application's hooks),
 * listener.c (binding, accepting within the connection budgets), conn.c
 * (a connection's life: TLS pumping, reading, writing with backpressure,
 * timeouts, lingering close), dispatch.c (request heads, routing, role
 * checks, refusals and their audit), respond.c (responses and problem
 * bodies), jobs.c (CPU jobs and held requests) and metrics.c.
 *
 * Everything here runs on the loop thread, except a job's work function.
 */
#ifndef CDX_NET_INTERNAL_H
#define CDX_NET_INTERNAL_H

#include "cdx/net/server.h"
#include "cdx/net/tls.h"

#include <uv.h>

#define READ_BUF_SIZE  65536
#define PLAIN_BUF_SIZE 16384
#define LINGER_MS      2000
#define MAX_COUNTERS   512
/* How many of the oldest handshakes are weighed when one must be evicted. */
#define EVICT_SCAN 64
/* After body_rate_grace_ms, how often the minimum body rate is checked. */
#define RATE_CHECK_MS 500

/* The request latency histogram's bucket bounds (metrics.c), and its
 * buckets: one per bound and one above them all. */
#define NLATENCY_BOUNDS 12
#define NBUCKETS        (NLATENCY_BOUNDS + 1)

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
/* The labels, indexed by refusal_t (metrics.c). */
extern const char *const cdx_net_refusal_labels[REFUSED_COUNT];

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
    const cdx_net_config_t *cfg;
    cdx_institutions_fn institutions; /* where the TLS layer's institutions come from */
    void *institutions_arg;
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
    size_t nconns; /* until freed, closing ones included */
    size_t nlive;  /* not closing: what max_connections bounds */
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
    void (*reject_hook)(void *app, const cdx_route_t *route, const char *peer_oid,
                        const char *peer_addr, int status,
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
    conn_t *hs_prev, *hs_next; /* in srv->hs_head[hs_list] while in_handshake */
    int in_handshake;
    int hs_list;              /* HS_SILENT or HS_TALKING */
    slot_count_t *addr_slot;  /* held while in_handshake */
    slot_count_t *inst_slot;  /* held while authenticated and open */
    int over_institution_cap; /* answer 503 to the first request */
    cdx_tls_conn_t *tls;
    cdx_http_parser_t *http;
    int reading;
    int in_pump;
    int close_after;  /* no further request on this connection */
    int route_status; /* 0, 404 or 405 (decided at the headers) */
    int discard;      /* the body is read and dropped */
    char allow[64];
    size_t write_queued;
    uint64_t accepted_ms, idle_since_ms, req_start_ms, body_start_ms, last_body_ms, last_write_ms,
        rate_check_ms;
    uint64_t handled_ns; /* uv_hrtime() when the request was dispatched */
    unsigned nrequests;
    cdx_request_t rq;
    int responded;
    /* A streamed response (stream.c): its producer while it runs. */
    int streaming;
    cdx_stream_pull_fn stream_pull;
    void (*stream_release)(void *arg);
    void *stream_arg;
    char *stream_buf;
    uint64_t stream_bytes;
    int stream_status, stream_route;
    char *plain;
    size_t plain_len, plain_off;
    char readbuf[READ_BUF_SIZE];
};

/* server.c: the server's life. */

/* Installs the signal handlers and the shutdown and CRL timers (at start). */
void cdx_net_server_watch(cdx_server_t *srv);
/* Finishes a stopping server once its connections and jobs are gone. */
void cdx_net_server_check_drained(cdx_server_t *srv);

/* listener.c: accepting, and the budgets connections count against. */

/* Releases one count of a slot (NULL: nothing). */
void cdx_net_slot_release(cdx_server_t *srv, slot_count_t *e);
/* The connection's first bytes arrived during its handshake. */
void cdx_net_conn_handshake_talking(conn_t *c);
/* The connection's handshake ended: it leaves the handshake budget. */
void cdx_net_conn_leave_handshake(conn_t *c);
/* The connection authenticated as peer (may be NULL): it counts against
 * its institution's share, or is marked to be refused at its first request. */
void cdx_net_conn_admit_institution(conn_t *c, const cdx_institution_t *peer);

/* conn.c: a connection's life. */

/* Starts reading a newly accepted connection and arms its timer. */
void cdx_net_conn_start(conn_t *c);
/* Closes at once (idempotent); c is freed after its handles close and its
 * last reference goes. */
void cdx_net_conn_close(conn_t *c, const char *reason);
/* Ends the connection after its last response (close_notify, half-close, linger). */
void cdx_net_conn_finish(conn_t *c);
void cdx_net_conn_unref(conn_t *c);
/* Moves data through TLS and the HTTP parser. */
void cdx_net_conn_pump(conn_t *c);
/* Encrypts and queues plaintext for the socket. */
void cdx_net_conn_send(conn_t *c, const void *data, size_t len);
/* A response went out: the next request, or the end of the connection. */
void cdx_net_conn_after_response(conn_t *c);

/* dispatch.c: from a request head to its handler. */

/* The request head is complete: route, check the role, decide about the body. */
void cdx_net_dispatch_headers(conn_t *c);
/* The request is complete (or refused at its head): answer or call its handler. */
void cdx_net_dispatch_request(conn_t *c);
/* A framing error or timeout: answer, audit, then close without parsing more. */
void cdx_net_respond_fatal(conn_t *c, int status, const char *code, const char *detail);
/* The first request of a connection over its institution's share: 503. */
void cdx_net_refuse_over_institution_cap(conn_t *c);

/* respond.c: responses. */

/* An application/problem+json response for route (an index, or -1). */
void cdx_net_respond_problem_raw(conn_t *c, int status, const char *code, const char *detail,
                                 const char *issues, const char *extra, int route);

/* stream.c: streamed responses. */

/* Pulls and sends chunks while the socket's queue is below its high water. */
void cdx_net_stream_pump(conn_t *c);
/* The connection closes mid-stream: the producer is released. */
void cdx_net_stream_abort(conn_t *c);

/* metrics.c */

/* Counts one answered request and its latency under route (an index, or -1). */
void cdx_net_metrics_request(cdx_server_t *srv, int route, int status, double seconds);
/* The route's metrics label ("unmatched" for -1). */
const char *cdx_net_route_label(const cdx_server_t *srv, int route);

#endif
