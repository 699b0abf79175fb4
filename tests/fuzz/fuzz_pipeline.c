/* libFuzzer target: the whole ingest path into a real registry.
 *
 * Bytes go the way POST /v1/documents takes them (the registry change is
 * cdx_ingest_apply_store / cdx_ingest_apply_reject, as there):
 * the pipeline with the real mappings (parse, validate, policy,
 * normalize, extract) on this thread, then the registry writer thread
 * stores the document with its audit record, or the rejection's audit
 * record, in a group-commit batch; then a reader connection reads it
 * back.  The registry is a SQLite file in a temporary folder (tmpfs when
 * /dev/shm exists), one per process, replaced after ROTATE_EVERY inputs
 * so that verifying the whole audit chain after every input stays cheap.
 *
 * The submitter is the demo institution whose OID occurs first in the
 * input (Hanbit when none does), so the samples are accepted as they are
 * and mutations reach the identity policy both ways.
 *
 * Invariants, checked after every input (a violation aborts):
 *   - an accepted, newly stored document reads back byte for byte, its
 *     normalized form too, and adds exactly one document row;
 *   - a repeat (same id, same bytes) or a conflict (same id, other bytes)
 *     adds no row and leaves the stored bytes as they were;
 *   - a rejected document leaves no document row (count unchanged, its
 *     SHA-256 unknown to the registry);
 *   - every input adds exactly one audit record, and the chain verifies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cdx/api/app.h"
#include "cdx/base/common.h"
#include "cdx/domain/ingest.h"
#include "cdx/base/log.h"
#include "cdx/store/registry.h"
#include "cdx/store/writer.h"

#ifndef CDX_FUZZ_MAPPINGS_DIR
#error "CDX_FUZZ_MAPPINGS_DIR must name the mappings folder"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROTATE_EVERY 256

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_pipeline: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const struct {
    const char *oid;
    const char *name;
} institutions[] = {
    {"2.25.83570720227913622468059417429842681918", "Hanbit University Hospital"},
    {"2.25.20981123314685619330378792882634570198", "Dasom Family Clinic"},
    {"2.25.171372773189504359489447086526480295415", "Riverside General Hospital"},
};

static struct {
    int ready;
    char dir[256];
    char path[300];
    cdx_pipeline_t *pipeline;
    uv_loop_t loop;
    cdx_writer_t *writer;
    cdx_registry_t *reader;
    unsigned char key[32];
    unsigned inputs;
    int verbose; /* CDX_FUZZ_VERBOSE set: print each input's outcome */
} g;

/* One change on its way through the writer, as documents.c submits it. */
typedef struct job {
    cdx_write_req_t wreq;
    cdx_ingest_change_t change;
    char patient_key[33];
    int done;
    int status;
} job_t;

static int apply_store(cdx_registry_t *reg, void *arg)
{
    return cdx_ingest_apply_store(reg, &((job_t *)arg)->change);
}

static int apply_reject_audit(cdx_registry_t *reg, void *arg)
{
    return cdx_ingest_apply_reject(reg, &((job_t *)arg)->change);
}

static void on_written(cdx_write_req_t *req, int status)
{
    job_t *job = req->arg;
    job->status = status;
    job->done = 1;
}

static void remove_files(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[320];
    for (size_t i = 0; i < CDX_ARRAY_SIZE(suffixes); i++) {
        snprintf(p, sizeof p, "%s%s", g.path, suffixes[i]);
        unlink(p);
    }
}

static void registry_close(void)
{
    if (g.writer != NULL) {
        cdx_registry_t *reg = cdx_writer_stop(g.writer);
        g.writer = NULL;
        uv_run(&g.loop, UV_RUN_DEFAULT); /* the writer's handle closes */
        cdx_registry_close(reg);
    }
    cdx_registry_close(g.reader);
    g.reader = NULL;
    remove_files();
}

