/*
 * cdxgw-export: throughput and peak memory of research exports over a
 * registry of synthetic persons (one that `cdxgw-cohort --keep` built).
 *
 *   cdxgw-export --db PATH [--formats ndjson,csv,omop] [--out DIR] [--json FILE]
 *
 * Counts every person of the registry as one cohort (`any` of the two
 * sexes), keeps it as a research institution's cohort, then exports it in
 * each format with cdx_cohort_export_run, as the worker of
 * GET /v1/cohorts/{id}/export and `cdxgw cohort export` do (a project key
 * in a scratch folder, dates shifted), into a file in --out.  For each
 * format: persons and facts written, bytes, wall and CPU seconds, persons
 * per second, and the process's peak resident memory during the export
 * (VmHWM, reset before each one through /proc/self/clear_refs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cdx/api/cohort_export.h"
#include "cdx/base/common.h"
#include "cdx/conf/config.h"
#include "cdx/parsers/cohort.h"
#include "cdx/store/registry.h"

static const char UID[] = "0123456789abcdef0123456789abcdef";
static const char OWNER[] = "2.25.7901";

static double now_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Peak resident memory in KiB since the last reset. */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return v;
}

static void reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

/* The cohort of everyone, kept under UID for OWNER. */
static int keep_everyone(cdx_registry_t *reg, int64_t *n)
{
    static const char def_text[] = "{\"any\": [{\"sex\": \"M\"}, {\"sex\": \"F\"}]}";
    cdx_cohort_def_t *def = NULL;
    cdx_cohort_error_t err;
    cdx_cohort_eval_t ev = {0};
    int rc = cdx_cohort_parse(def_text, strlen(def_text), &def, &err);
    if (rc == 0)
        rc = cdx_registry_cohort_eval(reg, def, (int32_t)(time(NULL) / 86400), &ev);
    cdx_cohort_refusal_t why;
    cdx_cohort_put_t put = {.uid = UID, .institution_oid = OWNER,
                            .definition_sha256 = "bench", .persons = ev.persons, .n = ev.n,
                            .answer = "{}", .threshold = 11};
    if (rc == 0)
        rc = cdx_registry_begin(reg);
    if (rc == 0) {
        rc = cdx_registry_cohort_put(reg, &put, &why);
        rc = rc == 0 ? cdx_registry_commit(reg) : (cdx_registry_rollback(reg), rc);
    }
    *n = (int64_t)ev.n;
    cdx_cohort_eval_free(&ev);
    cdx_cohort_def_free(def);
    return rc;
}

/* Long: arguments, the cohort, then one timed export per format. */
int main(int argc, char **argv)
{
    const char *db = NULL, *formats = "ndjson,csv,omop", *dir = "/tmp/cdxgw-export-bench",
               *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db = argv[++i];
        else if (strcmp(argv[i], "--formats") == 0 && i + 1 < argc)
            formats = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json = argv[++i];
        else {
            fprintf(stderr, "usage: cdxgw-export --db PATH [--formats ndjson,csv,omop] "
                            "[--out DIR] [--json FILE]\n");
            return 2;
        }
    }
    if (db == NULL) {
        fprintf(stderr, "cdxgw-export: --db PATH (a registry from cdxgw-cohort --keep)\n");
        return 2;
    }
    mkdir(dir, 0700);
    char path[4096];
    snprintf(path, sizeof path, "%s/projects.conf", dir);
    FILE *pf = fopen(path, "w");
    if (pf == NULL)
        return 1;
    fprintf(pf, "[research_project]\ninstitution = %s\nkey_file = bench.key\n", OWNER);
    fclose(pf);
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    cdx_strlcpy(cfg.research_projects_file, path, sizeof cfg.research_projects_file);
    cdx_strlcpy(cfg.data_dir, dir, sizeof cfg.data_dir);
    cfg.research_min_cell = 11;
    cdx_registry_t *reg = NULL;
    char msg[512];
    if (cdx_registry_open(db, &reg, msg, sizeof msg) != 0) {
        fprintf(stderr, "cdxgw-export: %s: %s\n", db, msg);
        return 1;
    }
    int64_t n = 0;
    double t0 = now_s(CLOCK_MONOTONIC);
    int rc = keep_everyone(reg, &n);
    if (rc != 0) {
        fprintf(stderr, "cdxgw-export: counting: %s (%s)\n", cdx_strerror(rc),
                cdx_registry_errmsg(reg));
        return 1;
    }
    printf("cohort of %lld persons counted and kept in %.1f s\n", (long long)n,
           now_s(CLOCK_MONOTONIC) - t0);
    FILE *jf = json != NULL ? fopen(json, "a") : NULL;
    char list[64];
    cdx_strlcpy(list, formats, sizeof list);
    char *save = NULL;
    for (char *f = strtok_r(list, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save)) {
        cdx_export_format_t format;
        if (cdx_export_format_parse(f, &format) != 0) {
            fprintf(stderr, "cdxgw-export: unknown format %s\n", f);
            return 2;
        }
        snprintf(path, sizeof path, "%s/export.%s", dir, f);
        FILE *out = fopen(path, "wb");
        if (out == NULL)
            return 1;
        reset_hwm();
        long before = vm_hwm_kib();
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        cdx_cohort_export_t x;
        rc = cdx_cohort_export_run(reg, &cfg, UID, OWNER, format, out, NULL, NULL, &x, msg,
                                   sizeof msg);
        double wall = now_s(CLOCK_MONOTONIC) - w0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        long peak = vm_hwm_kib();
        long bytes = ftell(out);
        fclose(out);
        if (rc != 0) {
            fprintf(stderr, "cdxgw-export: %s: %s (%s)\n", f, cdx_strerror(rc), msg);
            return 1;
        }
        printf("%-6s persons=%lld facts=%lld bytes=%ld wall=%.1fs cpu=%.1fs persons/s=%.0f "
               "peak_rss_mib=%.1f (at start %.1f)\n",
               f, (long long)x.counts.persons, (long long)x.counts.facts, bytes, wall, cpu,
               (double)x.counts.persons / wall, (double)peak / 1024, (double)before / 1024);
        if (jf != NULL)
            fprintf(jf,
                    "{\"format\":\"%s\",\"persons\":%lld,\"facts\":%lld,\"bytes\":%ld,"
                    "\"wall_s\":%.2f,\"cpu_s\":%.2f,\"persons_per_s\":%.0f,"
                    "\"peak_rss_kib\":%ld}\n",
                    f, (long long)x.counts.persons, (long long)x.counts.facts, bytes, wall, cpu,
                    (double)x.counts.persons / wall, peak);
    }
    if (jf != NULL)
        fclose(jf);
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return 0;
}
