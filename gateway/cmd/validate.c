/* validate: `cdxgw validate`, the whole pipeline without storing (see
 * include/cdx/cmd/cli.h). */
#include "cmd_internal.h"
#include "cdx/cmd/cli.h"
#include "cdx/conf/institution.h"
#include "cdx/base/common.h"
#include "cdx/domain/facts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The institutions of the configuration (inline and institutions_file), as
 * the gateway would register them. */
static int known_from_config(const cdx_config_t *cfg, cdx_cmd_known_t *k)
{
    char err[1024];
    cdx_institution_t *file = NULL;
    size_t nfile = 0;
    if (cfg->institutions_file[0] != '\0' &&
        cdx_institutions_file_load(cfg->institutions_file, &file, &nfile, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: institutions_file refused: %s\n", err);
        return 2;
    }
    size_t n = cfg->ninstitutions + nfile;
    k->items = n ? calloc(n, sizeof *k->items) : NULL;
    if (n > 0 && k->items == NULL) {
        free(file);
        return 2;
    }
    if (cfg->ninstitutions > 0)
        memcpy(k->items, cfg->institutions, cfg->ninstitutions * sizeof *k->items);
    if (nfile > 0)
        memcpy(k->items + cfg->ninstitutions, file, nfile * sizeof *k->items);
    k->n = n;
    free(file);
    cdx_cmd_known_sort(k);
    return 0;
}

static void print_issues(const cdx_diag_t *d, FILE *out)
{
    for (size_t i = 0; i < d->nissues; i++) {
        const cdx_issue_t *is = &d->issues[i];
        fprintf(out, "  %-7s %-14s %s\n          %s\n",
                is->severity == CDX_SEV_ERROR ? "error" : "warning", is->rule,
                is->location[0] ? is->location : "-", is->message);
    }
    if (d->dropped > 0)
        fprintf(out, "  ... and %zu more issues\n", d->dropped);
}

static json_t *validate_json(const char *path, int rc, const cdx_ingest_t *in)
{
    json_error_t jerr;
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "valid", json_boolean(rc == 0));
    /* status and code are always present: null for a valid document. */
    json_object_set_new(o, "status",
                        in->diag.status != 0 ? json_integer(in->diag.status) : json_null());
    json_object_set_new(o, "code", in->diag.status != 0 ? json_string(in->diag.code) : json_null());
    if (in->diag.status != 0)
        json_object_set_new(o, "message", json_string(in->diag.message));
    json_object_set_new(o, "sha256", json_string(in->sha256));
    json_t *issues = in->issues_json ? json_loads(in->issues_json, 0, &jerr) : NULL;
    json_object_set_new(o, "issues", issues ? issues : json_array());
    json_t *meta = in->meta_json ? json_loads(in->meta_json, 0, &jerr) : NULL;
    json_object_set_new(o, "metadata", meta ? meta : json_null());
    /* The facts' text is put together from the rows here, where it is
     * shown: the pipeline makes only the rows. */
    char *facts_text = in->fact_rows != NULL ? cdx_fact_rows_join(in->fact_rows, in->nfact_rows)
                                             : NULL;
    json_t *facts = facts_text ? json_loads(facts_text, 0, &jerr) : NULL;
    free(facts_text);
    static const char *const kinds[] = {"problems",      "medications", "allergies",
                                        "results",       "vital_signs", "procedures",
                                        "immunizations", "encounters"};
    for (size_t k = 0; k < CDX_ARRAY_SIZE(kinds); k++) {
        json_t *list = facts ? json_object_get(facts, kinds[k]) : NULL;
        json_object_set_new(o, kinds[k], list ? json_incref(list) : json_array());
    }
    json_decref(facts);
    return o;
}

/* The verdict on one file, as one JSON line or as text with its issues. */
static void print_verdict(const char *path, int prc, const cdx_ingest_t *in, const char *how,
                          int json)
{
    if (json) {
        json_t *o = validate_json(path, prc, in);
        if (how[0] != '\0')
            json_object_set_new(o, "decoded", json_string(how));
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        return;
    }
    if (prc == 0)
        printf("%s: valid (%zu facts, %zu warnings, mapping %s)\n", path, in->nfacts,
               in->diag.nissues, in->mapping_version ? in->mapping_version : "-");
    else if (in->diag.status != 0)
        printf("%s: invalid: %d %s: %s\n", path, in->diag.status, in->diag.code, in->diag.message);
    else
        printf("%s: could not be processed: %s\n", path, cdx_strerror(prc));
    if (how[0] != '\0')
        printf("  note    the file is a MIME message; the document was decoded from it "
               "(%s)\n",
               how);
    print_issues(&in->diag, stdout);
}

/* How each file is checked: as one institution (--institution), or each
 * under the owner the lookup finds for it. */
