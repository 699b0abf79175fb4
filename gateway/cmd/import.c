/* import: `cdxgw import`, bulk loading through the ingest pipeline (see
 * include/cdx/cmd/cli.h). */
#include "cmd_internal.h"
#include "cdx/api/app.h"
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/parsers/extract.h"

#include <dirent.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#define IMPORT_BATCH 64
#define MAX_REASONS  64

/* What one batch (one transaction) did, counted as committed only once
 * its commit succeeded. */
typedef struct import_counts {
    size_t stored, identical, skipped;
    size_t facts[8];
} import_counts_t;

typedef struct import_state {
    cdx_registry_t *reg;
    cdx_pipeline_t *pl;
    const cdx_config_t *cfg;
    cdx_cmd_known_t known;
    cdx_owner_lookup_t lookup;
    unsigned char key[32];
    char **files; /* every file to import, in walk order */
    size_t cap;
    size_t total, done, rejected, conflicts;
    size_t decoded; /* documents decoded from MIME messages */
    import_counts_t committed, pending;
    size_t batch_files;
    struct {
        char code[48];
        size_t n;
    } reasons[MAX_REASONS];
    size_t nreasons;
    int in_batch;
    int tty;
    double t0, last_draw;
} import_state_t;

static void count_reason(import_state_t *st, const char *code)
{
    for (size_t i = 0; i < st->nreasons; i++) {
        if (strcmp(st->reasons[i].code, code) == 0) {
            st->reasons[i].n++;
            return;
        }
    }
    if (st->nreasons < MAX_REASONS) {
        cdx_strlcpy(st->reasons[st->nreasons].code, code, sizeof st->reasons[0].code);
        st->reasons[st->nreasons++].n = 1;
    }
}

static int is_regular(const char *path, int *is_dir)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    *is_dir = S_ISDIR(sb.st_mode);
    return S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn on every regular file under path (sorted, so runs repeat),
 * skipping hidden entries. */
