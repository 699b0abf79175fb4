/* validate_internal: the validator's state, shared by the checks
 * (validate.c) and its construction (validate_load.c).  Private to
 * parsers/; the contract is include/cdx/parsers/validate.h. */
#ifndef CDX_PARSERS_VALIDATE_INTERNAL_H
#define CDX_PARSERS_VALIDATE_INTERNAL_H

#include "cdx/parsers/validate.h"

#include <libxml/xmlschemas.h>
#include <libxslt/xsltInternals.h>
#include <stddef.h>

#define MAX_PROFILES   64
#define MAX_SELECTORS  256
#define MAX_XINCLUDES  10
#define CONF_MAX_BYTES (64u * 1024u)

typedef struct profile {
    char name[64]; /* file name without .xsl; names transformation failures */
    xsltStylesheetPtr style;
} profile_t;

typedef struct selector {
    char *root;
    char *ext; /* NULL: any extension (or none) */
    size_t profile;
} selector_t;

struct cdx_validator {
    xmlSchemaPtr schema;
    profile_t profiles[MAX_PROFILES];
    size_t nprofiles;
    selector_t selectors[MAX_SELECTORS];
    size_t nselectors;
};

#endif
