/* commands: `cdxgw validate`, `cdxgw import` and `cdxgw reindex`. */
#include "cdx/api/app.h"
#include "cdx/conf/institution.h"
#include "cdx/cmd/cli.h"
#include "cdx/base/common.h"
#include "cdx/parsers/extract.h"
#include "cdx/domain/ingest.h"
#include "cdx/base/log.h"
#include "cdx/parsers/mime.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Splits argv into options for the configuration and the paths. */
static int split_args(int argc, char **argv, char **cfg_argv, int *cfg_argc, char **paths,
                      int *npaths, int *json, const char *const *flags, int *flag_set,
                      size_t nflags)
{
    *cfg_argc = 0;
    *npaths = 0;
    cfg_argv[(*cfg_argc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int handled = 0;
        for (size_t f = 0; f < nflags; f++) {
            if (strcmp(a, flags[f]) == 0) {
                flag_set[f] = 1;
                handled = 1;
            }
        }
        if (handled)
            continue;
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
    return 0;
}

static int build_pipeline(const cdx_config_t *cfg, cdx_pipeline_t **pl)
{
    char err[1024];
    cdx_pipeline_options_t opt = {
        .mappings_dir = cfg->mappings_dir,
        .xsd_path = cfg->schema_path,
        .xml_limits = {(size_t)cfg->xml_max_nodes, (size_t)cfg->xml_max_nodes_per_kb},
    };
    if (cdx_pipeline_new(&opt, pl, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw: cannot load mappings or schema: %s\n", err);
        return 2;
    }
    return 0;
}

/* Files exported from mail-based exchange (Direct messaging) are MIME
 * entities: a header block, then the document, quoted-printable or
 * base64, alone or as one part of a multipart message.  Such a file is
 * decoded in place (*data replaced) and how receives what was decoded
 * ("mime-base64"); a file that is not MIME is left alone (how "").
 * Returns 0, or CDX_EPARSE with in (reset here) holding the verdict. */
static int unwrap_mime(char **data, size_t *len, size_t max, char *how, size_t howlen,
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

/* The institutions import and validate file documents under, sorted by
 * OID, and the lookup the pipeline asks who a document's owner is. */
typedef struct known_insts {
    cdx_institution_t *items;
    size_t n;
    const char *roots[CDX_INST_MAX_ID_ROOTS]; /* the last institution found */
} known_insts_t;

static int inst_cmp(const void *a, const void *b)
{
    return strcmp(((const cdx_institution_t *)a)->oid, ((const cdx_institution_t *)b)->oid);
}

static const cdx_institution_t *known_find_inst(const known_insts_t *k, const char *oid)
{
    cdx_institution_t key;
    if (k->n == 0 || cdx_strlcpy(key.oid, oid, sizeof key.oid) != 0)
        return NULL;
    return bsearch(&key, k->items, k->n, sizeof *k->items, inst_cmp);
}

static void known_submitter(known_insts_t *k, const cdx_institution_t *inst, cdx_submitter_t *out)
{
    for (size_t i = 0; i < inst->nid_roots; i++)
        k->roots[i] = inst->id_roots[i];
    out->oid = inst->oid;
    out->policy = inst->policy;
    out->id_roots = k->roots;
    out->nid_roots = inst->nid_roots;
}

static int known_find(void *arg, const char *oid, cdx_submitter_t *out)
{
    known_insts_t *k = arg;
    const cdx_institution_t *inst = known_find_inst(k, oid);
    if (inst == NULL)
        return 0;
    known_submitter(k, inst, out);
    return 1;
}

/* validate: the institutions of the configuration (inline and
 * institutions_file), as the gateway would register them. */
static int known_from_config(const cdx_config_t *cfg, known_insts_t *k)
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
    if (k->n > 1)
        qsort(k->items, k->n, sizeof *k->items, inst_cmp);
    return 0;
}

/* ---- validate ---------------------------------------------------------- */

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
    json_t *facts = in->facts_json ? json_loads(in->facts_json, 0, &jerr) : NULL;
    static const char *const kinds[] = {"problems",   "medications",   "allergies",
                                        "results",    "vital_signs",   "procedures",
                                        "immunizations", "encounters"};
    for (size_t k = 0; k < CDX_ARRAY_SIZE(kinds); k++) {
        json_t *list = facts ? json_object_get(facts, kinds[k]) : NULL;
        json_object_set_new(o, kinds[k], list ? json_incref(list) : json_array());
    }
    json_decref(facts);
    return o;
}

int cdx_cmd_validate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
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
            return 0;
        }
    }
    char **cfg_argv = calloc((size_t)argc + 2, sizeof *cfg_argv);
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    char *institution = NULL;
    known_insts_t known = {0};
    int cfg_argc = 0, npaths = 0, json = 0, rc = 0;
    if (cfg_argv == NULL || paths == NULL) {
        free(cfg_argv);
        free(paths);
        return 2;
    }
    /* --institution is ours, not a configuration key. */
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--institution") == 0) {
            institution = argv[i + 1];
            for (int j = i; j + 2 <= argc; j++)
                argv[j] = argv[j + 2];
            argc -= 2;
            break;
        }
    }
    split_args(argc, argv, cfg_argv, &cfg_argc, paths, &npaths, &json, NULL, NULL, 0);
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
        rc = build_pipeline(&cfg, &pl);
    if (rc == 0)
        rc = known_from_config(&cfg, &known);
    if (rc != 0)
        goto out;
    cdx_owner_lookup_t lookup = {.find = known_find, .arg = &known};
    /* --institution: checked as that institution's certificate would be,
     * with what the configuration says of it. */
    cdx_submitter_t sub = {.oid = institution};
    const cdx_institution_t *inst = institution ? known_find_inst(&known, institution) : NULL;
    if (inst != NULL)
        known_submitter(&known, inst, &sub);
    int any_invalid = 0, io_error = 0;
    for (int i = 0; i < npaths; i++) {
        char *data = NULL;
        size_t len = 0;
        int frc = cdx_read_file(paths[i], (size_t)cfg.max_body_bytes, &data, &len);
        if (frc != 0) {
            fprintf(stderr, "cdxgw validate: %s: %s\n", paths[i],
                    frc == CDX_ERANGE ? "larger than max_body_bytes" : cdx_strerror(frc));
            io_error = 1;
            continue;
        }
        cdx_ingest_t in;
        char how[48];
        int prc = unwrap_mime(&data, &len, (size_t)cfg.max_body_bytes, how, sizeof how, &in);
        if (prc == 0)
            prc = institution ? cdx_ingest_run(pl, data, len, &sub, &in)
                              : cdx_ingest_run_owned(pl, data, len, &lookup, &in);
        if (prc != 0)
            any_invalid = 1;
        if (json) {
            json_t *o = validate_json(paths[i], prc, &in);
            if (how[0] != '\0')
                json_object_set_new(o, "decoded", json_string(how));
            char *text = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            if (text != NULL)
                printf("%s\n", text);
            free(text);
        } else {
            if (prc == 0)
                printf("%s: valid (%zu facts, %zu warnings, mapping %s)\n", paths[i], in.nfacts,
                       in.diag.nissues, in.mapping_version ? in.mapping_version : "-");
            else if (in.diag.status != 0)
                printf("%s: invalid: %d %s: %s\n", paths[i], in.diag.status, in.diag.code,
                       in.diag.message);
            else
                printf("%s: could not be processed: %s\n", paths[i], cdx_strerror(prc));
            if (how[0] != '\0')
                printf("  note    the file is a MIME message; the document was decoded from it "
                       "(%s)\n",
                       how);
            print_issues(&in.diag, stdout);
        }
        cdx_ingest_cleanup(&in);
        free(data);
    }
    rc = io_error ? 2 : any_invalid ? 1 : 0;
