/* cli: configuration loading, registry set-up and `cdxgw serve` (see include/cdx/cmd/cli.h). */
#include "cdx/cmd/cli.h"
#include "cdx/conf/institution.h"
#include "cdx/api/app.h"
#include "cdx/api/delivery.h"
#include "cdx/api/routes.h"
#include "cdx/parsers/xml.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/store/registry.h"
#include "cdx/net/server.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

int cdx_cli_load_config(int argc, char **argv, cdx_config_t *cfg, int *print_config, int need_tls)
{
    char err[1024];
    const char *config_path = NULL;
    if (print_config != NULL)
        *print_config = 0;
    /* The file first, so the command line overrides it whatever the order. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cdxgw: --config needs a file name\n");
                return 2;
            }
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        }
    }
    if (config_path != NULL && cdx_config_load_file(cfg, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: configuration refused: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "--config=", 9) == 0)
            continue;
        if (strcmp(arg, "--print-config") == 0 && print_config != NULL) {
            *print_config = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "cdxgw %s: unexpected argument '%s' (see --help)\n", argv[0], arg);
            return 2;
        }
        char key[128];
        const char *value;
        const char *eq = strchr(arg, '=');
        if (eq != NULL) {
            size_t klen = (size_t)(eq - arg - 2);
            if (klen >= sizeof key) {
                fprintf(stderr, "cdxgw: unknown option %s\n", arg);
                return 2;
            }
            memcpy(key, arg + 2, klen);
            key[klen] = '\0';
            value = eq + 1;
        } else {
            if (cdx_strlcpy(key, arg + 2, sizeof key) != 0 || i + 1 >= argc) {
                fprintf(stderr, "cdxgw %s: option %s needs a value (or is unknown; see --help)\n",
                        argv[0], arg);
                return 2;
            }
            value = argv[++i];
        }
        if (cdx_config_set(cfg, key, value, err, sizeof err) != 0) {
            fprintf(stderr, "cdxgw: configuration refused: %s\n", err);
            return 2;
        }
    }
    if (cdx_config_finish(cfg, err, sizeof err) != 0 ||
        (need_tls && cdx_config_require_tls(cfg, err, sizeof err) != 0)) {
        fprintf(stderr, "cdxgw: configuration refused: %s\n", err);
        return 2;
    }
    cdx_log_level_t level = CDX_LOG_INFO;
    cdx_log_level_parse(cfg->log_level, &level);
    cdx_log_set_level(level);
    return 0;
}

static int register_all(cdx_registry_t *reg, const cdx_institution_t *insts, size_t n,
                        const char *source)
{
    for (size_t i = 0; i < n; i++) {
        int rc = cdx_registry_put_institution(reg, &insts[i], "local:config");
        if (rc != 0) {
            fprintf(stderr, "cdxgw: cannot register institution %s from %s: %s\n", insts[i].oid,
                    source, rc == CDX_ECONFLICT
                                ? "one of its certificate fingerprints belongs to another "
                                  "institution"
                                : cdx_strerror(rc));
            return rc == CDX_ECONFLICT ? 2 : 1;
        }
    }
    return 0;
}

int cdx_cli_open_registry(const cdx_config_t *cfg, cdx_registry_t **out)
{
    char path[CDX_PATH_MAX + 32], err[512];
    cdx_registry_t *reg = NULL;
    snprintf(path, sizeof path, "%s/registry.db", cfg->data_dir);
    int rc = cdx_registry_open(path, &reg, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, err);
        return 1;
    }
    rc = register_all(reg, cfg->institutions, cfg->ninstitutions, "the configuration file");
    if (rc == 0 && cfg->institutions_file[0] != '\0') {
        cdx_institution_t *insts = NULL;
        size_t n = 0;
        if (cdx_institutions_file_load(cfg->institutions_file, &insts, &n, err, sizeof err) != 0) {
            fprintf(stderr, "cdxgw: institutions_file refused: %s\n", err);
            rc = 2;
        } else {
            rc = register_all(reg, insts, n, cfg->institutions_file);
        }
        free(insts);
    }
    if (rc != 0) {
        cdx_registry_close(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

static int app_metrics(void *arg, cdx_buf_t *out)
{
    cdx_app_t *app = arg;
    unsigned long long batches = 0, changes = 0;
    if (app->writer == NULL)
        return 0;
    cdx_writer_stats(app->writer, &batches, &changes);
    if (cdx_app_access_metrics(app, out) != 0)
        return CDX_ENOMEM;
    if (cdx_delivery_metrics(app->delivery, out) != 0)
        return CDX_ENOMEM;
    return cdx_buf_printf(out,
                          "# HELP cdxgw_registry_commits_total Registry transactions committed "
                          "(group commits).\n# TYPE cdxgw_registry_commits_total counter\n"
                          "cdxgw_registry_commits_total %llu\n"
                          "# HELP cdxgw_registry_changes_total Changes written to the registry.\n"
                          "# TYPE cdxgw_registry_changes_total counter\n"
                          "cdxgw_registry_changes_total %llu\n"
                          "# HELP cdxgw_registry_write_queue Changes waiting for the writer.\n"
                          "# TYPE cdxgw_registry_write_queue gauge\n"
                          "cdxgw_registry_write_queue %zu\n",
                          batches, changes, cdx_writer_pending(app->writer));
}

/* The server's settings, taken from the configuration (strings borrowed
 * from cfg).  Returns 0 or CDX_ECONFIG with the reason in err. */
static int net_config(const cdx_config_t *cfg, cdx_net_config_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (cdx_config_parse_listen(cfg->listen, out->listen_host, sizeof out->listen_host,
                                &out->listen_port) != 0) {
        snprintf(err, errlen, "listen: '%s' is not ADDR:PORT", cfg->listen);
        return CDX_ECONFIG;
    }
    out->listen = cfg->listen;
    out->tls_cert = cfg->tls_cert;
    out->tls_key = cfg->tls_key;
    out->tls_client_ca = cfg->tls_client_ca;
    out->tls_crl = cfg->tls_crl;
    out->crl_reload_ms = cfg->crl_reload_ms;
    out->max_body_bytes = cfg->max_body_bytes;
    out->max_request_line_bytes = cfg->max_request_line_bytes;
    out->max_header_bytes = cfg->max_header_bytes;
    out->max_headers = cfg->max_headers;
    out->max_connections = cfg->max_connections;
    out->max_handshakes = cfg->max_handshakes;
    out->max_handshakes_per_ip = cfg->max_handshakes_per_ip;
    out->max_connections_per_institution = cfg->max_connections_per_institution;
    out->handshake_timeout_ms = cfg->handshake_timeout_ms;
    out->header_timeout_ms = cfg->header_timeout_ms;
    out->body_timeout_ms = cfg->body_timeout_ms;
    out->body_min_rate_bps = cfg->body_min_rate_bps;
    out->body_rate_grace_ms = cfg->body_rate_grace_ms;
    out->keepalive_timeout_ms = cfg->keepalive_timeout_ms;
    out->write_timeout_ms = cfg->write_timeout_ms;
    out->write_high_water_bytes = cfg->write_high_water_bytes;
    out->max_jobs = cfg->max_jobs;
    out->worker_threads = cfg->worker_threads;
    out->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    out->metrics_loopback = cfg->metrics_loopback;
    return 0;
}

/* The server's institution source: the registry (arg). */
static int registry_institutions(void *arg, cdx_institution_t **out, size_t *n, char *err,
                                 size_t errlen)
{
    int rc = cdx_registry_list_institutions(arg, out, n);
    if (rc != 0)
        snprintf(err, errlen, "cannot read institutions from the registry: %s", cdx_strerror(rc));
    return rc;
}

int cdx_cli_run_server(const cdx_config_t *cfg, void (*on_ready)(int port, void *arg), void *arg)
{
    char err[1024];
    cdx_registry_t *reg = NULL;
    cdx_server_t *srv = NULL;
    cdx_net_config_t net;
    cdx_app_t app;
    int app_ready = 0;
    uv_loop_t loop;
    int rc = cdx_cli_open_registry(cfg, &reg);
    if (rc != 0)
        return rc;
    if (uv_loop_init(&loop) != 0) {
        cdx_registry_close(reg);
        return 1;
    }
    cdx_routes_init();
    rc = cdx_app_init(&app, cfg, err, sizeof err);
    app_ready = 1;
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot start: %s\n", err);
        rc = rc == CDX_ECONFIG ? 2 : 1;
        goto out;
    }
    rc = net_config(cfg, &net, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot start: %s\n", err);
        rc = 1;
        goto out;
    }
    size_t nroutes = 0;
    const cdx_route_t *routes = cdx_routes_table(&nroutes);
    rc = cdx_server_new(&loop, &net, registry_institutions, reg, routes, nroutes, &srv, err,
                        sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot start: %s\n", err);
        rc = rc == CDX_ETLS ? 2 : 1;
        goto out;
    }
    /* Everything is compiled: from now on the entity loader reads nothing. */
    cdx_xml_seal();
    cdx_server_set_app(srv, &app);
    cdx_server_set_stop_hook(srv, cdx_app_stop_writer);
    cdx_server_set_metrics_hook(srv, app_metrics);
    cdx_server_set_reject_hook(srv, cdx_app_on_reject);
    cdx_server_set_deny_hook(srv, cdx_app_on_deny);
    /* The writer signs a checkpoint every audit_checkpoint_records records. */
    rc = cdx_registry_set_audit_key(reg, app.audit_key, app.cfg->audit_checkpoint_records);
    if (rc == 0)
        rc = cdx_app_start_writer(&app, &loop, reg);
    if (rc != 0)
        snprintf(err, sizeof err, "cannot start the registry writer: %s", cdx_strerror(rc));
    if (rc == 0)
        rc = cdx_delivery_start(&app, &loop, err, sizeof err);
    if (rc == 0)
        rc = cdx_server_start(srv, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot start: %s\n", err);
        cdx_server_stop(srv);
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = 1;
        goto out;
    }
    if (on_ready != NULL)
        on_ready(cdx_server_port(srv), arg);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (app_ready)
        cdx_app_stop_writer(&app);
    if (app_ready && app.audit_key != NULL && rc == 0) {
        /* A clean shutdown signs where the trail stands. */
        int64_t at = 0;
        int crc = cdx_registry_audit_checkpoint(reg, &at);
        if (crc != 0)
            CDX_WARN("audit.checkpoint_failed", "error=%s", cdx_log_q(cdx_strerror(crc)));
        else
            CDX_INFO("audit.checkpoint", "seq=%lld", (long long)at);
    }
    cdx_registry_set_audit_key(reg, NULL, 0);
    cdx_server_free(srv);
    if (uv_loop_close(&loop) != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    if (app_ready)
        cdx_app_cleanup(&app);
    cdx_registry_close(reg);
    return rc;
}

static void serve_help(void)
{
    printf("usage: cdxgw serve [--config FILE] [--print-config] [--KEY VALUE]...\n\n"
           "Runs the gateway in the foreground; logs go to stderr, one key=value line per\n"
           "event.  SIGTERM or SIGINT stops it gracefully (a second one at once).\n"
           "Every configuration key can be given in the file (key = value) or here\n"
           "(--key value or --key=value; dashes or underscores).\n\n"
           "  --config FILE     configuration file; relative paths in it are relative to it\n"
           "  --print-config    print the effective configuration (secrets masked) and exit\n\n"
           "Configuration keys:\n");
    cdx_config_help(stdout);
}

int cdx_cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            serve_help();
            return 0;
        }
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int print = 0;
    int rc = cdx_cli_load_config(argc, argv, &cfg, &print, 1);
    if (rc == 0 && print) {
        cdx_config_print(&cfg, stdout);
    } else if (rc == 0) {
        rc = cdx_cli_run_server(&cfg, NULL, NULL);
    }
    cdx_config_cleanup(&cfg);
    return rc;
}
