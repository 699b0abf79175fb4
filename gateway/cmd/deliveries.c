/* deliveries: `cdxgw deliveries list|retry`, the outbox for operators
 * (see include/cdx/cmd/cli.h). */
#include "cdx/api/deliveries.h"
#include "cdx/base/common.h"
#include "cdx/cmd/cli.h"
#include "cdx/domain/audit_events.h"
#include "cdx/store/outbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_MAX 1000

static int usage(int rc)
{
    printf("usage: cdxgw deliveries list [--status pending|delivered|dead] [--destination OID]\n"
           "                             [--limit N] [--config FILE] [--KEY VALUE]...\n"
           "       cdxgw deliveries retry ID [--config FILE]\n"
           "       cdxgw deliveries retry --dead [--config FILE]\n\n"
           "list prints the outbox newest first, one JSON object a line.  retry makes\n"
           "delivery ID (pending or dead) or every dead delivery pending again, due now,\n"
           "with its attempts and age counted afresh; a running gateway picks it up at its\n"
           "next look.  Exit 0 done, 1 nothing matched, 2 bad usage or registry error.\n");
    return rc;
}

typedef struct opts {
    const char *action;
    const char *status;
    const char *destination;
    long limit;
    int64_t id;
    int dead;
} opts_t;

/* Takes this command's own arguments out of argv (the rest is the
 * configuration's).  Returns 0 or 2. */
static int read_opts(int argc, char **argv, opts_t *o, int *rest_argc, char **rest)
{
    *o = (opts_t){.action = argv[1], .limit = 50};
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--status") == 0 && i + 1 < argc) {
            o->status = argv[++i];
        } else if (strcmp(a, "--destination") == 0 && i + 1 < argc) {
            o->destination = argv[++i];
        } else if (strcmp(a, "--limit") == 0 && i + 1 < argc) {
            o->limit = strtol(argv[++i], NULL, 10);
        } else if (strcmp(a, "--dead") == 0) {
            o->dead = 1;
        } else if (a[0] != '-' && o->id == 0 && strcmp(o->action, "retry") == 0) {
            char *end = NULL;
            long long v = strtoll(a, &end, 10);
            if (end == a || *end != '\0' || v <= 0)
                return 2;
            o->id = v;
        } else {
            rest[n++] = argv[i];
        }
    }
    *rest_argc = n;
    if (o->limit < 1 || o->limit > LIST_MAX)
        return 2;
    if (o->status != NULL && strcmp(o->status, "pending") != 0 &&
        strcmp(o->status, "delivered") != 0 && strcmp(o->status, "dead") != 0)
        return 2;
    if (strcmp(o->action, "retry") == 0 && (o->id == 0) == (o->dead == 0))
        return 2;
    return 0;
}

static int list(cdx_registry_t *reg, const opts_t *o)
{
    cdx_delivery_t *rows = calloc((size_t)o->limit, sizeof *rows);
    size_t n = 0;
    int rc = rows ? cdx_outbox_list(reg, o->status, o->destination, 0, rows, (size_t)o->limit, &n)
                  : CDX_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *j = cdx_delivery_json(&rows[i]);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        json_decref(j);
    }
    free(rows);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot list deliveries: %s\n", cdx_strerror(rc));
        return 2;
    }
    return n > 0 ? 0 : 1;
}

static int retry(cdx_registry_t *reg, const opts_t *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char detail[64];
    if (o->id > 0)
        snprintf(detail, sizeof detail, "delivery=%lld", (long long)o->id);
    else
        snprintf(detail, sizeof detail, "delivery=dead");
    cdx_audit_event_t ev = {.event = CDX_AUDIT_DELIVERY_RETRY,
                            .actor_oid = "local:deliveries",
                            .outcome = CDX_AUDIT_SUCCESS,
                            .detail = detail};
    int64_t count = 0;
    int rc = cdx_registry_begin(reg);
    if (rc == 0)
        rc = cdx_outbox_retry(reg, o->id, now, &ev, &count);
    if (rc == 0)
        rc = cdx_registry_commit(reg);
    else
        cdx_registry_rollback(reg);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot retry: %s\n", cdx_strerror(rc));
        return 2;
    }
    printf("%lld deliveries pending again\n", (long long)count);
    return count > 0 ? 0 : 1;
}

int cdx_cmd_deliveries(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0)
        return usage(argc >= 2 ? 0 : 2);
    if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "retry") != 0)
        return usage(2);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (rest == NULL)
        return 2;
    opts_t o;
    int nrest = 0;
    if (read_opts(argc, argv, &o, &nrest, rest) != 0) {
        free(rest);
        return usage(2);
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(nrest, rest, &cfg, NULL, 0);
    free(rest);
    if (rc != 0) {
        cdx_config_cleanup(&cfg);
        return 2;
    }
    char path[CDX_PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/registry.db", cfg.data_dir);
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, err);
        cdx_config_cleanup(&cfg);
        return 2;
    }
    rc = strcmp(o.action, "list") == 0 ? list(reg, &o) : retry(reg, &o);
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return rc;
}
