/* cmd_common: what validate, import and reindex share (see cmd_internal.h). */
#include "cmd_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/mime.h"
#include "cdx/api/app.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double cdx_cmd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cdx_cmd_split_args(int argc, char **argv, char **cfg_argv, int *cfg_argc, char **paths,
                        int *npaths, int *json)
{
    *cfg_argc = 0;
    *npaths = 0;
    cfg_argv[(*cfg_argc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (json != NULL && strcmp(a, "--json") == 0) {
            *json = 1;
        } else if (strncmp(a, "--", 2) == 0) {
            cfg_argv[(*cfg_argc)++] = argv[i];
            if (strchr(a, '=') == NULL && i + 1 < argc)
                cfg_argv[(*cfg_argc)++] = argv[++i];
        } else {
            paths[(*npaths)++] = argv[i];
        }
    }
    cfg_argv[*cfg_argc] = NULL;
}

int cdx_cmd_build_pipeline(const cdx_config_t *cfg, cdx_pipeline_t **pl)
{
    char err[1024];
    cdx_national_t nat;
    cdx_match_thresholds_t thresholds;
    if (cdx_app_pipeline_settings(cfg, &nat, &thresholds, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: %s\n", err);
        return 2;
    }
    cdx_pipeline_options_t opt = {
        .mappings_dir = cfg->mappings_dir,
        .xsd_path = cfg->schema_path,
        .xml_limits = {(size_t)cfg->xml_max_nodes, (size_t)cfg->xml_max_nodes_per_kb},
        .national = &nat,
        .match = &thresholds,
    };
    int rc = cdx_pipeline_new(&opt, pl, err, sizeof err);
    OPENSSL_cleanse(&nat, sizeof nat);
    if (rc != 0) {
        fprintf(stderr, "cdxgw: cannot load mappings or schema: %s\n", err);
        return 2;
    }
    return 0;
}

int cdx_cmd_unwrap_mime(char **data, size_t *len, size_t max, char *how, size_t howlen,
                        cdx_ingest_t *in)
{
    char header[96];
    how[0] = '\0';
    if (!cdx_mime_detect(*data, *len, header, sizeof header))
        return 0;
    cdx_mime_t m;
    memset(in, 0, sizeof *in);
    cdx_diag_init(&in->diag);
    in->size = *len;
    int rc = cdx_mime_decode(*data, *len, max, &in->diag, &m);
    if (rc != 0) {
        in->issues_json = cdx_diag_issues_json(&in->diag);
        return rc;
    }
    free(*data);
    *data = m.data;
    *len = m.len;
    cdx_strlcpy(how, m.how, howlen);
    cdx_diag_cleanup(&in->diag);
    return 0;
}

/* ---- institutions known without a certificate -------------------------- */

static int inst_cmp(const void *a, const void *b)
{
    return strcmp(((const cdx_institution_t *)a)->oid, ((const cdx_institution_t *)b)->oid);
}

void cdx_cmd_known_sort(cdx_cmd_known_t *known)
{
    if (known->n > 1)
        qsort(known->items, known->n, sizeof *known->items, inst_cmp);
}

const cdx_institution_t *cdx_cmd_known_find_inst(const cdx_cmd_known_t *known, const char *oid)
{
    cdx_institution_t key;
    if (known->n == 0 || cdx_strlcpy(key.oid, oid, sizeof key.oid) != 0)
        return NULL;
    return bsearch(&key, known->items, known->n, sizeof *known->items, inst_cmp);
}

void cdx_cmd_known_submitter(cdx_cmd_known_t *known, const cdx_institution_t *inst,
                             cdx_submitter_t *out)
{
    for (size_t i = 0; i < inst->nid_roots; i++)
        known->roots[i] = inst->id_roots[i];
    out->oid = inst->oid;
    out->policy = inst->policy;
    out->id_roots = known->roots;
    out->nid_roots = inst->nid_roots;
}

int cdx_cmd_known_find(void *arg, const char *oid, cdx_submitter_t *out)
{
    cdx_cmd_known_t *known = arg;
    const cdx_institution_t *inst = cdx_cmd_known_find_inst(known, oid);
    if (inst == NULL)
        return 0;
    cdx_cmd_known_submitter(known, inst, out);
    return 1;
}