static void registry_open(void)
{
    char err[512];
    cdx_registry_t *reg = NULL;
    remove_files();
    if (cdx_registry_open(g.path, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_pipeline: %s\n", err);
        abort();
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(institutions); i++) {
        cdx_institution_t inst;
        memset(&inst, 0, sizeof inst);
        cdx_strlcpy(inst.oid, institutions[i].oid, sizeof inst.oid);
        cdx_strlcpy(inst.name, institutions[i].name, sizeof inst.name);
        inst.roles = CDX_ROLE_SUBMIT | CDX_ROLE_QUERY;
        CHECK(cdx_registry_put_institution(reg, &inst, "local:fuzz") == 0);
    }
    CHECK(cdx_registry_open_reader(g.path, &g.reader, err, sizeof err) == 0);
    CHECK(cdx_writer_start(&g.loop, reg, 64, &g.writer) == 0);
}

static void teardown(void)
{
    registry_close();
    uv_loop_close(&g.loop);
    rmdir(g.dir);
    cdx_pipeline_free(g.pipeline);
}

static void setup(void)
{
    cdx_log_set_level(CDX_LOG_ERROR);
    g.verbose = getenv("CDX_FUZZ_VERBOSE") != NULL;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(g.dir, sizeof g.dir, "%s/cdx-fuzz-pipeline-XXXXXX", base ? base : "/tmp");
    CHECK(mkdtemp(g.dir) != NULL);
    snprintf(g.path, sizeof g.path, "%s/registry.db", g.dir);
    char err[512];
    cdx_pipeline_options_t opt = {.mappings_dir = CDX_FUZZ_MAPPINGS_DIR, .xsd_path = NULL};
    if (cdx_pipeline_new(&opt, &g.pipeline, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_pipeline: %s\n", err);
        abort();
    }
    memset(g.key, 0x5a, sizeof g.key);
    CHECK(uv_loop_init(&g.loop) == 0);
    registry_open();
    atexit(teardown);
    g.ready = 1;
}

static const uint8_t *find(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= size && i <= size - n; i++)
        if (data[i] == (uint8_t)needle[0] && memcmp(data + i, needle, n) == 0)
            return data + i;
    return NULL;
}

static const char *pick_submitter(const uint8_t *data, size_t size)
{
    const char *best = institutions[0].oid;
    const uint8_t *first = NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(institutions); i++) {
        const uint8_t *at = find(data, size, institutions[i].oid);
        if (at != NULL && (first == NULL || at < first)) {
            first = at;
            best = institutions[i].oid;
        }
    }
    return best;
}

static int64_t count(cdx_registry_countable_t what)
{
    int64_t n = -1;
    CHECK(cdx_registry_count(g.reader, what, &n) == 0);
    return n;
}

/* What the registry holds under uid, or NULL/0 when nothing. */
static char *stored_bytes(const char *uid, int what, size_t *len)
{
    cdx_doc_row_t row;
    int rc = cdx_registry_get_document(g.reader, uid, what, &row);
    if (rc == CDX_ENOTFOUND) {
        *len = 0;
        return NULL;
    }
    CHECK(rc == 0);
    char *copy = malloc(row.content_len + 1);
    CHECK(copy != NULL);
    memcpy(copy, row.content ? row.content : "", row.content_len);
    *len = row.content_len;
    cdx_doc_row_cleanup(&row);
    return copy;
}

/* The invariants on the registry after one input was written: rc is the
 * pipeline's verdict, before (before_len bytes) what the document's id
 * held, docs_before the document rows there were. */
