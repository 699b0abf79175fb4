/* xml: hardened loading of untrusted XML (see include/cdx/parsers/xml.h). */
#include "cdx/parsers/xml.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"

#include <libxml/catalog.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTRS_PER_TAG 512
#define MAX_ALLOWED_DIRS  8

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char allowed_dirs[MAX_ALLOWED_DIRS][PATH_MAX];
static int nallowed;
static atomic_int sealed;
static atomic_ulong denied;

/* Only local files under an allowed folder, and only before the seal.
 * Everything else (network, other files, anything after start-up) is
 * refused without being touched. */
static xmlParserInputPtr entity_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)id;
    if (url != NULL && !atomic_load(&sealed)) {
        const char *path = url;
        if (strncmp(path, "file://", 7) == 0)
            path += 7;
        char real[PATH_MAX];
        if (strstr(path, "://") == NULL && realpath(path, real) != NULL) {
            for (int i = 0; i < nallowed; i++) {
                size_t n = strlen(allowed_dirs[i]);
                if (strncmp(real, allowed_dirs[i], n) == 0 && real[n] == '/')
                    return xmlNewInputFromFile(ctxt, real);
            }
        }
    }
    atomic_fetch_add(&denied, 1);
    return NULL;
}

static void silent(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    (void)fmt;
}

void cdx_xml_quiet_errors(void)
{
    xmlSetGenericErrorFunc(NULL, silent);
}

/* libxml2 answers many allocation failures by leaving something out (a
 * namespace declaration, an attribute value) rather than by failing the
 * call, so a document read while memory ran out can look valid and mean
 * something else.  Every libxml2 allocation goes through these wrappers,
 * which count the failures per thread; a parse or an extraction during
 * which one failed reports CDX_ENOMEM instead of its result. */
static xmlFreeFunc prev_free;
static xmlMallocFunc prev_malloc;
static xmlReallocFunc prev_realloc;
static xmlStrdupFunc prev_strdup;
static _Thread_local unsigned long alloc_failures;

static void *counted_malloc(size_t n)
{
    void *p = prev_malloc(n);
    if (p == NULL)
        alloc_failures++;
    return p;
}

static void *counted_realloc(void *old, size_t n)
{
    void *p = prev_realloc(old, n);
    if (p == NULL && n > 0)
        alloc_failures++;
    return p;
}

static char *counted_strdup(const char *str)
{
    char *p = prev_strdup(str);
    if (p == NULL && str != NULL)
        alloc_failures++;
    return p;
}

unsigned long cdx_xml_alloc_failures(void)
{
    return alloc_failures;
}

static void init(void)
{
    if (xmlMemGet(&prev_free, &prev_malloc, &prev_realloc, &prev_strdup) == 0)
        xmlMemSetup(prev_free, counted_malloc, counted_realloc, counted_strdup);
    xmlInitParser();
    /* libxml2 would print stray errors to stderr, which carries only our
     * key=value log lines; errors that matter are captured per call. */
    xmlThrDefSetGenericErrorFunc(NULL, silent);
    xmlSetGenericErrorFunc(NULL, silent);
    xmlSetExternalEntityLoader(entity_loader);
#ifdef LIBXML_CATALOG_ENABLED
    xmlCatalogSetDefaults(XML_CATA_ALLOW_NONE);
#endif
}

void cdx_xml_global_init(void)
{
    pthread_once(&init_once, init);
}

int cdx_xml_allow_dir(const char *dir)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return CDX_ENOTFOUND;
    if (nallowed >= MAX_ALLOWED_DIRS)
        return CDX_ERANGE;
    for (int i = 0; i < nallowed; i++)
        if (strcmp(allowed_dirs[i], real) == 0)
            return 0;
    memcpy(allowed_dirs[nallowed++], real, strlen(real) + 1);
    return 0;
}

void cdx_xml_seal(void)
{
    atomic_store(&sealed, 1);
}

unsigned long cdx_xml_denied_loads(void)
{
    return atomic_load(&denied);
}

