/* cohort: `cdxgw cohort run FILE`, a cohort definition counted offline on
 * the registry, with the rules of POST /v1/cohorts (see
 * include/cdx/cmd/cli.h): the same evaluation, the same suppression of
 * small counts, and an audit record (cohort.query, actor `local:cohort`).
 * Nothing is kept: an offline count is not compared with the cohorts of
 * research institutions. */
#include "cdx/cmd/cli.h"
#include "cdx/api/cohorts.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/parsers/cohort.h"
#include "cdx/store/registry.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(int rc)
{
    printf("usage: cdxgw cohort run FILE [--breakdown sex,age_band,institution]\n"
           "                          [--config FILE] [--KEY VALUE]...\n"
           "       cdxgw cohort export ID --format ndjson|csv|omop --out FILE (see its --help)\n\n"
           "Counts the persons of the registry matching the cohort definition in FILE\n"
           "(JSON, as POST /v1/cohorts takes it) and prints the answer the API would\n"
           "give: counts below research_min_cell are reported as suppressed.  The count\n"
           "is audited (cohort.query, actor local:cohort).  Exit 0 counted, 1 failed,\n"
           "2 usage, configuration or an invalid definition (its JSON path is named).\n");
    return rc;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(CDX_COHORT_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, CDX_COHORT_MAX_BYTES + 1, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

static int audit(cdx_registry_t *reg, const char *sha, const cdx_cohort_eval_t *ev,
                 int64_t min_cell)
{
    char detail[256];
    snprintf(detail, sizeof detail, "route=cli.cohort sha256=%s status=200 size=%s%lld", sha,
             ev->n > 0 && (int64_t)ev->n < min_cell ? "suppressed" : "",
             ev->n > 0 && (int64_t)ev->n < min_cell ? 0LL : (long long)ev->n);
    cdx_audit_event_t rec = {.event = CDX_AUDIT_COHORT_QUERY,
                             .actor_oid = "local:cohort",
                             .purpose = "HRESCH",
                             .outcome = CDX_AUDIT_SUCCESS,
                             .detail = detail};
    return cdx_registry_audit(reg, &rec);
}

/* Long: argument handling, then read, evaluate, audit and print in order. */
int cdx_cmd_cohort(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return cdx_cmd_cohort_export(argc, argv);
    if (argc < 3 || strcmp(argv[1], "run") != 0)
        return usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2);
    const char *file = argv[2];
    unsigned dims = 0;
    char **cargv = calloc((size_t)argc + 1, sizeof *cargv);
    int cargc = 0;
    if (cargv == NULL)
        return 1;
    cargv[cargc++] = argv[1];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--breakdown") == 0 && i + 1 < argc) {
            if (cdx_cohort_dims_parse(argv[++i], &dims) != 0) {
                fprintf(stderr, "cdxgw: --breakdown is a list of sex, age_band, institution\n");
                free(cargv);
                return 2;
            }
        } else {
            cargv[cargc++] = argv[i];
        }
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(cargc, cargv, &cfg, NULL, 0);
    free(cargv);
    size_t len = 0;
    char *text = rc == 0 ? read_file(file, &len) : NULL;
    cdx_cohort_def_t *def = NULL;
    cdx_registry_t *reg = NULL;
    cdx_cohort_eval_t ev = {0};
    cdx_cohort_cell_t *cells = NULL;
    size_t ncells = 0;
    char *answer = NULL;
    if (rc != 0)
        goto out;
    if (text == NULL) {
        fprintf(stderr, "cdxgw: cannot read %s\n", file);
        rc = 2;
        goto out;
    }
    cdx_cohort_error_t err;
    if (cdx_cohort_parse(text, len, &def, &err) != 0) {
        fprintf(stderr, "cdxgw: %s: COHORT_INVALID at %s: %s\n", file, err.path, err.detail);
        rc = 2;
        goto out;
    }
    char path[CDX_PATH_MAX + 32], msg[512];
    snprintf(path, sizeof path, "%s/registry.db", cfg.data_dir);
    if (cdx_registry_open(path, &reg, msg, sizeof msg) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, msg);
        rc = 2;
        goto out;
    }
    unsigned char md[32];
    unsigned mdlen = 0;
    char sha[65];
    EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", md[i]);
    int32_t today = cdx_cohort_today();
    rc = cdx_registry_cohort_eval(reg, def, today, &ev);
    if (rc == 0 && dims != 0)
        rc = cdx_registry_cohort_breakdown(reg, ev.persons, ev.n, dims, today, &cells, &ncells);
    if (rc == 0)
        rc = audit(reg, sha, &ev, cfg.research_min_cell);
    if (rc == 0 && (answer = cdx_cohort_answer(NULL, sha, &ev, cells, ncells, dims,
                                               cfg.research_min_cell)) == NULL)
        rc = CDX_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cohort: %s (%s)\n", cdx_strerror(rc), cdx_registry_errmsg(reg));
        rc = 1;
        goto out;
    }
    printf("%s\n", answer);
out:
    free(answer);
    free(cells);
    cdx_cohort_eval_free(&ev);
    cdx_registry_close(reg);
    cdx_cohort_def_free(def);
    free(text);
    cdx_config_cleanup(&cfg);
    return rc;
}
