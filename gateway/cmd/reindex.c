/* reindex: `cdxgw reindex`, re-normalizing and re-extracting the stored
 * documents in resumable batches (see include/cdx/cmd/cli.h). */
#include "cmd_internal.h"
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/api/app.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct reindex_item {
    int64_t id;
    char *submitter;
    char *data;
    size_t len;
} reindex_item_t;

typedef struct reindex_batch {
    reindex_item_t items[64];
    size_t n;
} reindex_batch_t;

static int collect(const cdx_doc_row_t *row, void *arg)
{
    reindex_batch_t *b = arg;
    reindex_item_t *it = &b->items[b->n];
    it->id = row->id;
    it->submitter = strdup(row->submitter_oid ? row->submitter_oid : "");
    it->data = malloc(row->content_len + 1);
    if (it->submitter == NULL || it->data == NULL) {
        free(it->submitter);
        free(it->data);
        return CDX_ENOMEM;
    }
    memcpy(it->data, row->content, row->content_len);
    it->len = row->content_len;
    b->n++;
    return 0;
}

static void batch_free(reindex_batch_t *batch)
{
    for (size_t i = 0; i < batch->n; i++) {
        free(batch->items[i].submitter);
        free(batch->items[i].data);
    }
}

/* Where a reindex stands. */
typedef struct reindex_run {
    cdx_registry_t *reg;
    const cdx_pipeline_t *pl;
    unsigned char patient_key[32];
    int64_t after; /* the last document done */
    size_t done, failed;
} reindex_run_t;

/* Rebuilds the patient index entries of one re-normalized document. */
static int reindex_patients(reindex_run_t *run, const reindex_item_t *it, const cdx_ingest_t *in)
{
    char pkey[33] = "";
    if (in->patient_root != NULL)
        cdx_app_patient_key(run->patient_key, in->patient_root, in->patient_ext, pkey);
    cdx_doc_record_t rec;
    cdx_ingest_record(in, it->submitter, it->data, pkey, &rec);
    return cdx_registry_reindex_patients(run->reg, it->id, &rec, "local:reindex");
}

/* Ids of a national root stored in clear (before the root was configured
 * as national) leave the patient index; each document's rebuild then
 * registers them hashed. */
static int forget_clear_ids(reindex_run_t *run)
{
    const cdx_national_t *nat = cdx_pipeline_national(run->pl);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nat->nroots; i++)
        rc = cdx_registry_forget_clear_ids(run->reg, nat->roots[i]);
    return rc;
}

/* Re-normalizes one batch in one transaction, with the cursor saved in
 * it.  Returns 0 or the registry's error (the batch rolled back). */
static int reindex_batch(reindex_run_t *run, reindex_batch_t *batch)
{
    int rc = cdx_registry_begin(run->reg);
    for (size_t i = 0; i < batch->n && rc == 0; i++) {
        reindex_item_t *it = &batch->items[i];
        cdx_ingest_t in;
        int prc = cdx_ingest_renormalize(run->pl, it->data, it->len, it->submitter, &in);
        if (prc == 0)
            rc = cdx_registry_update_normalized(
                run->reg, it->id, in.normalized_sha256, in.normalized, in.normalized_len,
                in.mapping_version, in.meta_json, NULL, in.fact_rows, in.nfact_rows);
        if (prc == 0 && rc == 0)
            rc = reindex_patients(run, it, &in);
        if (prc != 0)
            run->failed++;
        cdx_ingest_cleanup(&in);
        run->after = it->id;
        run->done++;
    }
    char value[32];
    snprintf(value, sizeof value, "%lld", (long long)run->after);
    if (rc == 0)
        rc = cdx_registry_state_set(run->reg, "reindex.cursor", value);
    if (rc == 0)
        rc = cdx_registry_commit(run->reg);
    if (rc != 0)
        cdx_registry_rollback(run->reg);
    return rc;
}

/* Runs every batch from the saved cursor (or from the start) and prints
 * the summary.  Returns the exit code (0 or 1). */
static int reindex_all(reindex_run_t *run, int restart)
{
    char cursor[32] = "";
    if (!restart && cdx_registry_state_get(run->reg, "reindex.cursor", cursor, sizeof cursor) != 0)
        cursor[0] = '\0';
    run->after = cursor[0] ? strtoll(cursor, NULL, 10) : 0;
    int64_t total = 0;
    cdx_registry_count(run->reg, CDX_COUNT_DOCUMENTS, &total);
    if (run->after > 0)
        printf("reindex: resuming after document %lld\n", (long long)run->after);
    double t0 = cdx_cmd_now();
    int rc = forget_clear_ids(run);
    for (; rc == 0;) {
        reindex_batch_t batch;
        batch.n = 0;
        rc = cdx_registry_each_document(run->reg, run->after, CDX_ARRAY_SIZE(batch.items), collect,
                                        &batch);
        if (rc != 0 || batch.n == 0) {
            batch_free(&batch);
            break;
        }
        rc = reindex_batch(run, &batch);
        batch_free(&batch);
        if (rc != 0)
            break;
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\rreindex: %zu/%lld documents", run->done, (long long)total);
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
    if (rc == 0)
        rc = cdx_registry_state_set(run->reg, "reindex.cursor", "");
    double secs = cdx_cmd_now() - t0;
    printf("reindex: %zu documents in %.2f s, %zu could not be re-normalized (kept as they "
           "were)\n",
           run->done, secs, run->failed);
    if (rc != 0) {
        fprintf(stderr, "cdxgw reindex: %s (run it again to resume)\n",
                cdx_registry_errmsg(run->reg));
        return 1;
    }
    return run->failed > 0 ? 1 : 0;
}

int cdx_cmd_reindex(int argc, char **argv)
{
    int restart = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: cdxgw reindex [--restart] [--config FILE] [--KEY VALUE]...\n\n"
                   "Re-normalizes every stored document with the current mappings and\n"
                   "re-extracts its facts, in batches of 64, each batch one transaction.\n"
                   "Rebuilds the patient index (identities, links, demographic matches)\n"
                   "of every document, idempotently; national ids stored in clear before\n"
                   "national_id_roots named their root are replaced by their keyed hash.\n"
                   "Interrupted, it resumes where it stopped; --restart starts over.\n"
                   "The original bytes are never changed.\n");
            return 0;
        }
        if (strcmp(argv[i], "--restart") == 0) {
            restart = 1;
            for (int j = i; j + 1 <= argc; j++)
                argv[j] = argv[j + 1];
            argc--;
            i--;
        }
    }
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    cdx_registry_t *reg = NULL;
    cdx_pipeline_t *pl = NULL;
    int rc = cdx_cli_load_config(argc, argv, &cfg, NULL, 0);
    if (rc == 0)
        rc = cdx_cli_open_registry(&cfg, &reg);
    if (rc == 0)
        rc = cdx_cmd_build_pipeline(&cfg, &pl);
    reindex_run_t run = {.reg = reg, .pl = pl};
    char err[512];
    if (rc == 0 && cdx_app_load_key(cfg.patient_key_file, run.patient_key, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw reindex: %s\n", err);
        rc = 2;
    }
    if (rc == 0)
        rc = reindex_all(&run, restart);
    OPENSSL_cleanse(run.patient_key, sizeof run.patient_key);
    cdx_pipeline_free(pl);
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return rc;
}