out:
    cdx_pipeline_free(pl);
    free(known.items);
    cdx_config_cleanup(&cfg);
    free(cfg_argv);
    free(paths);
    return rc;
}

/* ---- import ------------------------------------------------------------ */

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
    known_insts_t known;
    cdx_owner_lookup_t lookup;
    unsigned char key[32];
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
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (grown == NULL)
                break;
            names = grown;
        }
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

static int count_file(const char *file, void *arg)
{
    (void)file;
    ((import_state_t *)arg)->total++;
    return 0;
}

static void draw_progress(import_state_t *st, int final)
{
    double now = now_s();
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
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = "local:import",
                            .purpose = "TREAT", .outcome = 0, .patient_key = pkey,
                            .document_id = uid, .detail = detail};
    cdx_store_outcome_t outcome = CDX_STORE_CREATED;
    if (rc == 0)
        rc = cdx_registry_store_document(st->reg, &rec, &ev, &outcome, uid);
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

static int import_file(const char *file, void *arg)
{
    import_state_t *st = arg;
    char *data = NULL;
    size_t len = 0;
    st->done++;
    int rc = cdx_read_file(file, (size_t)st->cfg->max_body_bytes, &data, &len);
    if (rc != 0) {
        reject(st, rc == CDX_ERANGE ? "BODY_TOO_LARGE" : "IO_ERROR");
        draw_progress(st, 0);
        return 0;
    }
    cdx_ingest_t in;
    memset(&in, 0, sizeof in);
    char how[48];
    int urc = unwrap_mime(&data, &len, (size_t)st->cfg->max_body_bytes, how, sizeof how, &in);
    if (how[0] != '\0')
        st->decoded++;
    char sha[65];
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    cdx_hex(md, 32, sha);
    int found = 0;
    if (!st->in_batch) {
        rc = cdx_registry_begin(st->reg);
        if (rc != 0)
            goto fail;
        st->in_batch = 1;
    }
    st->batch_files++;
    /* Resuming: what is stored already is not even parsed again. */
    rc = urc == 0 ? cdx_registry_has_sha256(st->reg, sha, &found) : 0;
    if (rc != 0)
        goto fail;
    int prc = urc != 0 ? urc
              : found  ? 0
                       : cdx_ingest_run_owned(st->pl, data, len, &st->lookup, &in);
    if (found) {
        st->pending.skipped++;
    } else if (prc != 0) {
        reject(st, in.diag.status ? in.diag.code : "PIPELINE_ERROR");
        char detail[160];
        snprintf(detail, sizeof detail, "code=%s sha256=%.16s size=%zu", in.diag.code,
                 in.sha256, in.size);
        cdx_audit_event_t ev = {.event = "document.reject", .actor_oid = "local:import",
                                .purpose = "TREAT", .outcome = 4, .detail = detail};
        rc = cdx_registry_audit(st->reg, &ev);
    } else {
        rc = store_one(st, &in, data);
        if (rc != 0 && !registry_fatal(rc)) {
            /* This document only: say why, and go on with the others. */
            fprintf(stderr, "%scdxgw import: %s: not stored: %s\n", st->tty ? "\n" : "", file,
                    cdx_registry_errmsg(st->reg));
            reject(st, "REGISTRY_REFUSED");
            rc = 0;
        }
    }
    if (rc != 0)
        goto fail;
    if (st->batch_files >= IMPORT_BATCH)
        rc = flush_batch(st);
    cdx_ingest_cleanup(&in);
    free(data);
    draw_progress(st, 0);
    return rc;
fail:
    fprintf(stderr, "\ncdxgw import: %s: registry error: %s\n", file,
            cdx_registry_errmsg(st->reg));
    if (st->in_batch)
        discard_batch(st);
    cdx_ingest_cleanup(&in);
    free(data);
    return rc;
}