const cdx_xml_limits_t cdx_xml_default_limits = {
    .max_nodes = CDX_XML_DEFAULT_MAX_NODES,
    .max_nodes_per_kb = CDX_XML_DEFAULT_MAX_NODES_PER_KB,
};

size_t cdx_xml_node_budget(const cdx_xml_limits_t *lim, size_t len)
{
    if (lim == NULL)
        lim = &cdx_xml_default_limits;
    size_t budget = lim->max_nodes;
    if (lim->max_nodes_per_kb > 0) {
        size_t kb = len / 1024;
        size_t rel = kb > SIZE_MAX / lim->max_nodes_per_kb ? SIZE_MAX : kb * lim->max_nodes_per_kb;
        if (rel < CDX_XML_MIN_NODE_BUDGET)
            rel = CDX_XML_MIN_NODE_BUDGET;
        if (rel < budget)
            budget = rel;
    }
    return budget;
}

typedef struct parse_state {
    cdx_diag_t *d;
    size_t nodes;  /* counted so far */
    size_t budget; /* refused beyond this */
    int over;      /* the budget was exceeded: the parse was stopped */
    int over_line, over_col;
    long over_byte;
    int doctype;
    int have_error;
    int code;
    int domain;
    int line;
    int col;
    char msg[256];
} parse_state_t;

