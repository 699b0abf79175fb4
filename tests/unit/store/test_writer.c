/* Unit tests for the registry writer: the writer thread, its queue bound
 * and group commit, against a real registry.  A gate (a change whose apply
 * waits until the test opens it) holds the writer thread inside a batch,
 * so that what queues meanwhile is known without any timing: the next
 * batch then takes all of it.  The ThreadSanitizer build runs these. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdx/base/common.h"
#include "cdx/store/registry.h"
#include "cdx/store/writer.h"
#include "cdx_test_registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static char tmpdir[1024];
static int db_counter;

static int group_setup(void **state)
{
    (void)state;
    return cdx_test_scratch_dir(tmpdir, sizeof tmpdir, "writer");
}

static int group_teardown(void **state)
{
    (void)state;
    return cdx_test_remove_dir(tmpdir);
}

/* ---- a gate the writer thread waits at ---------------------------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
} gate_t;

static gate_t gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void gate_reset(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = gate.open = 0;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_wait_entered(void)
{
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* ---- changes ------------------------------------------------------------ */

typedef struct change {
    cdx_write_req_t req;
    int n;
    int fail;  /* apply writes its audit row, then fails */
    int gated; /* apply waits at the gate first */
    int done;  /* set on the loop thread */
    int status;
} change_t;

static int apply(cdx_registry_t *reg, void *arg)
{
    change_t *c = arg;
    if (c->gated) {
        pthread_mutex_lock(&gate.mu);
        gate.entered = 1;
        pthread_cond_broadcast(&gate.cv);
        while (!gate.open)
            pthread_cond_wait(&gate.cv, &gate.mu);
        pthread_mutex_unlock(&gate.mu);
    }
    char detail[32];
    snprintf(detail, sizeof detail, "n=%d", c->n);
    cdx_audit_event_t ev = {
        .event = "test.change", .actor_oid = "local:test", .outcome = 0, .detail = detail};
    int rc = cdx_registry_audit(reg, &ev);
    return rc == 0 && c->fail ? CDX_EINVAL : rc;
}

static void on_done(cdx_write_req_t *req, int status)
{
    change_t *c = req->arg;
    c->status = status;
    c->done++;
}

static void change_init(change_t *c, int n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->req.apply = apply;
    c->req.done = on_done;
    c->req.arg = c;
}

typedef struct fixture {
    char path[1200];
    uv_loop_t loop;
    cdx_writer_t *w;
    cdx_registry_t *reader;
} fixture_t;

/* A writer over a new registry; with submitter, the registry knows the
 * submitting institution (and holds the audit record of its registration). */
