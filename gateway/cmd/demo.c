/* demo: `cdxgw demo`, a ready-to-try gateway with its own small PKI. */
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/parsers/extract.h"
#include "cdx/cmd/pki.h"
#include "cdx/store/registry.h"
#include "cdx/parsers/xml.h"

#include <dirent.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fictional institutions.  Their OIDs are UUID-derived (2.25.<uuid as a
 * decimal>) so they can never collide with a real organization's OID. */
static const struct demo_inst {
    const char *name;
    const char *oid;
    const char *display;
    const char *roles;
} demo_insts[] = {
    {"hanbit", "2.25.83570720227913622468059417429842681918", "Hanbit University Hospital (Seoul)",
     "submit, query"},
    {"dasom", "2.25.20981123314685619330378792882634570198", "Dasom Family Clinic (Busan)",
     "submit, query"},
    {"riverside", "2.25.171372773189504359489447086526480295415",
     "Riverside General Hospital (Oregon, US)", "submit, query"},
    {"saebyeok", "2.25.77752322344900563177943193584290739616",
     "Saebyeok Precision Medicine Institute", "research"},
    {"netops", "2.25.197958360510862435088329063528912187104", "cdxgw Network Operations",
     "admin"},
};

typedef struct demo_ctx {
    char dir[PATH_MAX];
    char host[64];
    char sample[PATH_MAX];  /* a document of hanbit to push, "" when none */
    char sample_uid[33];    /* its registry id */
} demo_ctx_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Picks the first sample of Hanbit University Hospital and works out the
 * registry id it will get (a hash of its ClinicalDocument/id). */
static void find_sample(demo_ctx_t *ctx)
{
    char dir[PATH_MAX];
    ctx->sample[0] = '\0';
    snprintf(dir, sizeof dir, "%s/hanbit", CDX_SOURCE_SAMPLES_DIR);
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL && n < CDX_ARRAY_SIZE(names)) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".xml") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 300];
        char *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
        if (ctx->sample[0] == '\0' && names[i] != NULL &&
            cdx_read_file(path, 16u << 20, &data, &len) == 0) {
            cdx_diag_t d;
            cdx_diag_init(&d);
            xmlDocPtr doc = NULL;
            if (cdx_xml_parse(data, len, &d, &doc) == 0) {
                cdx_extract_t ex;
                if (cdx_extract(doc, &ex, NULL) == 0) {
                    if (ex.meta.unique_id != NULL) {
                        cdx_registry_doc_uid(ex.meta.unique_id, ctx->sample_uid);
                        cdx_strlcpy(ctx->sample, path, sizeof ctx->sample);
                    }
                    cdx_extract_cleanup(&ex);
                }
                xmlFreeDoc(doc);
            }
            cdx_diag_cleanup(&d);
            free(data);
        }
        free(names[i]);
    }
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int make_pki(const char *dir)
{
    char pki[PATH_MAX + 8], ca_crt[PATH_MAX + 16], ca_key[PATH_MAX + 16], crt[PATH_MAX + 64],
        key[PATH_MAX + 64];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    int rc = cdx_mkdirs(pki, 0700);
    if (rc != 0) {
        fprintf(stderr, "cdxgw demo: cannot create %s: %s\n", pki, cdx_strerror(rc));
        return 1;
    }
    snprintf(ca_crt, sizeof ca_crt, "%s/ca.crt", pki);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", pki);
    cdx_pki_ca_t *ca = NULL;
    if (exists(ca_crt) && exists(ca_key)) {
        rc = cdx_pki_ca_load(ca_crt, ca_key, &ca);
    } else {
        rc = cdx_pki_ca_create(ca_crt, ca_key, "cdxgw demo federation CA", 3650, &ca);
        if (rc == 0)
            printf("created the demo CA %s\n", ca_crt);
    }
    if (rc != 0) {
        fprintf(stderr, "cdxgw demo: cannot set up the CA in %s: %s\n", pki, cdx_strerror(rc));
        return 1;
    }
    snprintf(crt, sizeof crt, "%s/server.crt", pki);
    snprintf(key, sizeof key, "%s/server.key", pki);
    if (!exists(crt) || !exists(key)) {
        static const char *const dns[] = {"localhost"};
        static const char *const ips[] = {"127.0.0.1", "::1"};
        cdx_pki_req_t req = {.cn = "localhost", .org = "cdxgw demo gateway", .dns = dns,
                             .ndns = 1, .ips = ips, .nips = 2, .server = 1, .days = 825};
        rc = cdx_pki_issue(ca, &req, crt, key);
        if (rc != 0)
            goto fail;
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(demo_insts); i++) {
        const struct demo_inst *d = &demo_insts[i];
        char uri[160];
        snprintf(crt, sizeof crt, "%s/%s.crt", pki, d->name);
        snprintf(key, sizeof key, "%s/%s.key", pki, d->name);
        if (exists(crt) && exists(key))
            continue;
        snprintf(uri, sizeof uri, "urn:oid:%s", d->oid);
        cdx_pki_req_t req = {.cn = d->display, .org = d->display, .uri = uri, .client = 1,
                             .days = 825};
        rc = cdx_pki_issue(ca, &req, crt, key);
        if (rc != 0)
            goto fail;
    }
    cdx_pki_ca_free(ca);
    return 0;
fail:
    fprintf(stderr, "cdxgw demo: cannot issue %s: %s\n", crt, cdx_strerror(rc));
    cdx_pki_ca_free(ca);
    return 1;
}

