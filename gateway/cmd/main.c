/* cdxgw: the command dispatcher. */
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/store/testvfs.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

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
    {"audit", cdx_cmd_audit, "audit verify|checkpoint|export: check, sign or export the audit trail"},
    {"deliveries", cdx_cmd_deliveries, "deliveries list|retry: the outbox of deliveries"},
    {"cohort", cdx_cmd_cohort, "cohort run: count a research cohort definition offline; cohort export: de-identified records of a stored cohort"},
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

/* Allocator settings (glibc), before any thread exists, so that the
 * memory of a large document goes back to the system once it is freed
 * (measured in docs/PERFORMANCE.md, "Memory after large documents"):
 *  - no fastbins: libxml2 frees a tree as a million small blocks; in
 *    fastbins they stay unmerged, so a worker thread's arena never sees a
 *    free top it could give back.  Merged at free, they return to the
 *    top of the arena, which glibc then shrinks.  (No measurable CPU cost
 *    on the pipeline.)
 *  - a fixed 1 MB mmap threshold: glibc would otherwise raise it each time
 *    a large block is freed (up to 32 MB), after which request bodies of
 *    several MB come from the heap and stay resident once freed.
 *  - an 8 MB trim threshold: with glibc's 128 KB, every document's trees
 *    grew the heap with brk and gave it back when freed, so the next
 *    document faulted the same pages in again (page faults and brk were
 *    about a tenth of the pipeline's CPU on 100 KB documents).  Up to
 *    8 MB free at the top of each arena now stay for the next document.
 * The pipeline also calls malloc_trim after large documents
 * (gateway/domain/ingest.c). */
static void tune_allocator(void)
{
    mallopt(M_MXFAST, 0);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

int main(int argc, char **argv)
{
    tune_allocator();
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
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc = commands[i].run(argc - 1, argv + 1);
            /* Join libuv's worker threads now rather than in libuv's own
             * destructor at exit: libxml2's destructor may run first and
             * delete the thread-local key of its per-thread state, and the
             * state of every worker thread would then never be freed. */
            uv_library_shutdown();
            return rc;
        }
    }
    fprintf(stderr, "cdxgw: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