static void on_error(void *data, xmlErrorPtr err)
{
    xmlParserCtxtPtr ctxt = data;
    parse_state_t *st = ctxt ? ctxt->_private : NULL;
    if (st == NULL || err == NULL || st->have_error || err->level < XML_ERR_ERROR)
        return;
    if (err->domain == XML_FROM_NAMESPACE && err->level != XML_ERR_FATAL) {
        /* The document is well-formed XML but not namespace-well-formed
         * (an undeclared xsi: prefix, an odd namespace URI): common in real
         * exports and harmless to keep; the integrator hears about it. */
        char loc[32];
        snprintf(loc, sizeof loc, "%d:%d", err->line, err->int2);
        char msg[256];
        cdx_strlcpy(msg, err->message ? err->message : "namespace error", sizeof msg);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        if (st->d->nissues < 20)
            cdx_diag_add(st->d, CDX_SEV_WARNING, "XML-NS", loc, "namespace error: %s", msg);
        return;
    }
    st->have_error = 1;
    st->code = err->code;
    st->domain = err->domain;
    st->line = err->line;
    st->col = err->int2;
    cdx_strlcpy(st->msg, err->message ? err->message : "error", sizeof st->msg);
    size_t n = strlen(st->msg);
    while (n > 0 && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
        st->msg[--n] = '\0';
}

/* A DOCTYPE of any kind stops the parse: no DTD, no entity declaration,
 * no external subset is ever looked at. */
static void on_internal_subset(void *data, const xmlChar *name, const xmlChar *ext_id,
                               const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlParserCtxtPtr ctxt = data;
    parse_state_t *st = ctxt->_private;
    st->doctype = 1;
    xmlStopParser(ctxt);
}

/* Counts n new nodes; past the budget, records where and stops the
 * parser (the SAX2 builder is then not called, so the tree stops
 * growing).  Returns 0 while within the budget. */
static int count_nodes(xmlParserCtxtPtr ctxt, size_t n)
{
    parse_state_t *st = ctxt->_private;
    if (st->over)
        return -1;
    st->nodes += n;
    if (st->nodes <= st->budget)
        return 0;
    st->over = 1;
    st->over_line = ctxt->input != NULL ? ctxt->input->line : 0;
    st->over_col = ctxt->input != NULL ? ctxt->input->col : 0;
    st->over_byte = xmlByteConsumed(ctxt);
    xmlStopParser(ctxt);
    return -1;
}

static void on_start_element(void *data, const xmlChar *localname, const xmlChar *prefix,
                             const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                             int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    size_t n = 1 + (size_t)(nb_namespaces > 0 ? nb_namespaces : 0) +
               (size_t)(nb_attributes > 0 ? nb_attributes : 0);
    if (count_nodes(data, n) == 0)
        xmlSAX2StartElementNs(data, localname, prefix, uri, nb_namespaces, namespaces,
                              nb_attributes, nb_defaulted, attributes);
}

/* Text arrives in pieces; only a piece that starts a new text node (not
 * one appended to the text node just built) counts. */
static int starts_text_node(xmlParserCtxtPtr ctxt)
{
    xmlNodePtr parent = ctxt->node;
    if (parent == NULL)
        return 0; /* outside the root: libxml2 drops it */
    xmlNodePtr last = parent->last;
    return last == NULL || last->type != XML_TEXT_NODE || last->name != xmlStringText;
}

static void on_characters(void *data, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr ctxt = data;
    if (count_nodes(ctxt, starts_text_node(ctxt) ? 1 : 0) == 0)
        xmlSAX2Characters(data, ch, len);
}

static void on_cdata(void *data, const xmlChar *value, int len)
{
    if (count_nodes(data, 1) == 0)
        xmlSAX2CDataBlock(data, value, len);
}

static void on_comment(void *data, const xmlChar *value)
{
    if (count_nodes(data, 1) == 0)
        xmlSAX2Comment(data, value);
}

static void on_pi(void *data, const xmlChar *target, const xmlChar *value)
{
    if (count_nodes(data, 1) == 0)
        xmlSAX2ProcessingInstruction(data, target, value);
}

/* Reads code unit i of a byte stream of unit width 1 or 2. */
static unsigned unit_at(const unsigned char *p, size_t i, int width, int big_endian)
{
    if (width == 1)
        return p[i];
    return big_endian ? (unsigned)(p[2 * i] << 8 | p[2 * i + 1])
                      : (unsigned)(p[2 * i + 1] << 8 | p[2 * i]);
}

/* libxml2 2.9 checks duplicate attributes in quadratic time, so a tag with
 * 100 000 attributes would pin a core for seconds.  Count `=` inside each
 * tag (outside quoted values) before parsing and refuse absurd tags. */
static int too_many_attributes(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    int width = 1, be = 0;
    if (len >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
        width = 2;
        be = p[0] == 0xFE;
    } else if (len >= 2 && p[0] == '<' && p[1] == 0) {
        width = 2;
    } else if (len >= 2 && p[0] == 0 && p[1] == '<') {
        width = 2;
        be = 1;
    }
    size_t n = len / (size_t)width;
    int in_tag = 0;
    unsigned quote = 0, attrs = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = unit_at(p, i, width, be);
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (in_tag) {
            if (c == '"' || c == '\'')
                quote = c;
            else if (c == '=' && ++attrs > MAX_ATTRS_PER_TAG)
                return 1;
            else if (c == '>')
                in_tag = 0;
        } else if (c == '<') {
            in_tag = 1;
            attrs = 0;
        }
    }
    return 0;
}

/* libxml2 calls a body that does not begin with markup "empty".  When the
 * body holds something else (JSON, plain text, HL7 v2), says so: such a
 * body is not XML, it is not empty.  Returns 1 when d was filled. */
static int not_markup(const char *data, size_t len, cdx_diag_t *d)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    unsigned char c = i < len ? (unsigned char)data[i] : 0;
    if (i == len || c == '<' || c < 0x21 || c > 0x7e)
        return 0;
    cdx_diag_add(d, CDX_SEV_ERROR, "XML", "1:1",
                 "the body is not XML: it begins with '%c' where '<' is expected", c);
    cdx_diag_reject(d, 400, "XML_MALFORMED",
                    "the body is not an XML document (send the CDA document itself)");
    return 1;
}

