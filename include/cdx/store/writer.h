/*
 * writer: the registry's one writer thread, with group commit.
 *
 * Responsible for: applying changes submitted from the loop thread in
 * batches, one transaction per batch (so concurrent ingests share one
 * fsync), each change inside its own savepoint so one failure does not
 * undo the others, and reporting each change's result back on the loop
 * thread only after the batch's COMMIT is durable; and the WAL's
 * checkpoints, run between batches by a checkpointer thread on a
 * connection of its own while the writer goes on (by the writer itself
 * when the WAL is past its bound).  A commit that fails
 * with an I/O error other than "disk full" stops the process: nothing is
 * acknowledged that might not be on disk.
 * Not responsible for: what a change does (its apply function) or reads
 * (readers use their own connections).
 *
 * cdx_writer_submit and cdx_writer_stop are loop-thread only; apply runs
 * on the writer thread, done on the loop thread.
 */
#ifndef CDX_WRITER_H
#define CDX_WRITER_H

#include <stddef.h>

#include "cdx/store/registry.h"

typedef struct cdx_writer cdx_writer_t;

typedef struct cdx_write_req cdx_write_req_t;
struct cdx_write_req {
    /* Runs on the writer thread inside the batch's transaction, in a
     * savepoint of its own.  It may make several registry calls (store a
     * document, append an audit record, set a state key, ...): they join
     * the batch's transaction instead of opening their own.  It returns 0
     * to keep all of them, or a negative error (that of a call that failed,
     * or its own) to undo all of them together: the savepoint is rolled
     * back, so none of the apply's writes is committed while the other
     * changes of the batch are.  A call that failed may have left part of
     * its own writes, so an apply never returns 0 after one. */
    int (*apply)(cdx_registry_t *reg, void *arg);
    /* Runs on the loop thread once the batch is durable (status 0) or
     * failed: status is apply's error, or the commit's (CDX_EFULL, ...). */
    void (*done)(cdx_write_req_t *req, int status);
    void *arg;
    /* private */
    int status;
    cdx_write_req_t *next;
};

/* Starts the writer thread; it owns reg from now on.  capacity bounds the
 * queue.  Returns 0 or a negative error. */
int cdx_writer_start(void *uv_loop, cdx_registry_t *reg, size_t capacity, cdx_writer_t **out);

/* Queues a change.  Returns 0, or CDX_EBUSY when the queue is full. */
int cdx_writer_submit(cdx_writer_t *w, cdx_write_req_t *req);

/* Changes queued or being committed. */
size_t cdx_writer_pending(const cdx_writer_t *w);

/* Finishes queued changes, stops the thread, closes its handle; reg is
 * handed back (the caller closes it).  Completion callbacks of the last
 * batch run during the loop's remaining iterations. */
cdx_registry_t *cdx_writer_stop(cdx_writer_t *w);

/* Batches committed and changes applied, for metrics. */
void cdx_writer_stats(const cdx_writer_t *w, unsigned long long *batches,
                      unsigned long long *changes);
/* Checkpoints run by the checkpointer thread (theirs) and by the writer
 * thread itself (own: the WAL past its bound, or no checkpointer). */
void cdx_writer_checkpoints(const cdx_writer_t *w, unsigned long long *own,
                            unsigned long long *theirs);

#endif
