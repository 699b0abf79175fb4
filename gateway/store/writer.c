/* writer: one writer thread with group commit (see include/cdx/store/writer.h). */
#include "cdx/store/writer.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/store/testvfs.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#define MAX_BATCH 256
/* A checkpoint runs when the queue is empty, and at the latest after this
 * many batches under constant load.  It runs on the checkpointer thread,
 * with a connection of its own, while the writer goes on with the next
 * batch.  A passive checkpoint that the writer's commits overtake leaves
 * the WAL in use, and SQLite starts the WAL again from its beginning only
 * when a write finds all of it copied: so once the WAL holds this many
 * frames (16 MiB of 4 KiB pages), the writer checkpoints itself between
 * two batches, as it did alone, and the WAL cannot grow without bound. */
#define CHECKPOINT_EVERY 200
#define WAL_FRAMES_MAX 4096

struct cdx_writer {
    uv_async_t async;
    cdx_registry_t *reg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cdx_write_req_t *queue_head, *queue_tail; /* waiting */
    cdx_write_req_t *done_head, *done_tail;   /* finished, for the loop */
    size_t queued;
    size_t in_flight; /* queued + being committed + done not yet reported */
    size_t capacity;
    int stopping;
    unsigned long long batches, changes;
    /* The checkpointer thread and its connection (NULL: the writer
     * checkpoints itself); wanted and stop are under mu. */
    cdx_registry_t *ckpt_reg;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    int ckpt_wanted, ckpt_stop;
    int ckpt_joined; /* by the writer thread, as it ends */
    unsigned long long ckpt_own, ckpt_theirs;
};

static void append(cdx_write_req_t **head, cdx_write_req_t **tail, cdx_write_req_t *list,
                   cdx_write_req_t *last)
{
    if (*tail)
        (*tail)->next = list;
    else
        *head = list;
    *tail = last;
}

/* An fsync or write failure may have left the WAL in an unknown state;
 * acknowledging anything now could lose it later.  Stop instead. */
static _Noreturn void die_on_io(cdx_registry_t *reg, int rc)
{
    CDX_ERROR("registry.io_failure", "error=%s action=exit detail=%s", cdx_log_q(cdx_strerror(rc)),
              cdx_log_q(cdx_registry_errmsg(reg)));
    _exit(70);
}

static void commit_batch(cdx_writer_t *w, cdx_write_req_t *batch)
{
    cdx_registry_t *reg = w->reg;
    int rc = cdx_registry_begin(reg);
    size_t n = 0;
    for (cdx_write_req_t *r = batch; r != NULL; r = r->next, n++) {
        if (rc != 0) {
            r->status = rc;
            continue;
        }
        int src = cdx_registry_savepoint(reg);
        if (src == 0)
            src = r->apply(reg, r->arg);
        if (src == 0)
            src = cdx_registry_release(reg);
        else
            cdx_registry_rollback_savepoint(reg);
        r->status = src;
        if (src == CDX_EIO)
            die_on_io(reg, CDX_EIO);
        cdx_test_crash_point("write");
    }
    if (rc == 0) {
        cdx_test_crash_point("commit");
        rc = cdx_registry_commit(reg);
        if (rc != 0) {
            cdx_registry_rollback(reg);
            if (rc == CDX_EIO)
                die_on_io(reg, CDX_EIO);
            for (cdx_write_req_t *r = batch; r != NULL; r = r->next)
                if (r->status == 0)
                    r->status = rc;
        }
    }
    if (rc != 0)
        CDX_ERROR("registry.commit_failed", "changes=%zu error=%s", n, cdx_log_q(cdx_strerror(rc)));
    pthread_mutex_lock(&w->mu);
    w->batches++;
    w->changes += n;
    pthread_mutex_unlock(&w->mu);
}

static void checkpoint(cdx_registry_t *reg)
{
    if (cdx_registry_checkpoint(reg) != 0)
        CDX_WARN("registry.checkpoint_failed", "detail=%s", cdx_log_q(cdx_registry_errmsg(reg)));
}

static void *checkpointer_main(void *arg)
{
    cdx_writer_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->ckpt_stop)
            pthread_cond_wait(&w->ckpt_cv, &w->mu);
        if (w->ckpt_stop)
            break;
        w->ckpt_wanted = 0;
        pthread_mutex_unlock(&w->mu);
        checkpoint(w->ckpt_reg);
        pthread_mutex_lock(&w->mu);
        w->ckpt_theirs++;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* After a batch, with mu held: asks the checkpointer for a checkpoint when
 * one is due, or runs one here when the WAL is past its bound (or there is
 * no checkpointer). */
static void after_batch(cdx_writer_t *w, unsigned *since_checkpoint)
{
    int due = w->queue_head == NULL || *since_checkpoint >= CHECKPOINT_EVERY;
    int own = w->ckpt_reg == NULL ? due : cdx_registry_wal_frames(w->reg) >= WAL_FRAMES_MAX;
    if (own) {
        pthread_mutex_unlock(&w->mu);
        checkpoint(w->reg);
        pthread_mutex_lock(&w->mu);
        w->ckpt_own++;
    } else if (due) {
        w->ckpt_wanted = 1;
        pthread_cond_signal(&w->ckpt_cv);
    }
    if (own || due)
        *since_checkpoint = 0;
}

