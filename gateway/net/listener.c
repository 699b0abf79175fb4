/* listener: binding, accepting, and the budgets connections count against:
 * handshakes overall and per client address (evicting the oldest
 * unauthenticated ones), max_connections, connections per institution
 * (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void cdx_net_slot_release(cdx_server_t *srv, slot_count_t *e)
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
void cdx_net_conn_handshake_talking(conn_t *c)
{
    if (!c->in_handshake || c->hs_list == HS_TALKING)
        return;
    hs_unlink(c);
    hs_append(c, HS_TALKING);
}

/* The connection's handshake ended (done, failed or closed): it leaves
 * the handshake budget and its address's count. */
void cdx_net_conn_leave_handshake(conn_t *c)
{
    if (!c->in_handshake)
        return;
    cdx_server_t *srv = c->srv;
    c->in_handshake = 0;
    hs_unlink(c);
    srv->nhandshakes--;
    cdx_net_slot_release(srv, c->addr_slot);
    c->addr_slot = NULL;
}

/* An authenticated connection counts against its institution's share; one
 * beyond max_connections_per_institution is kept only to tell the client
 * why at its first request (a TLS-level close would look like a network
 * fault). */
void cdx_net_conn_admit_institution(conn_t *c, const cdx_institution_t *peer)
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
                 cdx_net_refusal_labels[REFUSED_PER_INSTITUTION], peer->oid);
        return;
    }
    c->inst_slot = slot_acquire(srv, KEY_INSTITUTION, peer->oid, oidlen);
    if (c->inst_slot == NULL)
        cdx_net_conn_close(c, "out_of_memory");
}

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
             (unsigned long long)c->id, c->peer_ip[0] ? c->peer_ip : "-",
             cdx_net_refusal_labels[why], srv->nlive - 1, srv->nhandshakes);
    cdx_net_conn_close(c, "refused");
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
    CDX_WARN("conn.evicted", "conn=%llu peer=%s budget=%s age_ms=%llu", (unsigned long long)old->id,
             old->peer_ip, budget, (unsigned long long)(cdx_now_ms() - old->accepted_ms));
    cdx_net_conn_close(old, "evicted");
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
        cdx_net_conn_close(c, "accept_failed");
        return;
    }
    srv->m.conns_total++;
    if (srv->stopping) {
        refuse_conn(c, REFUSED_SHUTTING_DOWN);
        return;
    }
    if (peer_address(c) != 0) {
        cdx_net_conn_close(c, "peer_gone");
        return;
    }
    /* Budgets, so that clients who never finish a handshake cannot hold
     * every slot: first the address's own share of handshakes (it cannot
     * push anyone out beyond it), then room in the handshake budget and
     * under max_connections, made by closing the oldest connection still
     * in its handshake. */
    const cdx_net_config_t *cfg = srv->cfg;
    if (slot_count(srv, KEY_ADDR, c->addr_key, c->addr_len) >= (size_t)cfg->max_handshakes_per_ip) {
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
        cdx_net_conn_close(c, "out_of_memory");
        return;
    }
    cdx_net_conn_start(c);
}

int cdx_server_start(cdx_server_t *srv, char *err, size_t errlen)
{
    const cdx_net_config_t *cfg = srv->cfg;
    const char *host = cfg->listen_host;
    int port = cfg->listen_port;
    struct sockaddr_storage addr;
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
    cdx_net_server_watch(srv);
    CDX_INFO("server.listening",
             "addr=%s port=%d max_connections=%lld max_handshakes=%lld workers=%lld", host,
             srv->port, (long long)cfg->max_connections,
             (long long)CDX_MIN(cfg->max_handshakes, cfg->max_connections),
             (long long)cfg->worker_threads);
    return 0;
}