int cdx_cmd_import(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: cdxgw import [--config FILE] [--KEY VALUE]... PATH...\n\n"
                   "Bulk-loads CDA documents from files and folders (recursively) through the\n"
                   "same pipeline as POST /v1/documents, each under its custodian organization\n"
                   "(an unknown custodian is registered without roles; a custodian without an\n"
                   "id is replaced by the author organization only where that institution's\n"
                   "identity_policy allows, else the document is rejected), whose numbering\n"
                   "its document id must be in.  Documents already\n"
                   "stored (same SHA-256) are skipped, so an interrupted import can simply be\n"
                   "run again.  Files that are MIME messages (Direct messaging exports) are\n"
                   "decoded first.  Shows progress on a terminal and a summary at the end.\n"
                   "Exit: 0 all stored, 1 some rejected or conflicting, 2 usage or I/O error.\n");
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
    split_args(argc, argv, cfg_argv, &cfg_argc, paths, &npaths, NULL, NULL, NULL, 0);
    if (npaths == 0) {
        fprintf(stderr, "cdxgw import: no PATH given (see --help)\n");
        rc = 2;
        goto out;
    }
    rc = cdx_cli_load_config(cfg_argc, cfg_argv, &cfg, NULL, 0);
    if (rc != 0)
        goto out;
    char err[1024];
    if (cdx_app_load_key(cfg.patient_key_file, st->key, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw import: %s\n", err);
        rc = 2;
        goto out;
    }
    rc = cdx_cli_open_registry(&cfg, &st->reg);
    if (rc != 0)
        goto out;
    rc = build_pipeline(&cfg, &st->pl);
    if (rc != 0)
        goto out;
    if (cdx_registry_list_institutions(st->reg, &st->known.items, &st->known.n) != 0) {
        fprintf(stderr, "cdxgw import: cannot read the institutions: %s\n",
                cdx_registry_errmsg(st->reg));
        rc = 1;
        goto out;
    }
    st->lookup.find = known_find;
    st->lookup.arg = &st->known;
    st->cfg = &cfg;
    st->tty = isatty(STDERR_FILENO);
    for (int i = 0; i < npaths; i++)
        if (walk(paths[i], count_file, st) != 0) {
            rc = 2;
            goto out;
        }
    st->t0 = now_s();
    int wrc = 0;
    for (int i = 0; i < npaths && wrc == 0; i++)
        wrc = walk(paths[i], import_file, st);
    if (wrc == 0)
        wrc = flush_batch(st);
    draw_progress(st, 1);
    double secs = now_s() - st->t0;
    const import_counts_t *c = &st->committed;
    if (wrc != 0)
        printf("import: stopped after %zu of %zu files; only what earlier batches committed "
               "is stored (counted below)\n",
               st->done, st->total);
    printf("import: %zu files in %.2f s (%.1f docs/s)\n", st->done, secs,
           secs > 0 ? st->done / secs : 0.0);
    /* Only committed work is counted as stored. */
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
    rc = wrc != 0 ? 2 : (st->rejected + st->conflicts) > 0 ? 1 : 0;
out:
    if (st != NULL) {
        cdx_pipeline_free(st->pl);
        cdx_registry_close(st->reg);
        free(st->known.items);
        free(st);
    }
    cdx_config_cleanup(&cfg);
    free(cfg_argv);
    free(paths);
    return rc;
}

