/*
 * normalize: institution mappings that turn a submitted CDA document into
 * the canonical form described in docs/CANONICAL.md.
 *
 * Responsible for: loading every mapping folder under the mappings folder
 * at start-up (mapping.conf, its XSLT stylesheet compiled once, and the
 * shared and per-institution code maps), choosing the mapping of the
 * submitting institution (falling back to "default"), and applying it with
 * the code maps reachable from XSLT through extension functions in the
 * namespace urn:cdxgw:ext:
 *
 *   cdx:lookup(system, code)   node-set of zero or one <map> element whose
 *                              attributes are system, system-name, code and
 *                              display: the target of the first code map
 *                              (the institution's before the shared ones)
 *                              whose source system is system
 *   cdx:map(name, code)        the same, from the code maps named name
 *   cdx:code(system, code)     like cdx:lookup, as the attributes the coded
 *                              element gets (code, codeSystem, and
 *                              codeSystemName, displayName when known)
 *   cdx:unit(spelling)         the units map's UCUM spelling, or spelling
 *   cdx:mapped-system(system)  true when some code map translates system,
 *                              i.e. codes of system are expected to map
 *   cdx:unmapped(system, code) adds a MAP-UNMAPPED warning located at the
 *                              context node (in the output's order); returns
 *                              the empty string
 *   cdx:coded()                marks the element being written as a coded
 *                              element the walk leaves alone; returns ''
 *
 * After the stylesheet, every mapping's output goes through one walk in C
 * (parsers/normalize_canon.c, normalize_coded.c): processing instructions
 * are removed, coded elements of a code system some code map translates
 * are mapped (or kept with a MAP-UNMAPPED warning), times with a time of
 * day and no zone get the mapping's zone, and units are written in UCUM
 * (docs/MAPPINGS.md).
 *
 * Not responsible for: parsing bytes (xml), validation, storage.
 *
 * A cdx_mappings_t is immutable after cdx_mappings_load() and may be used
 * by several threads at once; each cdx_normalize() call has its own diag.
 */
#ifndef CDX_NORMALIZE_H
#define CDX_NORMALIZE_H

#include <libxml/tree.h>
#include <stddef.h>

#include "cdx/parsers/diag.h"

/* The namespace of the extension functions mappings may call. */
#define CDX_NORMALIZE_EXT_NS "urn:cdxgw:ext"

typedef struct cdx_mappings cdx_mappings_t;

/* Loads every dir/<name>/mapping.conf (folders without one, such as
 * codemaps/, are not mappings), the shared code maps dir/codemaps/NAME.tsv and
 * each mapping's dir/<name>/codemaps/NAME.tsv.  A folder named "default" is
 * required.  Returns 0, or CDX_ECONFIG with "file:line: reason" in err
 * (CDX_ENOMEM when memory runs out).  Call after cdx_xslt_global_init(),
 * before worker threads start. */
int cdx_mappings_load(const char *dir, cdx_mappings_t **out, char *err, size_t errlen);

void cdx_mappings_free(cdx_mappings_t *m);

/* The version string (mapping.conf "version") of the mapping that
 * institution_oid's documents go through; the default mapping's for NULL
 * or an unknown institution.  Valid as long as m. */
const char *cdx_mappings_version_for(const cdx_mappings_t *m, const char *institution_oid);

/* The name (folder) of the mapping institution_oid uses. */
const char *cdx_mappings_name_for(const cdx_mappings_t *m, const char *institution_oid);

/* How many mappings were loaded. */
size_t cdx_mappings_count(const cdx_mappings_t *m);

/* Normalizes in with the mapping of institution_oid (default when NULL or
 * unknown).  On success *out owns the canonical document, from which every
 * processing instruction has been removed whatever the mapping copied (in
 * is not changed; while the call runs, the line numbers of some of its
 * elements may be, so one document is normalized by one thread at a
 * time), and, when
 * mapping_version is not NULL, *mapping_version names the mapping used
 * (valid as long as m).  Warnings (MAP-UNMAPPED, xsl:message notes) go to
 * d.  On failure returns CDX_EPARSE with error issues (rule MAP-XSLT) in d,
 * or CDX_ENOMEM. */
int cdx_normalize(const cdx_mappings_t *m, const char *institution_oid, xmlDocPtr in, cdx_diag_t *d,
                  xmlDocPtr *out, const char **mapping_version);

#endif
