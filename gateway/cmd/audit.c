/* audit: `cdxgw audit verify`, recomputing the registry's audit hash chain
 * (see include/cdx/cmd/cli.h). */
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"

#include <stdio.h>
#include <string.h>

int cdx_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "verify") != 0) {
        printf("usage: cdxgw audit verify [--config FILE] [--KEY VALUE]...\n\n"
               "Recomputes the audit hash chain of the registry; exit 0 when intact,\n"
               "1 when broken (the first bad record is named).\n");
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    int rc = cdx_cli_load_config(argc - 1, argv + 1, &cfg, NULL, 0);
    if (rc != 0) {
        cdx_config_cleanup(&cfg);
        return rc;
    }
    char path[CDX_PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/registry.db", cfg.data_dir);
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot open the registry %s: %s\n", path, err);
        cdx_config_cleanup(&cfg);
        return 2;
    }
    int64_t bad = 0;
    rc = cdx_registry_audit_verify(reg, &bad);
    if (rc == 0) {
        printf("audit chain intact\n");
    } else if (rc == CDX_ECONFLICT) {
        printf("audit chain broken at seq %lld\n", (long long)bad);
        rc = 1;
    } else {
        fprintf(stderr, "cdxgw: cannot verify: %s\n", cdx_strerror(rc));
        rc = 2;
    }
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return rc;
}