static int write_text(const char *path, const char *text, unsigned mode)
{
    int rc = cdx_write_file_atomic(path, text, strlen(text), mode);
    if (rc != 0)
        fprintf(stderr, "cdxgw demo: cannot write %s: %s\n", path, cdx_strerror(rc));
    return rc == 0 ? 0 : 1;
}

static int write_config(const char *dir)
{
    char path[PATH_MAX + 32];
    char text[8192];
    size_t used = 0;
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "# Institutions of the cdxgw demo network (fictional).\n"
                             "# Regenerated by `cdxgw demo`; edit cdxgw.conf instead.\n");
    for (size_t i = 0; i < CDX_ARRAY_SIZE(demo_insts); i++) {
        const struct demo_inst *d = &demo_insts[i];
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "\n[institution]\noid = %s\nname = %s\nroles = %s\n"
                                 "cert_file = pki/%s.crt\n",
                                 d->oid, d->display, d->roles, d->name);
    }
    snprintf(path, sizeof path, "%s/institutions.conf", dir);
    if (write_text(path, text, 0644) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/cdxgw.conf", dir);
    if (exists(path))
        return 0; /* the operator may have edited it */
    snprintf(text, sizeof text,
             "# cdxgw demo configuration.  Every key is documented in the README and in\n"
             "# `cdxgw serve --help`; paths are relative to this file.\n"
             "listen = 127.0.0.1:8443\n"
             "data_dir = data\n"
             "tls_cert = pki/server.crt\n"
             "tls_key = pki/server.key\n"
             "tls_client_ca = pki/ca.crt\n"
             "institutions_file = institutions.conf\n"
             "log_level = info\n");
    return write_text(path, text, 0644);
}

