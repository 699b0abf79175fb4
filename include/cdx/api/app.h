/*
 * app: what the gateway's handlers share while serving.
 *
 * Responsible for: holding the pipeline, the HTML renderer, the registry writer, the pool of
 * registry readers and the patient-hash key, and setting them up and
 * tearing them down around the server.
 * Not responsible for: serving (server) or the work itself.
 *
 * Loop thread, except cdx_app_reader_acquire/release and
 * cdx_app_patient_key, which any thread may call.
 */
#ifndef CDX_APP_H
#define CDX_APP_H

#include <pthread.h>

#include "cdx/api/params.h"
#include "cdx/base/buf.h"
#include "cdx/conf/config.h"
#include "cdx/domain/access.h"
#include "cdx/domain/audit_sign.h"
#include "cdx/domain/ingest.h"
#include "cdx/domain/national.h"
#include "cdx/parsers/render.h"
#include "cdx/store/registry.h"
#include "cdx/net/router.h"
#include "cdx/store/writer.h"

#define CDX_APP_MAX_READERS 32

typedef struct cdx_app {
    const cdx_config_t *cfg;
    cdx_pipeline_t *pipeline;
    cdx_renderer_t *renderer; /* the HTML renderer (render.h) */
    cdx_writer_t *writer;
    cdx_registry_t *readers[CDX_APP_MAX_READERS];
    int reader_busy[CDX_APP_MAX_READERS];
    size_t nreaders;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char patient_key[32];
    cdx_national_t national;   /* national id roots and key, to map an id asked for */
    double breakglass_minutes; /* breakglass_minutes, read once */
    /* Access counters (loop thread), for /metrics. */
    uint64_t access_breakglass;            /* disclosures on break-glass */
    uint64_t access_refused_consent;       /* refused for consent */
    uint64_t access_refused_confidentiality;
    struct cdx_delivery_worker *delivery; /* the delivery worker (api/delivery.h), or NULL */
    cdx_audit_key_t *audit_key; /* signs the audit trail's checkpoints */
} cdx_app_t;

/* The length of a break-glass time box, in minutes. */
double cdx_app_breakglass_minutes(const cdx_app_t *app);

/* Loop thread: counts a disclosure's outcome once its audit record is
 * durable: refused (decision, or NULL when disclosed) and the basis it
 * stood on. */
void cdx_app_count_access(cdx_app_t *app, const cdx_access_decision_t *refused,
                          cdx_access_basis_t basis);

/* The access counters in Prometheus text format, appended to out. */
int cdx_app_access_metrics(const cdx_app_t *app, cdx_buf_t *out);

/* Reads (or creates, mode 0600) the patient-hash key file. */
int cdx_app_load_key(const char *path, unsigned char key[32], char *err, size_t errlen);
/* The same for any 32-byte key file; what names its configuration key in
 * messages. */
int cdx_app_load_named_key(const char *what, const char *path, unsigned char key[32], char *err,
                           size_t errlen);

/* What the ingest pipeline takes from the configuration besides its files:
 * the national id roots with their key (read, or created on first start,
 * only when roots are configured) and the match thresholds (the
 * calibrated defaults unless set).  Every command that builds a pipeline
 * uses it, so that `cdxgw reindex` stores what `serve` stored.  Returns 0
 * or an error with the reason in err. */
int cdx_app_pipeline_settings(const cdx_config_t *cfg, cdx_national_t *nat,
                               cdx_match_thresholds_t *t, char *err, size_t errlen);

/* The seam where an identity asked for becomes the one the registry
 * stores: when ref's root is one of the configured national_id_roots its
 * extension is replaced by the keyed hash "hmac-sha256:<hex>" (the only
 * form the registry, the logs and the audit ever hold); any other identity
 * stays as it is.  Every endpoint that takes a patient identity calls it
 * before looking the identity up.  Returns 0 or CDX_ERANGE. */
int cdx_app_stored_identity(const cdx_app_t *app, cdx_patient_ref_t *ref);

/* Builds the pipeline and opens the readers; the writer starts in
 * cdx_app_start_writer once the loop exists.  Returns 0 or an error with
 * the reason in err. */
int cdx_app_init(cdx_app_t *app, const cdx_config_t *cfg, char *err, size_t errlen);
int cdx_app_start_writer(cdx_app_t *app, void *uv_loop, cdx_registry_t *writer_reg);
void cdx_app_stop_writer(void *app);
void cdx_app_cleanup(cdx_app_t *app);

/* The server's reject hook: audits a request refused before its handler
 * (a 413, a framing error) on a route that stores documents, with the
 * default purpose of use (the headers were not looked at). */
void cdx_app_on_reject(void *app, const cdx_route_t *route, const char *peer_oid,
                       const char *peer_addr, int status, const char *code);

/* Audits a submission refused by its handler before its body was looked
 * at ("document.reject", outcome 4, detail route, status and code; on a
 * route of the patient index its own event, "patient.link",
 * "patient.unlink" or "patient.query", or "access.denied" with outcome 8
 * for a missing role), with
 * the purpose it declared (a code of the purpose table), or none (NULL)
 * when it declared one the table lacks.  peer_oid and peer_addr (the
 * client's network address) may be NULL. */
void cdx_app_audit_reject(cdx_app_t *app, const cdx_route_t *route, const char *peer_oid,
                          const char *peer_addr, int status, const char *code,
                          const char *purpose);

/* The server's deny hook: audits a request refused for lacking the role of
 * a route without a body: on a route that discloses patient data
 * (CDX_ROUTE_DISCLOSES) through the disclosure sequence as
 * "document.read" (with the document id asked for, when it is one), else
 * as "access.denied"; outcome 8, actor the institution. */
struct cdx_request;
void cdx_app_on_deny(void *app, const struct cdx_request *rq);

/* Answers a registry failure: CDX_EFULL 507 STORAGE_FULL, CDX_EBUSY (the
 * write queue refused the change) 503 OVERLOADED, anything else 503
 * STORAGE_UNAVAILABLE; each says nothing was stored. */
void cdx_app_respond_storage_error(struct cdx_request *rq, int status);

cdx_registry_t *cdx_app_reader_acquire(cdx_app_t *app);
void cdx_app_reader_release(cdx_app_t *app, cdx_registry_t *reg);

/* Keyed hash (HMAC-SHA256, first 128 bits as hex) of a patient id: what
 * audit records and logs carry instead of the id. */
void cdx_app_patient_key(const unsigned char key[32], const char *root, const char *ext,
                         char out[33]);

#endif