static int walk(const char *path, int (*fn)(const char *file, void *arg), void *arg)
{
    int is_dir = 0;
    if (!is_regular(path, &is_dir)) {
        fprintf(stderr, "cdxgw: %s: not a file or folder\n", path);
        return -1;
    }
    if (!is_dir)
        return fn(path, arg);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (cdx_grow(&names, &cap, n + 1, sizeof *names, 64) != 0)
            break;
        names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    if (n > 1) /* an empty folder has no array at all */
        qsort(names, n, sizeof *names, name_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char child[4096];
        if (rc == 0 && names[i] != NULL &&
            (size_t)snprintf(child, sizeof child, "%s/%s", path, names[i]) < sizeof child)
            rc = walk(child, fn, arg);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Lists the files to import, in walk order. */
static int list_file(const char *file, void *arg)
{
    import_state_t *st = arg;
    if (cdx_grow(&st->files, &st->cap, st->total + 1, sizeof *st->files, 256) != 0)
        return -1;
    if ((st->files[st->total] = strdup(file)) == NULL)
        return -1;
    st->total++;
    return 0;
}

static void draw_progress(import_state_t *st, int final)
{
    double now = cdx_cmd_now();
    if (!st->tty || (!final && now - st->last_draw < 0.2))
        return;
    st->last_draw = now;
    double rate = st->done / (now - st->t0 > 0 ? now - st->t0 : 1);
    int width = 30, filled = st->total ? (int)(width * st->done / st->total) : width;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.0f docs/s  rejected %zu ", filled,
            "##############################", width - filled, "", st->done, st->total, rate,
            st->rejected);
    if (final)
        fputc('\n', stderr);
}

/* Says what an abort leaves behind: what earlier commits stored, and that
 * the open batch stored nothing. */
static void report_rollback(const import_state_t *st)
{
    fprintf(stderr,
            "cdxgw import: the open batch was rolled back: its %zu files stored nothing (%zu "
            "new documents in it are not stored); %zu documents stored by earlier batches stay "
            "stored; run the import again to resume\n",
            st->batch_files, st->pending.stored, st->committed.stored);
}

static void discard_batch(import_state_t *st)
{
    cdx_registry_rollback(st->reg);
    report_rollback(st);
    memset(&st->pending, 0, sizeof st->pending);
    st->in_batch = 0;
    st->batch_files = 0;
}

static int flush_batch(import_state_t *st)
{
    if (!st->in_batch)
        return 0;
    int rc = cdx_registry_commit(st->reg);
    if (rc != 0) {
        fprintf(stderr, "\ncdxgw import: commit failed: %s\n", cdx_registry_errmsg(st->reg));
        discard_batch(st);
        return rc;
    }
    st->committed.stored += st->pending.stored;
    st->committed.identical += st->pending.identical;
    st->committed.skipped += st->pending.skipped;
    for (size_t k = 0; k < 8; k++)
        st->committed.facts[k] += st->pending.facts[k];
    memset(&st->pending, 0, sizeof st->pending);
    st->in_batch = 0;
    st->batch_files = 0;
    return 0;
}

/* Failures of the registry itself (disk, I/O, memory, a lock held
 * elsewhere) stop the import; anything else is about one document. */
static int registry_fatal(int rc)
{
    return rc == CDX_EIO || rc == CDX_EFULL || rc == CDX_ENOMEM || rc == CDX_EBUSY;
}

static void reject(import_state_t *st, const char *code)
{
    st->rejected++;
    count_reason(st, code);
}

/* Stores one accepted document inside the open batch, under its own
 * savepoint so that a document the registry refuses undoes only itself. */
static int store_one(import_state_t *st, const cdx_ingest_t *in, const char *data)
{
    char pkey[33], uid[33], detail[160];
    cdx_app_patient_key(st->key, in->patient_root, in->patient_ext, pkey);
    const char *owner = in->owner_oid;
    int rc = cdx_registry_savepoint(st->reg);
    if (rc != 0)
        return rc;
    rc = cdx_registry_ensure_institution(st->reg, owner,
                                         in->custodian_oid != NULL &&
                                                 strcmp(owner, in->custodian_oid) == 0
                                             ? in->custodian_name
                                             : NULL);
    cdx_doc_record_t rec;
    cdx_ingest_record(in, owner, data, pkey, &rec);
    snprintf(detail, sizeof detail, "sha256=%.16s size=%zu issues=%zu", in->sha256, in->size,
             in->diag.nissues);
    cdx_registry_doc_uid(in->unique_id, uid);
    cdx_audit_event_t ev = {.event = CDX_AUDIT_DOCUMENT_INGEST, .actor_oid = "local:import",
                            .purpose = "TREAT", .outcome = CDX_AUDIT_SUCCESS,
                            .patient_key = pkey, .document_id = uid, .detail = detail};
    cdx_store_outcome_t outcome = CDX_STORE_CREATED;
    if (rc == 0)
        rc = cdx_registry_store_document(st->reg, &rec, &ev, &outcome, uid);
    if (rc == 0 && outcome == CDX_STORE_CREATED && st->cfg->forward_referrals) {
        /* Its addressees' deliveries, in the same savepoint. */
        cdx_ingest_change_t change = {.in = in, .body = data, .submitter = owner};
        memcpy(change.uid, uid, sizeof change.uid);
        rc = cdx_ingest_refer(st->reg, &change);
    }
    if (rc == 0 && outcome == CDX_STORE_CREATED) {
        /* Its subscribers' deliveries, in the same savepoint. */
        cdx_ingest_change_t change = {.in = in, .body = data, .submitter = owner};
        memcpy(change.uid, uid, sizeof change.uid);
        rc = cdx_ingest_subscriptions(st->reg, &change);
    }
    if (rc == 0)
        rc = cdx_registry_release(st->reg);
    if (rc != 0) {
        cdx_registry_rollback_savepoint(st->reg);
        return rc;
    }
    if (outcome == CDX_STORE_CREATED) {
        st->pending.stored++;
        for (size_t k = 0; k < 8; k++)
            st->pending.facts[k] += in->facts_by_kind[k];
    } else if (outcome == CDX_STORE_IDENTICAL) {
        st->pending.identical++;
    } else if (outcome == CDX_STORE_FORBIDDEN) {
        reject(st, "REPLACEMENT_FORBIDDEN");
    } else {
        st->conflicts++;
        count_reason(st, "DOC_ID_CONFLICT");
    }
    return 0;
}

/* One file on its way through the import: what the pipeline's side
 * (prepare_item, on a worker thread when there are workers) found, for the
 * registry's side (apply_item, on the importing thread, in file order). */
typedef struct import_item {
    const char *file;
    char *data;
    size_t len;
    int read_rc; /* cdx_read_file's answer */
    int urc;     /* MIME unwrapping's */
    char how[48];
    char sha[65];
    int found;   /* already stored, as the preparing side saw it */
    int unsure;  /* the preparing side could not look */
    int prc;   /* the pipeline's answer (not run when found or urc) */
    cdx_ingest_t in;
} import_item_t;

/* Reads, unwraps and hashes one file, then runs the pipeline on it unless
 * check (a connection; NULL: none) already holds its bytes. */
static void prepare_item(const import_state_t *st, cdx_registry_t *check,
                         const cdx_owner_lookup_t *lookup, import_item_t *it)
{
    memset(&it->in, 0, sizeof it->in);
    it->read_rc = cdx_read_file(it->file, (size_t)st->cfg->max_body_bytes, &it->data, &it->len);
    if (it->read_rc != 0)
        return;
    it->urc = cdx_cmd_unwrap_mime(&it->data, &it->len, (size_t)st->cfg->max_body_bytes, it->how,
                                  sizeof it->how, &it->in);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(it->data, it->len, md, &mdlen, EVP_sha256(), NULL);
    cdx_hex(md, 32, it->sha);
    /* Resuming: what is stored already is not even parsed again. */
    it->found = 0;
    it->unsure = check == NULL;
    if (it->urc == 0 && check != NULL && cdx_registry_has_sha256(check, it->sha, &it->found) != 0) {
        it->found = 0; /* the importing side looks again */
        it->unsure = 1;
    }
    it->prc = it->urc != 0 ? it->urc
              : it->found  ? 0
                           : cdx_ingest_run_owned(st->pl, it->data, it->len, lookup, &it->in);
}

static void item_release(import_item_t *it)
{
    cdx_ingest_cleanup(&it->in);
    free(it->data);
    it->data = NULL;
}

static int begin_batch(import_state_t *st)
{
    if (st->in_batch)
        return 0;
    int rc = cdx_registry_begin(st->reg);
    if (rc == 0)
        st->in_batch = 1;
    return rc;
}

/* The registry's side of one prepared file, inside the open batch.
 * recheck: the preparing side looked on another connection, which does
 * not see the open batch, so a file it did not find is looked up again
 * here (two copies of one file in a batch are one stored, one skipped,
 * as without workers). */
static int apply_item(import_state_t *st, import_item_t *it, int recheck)
{
    st->done++;
    if (it->read_rc != 0) {
        reject(st, it->read_rc == CDX_ERANGE ? "BODY_TOO_LARGE" : "IO_ERROR");
        draw_progress(st, 0);
        return 0;
    }
    if (it->how[0] != '\0')
        st->decoded++;
    int rc = begin_batch(st);
    if (rc != 0)
        goto fail;
    st->batch_files++;
    if ((recheck || it->unsure) && it->urc == 0 && !it->found) {
        rc = cdx_registry_has_sha256(st->reg, it->sha, &it->found);
        if (rc != 0)
            goto fail;
    }
    if (it->found) {
        st->pending.skipped++;
    } else if (it->prc != 0) {
        cdx_ingest_t *in = &it->in;
        reject(st, in->diag.status ? in->diag.code : "PIPELINE_ERROR");
        char detail[160];
        snprintf(detail, sizeof detail, "code=%s sha256=%.16s size=%zu", in->diag.code,
                 in->sha256, in->size);
        cdx_audit_event_t ev = {.event = CDX_AUDIT_DOCUMENT_REJECT,
                                .actor_oid = "local:import", .purpose = "TREAT",
                                .outcome = CDX_AUDIT_MINOR_FAILURE, .detail = detail};
        rc = cdx_registry_audit(st->reg, &ev);
    } else {
        rc = store_one(st, &it->in, it->data);
        if (rc != 0 && !registry_fatal(rc)) {
            /* This document only: say why, and go on with the others. */
            fprintf(stderr, "%scdxgw import: %s: not stored: %s\n", st->tty ? "\n" : "",
                    it->file, cdx_registry_errmsg(st->reg));
            reject(st, "REGISTRY_REFUSED");
            rc = 0;
        }
    }
    if (rc != 0)
        goto fail;
    if (st->batch_files >= IMPORT_BATCH)
        rc = flush_batch(st);
    draw_progress(st, 0);
    return rc;
fail:
    fprintf(stderr, "\ncdxgw import: %s: registry error: %s\n", it->file,
            cdx_registry_errmsg(st->reg));
    if (st->in_batch)
        discard_batch(st);
    return rc;
}

/* One file, prepared and applied on this thread (no workers). */
static int import_file(import_state_t *st, const char *file)
{
    import_item_t it = {.file = file};
    /* The check runs inside the batch, so it sees the batch's own rows. */
    int rc = begin_batch(st);
    if (rc != 0) {
        fprintf(stderr, "\ncdxgw import: %s: registry error: %s\n", file,
                cdx_registry_errmsg(st->reg));
        return rc;
    }
    prepare_item(st, st->reg, &st->lookup, &it);
    rc = apply_item(st, &it, 0);
    item_release(&it);
    return rc;
}

static void usage(void)
{
    printf("usage: cdxgw import [--config FILE] [--KEY VALUE]... PATH...\n\n"
           "Bulk-loads CDA documents from files and folders (recursively) through the\n"
           "same pipeline as POST /v1/documents, each under its custodian organization\n"
           "(an unknown custodian is registered without roles; a custodian without an\n"
           "id is replaced by the author organization only where that institution's\n"
           "identity_policy allows, else the document is rejected), whose numbering\n"
           "its document id must be in.  Documents already\n"
           "stored (same SHA-256) are skipped, so an interrupted import can simply be\n"
           "run again.  Files that are MIME messages (Direct messaging exports) are\n"
           "decoded first.  The pipeline runs on worker_threads threads (--worker_threads N;\n"
           "1 runs everything on one), the registry stores in file order all the same.\n"
           "Shows progress on a terminal and a summary at the end.\n"
           "Exit: 0 all stored, 1 some rejected or conflicting, 2 usage or I/O error.\n");
}

/* Opens what an import works with: the patient key, the registry, the
 * pipeline and the registered institutions.  Returns 0, or the exit code
 * after saying why. */
static int import_open(import_state_t *st, const cdx_config_t *cfg)
{
    char err[1024];
    if (cdx_app_load_key(cfg->patient_key_file, st->key, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw import: %s\n", err);
        return 2;
    }
    int rc = cdx_cli_open_registry(cfg, &st->reg);
    if (rc != 0)
        return rc;
    rc = cdx_cmd_build_pipeline(cfg, &st->pl);
    if (rc != 0)
        return rc;
    if (cdx_registry_list_institutions(st->reg, &st->known.items, &st->known.n) != 0) {
        fprintf(stderr, "cdxgw import: cannot read the institutions: %s\n",
                cdx_registry_errmsg(st->reg));
        return 1;
    }
    st->lookup.find = cdx_cmd_known_find;
    st->lookup.arg = &st->known;
    st->cfg = cfg;
    st->tty = isatty(STDERR_FILENO);
    return 0;
}

/* The summary: only committed work is counted as stored. */
static void print_summary(const import_state_t *st, int wrc, double secs)
{
    const import_counts_t *c = &st->committed;
    if (wrc != 0)
        printf("import: stopped after %zu of %zu files; only what earlier batches committed "
               "is stored (counted below)\n",
               st->done, st->total);
    printf("import: %zu files in %.2f s (%.1f docs/s)\n", st->done, secs,
           secs > 0 ? st->done / secs : 0.0);
    printf("  stored %zu, already stored %zu (identical %zu), rejected %zu\n", c->stored,
           c->skipped + c->identical, c->identical, st->rejected + st->conflicts);
    for (size_t i = 0; i < st->nreasons; i++)
        printf("    %-26s %zu\n", st->reasons[i].code, st->reasons[i].n);
    if (st->decoded > 0)
        printf("  note: %zu documents were decoded from MIME messages\n", st->decoded);
    printf("  facts stored:");
    for (int k = 0; k < 8; k++)
        printf(" %s=%zu", cdx_fact_kind_name((cdx_fact_kind_t)k), c->facts[k]);
    printf("\n");
}

/* ---- Workers: the pipeline on worker_threads threads, one writer ------
 * The workers prepare files in walk order, each on its own read
 * connection for the resume check; this thread applies them in the same
 * order, so batches, audit rows, progress and summary are those of an
 * import without workers.  At most `window` files are prepared ahead. */

typedef struct import_pool {
    import_state_t *st;
    import_item_t *slots; /* file i in slots[i % window] */
    unsigned char *ready;
    size_t window, next, applied;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv_ready, cv_room;
    char dbpath[CDX_PATH_MAX + 32];
} import_pool_t;

static void *pool_worker(void *arg)
{
    import_pool_t *p = arg;
    const import_state_t *st = p->st;
    char err[256];
    cdx_registry_t *check = NULL;
    if (cdx_registry_open_reader(p->dbpath, &check, err, sizeof err) != 0)
        check = NULL; /* no early check: the writer's own check decides */
    cdx_cmd_known_t known = st->known; /* its own "last found" roots */
    cdx_owner_lookup_t lookup = {.find = cdx_cmd_known_find, .arg = &known};
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < st->total && p->next - p->applied >= p->window)
            pthread_cond_wait(&p->cv_room, &p->mu);
        if (p->stop || p->next >= st->total) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        import_item_t *it = &p->slots[i % p->window];
        memset(it, 0, sizeof *it);
        it->file = st->files[i];
        prepare_item(st, check, &lookup, it);
        pthread_mutex_lock(&p->mu);
        p->ready[i % p->window] = 1;
        pthread_cond_broadcast(&p->cv_ready);
        pthread_mutex_unlock(&p->mu);
    }
    cdx_registry_close(check);
    return NULL;
}