static void print_commands(int port, void *arg)
{
    const demo_ctx_t *ctx = arg;
    const char *d = ctx->dir;
    char url[128];
    snprintf(url, sizeof url, "https://%s:%d", ctx->host, port);
    printf("\ncdxgw demo is serving on %s (Ctrl-C stops it).\n\n", url);
    printf("Health, as Hanbit University Hospital:\n"
           "curl --cacert %s/pki/ca.crt --cert %s/pki/hanbit.crt --key %s/pki/hanbit.key "
           "%s/healthz\n\n",
           d, d, d, url);
    printf("Metrics, as the network operations admin:\n"
           "curl --cacert %s/pki/ca.crt --cert %s/pki/netops.crt --key %s/pki/netops.key "
           "%s/metrics\n\n",
           d, d, d, url);
    if (ctx->sample[0] != '\0') {
        printf("Push a sample document, as Hanbit University Hospital:\n"
               "curl --cacert %s/pki/ca.crt --cert %s/pki/hanbit.crt --key %s/pki/hanbit.key "
               "-H 'Content-Type: application/xml' --data-binary @%s %s/v1/documents\n\n",
               d, d, d, ctx->sample, url);
        printf("Read it back (original bytes; add ?form=normalized for the canonical form):\n"
               "curl --cacert %s/pki/ca.crt --cert %s/pki/hanbit.crt --key %s/pki/hanbit.key "
               "%s/v1/documents/%s\n\n",
               d, d, d, url, ctx->sample_uid);
        printf("Its registry entry, as Riverside General Hospital (query role):\n"
               "curl --cacert %s/pki/ca.crt --cert %s/pki/riverside.crt --key "
               "%s/pki/riverside.key %s/v1/documents/%s/metadata\n\n",
               d, d, d, url, ctx->sample_uid);
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        printf("Check a document without storing it (nothing is sent):\n"
               "%s validate --json %s\n\n",
               n > 0 ? exe : "cdxgw", ctx->sample);
    }
    printf("Configuration: %s/cdxgw.conf; institutions: %s/institutions.conf\n\n", d, d);
    fflush(stdout);
}

int cdx_cmd_demo(int argc, char **argv)
{
    demo_ctx_t ctx;
    const char *dir = "./var/demo";
    const char *listen = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: cdxgw demo [DIR] [--listen ADDR:PORT]\n\n"
                   "Creates under DIR (default ./var/demo; reused when present) cdxgw.conf,\n"
                   "institutions.conf, pki/ca.crt and its key, a server certificate for\n"
                   "localhost and 127.0.0.1, and a client certificate and key per demo\n"
                   "institution (pki/<name>.crt, pki/<name>.key); registers the\n"
                   "institutions, serves, and prints curl commands to try.\n");
            return 0;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strncmp(argv[i], "--listen=", 9) == 0) {
            listen = argv[i] + 9;
        } else if (argv[i][0] != '-') {
            dir = argv[i];
        } else {
            fprintf(stderr, "cdxgw demo: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    int rc = cdx_mkdirs(dir, 0700);
    if (rc != 0 || realpath(dir, ctx.dir) == NULL) {
        fprintf(stderr, "cdxgw demo: cannot create %s: %s\n", dir,
                cdx_strerror(rc ? rc : -errno));
        return 1;
    }
    if (make_pki(ctx.dir) != 0 || write_config(ctx.dir) != 0)
        return 1;
    find_sample(&ctx);

    char conf[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "%s/cdxgw.conf", ctx.dir);
    char *args[6];
    int n = 0;
    args[n++] = "demo";
    args[n++] = "--config";
    args[n++] = conf;
    if (listen != NULL) {
        args[n++] = "--listen";
        args[n++] = (char *)listen;
    }
    args[n] = NULL;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    rc = cdx_cli_load_config(n, args, &cfg, NULL, 1);
    if (rc == 0) {
        int port;
        if (cdx_config_parse_listen(cfg.listen, ctx.host, sizeof ctx.host, &port) != 0 ||
            strcmp(ctx.host, "0.0.0.0") == 0 || strcmp(ctx.host, "::") == 0)
            cdx_strlcpy(ctx.host, "localhost", sizeof ctx.host);
        if (strchr(ctx.host, ':') != NULL) {
            char bracketed[70];
            snprintf(bracketed, sizeof bracketed, "[%s]", ctx.host);
            cdx_strlcpy(ctx.host, bracketed, sizeof ctx.host);
        }
        rc = cdx_cli_run_server(&cfg, print_commands, &ctx);
    }
    cdx_config_cleanup(&cfg);
    return rc;
}