static void classify(const parse_state_t *st, cdx_diag_t *d)
{
    char loc[32];
    snprintf(loc, sizeof loc, "%d:%d", st->line, st->col);
    int code = st->code;
    if (code == XML_ERR_DOCUMENT_EMPTY) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", loc, "the body is empty");
        cdx_diag_reject(d, 400, "XML_EMPTY", "the body holds no XML document");
    } else if (code == XML_ERR_UNKNOWN_ENCODING || code == XML_ERR_UNSUPPORTED_ENCODING) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", loc, "%s", st->msg);
        cdx_diag_reject(d, 400, "XML_ENCODING",
                        "unsupported character encoding at %s: %s (send UTF-8, UTF-16 or a "
                        "declared encoding such as EUC-KR)",
                        loc, st->msg);
    } else if (strstr(st->msg, "Excessive depth") != NULL || strstr(st->msg, "depth") != NULL) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", loc, "%s", st->msg);
        cdx_diag_reject(d, 400, "XML_TOO_DEEP", "elements nested deeper than %d at %s",
                        CDX_XML_MAX_DEPTH, loc);
    } else if (code == XML_ERR_NAME_TOO_LONG || strstr(st->msg, "too long") != NULL ||
               strstr(st->msg, "too big") != NULL || strstr(st->msg, "huge") != NULL ||
               strstr(st->msg, "HUGE") != NULL) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", loc, "%s", st->msg);
        cdx_diag_reject(d, 400, "XML_LIMIT", "a name, value or text exceeds the parser's limits at %s",
                        loc);
    } else {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", loc, "%s", st->msg);
        cdx_diag_reject(d, 400, "XML_MALFORMED", "not well-formed XML at line %d, column %d: %s",
                        st->line, st->col, st->msg);
    }
}

/* Walks the tree for what must not be there after a clean parse, and
 * notes processing instructions (kept as data, never applied). */
static int post_check(xmlDocPtr doc, cdx_diag_t *d)
{
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        cdx_diag_reject(d, 400, "XML_DTD_FORBIDDEN", "a DOCTYPE is not allowed in CDA documents");
        return -1;
    }
    xmlNodePtr node = doc->children;
    while (node != NULL) {
        if (node->type == XML_ENTITY_REF_NODE || node->type == XML_ENTITY_DECL ||
            node->type == XML_DTD_NODE) {
            cdx_diag_reject(d, 400, "XML_DTD_FORBIDDEN", "entity references are not allowed");
            return -1;
        }
        if (node->type == XML_PI_NODE) {
            char *path = cdx_xml_node_path(node);
            cdx_diag_add(d, CDX_SEV_WARNING, "XML-PI", path,
                         "processing instruction <?%s?> ignored; it is kept with the original "
                         "but never applied",
                         (const char *)node->name);
            free(path);
        }
        /* Depth-first walk without recursion. */
        if (node->children != NULL && node->type == XML_ELEMENT_NODE) {
            node = node->children;
            continue;
        }
        while (node != NULL && node->next == NULL)
            node = node->parent == (xmlNodePtr)doc ? NULL : node->parent;
        if (node != NULL)
            node = node->next;
    }
    return 0;
}

/* The XML_LIMIT verdict of a parse stopped by the node budget. */
static void reject_budget(const parse_state_t *st, const cdx_xml_limits_t *lim, size_t len,
                          cdx_diag_t *d)
{
    char loc[32];
    snprintf(loc, sizeof loc, "%d:%d", st->over_line, st->over_col);
    int relative = st->budget < lim->max_nodes;
    char rule[160];
    if (relative)
        snprintf(rule, sizeof rule, "xml_max_nodes_per_kb = %zu for a body of %zu KB",
                 lim->max_nodes_per_kb, len / 1024);
    else
        snprintf(rule, sizeof rule, "xml_max_nodes = %zu", lim->max_nodes);
    cdx_diag_add(d, CDX_SEV_ERROR, "XML-NODES", loc,
                 "more than %zu nodes (elements, attributes, text runs, comments); parsing "
                 "stopped at byte %ld of %zu",
                 st->budget, st->over_byte, len);
    cdx_diag_reject(d, 400, "XML_LIMIT",
                    "the document has more than %zu XML nodes, the limit set by %s; parsing "
                    "stopped at line %d, column %d (byte %ld of %zu)",
                    st->budget, rule, st->over_line, st->over_col, st->over_byte, len);
}