static void *writer_main(void *arg)
{
    cdx_writer_t *w = arg;
    unsigned since_checkpoint = 0;
    /* Checkpoints are ours to schedule: between batches, not inside a
     * commit that clients are waiting for. */
    int manual = cdx_registry_manual_checkpoints(w->reg) == 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue_head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->queue_head == NULL && w->stopping)
            break;
        /* Take what is waiting, up to a batch. */
        cdx_write_req_t *batch = w->queue_head, *last = batch;
        size_t n = 1;
        while (last->next != NULL && n < MAX_BATCH) {
            last = last->next;
            n++;
        }
        w->queue_head = last->next;
        if (w->queue_head == NULL)
            w->queue_tail = NULL;
        last->next = NULL;
        w->queued -= n;
        pthread_mutex_unlock(&w->mu);

        commit_batch(w, batch);
        cdx_test_crash_point("reply");

        pthread_mutex_lock(&w->mu);
        append(&w->done_head, &w->done_tail, batch, last);
        uv_async_send(&w->async);
        since_checkpoint++;
        if (manual)
            after_batch(w, &since_checkpoint);
    }
    /* The checkpointer stops first, so that the last checkpoint (which
     * a running one would turn into a no-op) copies everything. */
    int joined = w->ckpt_reg != NULL;
    w->ckpt_stop = 1;
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    if (joined) {
        pthread_join(w->ckpt_thread, NULL);
        w->ckpt_joined = 1;
    }
    if (manual)
        cdx_registry_checkpoint(w->reg);
    return NULL;
}

static void on_async(uv_async_t *h)
{
    cdx_writer_t *w = h->data;
    pthread_mutex_lock(&w->mu);
    cdx_write_req_t *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    size_t n = 0;
    for (cdx_write_req_t *r = list; r != NULL; r = r->next)
        n++;
    w->in_flight -= n;
    pthread_mutex_unlock(&w->mu);
    while (list != NULL) {
        cdx_write_req_t *next = list->next;
        list->next = NULL;
        list->done(list, list->status);
        list = next;
    }
}

/* The checkpointer's connection and thread; without them (a database
 * without a file, no thread) the writer checkpoints itself. */
static void start_checkpointer(cdx_writer_t *w)
{
    char err[256];
    if (cdx_registry_open_sibling(w->reg, &w->ckpt_reg, err, sizeof err) != 0) {
        CDX_WARN("registry.checkpointer_off", "detail=%s", cdx_log_q(err));
        w->ckpt_reg = NULL;
        return;
    }
    if (pthread_create(&w->ckpt_thread, NULL, checkpointer_main, w) != 0) {
        cdx_registry_close(w->ckpt_reg);
        w->ckpt_reg = NULL;
    }
}

/* Before the writer thread runs, or after it ended. */
static void stop_checkpointer(cdx_writer_t *w)
{
    if (w->ckpt_reg == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->ckpt_stop = 1;
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    if (!w->ckpt_joined)
        pthread_join(w->ckpt_thread, NULL);
    cdx_registry_close(w->ckpt_reg);
    w->ckpt_reg = NULL;
}

int cdx_writer_start(void *uv_loop, cdx_registry_t *reg, size_t capacity, cdx_writer_t **out)
{
    cdx_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return CDX_ENOMEM;
    w->reg = reg;
    w->capacity = capacity;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->ckpt_cv, NULL);
    int rc = uv_async_init(uv_loop, &w->async, on_async);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->async.data = w;
    start_checkpointer(w);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        stop_checkpointer(w);
        uv_close((uv_handle_t *)&w->async, (uv_close_cb)free);
        return CDX_ENOMEM;
    }
    *out = w;
    return 0;
}

int cdx_writer_submit(cdx_writer_t *w, cdx_write_req_t *req)
{
    req->next = NULL;
    req->status = 0;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= w->capacity) {
        pthread_mutex_unlock(&w->mu);
        return CDX_EBUSY;
    }
    append(&w->queue_head, &w->queue_tail, req, req);
    w->queued++;
    w->in_flight++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t cdx_writer_pending(const cdx_writer_t *w)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    size_t n = w->in_flight;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
    return n;
}

static void on_closed(uv_handle_t *h)
{
    cdx_writer_t *w = h->data;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ckpt_cv);
    free(w);
}

cdx_registry_t *cdx_writer_stop(cdx_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    stop_checkpointer(w);
    /* Report what the last batches did before the handle goes. */
    on_async(&w->async);
    cdx_registry_t *reg = w->reg;
    uv_close((uv_handle_t *)&w->async, on_closed);
    return reg;
}

void cdx_writer_stats(const cdx_writer_t *w, unsigned long long *batches,
                      unsigned long long *changes)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    *batches = w->batches;
    *changes = w->changes;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
}

void cdx_writer_checkpoints(const cdx_writer_t *w, unsigned long long *own,
                            unsigned long long *theirs)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    *own = w->ckpt_own;
    *theirs = w->ckpt_theirs;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
}
