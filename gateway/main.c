/* cdxgw: the command dispatcher. */
#include "cdx/cli.h"
#include "cdx/common.h"
#include "cdx/testvfs.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cdx_cmd_serve, "run the gateway (foreground; logs to stderr)"},
    {"demo", cdx_cmd_demo, "create demo certificates and configuration, then serve"},
    {"validate", cdx_cmd_validate, "run the pipeline on files without storing; print issues"},
    {"import", cdx_cmd_import, "bulk-load files and folders of CDA documents"},
    {"reindex", cdx_cmd_reindex, "re-normalize stored documents after a mapping change"},
    {"audit", cdx_cmd_audit, "audit verify: check the audit hash chain"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cdxgw COMMAND [OPTIONS]\n\n"
                 "cdxgw is a clinical document exchange gateway for HL7 CDA R2.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < CDX_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n  cdxgw COMMAND --help   help on one command\n"
                 "  cdxgw --version        print the version\n\n"
                 "Exit codes: 0 success, 1 failure at run time, 2 usage or configuration error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("cdxgw %s%s\n", CDX_VERSION, CDX_TEST_BUILD_NOTE);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "cdxgw: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
