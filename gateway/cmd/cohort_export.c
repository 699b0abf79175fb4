/* cohort_export: `cdxgw cohort export ID --format F --out FILE`, a stored
 * cohort exported offline with the rules of GET /v1/cohorts/{id}/export
 * (see include/cdx/api/cohort_export.h): the cohort's own institution's
 * research project, the small-cell refusal, opt-outs and confidentiality
 * left out, and an audit record (cohort.export, actor `local:cohort`).
 * A line on stderr says how far it is (persons done / total). */
#include "cdx/cmd/cli.h"
#include "cdx/api/cohort_export.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/store/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(int rc)
{
    printf("usage: cdxgw cohort export ID --format ndjson|csv|omop --out FILE\n"
           "                          [--config FILE] [--KEY VALUE]...\n\n"
           "Writes the de-identified records of the persons of stored cohort ID (as\n"
           "GET /v1/cohorts/{id}/export answers them, with the research project of the\n"
           "cohort's institution) to FILE, printing persons done / total on stderr.\n"
           "Audited (cohort.export, actor local:cohort).  Exit 0 written, 1 failed,\n"
           "2 usage or configuration, 3 refused (unknown cohort, too small, no project).\n");
    return rc;
}

/* On a terminal, one line rewritten as persons are done; otherwise a line
 * at each tenth of the way (and at the end), not one per step. */
typedef struct progress_state {
    int tty;
    size_t shown; /* tenths shown */
} progress_state_t;

static void progress(void *arg, size_t done, size_t total)
{
    progress_state_t *p = arg;
    size_t tenths = total > 0 ? done * 10 / total : 10;
    if (!p->tty && tenths <= p->shown && done < total)
        return;
    p->shown = tenths;
    fprintf(stderr, "%scohort export: %zu / %zu persons%s", p->tty ? "\r" : "", done, total,
            p->tty && done < total ? "" : "\n");
    fflush(stderr);
}

static int audit(cdx_registry_t *reg, const cdx_cohort_export_t *x)
{
    char detail[320];
    cdx_cohort_export_detail(x, detail, sizeof detail);
    int refused = x->status != 0;
    cdx_audit_event_t rec = {.event = CDX_AUDIT_COHORT_EXPORT,
                             .actor_oid = "local:cohort",
                             .purpose = "HRESCH",
                             .outcome = refused ? CDX_AUDIT_MINOR_FAILURE : CDX_AUDIT_SUCCESS,
                             .detail = detail};
    return cdx_registry_audit(reg, &rec);
}

/* Long: argument handling, then export, audit and the file's rename in order. */
int cdx_cmd_cohort_export(int argc, char **argv)
{
    if (argc < 3 || argv[2][0] == '-')
        return usage(argc >= 3 && strcmp(argv[2], "--help") == 0 ? 0 : 2);
    const char *uid = argv[2], *out_path = NULL, *fmt = "ndjson";
    char **cargv = calloc((size_t)argc + 1, sizeof *cargv);
    int cargc = 0;
    if (cargv == NULL)
        return 1;
    cargv[cargc++] = argv[1];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            fmt = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else
            cargv[cargc++] = argv[i];
    }
    cdx_export_format_t format;
    if (out_path == NULL || cdx_export_format_parse(fmt, &format) != 0) {
        fprintf(stderr, "cdxgw: cohort export needs --format ndjson|csv|omop and --out FILE\n");
        free(cargv);
        return 2;
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(cargc, cargv, &cfg, NULL, 0);
    free(cargv);
    cdx_registry_t *reg = NULL;
    FILE *out = NULL;
    char tmp[CDX_PATH_MAX + 16], path[CDX_PATH_MAX + 32], msg[512];
    if (rc != 0)
        goto out;
    snprintf(path, sizeof path, "%s/registry.db", cfg.data_dir);
    if (cdx_registry_open(path, &reg, msg, sizeof msg) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, msg);
        rc = 2;
        goto out;
    }
    /* Written beside the target and renamed at the end: a failed export
     * leaves no file that looks whole. */
    snprintf(tmp, sizeof tmp, "%s.part", out_path);
    out = fopen(tmp, "wb");
    if (out == NULL) {
        fprintf(stderr, "cdxgw: cannot write %s\n", tmp);
        rc = 2;
        goto out;
    }
    progress_state_t ps = {.tty = isatty(2), .shown = 0};
    cdx_cohort_export_t x;
    rc = cdx_cohort_export_run(reg, &cfg, uid, NULL, format, out, progress, &ps, &x, msg,
                               sizeof msg);
    if (rc == 0 || rc == CDX_EDENIED) {
        int arc = audit(reg, &x);
        if (arc != 0 && rc == 0)
            rc = arc;
    }
    if (fclose(out) != 0 && rc == 0)
        rc = CDX_EIO;
    out = NULL;
    if (rc == CDX_EDENIED) {
        fprintf(stderr, "cdxgw: cohort export refused: %s\n", x.code);
        remove(tmp);
        rc = 3;
    } else if (rc != 0 || rename(tmp, out_path) != 0) {
        fprintf(stderr, "cdxgw: cohort export: %s (%s)\n", cdx_strerror(rc != 0 ? rc : CDX_EIO),
                msg);
        remove(tmp);
        rc = 1;
    } else {
        fprintf(stderr, "cdxgw: cohort export: %lld persons, %lld facts to %s\n",
                (long long)x.counts.persons, (long long)x.counts.facts, out_path);
    }
out:
    if (out != NULL) {
        fclose(out);
        remove(tmp);
    }
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return rc;
}
