/* jobs: CPU work on the libuv thread pool within max_jobs, and requests
 * held across other asynchronous work (see include/cdx/net/server.h). */
#include "net_internal.h"
#include "cdx/base/common.h"

#include <stdlib.h>

typedef struct job {
    uv_work_t req;
    conn_t *conn;
    void (*work)(void *data);
    void (*done)(cdx_request_t *rq, void *data);
    void *data;
} job_t;

static void job_work(uv_work_t *req)
{
    job_t *job = req->data;
    job->work(job->data);
}

static void job_after(uv_work_t *req, int status)
{
    job_t *job = req->data;
    conn_t *c = job->conn;
    cdx_server_t *srv = c->srv;
    srv->jobs--;
    (void)status;
    if (c->closing)
        job->done(NULL, job->data);
    else
        job->done(&c->rq, job->data);
    free(job);
    cdx_net_conn_unref(c);
}

int cdx_submit_job(cdx_request_t *rq, void (*work)(void *data),
                   void (*done)(cdx_request_t *rq, void *data), void *data)
{
    conn_t *c = rq->conn;
    cdx_server_t *srv = c->srv;
    if (srv->jobs + srv->held >= (size_t)srv->cfg->max_jobs) {
        srv->m.jobs_refused++;
        return CDX_EBUSY;
    }
    job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        return CDX_ENOMEM;
    job->conn = c;
    job->work = work;
    job->done = done;
    job->data = data;
    job->req.data = job;
    int rc = uv_queue_work(srv->loop, &job->req, job_work, job_after);
    if (rc != 0) {
        free(job);
        return rc;
    }
    srv->jobs++;
    srv->m.jobs_total++;
    c->refs++;
    return 0;
}

void *cdx_request_hold(cdx_request_t *rq)
{
    conn_t *c = rq->conn;
    c->refs++;
    /* A held request still owns its results (the parsed, normalized and
     * extracted document): it counts against max_jobs like a running job,
     * so memory stays bounded however far the writer falls behind. */
    c->srv->held++;
    return c;
}

cdx_request_t *cdx_request_resume(void *hold)
{
    conn_t *c = hold;
    c->srv->held--;
    cdx_request_t *rq = c->closing ? NULL : &c->rq;
    /* While open, the loop's own reference keeps c alive after this. */
    cdx_net_conn_unref(c);
    return rq;
}
