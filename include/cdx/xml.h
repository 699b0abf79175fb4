/*
 * xml: hardened loading of untrusted XML with libxml2.
 *
 * Responsible for: turning request bytes into an xmlDoc with no network,
 * no DTD loading or validation, no entity substitution, no XInclude, no
 * XML_PARSE_HUGE; refusing any DOCTYPE (seen by the parser's SAX hook, not
 * by searching bytes, so UTF-16 cannot hide one); a deny-all external
 * entity loader; depth and size limits; and real-world input hygiene
 * (UTF-8 BOM, CRLF, UTF-16 with BOM, declared encodings such as EUC-KR,
 * no XML declaration).  Processing instructions such as
 * <?xml-stylesheet?> are kept as data and never applied; the loader
 * reports them as warnings.  Every rejection is located (line:column).
 * Not responsible for: CDA semantics (validate), transformations
 * (normalize).
 *
 * cdx_xml_global_init() must run once, before other threads use libxml2.
 * After that, cdx_xml_parse() may be called from any thread.
 */
#ifndef CDX_XML_H
#define CDX_XML_H

#include <libxml/tree.h>
#include <stddef.h>

#include "cdx/diag.h"

/* Installs the deny-all entity loader, disables catalogs, and sets the
 * library's global defaults.  Idempotent. */
void cdx_xml_global_init(void);

#define CDX_XML_MAX_DEPTH 256

/* Parses len bytes.  On success *out owns the document (xmlFreeDoc).  On
 * failure returns CDX_EPARSE and d holds the verdict:
 *   400 XML_MALFORMED      not well-formed (with line:column)
 *   400 XML_DTD_FORBIDDEN  a DOCTYPE, internal subset or entity declaration
 *   400 XML_TOO_DEEP       nesting deeper than CDX_XML_MAX_DEPTH
 *   400 XML_LIMIT          a name, attribute count or text node over the limits
 *   400 XML_ENCODING       an encoding libxml2/iconv cannot read, or bytes
 *                          that do not match the declared encoding
 *   400 XML_EMPTY          no content
 * Warnings (processing instructions seen, encoding converted) are added to d
 * in both cases.  CDX_ENOMEM when memory ran out while parsing (even where
 * libxml2 itself carried on without a part of the document). */
int cdx_xml_parse(const char *data, size_t len, cdx_diag_t *d, xmlDocPtr *out);

/* Lets the entity loader read local files under dir (the CDA schema's
 * folder, for its xs:include chain) until cdx_xml_seal().  Start-up only,
 * before worker threads exist.  Returns 0 or CDX_ENOTFOUND/CDX_ERANGE. */
int cdx_xml_allow_dir(const char *dir);
/* From now on the entity loader refuses everything.  The server calls it
 * once everything is compiled. */
void cdx_xml_seal(void);
/* How many loads the entity loader has refused (for tests). */
unsigned long cdx_xml_denied_loads(void);

/* How many libxml2 allocations have failed on the calling thread so far.
 * libxml2 can answer a failed allocation by silently leaving a part out
 * (a namespace declaration, an attribute), so cdx_xml_parse() compares this
 * count before and after and returns CDX_ENOMEM when it moved. */
unsigned long cdx_xml_alloc_failures(void);

/* Silences libxml2's generic error output on the calling thread (the
 * default for threads created after cdx_xml_global_init). */
void cdx_xml_quiet_errors(void);

/* An XPath-like location of node for issues: /ClinicalDocument/component[1]/... */
char *cdx_xml_node_path(const xmlNode *node);

#endif
