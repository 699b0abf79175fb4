/* A scratch registry for the store's unit tests: registry.db in a fresh
 * scratch folder, opened with the one submitting institution the tests'
 * documents name (CDX_TEST_SUBMITTER, "Test Clinic"). */
#ifndef CDX_TEST_REGISTRY_H
#define CDX_TEST_REGISTRY_H

#include <stdio.h>
#include <string.h>

#include "cdx/store/registry.h"
#include "cdx_test.h"

#define CDX_TEST_SUBMITTER "2.25.7"

/* Fills path with "<a new scratch folder named prefix-...>/registry.db".
 * Returns 0 or -1. */
static inline int cdx_test_registry_path(const char *prefix, char *path, size_t n)
{
    char dir[1024];
    if (cdx_test_scratch_dir(dir, sizeof dir, prefix) != 0)
        return -1;
    int w = snprintf(path, n, "%s/registry.db", dir);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Opens (creating) the registry at path and registers the submitting
 * institution.  Returns 0 with *out set, or -1 (*out NULL). */
static inline int cdx_test_registry_open(const char *path, cdx_registry_t **out)
{
    char err[512];
    *out = NULL;
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0)
        return -1;
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    strcpy(inst.oid, CDX_TEST_SUBMITTER);
    strcpy(inst.name, "Test Clinic");
    inst.roles = CDX_ROLE_SUBMIT;
    if (cdx_registry_put_institution(reg, &inst, "test") != 0) {
        cdx_registry_close(reg);
        return -1;
    }
    *out = reg;
    return 0;
}

/* Both: a registry at a new scratch path (into path).  0 or -1. */
static inline int cdx_test_registry_new(const char *prefix, char *path, size_t n,
                                        cdx_registry_t **out)
{
    *out = NULL;
    if (cdx_test_registry_path(prefix, path, n) != 0)
        return -1;
    return cdx_test_registry_open(path, out);
}

/* Closes *reg (NULL: nothing) and removes the scratch folder holding path,
 * as cdx_test_registry_new made them.  *reg is NULL after.  0 or -1. */
static inline int cdx_test_registry_drop(cdx_registry_t **reg, const char *path)
{
    cdx_registry_close(*reg);
    *reg = NULL;
    const char *slash = strrchr(path, '/');
    char dir[1024];
    int w = slash != NULL ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) : -1;
    return w > 0 && (size_t)w < sizeof dir ? cdx_test_remove_dir(dir) : -1;
}

/* A document record of the submitting institution (also its custodian)
 * for the patient ids (root, extension pairs, npairs of them; the first
 * pair is the document's patient): version 1, unique id and sha256 as
 * given, the bytes "<a/>", metadata "{}".  The caller sets what its test
 * is about on top. */
static inline void cdx_test_doc_record(cdx_doc_record_t *rec, const char *unique,
                                       const char *sha, const char *const *ids, size_t npairs)
{
    memset(rec, 0, sizeof *rec);
    rec->unique_id = unique;
    rec->version = 1;
    rec->submitter_oid = CDX_TEST_SUBMITTER;
    rec->custodian_oid = CDX_TEST_SUBMITTER;
    rec->patient_root = ids[0];
    rec->patient_ext = ids[1];
    rec->patient_ids = ids;
    rec->npatient_ids = npairs;
    rec->sha256 = sha;
    rec->original = "<a/>";
    rec->size = 4;
    rec->meta_json = "{}";
}

/* Stores rec with its document.ingest audit row by the submitting
 * institution; uid gets the document's uid.  Returns the store's result
 * (0 or a CDX_E* code) and the outcome in *outcome (NULL: not wanted). */
static inline int cdx_test_doc_store(cdx_registry_t *reg, const cdx_doc_record_t *rec,
                                     char uid[33], cdx_store_outcome_t *outcome)
{
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = CDX_TEST_SUBMITTER};
    cdx_store_outcome_t o = 0;
    int rc = cdx_registry_store_document(reg, rec, &ev, &o, uid);
    if (outcome != NULL)
        *outcome = o;
    return rc;
}

#endif
