/* audit_export: `cdxgw audit export`, the audit records as FHIR R4
 * AuditEvent NDJSON or RFC 5424 syslog lines, streamed (see
 * include/cdx/cmd/cli.h). */
#include "cdx/cmd/cli.h"
#include "cdx/api/params.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct export_state {
    FILE *out;
    int fhir;
    char host[256];
    cdx_buf_t line; /* one record at a time: memory stays bounded */
    int64_t n;
} export_state_t;

static int write_record(void *arg, const cdx_audit_record_t *rec)
{
    export_state_t *x = arg;
    cdx_buf_reset(&x->line);
    int rc = 0;
    if (x->fhir) {
        json_t *o = cdx_audit_record_fhir(rec);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        rc = text == NULL ? CDX_ENOMEM : cdx_buf_puts(&x->line, text);
        free(text);
        if (rc == 0)
            rc = cdx_buf_puts(&x->line, "\n");
    } else {
        rc = cdx_audit_record_syslog(rec, x->host, &x->line);
    }
    if (rc == 0 && fwrite(x->line.data, 1, x->line.len, x->out) != x->line.len)
        rc = CDX_EIO;
    if (rc == 0)
        x->n++;
    return rc;
}

/* --from / --to as the records' time prefix; "" when absent. */
static int time_bound(const char *value, const char *name, char out[24])
{
    char key[CDX_TIME_KEY_LEN];
    out[0] = '\0';
    if (value == NULL)
        return 0;
    if (cdx_time_key(value, key) != 0) {
        fprintf(stderr, "cdxgw: %s: not a time (ISO 8601 or HL7 TS)\n", name);
        return 2;
    }
    cdx_audit_ts_of_key(key, out);
    return 0;
}

static int run_export(const cdx_config_t *cfg, export_state_t *x, const char *from, const char *to)
{
    char path[CDX_PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/registry.db", cfg->data_dir);
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, err);
        return 2;
    }
    cdx_audit_filter_t f = {.from = from[0] ? from : NULL, .before = to[0] ? to : NULL};
    int rc = cdx_registry_audit_each(reg, &f, write_record, x);
    if (rc == 0 && fflush(x->out) != 0)
        rc = CDX_EIO;
    if (rc != 0)
        fprintf(stderr, "cdxgw: export failed after %lld records: %s %s\n", (long long)x->n,
                cdx_strerror(rc), cdx_registry_errmsg(reg));
    cdx_registry_close(reg);
    return rc == 0 ? 0 : 1;
}

int cdx_cmd_audit_export(int argc, char **argv)
{
    const char *format = NULL, *from = NULL, *to = NULL, *out_path = NULL;
    if (cdx_cli_take_option(&argc, argv, "--format", &format) != 0 ||
        cdx_cli_take_option(&argc, argv, "--from", &from) != 0 ||
        cdx_cli_take_option(&argc, argv, "--to", &to) != 0 ||
        cdx_cli_take_option(&argc, argv, "--out", &out_path) != 0)
        return 2;
    if (format == NULL || (strcmp(format, "fhir") != 0 && strcmp(format, "syslog") != 0)) {
        fprintf(stderr, "cdxgw: audit export needs --format fhir or --format syslog\n");
        return 2;
    }
    char from_ts[24], to_ts[24];
    if (time_bound(from, "--from", from_ts) != 0 || time_bound(to, "--to", to_ts) != 0)
        return 2;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(argc, argv, &cfg, NULL, 0);
    if (rc != 0) {
        cdx_config_cleanup(&cfg);
        return rc;
    }
    export_state_t x = {.fhir = strcmp(format, "fhir") == 0, .out = stdout};
    if (gethostname(x.host, sizeof x.host) != 0)
        x.host[0] = '\0';
    x.host[sizeof x.host - 1] = '\0';
    cdx_buf_init(&x.line, 1u << 20);
    if (out_path != NULL && (x.out = fopen(out_path, "w")) == NULL) {
        fprintf(stderr, "cdxgw: cannot write %s: %s\n", out_path, strerror(errno));
        rc = 2;
    } else {
        rc = run_export(&cfg, &x, from_ts, to_ts);
        if (out_path != NULL && fclose(x.out) != 0 && rc == 0) {
            fprintf(stderr, "cdxgw: cannot write %s: %s\n", out_path, strerror(errno));
            rc = 1;
        }
        if (rc == 0 && out_path != NULL)
            fprintf(stderr, "cdxgw: %lld audit records written to %s\n", (long long)x.n, out_path);
    }
    cdx_buf_cleanup(&x.line);
    cdx_config_cleanup(&cfg);
    return rc;
}
