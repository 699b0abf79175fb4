/* audit: `cdxgw audit verify`, recomputing the registry's audit hash chain
 * and checking its signed checkpoints, and `cdxgw audit checkpoint`,
 * signing one now (see include/cdx/cmd/cli.h). */
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_sign.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    printf("usage: cdxgw audit verify [--key PUBLIC.pem] [--config FILE] [--KEY VALUE]...\n"
           "       cdxgw audit checkpoint [--config FILE] [--KEY VALUE]...\n"
           "       cdxgw audit export --format fhir|syslog [--from T] [--to T] [--out FILE]\n"
           "                          [--config FILE] [--KEY VALUE]...\n\n"
           "verify      recomputes the audit hash chain of the registry and checks every\n"
           "            signed checkpoint against it and against the public key (--key, as\n"
           "            served at GET /v1/audit/key; else the public half of\n"
           "            audit_signing_key_file when that file exists); exit 0 when intact,\n"
           "            1 when broken (the first bad record is named), 2 on other errors\n"
           "checkpoint  signs a checkpoint of the last audit record with\n"
           "            audit_signing_key_file (created when missing)\n"
           "export      writes the audit records as FHIR R4 AuditEvent NDJSON or RFC 5424\n"
           "            syslog lines, oldest first, to FILE or standard output; --from and\n"
           "            --to bound the record time (ISO 8601, inclusive)\n");
}

int cdx_cli_take_option(int *argc, char **argv, const char *name, const char **value)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        if (i + 1 >= *argc) {
            fprintf(stderr, "cdxgw: %s needs a value\n", name);
            return 2;
        }
        *value = argv[i + 1];
        for (int j = i; j + 2 <= *argc; j++)
            argv[j] = argv[j + 2];
        *argc -= 2;
        return 0;
    }
    return 0;
}

static int open_registry(const cdx_config_t *cfg, cdx_registry_t **reg)
{
    char path[CDX_PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/registry.db", cfg->data_dir);
    if (cdx_registry_open(path, reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, err);
        return 2;
    }
    return 0;
}

/* The key to verify with: --key, else the signing key's public half when
 * its file exists, else none (*key NULL). */
static int verify_key(const cdx_config_t *cfg, const char *key_path, cdx_audit_key_t **key)
{
    char err[512];
    *key = NULL;
    if (key_path == NULL && access(cfg->audit_signing_key_file, R_OK) == 0)
        key_path = cfg->audit_signing_key_file;
    if (key_path == NULL)
        return 0;
    if (cdx_audit_key_load_public(key_path, key, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot read the audit public key: %s\n", err);
        return 2;
    }
    return 0;
}

static int run_verify(cdx_config_t *cfg, const char *key_path)
{
    cdx_audit_key_t *key = NULL;
    cdx_registry_t *reg = NULL;
    int rc = verify_key(cfg, key_path, &key);
    if (rc == 0)
        rc = open_registry(cfg, &reg);
    if (rc != 0) {
        cdx_audit_key_free(key);
        return rc;
    }
    cdx_audit_check_t check;
    int vrc = cdx_registry_audit_check(reg, key, &check);
    if (vrc == 0) {
        printf("audit chain intact: %lld records, %lld checkpoints", (long long)check.records,
               (long long)check.checkpoints);
        if (check.checkpoints > 0)
            printf(" (last at seq %lld)", (long long)check.last_checkpoint);
        if (key == NULL && check.checkpoints > 0)
            printf("; signatures not checked: no public key (--key)");
        else if (key != NULL)
            printf("; signatures verified with key %s", cdx_audit_key_id(key));
        if (check.last_seq > check.last_checkpoint)
            printf("; records after seq %lld are not yet covered by a signature",
                   (long long)check.last_checkpoint);
        printf("\n");
        rc = 0;
    } else if (vrc == CDX_ECONFLICT) {
        printf("audit chain broken at seq %lld: %s\n", (long long)check.bad_seq, check.reason);
        rc = 1;
    } else {
        fprintf(stderr, "cdxgw: cannot verify: %s: %s\n", cdx_strerror(vrc),
                cdx_registry_errmsg(reg));
        rc = 2;
    }
    cdx_registry_close(reg);
    cdx_audit_key_free(key);
    return rc;
}

static int run_checkpoint(cdx_config_t *cfg)
{
    char err[512];
    cdx_audit_key_t *key = NULL;
    cdx_registry_t *reg = NULL;
    if (cdx_audit_key_load(cfg->audit_signing_key_file, 1, &key, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: %s\n", err);
        return 2;
    }
    int rc = open_registry(cfg, &reg);
    if (rc == 0) {
        int64_t at = 0;
        int crc = cdx_registry_set_audit_key(reg, key, 0);
        if (crc == 0)
            crc = cdx_registry_audit_checkpoint(reg, &at);
        if (crc == 0 && at > 0) {
            printf("checkpoint signed at seq %lld (key %s)\n", (long long)at,
                   cdx_audit_key_id(key));
        } else if (crc == 0) {
            printf("the audit trail is empty: nothing to sign\n");
        } else {
            fprintf(stderr, "cdxgw: cannot sign a checkpoint: %s: %s\n", cdx_strerror(crc),
                    cdx_registry_errmsg(reg));
            rc = 2;
        }
        cdx_registry_set_audit_key(reg, NULL, 0);
        cdx_registry_close(reg);
    }
    cdx_audit_key_free(key);
    return rc;
}

int cdx_cmd_audit(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    if (argc < 2 || strcmp(sub, "--help") == 0 ||
        (strcmp(sub, "verify") != 0 && strcmp(sub, "checkpoint") != 0 &&
         strcmp(sub, "export") != 0)) {
        usage();
        return argc >= 2 && strcmp(sub, "--help") == 0 ? 0 : 2;
    }
    if (strcmp(sub, "export") == 0)
        return cdx_cmd_audit_export(argc - 1, argv + 1);
    int sargc = argc - 1;
    char **sargv = argv + 1;
    const char *key_path = NULL;
    if (strcmp(sub, "verify") == 0 && cdx_cli_take_option(&sargc, sargv, "--key", &key_path) != 0)
        return 2;
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(sargc, sargv, &cfg, NULL, 0);
    if (rc == 0)
        rc = strcmp(sub, "verify") == 0 ? run_verify(&cfg, key_path) : run_checkpoint(&cfg);
    cdx_config_cleanup(&cfg);
    return rc;
}
