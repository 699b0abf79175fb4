/* metrics: request counters, latency histograms and connection, TLS and job
 * counts in Prometheus text format (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
_Static_assert(CDX_ARRAY_SIZE(latency_bounds) == NLATENCY_BOUNDS,
               "NLATENCY_BOUNDS counts latency_bounds");

const char *const cdx_net_refusal_labels[REFUSED_COUNT] = {
#define REFUSAL_LABEL(name, label) label,
    REFUSALS(REFUSAL_LABEL)
#undef REFUSAL_LABEL
};

void cdx_net_metrics_request(cdx_server_t *srv, int route, int status, double seconds)
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

const char *cdx_net_route_label(const cdx_server_t *srv, int route)
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
                             cdx_net_route_label(srv, m->counters[i].route), m->counters[i].status,
                             (unsigned long long)m->counters[i].count);
    rc |= cdx_buf_puts(out, "# HELP cdxgw_http_request_duration_seconds Time from the end of "
                            "the request head to the response, by route.\n"
                            "# TYPE cdxgw_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= srv->nroutes; r++) {
        if (m->count[r] == 0)
            continue;
        const char *label = cdx_net_route_label(srv, r == srv->nroutes ? -1 : (int)r);
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
                             cdx_net_refusal_labels[r], (unsigned long long)m->conns_refused[r]);
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