int cdx_xml_parse(const char *data, size_t len, cdx_diag_t *d, xmlDocPtr *out)
{
    return cdx_xml_parse_limited(data, len, NULL, d, out, NULL);
}

/* Refuses what is not worth parsing: an empty or oversized body, UTF-32,
 * a tag with too many attributes.  Returns 0 or CDX_EPARSE with d filled. */
static int refuse_early(const char *data, size_t len, cdx_diag_t *d)
{
    if (len == 0) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", "1:1", "the body is empty");
        cdx_diag_reject(d, 400, "XML_EMPTY", "the body holds no XML document");
        return CDX_EPARSE;
    }
    if (len > INT_MAX) {
        cdx_diag_reject(d, 413, "BODY_TOO_LARGE", "the document exceeds 2 GiB");
        return CDX_EPARSE;
    }
    const unsigned char *u = (const unsigned char *)data;
    if (len >= 4 && ((u[0] == 0 && u[1] == 0 && (u[2] == 0xFE || u[2] == 0)) ||
                     (u[2] == 0 && u[3] == 0 && (u[0] == 0xFF || u[0] == '<')))) {
        /* UTF-32 (UCS-4): libxml2 2.9 cannot read it reliably; say so
         * instead of reporting an empty document. */
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", "1:1", "the document is UTF-32 encoded");
        cdx_diag_reject(d, 400, "XML_ENCODING",
                        "UTF-32 is not accepted; send UTF-8, UTF-16 or a declared encoding such "
                        "as EUC-KR");
        return CDX_EPARSE;
    }
    if (too_many_attributes(data, len)) {
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", NULL, "more than %d attributes in one tag",
                     MAX_ATTRS_PER_TAG);
        cdx_diag_reject(d, 400, "XML_LIMIT", "an element has more than %d attributes",
                        MAX_ATTRS_PER_TAG);
        return CDX_EPARSE;
    }
    return 0;
}

/* A parser context whose tree builder counts nodes into st and whose
 * errors land in st, or NULL when out of memory. */
static xmlParserCtxtPtr new_parser(parse_state_t *st)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return NULL;
    ctxt->_private = st;
    ctxt->sax->internalSubset = on_internal_subset;
    /* The tree builder's callbacks, each behind the node count.  (With
     * XML_PARSE_NOCDATA libxml2 clears cdataBlock and sends CDATA as
     * characters.) */
    ctxt->sax->startElementNs = on_start_element;
    ctxt->sax->characters = on_characters;
    ctxt->sax->ignorableWhitespace = on_characters;
    ctxt->sax->cdataBlock = on_cdata;
    ctxt->sax->comment = on_comment;
    ctxt->sax->processingInstruction = on_pi;
    ctxt->sax->serror = on_error;
    ctxt->sax->error = NULL;
    ctxt->sax->warning = NULL;
    ctxt->sax->fatalError = NULL;
    return ctxt;
}