static void check_written(int rc, const cdx_ingest_t *in, const job_t *job, const uint8_t *data,
                          size_t size, const char *uid, const char *before, size_t before_len,
                          int64_t docs_before)
{
    int64_t docs_after = count(CDX_COUNT_DOCUMENTS);
    if (rc != 0) {
        int found = 0;
        CHECK(docs_after == docs_before);
        CHECK(cdx_registry_has_sha256(g.reader, in->sha256, &found) == 0 && !found);
    } else {
        CHECK(strcmp(job->change.uid, uid) == 0);
        size_t len = 0;
        char *now = stored_bytes(uid, CDX_DOC_ORIGINAL, &len);
        CHECK(now != NULL || job->change.outcome == CDX_STORE_FORBIDDEN);
        switch (job->change.outcome) {
        case CDX_STORE_CREATED: {
            CHECK(before == NULL && docs_after == docs_before + 1);
            CHECK(len == size && memcmp(now, data, size) == 0);
            size_t nlen = 0;
            char *norm = stored_bytes(uid, CDX_DOC_NORMALIZED, &nlen);
            CHECK(norm != NULL && nlen == in->normalized_len &&
                  memcmp(norm, in->normalized, nlen) == 0);
            free(norm);
            break;
        }
        case CDX_STORE_IDENTICAL:
            CHECK(before != NULL && docs_after == docs_before);
            CHECK(len == size && memcmp(now, data, size) == 0);
            break;
        case CDX_STORE_CONFLICT:
            CHECK(before != NULL && docs_after == docs_before);
            CHECK(len == before_len && memcmp(now, before, len) == 0);
            break;
        case CDX_STORE_FORBIDDEN:
            /* A replacement of another institution's document: nothing
             * stored, whatever was there left as it was. */
            CHECK(docs_after == docs_before);
            CHECK((before == NULL && now == NULL) ||
                  (before != NULL && now != NULL && len == before_len &&
                   memcmp(now, before, len) == 0));
            break;
        default:
            CHECK(!"unknown store outcome");
        }
        free(now);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.ready)
        setup();
    if (g.inputs > 0 && g.inputs % ROTATE_EVERY == 0) {
        registry_close();
        registry_open();
    }
    g.inputs++;

    job_t job;
    memset(&job, 0, sizeof job);
    const char *body = size > 0 ? (const char *)data : "";
    const char *submitter = pick_submitter(data, size);
    cdx_submitter_t sub = {.oid = submitter, .policy = 0};
    cdx_ingest_t in;
    int rc = cdx_ingest_run(g.pipeline, body, size, &sub, &in);
    CHECK(rc == 0 || rc == CDX_EPARSE);
    CHECK(in.size == size);
    if (rc == CDX_EPARSE)
        CHECK(in.diag.status >= 400 && in.diag.status < 500 && in.diag.code != NULL &&
              in.diag.code[0] != '\0');
    if (in.patient_root != NULL)
        cdx_app_patient_key(g.key, in.patient_root, in.patient_ext, job.patient_key);
    job.change = (cdx_ingest_change_t){
        .in = &in,
        .body = body,
        .submitter = submitter,
        .purpose = "TREAT",
        .patient_key = job.patient_key,
    };

    int64_t docs_before = count(CDX_COUNT_DOCUMENTS);
    int64_t audit_before = count(CDX_COUNT_AUDIT);
    char uid[33] = "";
    size_t before_len = 0;
    char *before = NULL;
    if (rc == 0) {
        CHECK(in.unique_id != NULL && in.normalized != NULL);
        cdx_registry_doc_uid(in.unique_id, uid);
        before = stored_bytes(uid, CDX_DOC_ORIGINAL, &before_len);
    }

    job.wreq.apply = rc == 0 ? apply_store : apply_reject_audit;
    job.wreq.done = on_written;
    job.wreq.arg = &job;
    CHECK(cdx_writer_submit(g.writer, &job.wreq) == 0);
    while (!job.done)
        uv_run(&g.loop, UV_RUN_ONCE);
    CHECK(job.status == 0);

    /* A consent document stored anew also records the patient's consent. */
    int consent = rc == 0 && in.consent_kind != 0 && job.change.outcome == CDX_STORE_CREATED;
    CHECK(count(CDX_COUNT_AUDIT) == audit_before + 1 + consent);
    check_written(rc, &in, &job, data, size, uid, before, before_len, docs_before);
    free(before);

    int64_t bad = -1;
    CHECK(cdx_registry_audit_verify(g.reader, &bad) == 0);
    if (g.verbose)
        fprintf(stderr, "fuzz_pipeline: %s\n",
                rc != 0 ? in.diag.code
                : job.change.outcome == CDX_STORE_CREATED   ? "stored"
                : job.change.outcome == CDX_STORE_IDENTICAL ? "identical"
                : job.change.outcome == CDX_STORE_FORBIDDEN ? "replacement forbidden"
                                                            : "conflict");
    cdx_ingest_cleanup(&in);
    return 0;
}