/* ---- reindex ----------------------------------------------------------- */

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

int cdx_cmd_reindex(int argc, char **argv)
{
    int restart = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: cdxgw reindex [--restart] [--config FILE] [--KEY VALUE]...\n\n"
                   "Re-normalizes every stored document with the current mappings and\n"
                   "re-extracts its facts, in batches of 64, each batch one transaction.\n"
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
        rc = build_pipeline(&cfg, &pl);
    if (rc != 0)
        goto out;
    char cursor[32] = "";
    if (!restart && cdx_registry_state_get(reg, "reindex.cursor", cursor, sizeof cursor) != 0)
        cursor[0] = '\0';
    int64_t after = cursor[0] ? strtoll(cursor, NULL, 10) : 0;
    int64_t total = 0;
    cdx_registry_count(reg, CDX_COUNT_DOCUMENTS, &total);
    if (after > 0)
        printf("reindex: resuming after document %lld\n", (long long)after);
    size_t done = 0, failed = 0;
    double t0 = now_s();
    for (;;) {
        reindex_batch_t batch;
        batch.n = 0;
        rc = cdx_registry_each_document(reg, after, CDX_ARRAY_SIZE(batch.items), collect, &batch);
        if (rc != 0 || batch.n == 0) {
            for (size_t i = 0; i < batch.n; i++) {
                free(batch.items[i].submitter);
                free(batch.items[i].data);
            }
            break;
        }
        rc = cdx_registry_begin(reg);
        for (size_t i = 0; i < batch.n && rc == 0; i++) {
            reindex_item_t *it = &batch.items[i];
            cdx_ingest_t in;
            int prc = cdx_ingest_renormalize(pl, it->data, it->len, it->submitter, &in);
            if (prc == 0)
                rc = cdx_registry_update_normalized(reg, it->id, in.normalized_sha256,
                                                    in.normalized, in.normalized_len,
                                                    in.mapping_version, in.meta_json,
                                                    in.facts_json, in.fact_rows,
                                                    in.nfact_rows);
            else
                failed++;
            cdx_ingest_cleanup(&in);
            after = it->id;
            done++;
        }
        char value[32];
        snprintf(value, sizeof value, "%lld", (long long)after);
        if (rc == 0)
            rc = cdx_registry_state_set(reg, "reindex.cursor", value);
        if (rc == 0)
            rc = cdx_registry_commit(reg);
        if (rc != 0)
            cdx_registry_rollback(reg);
        for (size_t i = 0; i < batch.n; i++) {
            free(batch.items[i].submitter);
            free(batch.items[i].data);
        }
        if (rc != 0)
            break;
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\rreindex: %zu/%lld documents", done, (long long)total);
    }
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
    if (rc == 0)
        rc = cdx_registry_state_set(reg, "reindex.cursor", "");
    double secs = now_s() - t0;
    printf("reindex: %zu documents in %.2f s, %zu could not be re-normalized (kept as they "
           "were)\n",
           done, secs, failed);
    if (rc != 0) {
        fprintf(stderr, "cdxgw reindex: %s (run it again to resume)\n", cdx_registry_errmsg(reg));
        rc = 1;
    } else {
        rc = failed > 0 ? 1 : 0;
    }
out:
    cdx_pipeline_free(pl);
    cdx_registry_close(reg);
    cdx_config_cleanup(&cfg);
    return rc;
}
