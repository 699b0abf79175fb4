/*
 * xslt: trusted stylesheets, compiled once, applied safely.
 *
 * Responsible for: compiling the project's stylesheets at start-up (from
 * files under an allowed folder only, xsl:import/include resolved inside
 * that folder), and applying them with every libxslt security preference
 * set to forbid (no file or network reads or writes, no directory
 * creation), document() unable to load anything, bounded template depth
 * and variables, and errors captured into a diag instead of stderr.
 * Not responsible for: what stylesheets compute (mappings/ holds them).
 *
 * A compiled stylesheet is immutable and may be applied from several
 * threads at once.
 */
#ifndef CDX_XSLT_H
#define CDX_XSLT_H

#include <libxml/tree.h>
#include <libxslt/xsltInternals.h>

#include "cdx/parsers/diag.h"

/* Global settings; call once after cdx_xml_global_init().  Idempotent. */
void cdx_xslt_global_init(void);

/* Compiles path (which must lie under allowed_root).  Returns 0 or
 * CDX_ECONFIG with the reason (file, line) in err. */
int cdx_xslt_compile(const char *path, const char *allowed_root, xsltStylesheetPtr *out, char *err,
                     size_t errlen);

/* Called on each transformation context before it runs, to register
 * extension functions and their data (xsltRegisterExtFunction with
 * ctxt; ctxt->_private is free for the caller). */
typedef void (*cdx_xslt_setup_fn)(xsltTransformContextPtr ctxt, void *arg);

/* Applies style to doc.  params is a NULL-terminated list of name, value
 * pairs (values are XPath string literals already quoted, as libxslt
 * wants) or NULL.  On success *out owns the result.  On failure returns
 * CDX_EPARSE with issues (rule rule_id) in d. */
int cdx_xslt_apply(xsltStylesheetPtr style, xmlDocPtr doc, const char **params,
                   cdx_xslt_setup_fn setup, void *arg, const char *rule_id, cdx_diag_t *d,
                   xmlDocPtr *out);

/* Called once a transformation succeeded, with its context still there
 * (for libxslt's helpers, e.g. namespace fix-ups) and the result; a
 * negative return fails the application with that code, a positive one
 * discards the result without adding an issue and is returned as is (the
 * caller runs again). */
typedef int (*cdx_xslt_finish_fn)(xsltTransformContextPtr ctxt, xmlDocPtr result, void *arg);

/* cdx_xslt_apply, then finish (may be NULL) on the result; setup and
 * finish get the same arg. */
int cdx_xslt_apply_finish(xsltStylesheetPtr style, xmlDocPtr doc, const char **params,
                          cdx_xslt_setup_fn setup, cdx_xslt_finish_fn finish, void *arg,
                          const char *rule_id, cdx_diag_t *d, xmlDocPtr *out);

/* Serializes a result document the way the stylesheet's xsl:output says.
 * *out is heap (free()). */
int cdx_xslt_serialize(xsltStylesheetPtr style, xmlDocPtr result, char **out, size_t *len);

#endif
