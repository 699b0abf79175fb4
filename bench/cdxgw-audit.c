/* cdxgw-audit: the audit trail at registry scale: appending records (with a
 * signed checkpoint every --every records), verifying chain and signatures,
 * and exporting as FHIR AuditEvent NDJSON and as RFC 5424 syslog lines.
 *
 *   cdxgw-audit [--records N] [--every K] [--dir DIR] [--self-test]
 *
 * Prints one line per phase: records, seconds, records/s, and the process's
 * peak resident size after it (the exports stream: it must not grow with
 * N). --self-test runs 3,000 records and checks the counts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_format.h"
#include "cdx/domain/audit_sign.h"
#include "cdx/store/registry.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void report(const char *phase, long long n, double secs)
{
    printf("%-14s %9lld records %8.2f s %10.0f records/s  peak RSS %ld KiB\n", phase, n, secs,
           secs > 0 ? (double)n / secs : 0.0, peak_rss_kb());
    fflush(stdout);
}

typedef struct sink {
    FILE *out;
    int fhir;
    cdx_buf_t line;
    long long n;
} sink_t;

static int write_one(void *arg, const cdx_audit_record_t *rec)
{
    sink_t *s = arg;
    cdx_buf_reset(&s->line);
    int rc = 0;
    if (s->fhir) {
        json_t *o = cdx_audit_record_fhir(rec);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        rc = text != NULL ? cdx_buf_puts(&s->line, text) : CDX_ENOMEM;
        free(text);
        if (rc == 0)
            rc = cdx_buf_puts(&s->line, "\n");
    } else {
        rc = cdx_audit_record_syslog(rec, "bench", &s->line);
    }
    if (rc == 0 && fwrite(s->line.data, 1, s->line.len, s->out) != s->line.len)
        rc = CDX_EIO;
    s->n++;
    return rc;
}

/* Appends n records, 1,000 per transaction, as the writer's batches do. */
static int fill(cdx_registry_t *reg, long long n)
{
    static const char *const events[] = {"document.read", "document.query", "document.ingest"};
    char detail[64], key[33], doc[33];
    for (long long i = 0; i < n;) {
        if (cdx_registry_begin(reg) != 0)
            return 1;
        for (int k = 0; k < 1000 && i < n; k++, i++) {
            snprintf(detail, sizeof detail, "form=metadata n=%lld", i);
            snprintf(key, sizeof key, "%032llx", (unsigned long long)(i % 100000));
            snprintf(doc, sizeof doc, "%032llx", (unsigned long long)(i * 7919));
            cdx_audit_event_t ev = {.event = events[i % 3],
                                    .actor_oid = "2.25.83570720227913622468059417429842681918",
                                    .actor_user = "dr-kim",
                                    .purpose = i % 50 ? "TREAT" : "ETREAT",
                                    .patient_key = key,
                                    .document_id = doc,
                                    .detail = detail,
                                    .peer = "192.0.2.7",
                                    .decision = "allowed"};
            if (cdx_registry_audit(reg, &ev) != 0)
                return 1;
        }
        if (cdx_registry_commit(reg) != 0)
            return 1;
    }
    return 0;
}

static int export_phase(cdx_registry_t *reg, int fhir, long long expect)
{
    sink_t s = {.fhir = fhir, .out = fopen("/dev/null", "w")};
    if (s.out == NULL)
        return 1;
    cdx_buf_init(&s.line, 1u << 20);
    cdx_audit_filter_t f = {0};
    double t = now_s();
    int rc = cdx_registry_audit_each(reg, &f, write_one, &s);
    report(fhir ? "export fhir" : "export syslog", s.n, now_s() - t);
    cdx_buf_cleanup(&s.line);
    fclose(s.out);
    return rc != 0 || s.n != expect;
}

int main(int argc, char **argv)
{
    long long n = 200000, every = 1000;
    const char *dir = NULL;
    int self_test = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc)
            every = atoll(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--self-test") == 0)
            self_test = 1, n = 3000;
        else {
            fprintf(stderr, "usage: cdxgw-audit [--records N] [--every K] [--dir DIR] "
                            "[--self-test]\n");
            return 2;
        }
    }
    char tmpl[] = "/tmp/cdxgw-audit-XXXXXX", path[1200], keypath[1200], err[512];
    int own_dir = dir == NULL;
    if (own_dir && (dir = mkdtemp(tmpl)) == NULL)
        return 2;
    snprintf(path, sizeof path, "%s/registry.db", dir);
    snprintf(keypath, sizeof keypath, "%s/audit-ed25519.key", dir);
    cdx_audit_key_t *key = NULL;
    cdx_registry_t *reg = NULL;
    if (cdx_audit_key_load(keypath, 1, &key, err, sizeof err) != 0 ||
        cdx_registry_open(path, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw-audit: %s\n", err);
        return 2;
    }
    int bad = cdx_registry_set_audit_key(reg, key, every);
    printf("cdxgw-audit: %lld records, a checkpoint every %lld, registry %s\n", n, every, path);
    double t = now_s();
    bad |= fill(reg, n);
    report("append", n, now_s() - t);
    cdx_audit_check_t check;
    t = now_s();
    bad |= cdx_registry_audit_check(reg, key, &check) != 0;
    report("verify", check.records, now_s() - t);
    printf("%-14s %9lld checkpoints verified\n", "", (long long)check.checkpoints);
    bad |= export_phase(reg, 1, n);
    bad |= export_phase(reg, 0, n);
    if (self_test)
        bad |= check.records != n || check.checkpoints != n / every;
    cdx_registry_close(reg);
    cdx_audit_key_free(key);
    if (own_dir) {
        /* The folder this run made goes with it. */
        static const char *const files[] = {"registry.db", "registry.db-wal", "registry.db-shm",
                                            "audit-ed25519.key"};
        for (size_t i = 0; i < CDX_ARRAY_SIZE(files); i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    if (bad)
        fprintf(stderr, "cdxgw-audit: FAILED\n");
    return bad ? 1 : 0;
}
