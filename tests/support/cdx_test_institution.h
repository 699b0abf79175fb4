/* Institution entries for unit tests: a filled-in entry and made-up
 * credentials, shared by the store's and the configuration's tests. */
#ifndef CDX_TEST_INSTITUTION_H
#define CDX_TEST_INSTITUTION_H

#include <stdio.h>
#include <string.h>

#include "cdx/domain/types.h"

static inline cdx_institution_t make_inst(const char *oid, const char *name, unsigned roles,
                                          const char *endpoint)
{
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    snprintf(inst.oid, sizeof inst.oid, "%s", oid);
    snprintf(inst.name, sizeof inst.name, "%s", name);
    inst.roles = roles;
    snprintf(inst.endpoint, sizeof inst.endpoint, "%s", endpoint);
    return inst;
}

/* Adds a credential whose fingerprint is 64 copies of hex digit c. */
static inline void add_cred(cdx_institution_t *inst, int spki, char c)
{
    assert_true(inst->ncreds < CDX_INST_MAX_CREDS);
    inst->creds[inst->ncreds].spki = spki;
    memset(inst->creds[inst->ncreds].sha256, c, 64);
    inst->creds[inst->ncreds].sha256[64] = '\0';
    inst->ncreds++;
}

#endif