typedef struct validate_run {
    const cdx_pipeline_t *pl;
    const cdx_config_t *cfg;
    const char *institution;
    const cdx_submitter_t *sub;
    const cdx_owner_lookup_t *lookup;
    int json;
} validate_run_t;

/* Checks one file.  Returns 0 valid, 1 invalid, 2 unreadable. */
static int validate_file(const validate_run_t *run, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    size_t max = (size_t)run->cfg->max_body_bytes;
    int frc = cdx_read_file(path, max, &data, &len);
    if (frc != 0) {
        fprintf(stderr, "cdxgw validate: %s: %s\n", path,
                frc == CDX_ERANGE ? "larger than max_body_bytes" : cdx_strerror(frc));
        return 2;
    }
    cdx_ingest_t in;
    char how[48];
    int prc = cdx_cmd_unwrap_mime(&data, &len, max, how, sizeof how, &in);
    if (prc == 0)
        prc = run->institution ? cdx_ingest_run(run->pl, data, len, run->sub, &in)
                               : cdx_ingest_run_owned(run->pl, data, len, run->lookup, &in);
    print_verdict(path, prc, &in, how, run->json);
    cdx_ingest_cleanup(&in);
    free(data);
    return prc != 0 ? 1 : 0;
}

static void usage(void)
{
    printf("usage: cdxgw validate [--json] [--institution OID] [--config FILE] "
           "[--KEY VALUE]... FILE...\n\n"
           "Runs the whole pipeline (parse, validate, normalize, extract) without\n"
           "storing anything.  The mapping is the one of --institution, or else of\n"
           "the document's custodian; with --institution the custodian must match.\n"
           "A file that is a MIME message (as exported from Direct messaging) is\n"
           "decoded first, and the output says so (\"decoded\" in --json).\n"
           "  --json   one JSON object per file: issues, metadata and the facts\n"
           "           grouped as problems, medications, allergies, results,\n"
           "           vital_signs, procedures, immunizations, encounters\n"
           "Exit: 0 all valid, 1 any invalid, 2 usage or I/O error.\n");
}

/* Takes `--institution OID` out of argv (it is ours, not a configuration
 * key) and returns the OID, or NULL. */
static char *take_institution(int *argc, char **argv)
{
    for (int i = 1; i + 1 < *argc; i++) {
        if (strcmp(argv[i], "--institution") == 0) {
            char *institution = argv[i + 1];
            for (int j = i; j + 2 <= *argc; j++)
                argv[j] = argv[j + 2];
            *argc -= 2;
            return institution;
        }
    }
    return NULL;
}

/* Checks every file; returns the exit code (0, 1 or 2). */
static int validate_files(validate_run_t *run, cdx_cmd_known_t *known, char **paths, int npaths)
{
    cdx_owner_lookup_t lookup = {.find = cdx_cmd_known_find, .arg = known};
    /* --institution: checked as that institution's certificate would be,
     * with what the configuration says of it. */
    cdx_submitter_t sub = {.oid = run->institution};
    const cdx_institution_t *inst =
        run->institution ? cdx_cmd_known_find_inst(known, run->institution) : NULL;
    if (inst != NULL)
        cdx_cmd_known_submitter(known, inst, &sub);
    run->sub = &sub;
    run->lookup = &lookup;
    int any_invalid = 0, io_error = 0;
    for (int i = 0; i < npaths; i++) {
        int frc = validate_file(run, paths[i]);
        if (frc == 2)
            io_error = 1;
        else if (frc == 1)
            any_invalid = 1;
    }
    return io_error ? 2 : any_invalid ? 1 : 0;
}

int cdx_cmd_validate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        }
    }
    char **cfg_argv = calloc((size_t)argc + 2, sizeof *cfg_argv);
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    cdx_cmd_known_t known = {0};
    validate_run_t run = {0};
    int cfg_argc = 0, npaths = 0, rc = 0;
    if (cfg_argv == NULL || paths == NULL) {
        free(cfg_argv);
        free(paths);
        return 2;
    }
    run.institution = take_institution(&argc, argv);
    cdx_cmd_split_args(argc, argv, cfg_argv, &cfg_argc, paths, &npaths, &run.json);
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    cdx_pipeline_t *pl = NULL;
    if (npaths == 0) {
        fprintf(stderr, "cdxgw validate: no FILE given (see --help)\n");
        rc = 2;
        goto out;
    }
    rc = cdx_cli_load_config(cfg_argc, cfg_argv, &cfg, NULL, 0);
    if (rc == 0)
        rc = cdx_cmd_build_pipeline(&cfg, &pl);
    if (rc == 0)
        rc = known_from_config(&cfg, &known);
    if (rc != 0)
        goto out;
    run.pl = pl;
    run.cfg = &cfg;
    rc = validate_files(&run, &known, paths, npaths);
out:
    cdx_pipeline_free(pl);
    free(known.items);
    cdx_config_cleanup(&cfg);
    free(cfg_argv);
    free(paths);
    return rc;
}
