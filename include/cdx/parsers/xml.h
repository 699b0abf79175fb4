/*
 * xml: hardened loading of untrusted XML with libxml2.
 *
 * Responsible for: turning request bytes into an xmlDoc with no network,
 * no DTD loading or validation, no entity substitution, no XInclude, no
 * XML_PARSE_HUGE; refusing any DOCTYPE (seen by the parser's SAX hook, not
 * by searching bytes, so UTF-16 cannot hide one); a deny-all external
 * entity loader; depth and size limits; and real-world input hygiene
 * (UTF-8 BOM, CRLF, UTF-16 with BOM, declared encodings such as EUC-KR,
 * no XML declaration); a node budget, checked while the tree grows.
 * Processing instructions such as
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

#include "cdx/parsers/diag.h"

/* Installs the deny-all entity loader, disables catalogs, and sets the
 * library's global defaults.  Idempotent. */
void cdx_xml_global_init(void);

#define CDX_XML_MAX_DEPTH 256

/* The node budget of one parse.  Every node the tree would hold costs
 * memory (about 150 bytes for an empty element), so a body of many tiny
 * elements (`<br/>` repeated four million times) is refused while it is
 * parsed, before that memory is spent.  Nodes counted: elements,
 * attributes, namespace declarations, runs of text (CDATA included),
 * comments and processing instructions.  The budget of a body of len
 * bytes is
 *     min(max_nodes, max(CDX_XML_MIN_NODE_BUDGET, max_nodes_per_kb * len / 1024))
 * (max_nodes_per_kb 0: no relative budget).  The defaults come from real
 * documents: the densest file of the shared C-CDA corpus has 81 nodes per
 * KB, cdxgw-gen's 1 MB documents 51 to 56 per KB and at most 55 500 nodes
 * (tests/unit/parsers/test_xml.c and test_gen.c check both). */
typedef struct cdx_xml_limits {
    size_t max_nodes;        /* absolute budget */
    size_t max_nodes_per_kb; /* budget per KB of body; 0 = none */
} cdx_xml_limits_t;

#define CDX_XML_DEFAULT_MAX_NODES        1000000
#define CDX_XML_DEFAULT_MAX_NODES_PER_KB 160
#define CDX_XML_MIN_NODE_BUDGET          4096

/* The defaults above. */
extern const cdx_xml_limits_t cdx_xml_default_limits;

/* The node budget for a body of len bytes under lim. */
size_t cdx_xml_node_budget(const cdx_xml_limits_t *lim, size_t len);

/* Parses len bytes under lim (NULL: cdx_xml_default_limits).  On success
 * *out owns the document (xmlFreeDoc).  On failure returns CDX_EPARSE and
 * d holds the verdict:
 *   400 XML_MALFORMED      not well-formed (with line:column)
 *   400 XML_DTD_FORBIDDEN  a DOCTYPE, internal subset or entity declaration
 *   400 XML_TOO_DEEP       nesting deeper than CDX_XML_MAX_DEPTH
 *   400 XML_LIMIT          a name, attribute count or text node over the
 *                          limits, or more nodes than the budget (the
 *                          message names the budget, the key that set it,
 *                          and where the parse stopped)
 *   400 XML_ENCODING       an encoding libxml2/iconv cannot read, or bytes
 *                          that do not match the declared encoding
 *   400 XML_EMPTY          no content
 * Warnings (processing instructions seen, encoding converted) are added to d
 * in both cases.  nodes (may be NULL) receives the number of nodes counted,
 * in both cases.  CDX_ENOMEM when memory ran out while parsing (even where
 * libxml2 itself carried on without a part of the document). */
int cdx_xml_parse_limited(const char *data, size_t len, const cdx_xml_limits_t *lim,
                          cdx_diag_t *d, xmlDocPtr *out, size_t *nodes);

/* cdx_xml_parse_limited with the default limits. */
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