/* Applies every file as the workers prepare it.  Returns what the first
 * failing apply_item returned, or 0. */
static int pool_apply(import_pool_t *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->st->total && rc == 0; i++) {
        size_t k = i % p->window;
        pthread_mutex_lock(&p->mu);
        while (!p->ready[k])
            pthread_cond_wait(&p->cv_ready, &p->mu);
        pthread_mutex_unlock(&p->mu);
        rc = apply_item(p->st, &p->slots[k], 1);
        item_release(&p->slots[k]);
        pthread_mutex_lock(&p->mu);
        p->ready[k] = 0;
        p->applied++;
        pthread_cond_broadcast(&p->cv_room);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

static int import_pool_run(import_state_t *st, size_t jobs)
{
    import_pool_t p = {.st = st, .window = 2 * jobs + 2};
    snprintf(p.dbpath, sizeof p.dbpath, "%s/registry.db", st->cfg->data_dir);
    p.slots = calloc(p.window, sizeof *p.slots);
    p.ready = calloc(p.window, 1);
    pthread_t *threads = calloc(jobs, sizeof *threads);
    if (p.slots == NULL || p.ready == NULL || threads == NULL) {
        free(p.slots);
        free(p.ready);
        free(threads);
        fprintf(stderr, "cdxgw import: out of memory\n");
        return CDX_ENOMEM;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv_ready, NULL);
    pthread_cond_init(&p.cv_room, NULL);
    size_t started = 0;
    while (started < jobs && pthread_create(&threads[started], NULL, pool_worker, &p) == 0)
        started++;
    int rc = 0;
    if (started > 0)
        rc = pool_apply(&p);
    for (size_t i = 0; started == 0 && i < st->total && rc == 0; i++)
        rc = import_file(st, st->files[i]); /* no thread to be had: this one */
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_broadcast(&p.cv_room);
    pthread_mutex_unlock(&p.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    /* What was prepared but not applied after a stop. */
    for (size_t k = 0; k < p.window; k++)
        item_release(&p.slots[k]);
    pthread_cond_destroy(&p.cv_room);
    pthread_cond_destroy(&p.cv_ready);
    pthread_mutex_destroy(&p.mu);
    free(threads);
    free(p.ready);
    free(p.slots);
    return rc;
}

/* Lists the files, imports them batch by batch (with cfg->worker_threads
 * threads running the pipeline when more than one) and prints the summary.
 * Returns the exit code (0, 1 or 2). */
static int import_paths(import_state_t *st, char **paths, int npaths)
{
    for (int i = 0; i < npaths; i++)
        if (walk(paths[i], list_file, st) != 0)
            return 2;
    st->t0 = cdx_cmd_now();
    int wrc = 0;
    size_t jobs = (size_t)st->cfg->worker_threads;
    if (jobs > st->total)
        jobs = st->total;
    if (jobs > 1)
        wrc = import_pool_run(st, jobs);
    for (size_t i = 0; jobs <= 1 && i < st->total && wrc == 0; i++)
        wrc = import_file(st, st->files[i]);
    if (wrc == 0)
        wrc = flush_batch(st);
    draw_progress(st, 1);
    print_summary(st, wrc, cdx_cmd_now() - st->t0);
    return wrc != 0 ? 2 : (st->rejected + st->conflicts) > 0 ? 1 : 0;
}

int cdx_cmd_import(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        }
    }
    char **cfg_argv = calloc((size_t)argc + 2, sizeof *cfg_argv);
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int cfg_argc = 0, npaths = 0, rc;
    import_state_t *st = calloc(1, sizeof *st);
    cdx_config_t cfg;
    cdx_config_init(&cfg);
    if (cfg_argv == NULL || paths == NULL || st == NULL) {
        rc = 2;
        goto out;
    }
    cdx_cmd_split_args(argc, argv, cfg_argv, &cfg_argc, paths, &npaths, NULL);
    if (npaths == 0) {
        fprintf(stderr, "cdxgw import: no PATH given (see --help)\n");
        rc = 2;
        goto out;
    }
    rc = cdx_cli_load_config(cfg_argc, cfg_argv, &cfg, NULL, 0);
    if (rc == 0)
        rc = import_open(st, &cfg);
    if (rc == 0)
        rc = import_paths(st, paths, npaths);
out:
    if (st != NULL) {
        cdx_pipeline_free(st->pl);
        cdx_registry_close(st->reg);
        free(st->known.items);
        for (size_t i = 0; i < st->total; i++)
            free(st->files[i]);
        free(st->files);
        free(st);
    }
    cdx_config_cleanup(&cfg);
    free(cfg_argv);
    free(paths);
    return rc;
}
