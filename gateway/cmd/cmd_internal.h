/*
 * cmd_internal: what the commands of cmd/ share (validate, import,
 * reindex): argument splitting, the pipeline they build from the
 * configuration, MIME unwrapping of files, and the institutions a document
 * may be filed under without a certificate.  Private to cmd/.
 */
#ifndef CDX_CMD_INTERNAL_H
#define CDX_CMD_INTERNAL_H

#include <stddef.h>

#include "cdx/conf/config.h"
#include "cdx/domain/ingest.h"

/* Seconds on the monotonic clock. */
double cdx_cmd_now(void);

/* Splits argv (argv[0] the command) into the configuration's arguments
 * (cfg_argv, NULL-terminated, argv[0] first: `--key value`, `--key=value`)
 * and the paths.  json, when not NULL, is set to 1 by `--json`.  The
 * arrays hold at least argc + 1 entries. */
void cdx_cmd_split_args(int argc, char **argv, char **cfg_argv, int *cfg_argc, char **paths,
                        int *npaths, int *json);

/* Builds the ingest pipeline from the configuration's mappings and schema.
 * Returns 0, or 2 after printing the reason. */
int cdx_cmd_build_pipeline(const cdx_config_t *cfg, cdx_pipeline_t **pl);

/* Files exported from mail-based exchange (Direct messaging) are MIME
 * entities: a header block, then the document, quoted-printable or
 * base64, alone or as one part of a multipart message.  Such a file is
 * decoded in place (*data replaced) and how receives what was decoded
 * ("mime-base64"); a file that is not MIME is left alone (how "").
 * Returns 0, or CDX_EPARSE with in (reset here) holding the verdict. */
int cdx_cmd_unwrap_mime(char **data, size_t *len, size_t max, char *how, size_t howlen,
                        cdx_ingest_t *in);

/* The institutions import and validate file documents under, sorted by
 * OID, and the lookup the pipeline asks who a document's owner is. */
typedef struct cdx_cmd_known {
    cdx_institution_t *items; /* owned, sorted by OID */
    size_t n;
    const char *roots[CDX_INST_MAX_ID_ROOTS]; /* the last institution found */
} cdx_cmd_known_t;

/* Sorts known->items by OID, as the lookups need. */
void cdx_cmd_known_sort(cdx_cmd_known_t *known);

/* The institution with this OID, or NULL. */
const cdx_institution_t *cdx_cmd_known_find_inst(const cdx_cmd_known_t *known, const char *oid);

/* Describes inst as a submitter (out borrows from inst and known). */
void cdx_cmd_known_submitter(cdx_cmd_known_t *known, const cdx_institution_t *inst,
                             cdx_submitter_t *out);

/* cdx_owner_lookup_t.find over a cdx_cmd_known_t (arg): 1 found, 0 not. */
int cdx_cmd_known_find(void *arg, const char *oid, cdx_submitter_t *out);

#endif