static void fixture_open(fixture_t *f, size_t capacity, int submitter)
{
    char err[256];
    cdx_registry_t *reg = NULL;
    snprintf(f->path, sizeof f->path, "%s/db%d/registry.db", tmpdir, ++db_counter);
    if (submitter)
        assert_int_equal(cdx_test_registry_open(f->path, &reg), 0);
    else
        assert_int_equal(cdx_registry_open(f->path, &reg, err, sizeof err), 0);
    assert_int_equal(cdx_registry_open_reader(f->path, &f->reader, err, sizeof err), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(cdx_writer_start(&f->loop, reg, capacity, &f->w), 0);
    gate_reset();
}

static void fixture_start(fixture_t *f, size_t capacity)
{
    fixture_open(f, capacity, 0);
}

static void fixture_stop(fixture_t *f)
{
    cdx_registry_t *reg = cdx_writer_stop(f->w);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    int64_t bad = -1;
    assert_int_equal(cdx_registry_audit_verify(reg, &bad), 0);
    cdx_registry_close(reg);
    cdx_registry_close(f->reader);
}

static void run_until_done(fixture_t *f, change_t *c, size_t n)
{
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            left += c[i].done == 0;
        if (left == 0)
            return;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static int64_t audit_rows(fixture_t *f)
{
    int64_t n = -1;
    assert_int_equal(cdx_registry_count(f->reader, CDX_COUNT_AUDIT, &n), 0);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

/* What queues while a batch commits is committed together in the next one:
 * 1 + N changes, 2 commits, each change reported once with status 0. */
static void test_group_commit(void **state)
{
    enum { N = 100 };
    fixture_t f;
    fixture_start(&f, 1024);
    static change_t c[N + 1];
    for (int i = 0; i <= N; i++)
        change_init(&c[i], i);
    c[0].gated = 1;
    assert_int_equal(cdx_writer_submit(f.w, &c[0].req), 0);
    gate_wait_entered();
    for (int i = 1; i <= N; i++)
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
    assert_int_equal(cdx_writer_pending(f.w), N + 1);
    gate_open();
    run_until_done(&f, c, N + 1);
    for (int i = 0; i <= N; i++) {
        assert_int_equal(c[i].done, 1);
        assert_int_equal(c[i].status, 0);
    }
    unsigned long long batches = 0, changes = 0;
    cdx_writer_stats(f.w, &batches, &changes);
    assert_int_equal(batches, 2);
    assert_int_equal(changes, N + 1);
    assert_int_equal(cdx_writer_pending(f.w), 0);
    assert_int_equal(audit_rows(&f), N + 1);
    fixture_stop(&f);
}

/* The queue is bounded: a full queue refuses (503 upstream), and takes
 * changes again once the writer has drained it. */
static void test_queue_bound(void **state)
{
    enum { CAP = 16 };
    fixture_t f;
    fixture_start(&f, CAP);
    static change_t c[CAP + 3];
    for (int i = 0; i < CAP + 3; i++)
        change_init(&c[i], i);
    c[0].gated = 1;
    assert_int_equal(cdx_writer_submit(f.w, &c[0].req), 0);
    gate_wait_entered(); /* c[0] has left the queue */
    for (int i = 1; i <= CAP; i++)
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
    assert_int_equal(cdx_writer_submit(f.w, &c[CAP + 1].req), CDX_EBUSY);
    gate_open();
    run_until_done(&f, c, CAP + 1);
    assert_int_equal(c[CAP + 1].done, 0); /* refused: never reported */
    assert_int_equal(cdx_writer_submit(f.w, &c[CAP + 2].req), 0);
    run_until_done(&f, &c[CAP + 2], 1);
    assert_int_equal(c[CAP + 2].status, 0);
    assert_int_equal(audit_rows(&f), CAP + 2);
    fixture_stop(&f);
}

/* A change that fails inside a batch is rolled back alone (its savepoint);
 * the others of the batch commit. */
static void test_failed_change_alone(void **state)
{
    fixture_t f;
    fixture_start(&f, 64);
    static change_t c[6];
    for (int i = 0; i < 6; i++)
        change_init(&c[i], i);
    c[0].gated = 1;
    c[3].fail = 1;
    assert_int_equal(cdx_writer_submit(f.w, &c[0].req), 0);
    gate_wait_entered();
    for (int i = 1; i < 6; i++)
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
    gate_open();
    run_until_done(&f, c, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(c[i].status, i == 3 ? CDX_EINVAL : 0);
    assert_int_equal(audit_rows(&f), 5);
    fixture_stop(&f);
}

/* Stopping with changes queued finishes them first; each is reported. */
static void test_stop_finishes_queue(void **state)
{
    enum { N = 40 };
    fixture_t f;
    fixture_start(&f, 1024);
    static change_t c[N];
    for (int i = 0; i < N; i++)
        change_init(&c[i], i);
    c[0].gated = 1;
    assert_int_equal(cdx_writer_submit(f.w, &c[0].req), 0);
    gate_wait_entered();
    for (int i = 1; i < N; i++)
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
    gate_open();
    cdx_registry_t *reg = cdx_writer_stop(f.w);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].done, 1);
        assert_int_equal(c[i].status, 0);
    }
    assert_int_equal(audit_rows(&f), N);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    cdx_registry_close(reg);
    cdx_registry_close(f.reader);
}

/* One apply may combine several registry calls, all inside its change's
 * savepoint: a document, an extra audit record and a state key.  When a
 * later call of the same apply fails, every one of them is rolled back
 * together, while the batch's other changes commit. */
typedef struct combined {
    cdx_write_req_t req;
    int n;
    int fail; /* the last call fails (a state value of NULL) */
    int done;
    int status;
} combined_t;

static int apply_combined(cdx_registry_t *reg, void *arg)
{
    combined_t *c = arg;
    char id[64], sha[65], key[32], uid[33];
    snprintf(id, sizeof id, "2.25.7.9^doc-%d", c->n);
    snprintf(sha, sizeof sha, "%064d", c->n);
    snprintf(key, sizeof key, "combined.%d", c->n);
    cdx_doc_record_t rec = {.unique_id = id, .version = 1, .submitter_oid = "2.25.7",
                            .custodian_oid = "2.25.7", .sha256 = sha, .original = "<a/>",
                            .size = 4, .meta_json = "{}"};
    cdx_audit_event_t ingest = {.event = "document.ingest", .actor_oid = "2.25.7", .outcome = 0};
    cdx_audit_event_t extra = {.event = "test.extra", .actor_oid = "local:test", .outcome = 0};
    cdx_store_outcome_t outcome;
    int rc = cdx_registry_store_document(reg, &rec, &ingest, &outcome, uid);
    if (rc == 0 && outcome != CDX_STORE_CREATED)
        rc = CDX_EDB;
    if (rc == 0)
        rc = cdx_registry_audit(reg, &extra);
    if (rc == 0)
        rc = cdx_registry_state_set(reg, key, "kept");
    if (rc == 0 && c->fail)
        rc = cdx_registry_state_set(reg, "combined.last", NULL); /* value is NOT NULL */
    return rc;
}

static void on_combined_done(cdx_write_req_t *req, int status)
{
    combined_t *c = req->arg;
    c->status = status;
    c->done++;
}

static void test_apply_combines_calls(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, 1024, 1);
    int64_t audit_before = audit_rows(&f);

    /* The gate holds the writer so that the three changes form one batch. */
    change_t first;
    change_init(&first, 0);
    first.gated = 1;
    assert_int_equal(cdx_writer_submit(f.w, &first.req), 0);
    gate_wait_entered();
    static combined_t c[3];
    for (int i = 0; i < 3; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].n = i;
        c[i].fail = i == 1;
        c[i].req.apply = apply_combined;
        c[i].req.done = on_combined_done;
        c[i].req.arg = &c[i];
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
    }
    gate_open();
    run_until_done(&f, &first, 1);
    for (;;) {
        if (c[0].done && c[1].done && c[2].done)
            break;
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    unsigned long long batches = 0, changes = 0;
    cdx_writer_stats(f.w, &batches, &changes);
    assert_int_equal(batches, 2);
    assert_int_equal(c[0].status, 0);
    assert_int_equal(c[1].status, CDX_EDB);
    assert_int_equal(c[2].status, 0);

    /* The first and third changes, whole; nothing of the second. */
    int64_t n = -1;
    assert_int_equal(cdx_registry_count(f.reader, CDX_COUNT_DOCUMENTS, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(audit_rows(&f), audit_before + 1 + 2 * 2);
    for (int i = 0; i < 3; i++) {
        char id[64], uid[33], key[32], value[16];
        snprintf(id, sizeof id, "2.25.7.9^doc-%d", i);
        snprintf(key, sizeof key, "combined.%d", i);
        cdx_registry_doc_uid(id, uid);
        cdx_doc_row_t row;
        int rc = cdx_registry_get_document(f.reader, uid, CDX_DOC_META_ONLY, &row);
        assert_int_equal(rc, i == 1 ? CDX_ENOTFOUND : 0);
        if (rc == 0)
            cdx_doc_row_cleanup(&row);
        assert_int_equal(cdx_registry_state_get(f.reader, key, value, sizeof value), 0);
        assert_string_equal(value, i == 1 ? "" : "kept");
    }
    fixture_stop(&f);
}

/* Readers on their own connections while the writer commits: every read
 * sees a consistent, verifiable chain (WAL snapshots). */
typedef struct reader_arg {
    const char *path;
    int rounds;
    int failures;
} reader_arg_t;

static void *reader_main(void *p)
{
    reader_arg_t *a = p;
    char err[256];
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open_reader(a->path, &reg, err, sizeof err) != 0) {
        a->failures++;
        return NULL;
    }
    for (int i = 0; i < a->rounds; i++) {
        int64_t bad = -1;
        if (cdx_registry_audit_verify(reg, &bad) != 0)
            a->failures++;
    }
    cdx_registry_close(reg);
    return NULL;
}

static void test_reads_while_writing(void **state)
{
    enum { N = 200, READERS = 3 };
    fixture_t f;
    fixture_start(&f, 1024);
    static change_t c[N];
    pthread_t th[READERS];
    reader_arg_t args[READERS];
    for (int k = 0; k < READERS; k++) {
        args[k] = (reader_arg_t){.path = f.path, .rounds = 30};
        assert_int_equal(pthread_create(&th[k], NULL, reader_main, &args[k]), 0);
    }
    for (int i = 0; i < N; i++) {
        change_init(&c[i], i);
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
        if (i % 10 == 9)
            uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    run_until_done(&f, c, N);
    for (int k = 0; k < READERS; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0);
        assert_int_equal(args[k].failures, 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i].status, 0);
    assert_int_equal(audit_rows(&f), N);
    fixture_stop(&f);
}

/* ---- checkpoints ---------------------------------------------------------- */

/* 18 MiB: one change that puts more than the WAL's bound (4096 frames of
 * 4 KiB) into the WAL. */
#define BIG (18u << 20)
static char *big_value;

static int apply_big(cdx_registry_t *reg, void *arg)
{
    change_t *c = arg;
    char key[32];
    snprintf(key, sizeof key, "test.big.%d", c->n);
    return cdx_registry_state_set(reg, key, big_value);
}

static int64_t wal_size(const fixture_t *f)
{
    char wal[1300];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    return stat(wal, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The writer asks the checkpointer thread (its own connection) for the
 * checkpoints, and goes on; once the WAL is past its bound it checkpoints
 * itself, so that the WAL starts again from its beginning and its file
 * stays bounded (three such changes in a row leave less than three in it). */
static void test_checkpoints_off_the_writer(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, 64);
    change_t c[8];
    for (int i = 0; i < 8; i++) {
        change_init(&c[i], i);
        assert_int_equal(cdx_writer_submit(f.w, &c[i].req), 0);
        run_until_done(&f, &c[i], 1);
    }
    unsigned long long own = 0, theirs = 0;
    for (int i = 0; i < 5000 && theirs == 0; i++) {
        cdx_writer_checkpoints(f.w, &own, &theirs);
        if (theirs == 0)
            usleep(1000);
    }
    assert_true(theirs >= 1);
    assert_int_equal(own, 0);
    big_value = malloc(BIG + 1);
    assert_non_null(big_value);
    memset(big_value, 'x', BIG);
    big_value[BIG] = '\0';
    change_t b[3];
    for (int i = 0; i < 3; i++) {
        change_init(&b[i], 100 + i);
        b[i].req.apply = apply_big;
        assert_int_equal(cdx_writer_submit(f.w, &b[i].req), 0);
        run_until_done(&f, &b[i], 1);
        assert_int_equal(b[i].status, 0);
    }
    cdx_writer_checkpoints(f.w, &own, &theirs);
    assert_true(own >= 1);
    assert_true(wal_size(&f) > 0);
    assert_true(wal_size(&f) < 3 * (int64_t)BIG);
    free(big_value);
    big_value = NULL;
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit),        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_failed_change_alone), cmocka_unit_test(test_stop_finishes_queue),
        cmocka_unit_test(test_reads_while_writing), cmocka_unit_test(test_apply_combines_calls),
        cmocka_unit_test(test_checkpoints_off_the_writer),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