int cdx_xml_parse_limited(const char *data, size_t len, const cdx_xml_limits_t *lim,
                          cdx_diag_t *d, xmlDocPtr *out, size_t *nodes)
{
    cdx_xml_global_init();
    *out = NULL;
    if (nodes != NULL)
        *nodes = 0;
    if (lim == NULL)
        lim = &cdx_xml_default_limits;
    int rc = refuse_early(data, len, d);
    if (rc != 0)
        return rc;
    parse_state_t st;
    memset(&st, 0, sizeof st);
    st.d = d;
    unsigned long failures = cdx_xml_alloc_failures();
    st.budget = cdx_xml_node_budget(lim, len);
    xmlParserCtxtPtr ctxt = new_parser(&st);
    if (ctxt == NULL)
        return CDX_ENOMEM;
    /* NONET and no DTD/entity options at all: entities stay unexpanded,
     * nothing is loaded, and XML_PARSE_HUGE keeps libxml2's size and
     * depth limits in force. */
    int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |
                  XML_PARSE_COMPACT;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, "document.xml", NULL, options);
    ctxt->sax->serror = NULL;
    int wellformed = ctxt->wellFormed;
    xmlFreeParserCtxt(ctxt);
    if (nodes != NULL)
        *nodes = st.nodes;
    if (cdx_xml_alloc_failures() != failures) {
        /* Whatever was read, something may be missing from it. */
        xmlFreeDoc(doc);
        return CDX_ENOMEM;
    }
    if (st.over) {
        xmlFreeDoc(doc);
        reject_budget(&st, lim, len, d);
        return CDX_EPARSE;
    }
    if (st.doctype) {
        xmlFreeDoc(doc);
        cdx_diag_add(d, CDX_SEV_ERROR, "XML", NULL,
                     "the document has a DOCTYPE; DTDs and entity declarations are refused");
        cdx_diag_reject(d, 400, "XML_DTD_FORBIDDEN",
                        "a DOCTYPE (DTD or entity declarations) is not allowed in CDA documents");
        return CDX_EPARSE;
    }
    if (doc == NULL || !wellformed || st.have_error) {
        xmlFreeDoc(doc);
        if (!st.have_error) {
            st.code = XML_ERR_DOCUMENT_EMPTY;
            cdx_strlcpy(st.msg, "no document", sizeof st.msg);
        }
        if (st.code == XML_ERR_DOCUMENT_EMPTY && not_markup(data, len, d))
            return CDX_EPARSE;
        classify(&st, d);
        return CDX_EPARSE;
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        cdx_diag_reject(d, 400, "XML_EMPTY", "the body holds no XML element");
        return CDX_EPARSE;
    }
    if (post_check(doc, d) != 0) {
        xmlFreeDoc(doc);
        return CDX_EPARSE;
    }
    if (doc->encoding != NULL && xmlStrcasecmp(doc->encoding, BAD_CAST "UTF-8") != 0)
        cdx_diag_add(d, CDX_SEV_WARNING, "XML-ENCODING", NULL,
                     "the document is encoded as %s; it was read as such and is normalized to "
                     "UTF-8",
                     (const char *)doc->encoding);
    *out = doc;
    return 0;
}

char *cdx_xml_node_path(const xmlNode *node)
{
    const xmlNode *chain[CDX_XML_MAX_DEPTH + 8];
    size_t n = 0;
    for (const xmlNode *p = node; p != NULL && p->type != XML_DOCUMENT_NODE && n < CDX_ARRAY_SIZE(chain);
         p = p->parent)
        chain[n++] = p;
    cdx_buf_t b;
    cdx_buf_init(&b, 16384);
    while (n > 0) {
        const xmlNode *p = chain[--n];
        if (p->type == XML_ATTRIBUTE_NODE) {
            cdx_buf_printf(&b, "/@%s", (const char *)p->name);
            continue;
        }
        if (p->type == XML_PI_NODE) {
            cdx_buf_printf(&b, "/processing-instruction('%s')", (const char *)p->name);
            continue;
        }
        if (p->type != XML_ELEMENT_NODE) {
            cdx_buf_puts(&b, "/text()");
            continue;
        }
        /* Position among same-named element siblings, shown when > 1. */
        size_t pos = 1, count = 0;
        for (const xmlNode *s = p->parent ? p->parent->children : NULL; s != NULL; s = s->next) {
            if (s->type == XML_ELEMENT_NODE && xmlStrEqual(s->name, p->name)) {
                count++;
                if (s == p)
                    pos = count;
            }
        }
        if (count > 1)
            cdx_buf_printf(&b, "/%s[%zu]", (const char *)p->name, pos);
        else
            cdx_buf_printf(&b, "/%s", (const char *)p->name);
    }
    if (b.data == NULL)
        cdx_buf_puts(&b, "/");
    return cdx_buf_steal(&b, NULL);
}
