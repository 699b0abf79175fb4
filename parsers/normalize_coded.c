/* normalize_coded: the code maps applied to a mapping's output by the
 * finishing walk (see normalize_internal.h and docs/MAPPINGS.md).
 *
 * The default stylesheet's coded template did this in XSLT: a pattern
 * with an extension-function predicate on every code, value, routeCode,
 * methodCode, targetSiteCode, approachSiteCode and interpretationCode of
 * every document, and an element rebuilt for each mapped one.  Here the
 * identity copy of such an element is changed in place into exactly what
 * the template wrote: the same attributes in the same order, the same
 * children, the same namespace declarations (libxslt's own
 * xsltGetSpecialNamespace decides them, as it did for the template).
 *
 *   mapped:   [xsi:type] other attributes, then the target's code,
 *             codeSystem, codeSystemName and displayName; children
 *             originalText and qualifier, the source code as a new
 *             translation, then the translations sent (nothing else);
 *   unmapped: as xsl:element wrote it: [xsi:type] other attributes,
 *             codeSystem last, no namespace declarations of its own, and
 *             a MAP-UNMAPPED warning located at the source element.
 *
 * Elements the named template "coded" wrote (a mapping calls it for a code
 * it moves or renames) are marked in their psvi field while the stylesheet
 * runs and left alone; their warnings are held until the walk reaches
 * them, so that all warnings come in the order of the canonical form, as
 * when every one was added during the transformation. */
#include "normalize_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"

#include <libxml/tree.h>
#include <libxslt/namespaces.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NS_V3  "urn:hl7-org:v3"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

/* The elements that carry clinical codes; a translation is left alone,
 * it already is the secondary code. */
static const char *const coded_names[] = {"code",           "value",           "routeCode",
                                          "methodCode",     "targetSiteCode",  "approachSiteCode",
                                          "interpretationCode"};

static int is_v3_named(const xmlNode *n, const char *name)
{
    return cdx_normalize_is_v3(n) && strcmp((const char *)n->name, name) == 0;
}

/* One of coded_names, by its first letter first: the walk asks it of
 * every element. */
static int is_coded_name(const xmlNode *n)
{
    const char *name = (const char *)n->name;
    switch (name[0]) {
    case 'a':
    case 'c':
    case 'i':
    case 'm':
    case 'r':
    case 't':
    case 'v':
        break;
    default:
        return 0;
    }
    for (size_t i = 0; i < CDX_ARRAY_SIZE(coded_names); i++)
        if (coded_names[i][0] == name[0] && strcmp(name, coded_names[i]) == 0)
            return 1;
    return 0;
}

/* An attribute's string value (heap), "" for none. */
static char *attr_value(const xmlAttr *a)
{
    xmlChar *v = a != NULL ? xmlNodeListGetString(a->doc, a->children, 1) : NULL;
    char *s = strdup(v != NULL ? (const char *)v : "");
    xmlFree(v);
    return s;
}

/* Whether some code map translates system, remembered for the last few
 * systems asked (a document uses a handful). */
static int mapped_system(coded_t *c, const char *system)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (strcmp(c->seen[i].system, system) == 0)
            return c->seen[i].mapped;
    int mapped = c->mapped(c->arg, system);
    if (c->nseen < CODED_SEEN && (c->seen[c->nseen].system = strdup(system)) != NULL)
        c->seen[c->nseen++].mapped = mapped;
    return mapped;
}

/* What the walk does with an element: 0 nothing, 1 map it (*e), 2 keep it
 * as sent with a warning, -1 out of memory.  *code and *system (heap) are
 * its own when it is 1 or 2. */
static int classify(coded_t *c, const xmlNode *el, const code_entry_t **e, char **code,
                    char **system)
{
    *code = *system = NULL;
    if (!is_coded_name(el) || !cdx_normalize_is_v3(el))
        return 0;
    xmlAttrPtr ac = NULL, as = NULL;
    for (xmlAttrPtr a = el->properties; a != NULL; a = a->next) {
        if (a->ns != NULL)
            continue;
        if (ac == NULL && strcmp((const char *)a->name, "code") == 0)
            ac = a;
        else if (as == NULL && strcmp((const char *)a->name, "codeSystem") == 0)
            as = a;
    }
    if (ac == NULL || as == NULL)
        return 0;
    const char *sys = cdx_normalize_attr_text(as);
    if (sys != NULL && (sys[0] == '\0' || !mapped_system(c, sys)))
        return 0;
    *system = sys != NULL ? strdup(sys) : attr_value(as);
    *code = attr_value(ac);
    if (*system == NULL || *code == NULL) {
        free(*system);
        free(*code);
        *code = *system = NULL;
        return -1;
    }
    if (sys == NULL && ((*system)[0] == '\0' || !mapped_system(c, *system))) {
        free(*system);
        free(*code);
        *code = *system = NULL;
        return 0;
    }
    *e = (*code)[0] != '\0' ? c->find(c->arg, *system, *code) : NULL;
    return *e != NULL ? 1 : 2;
}

/* ---- marks and held warnings ----------------------------------------- */

void cdx_coded_mark(xmlNodePtr out)
{
    if (out != NULL && out->type == XML_ELEMENT_NODE && out->psvi == NULL)
        out->psvi = (void *)(uintptr_t)1;
}

static size_t mark_head(const xmlNode *n)
{
    return (size_t)((uintptr_t)n->psvi >> 1);
}

static void add_warning(const coded_t *c, const char *where, const char *code, const char *system)
{
    cdx_diag_add(c->d, CDX_SEV_WARNING, "MAP-UNMAPPED", where,
                 "code '%s' of code system %s has no mapping in %s; it is kept as sent", code,
                 system, c->version);
}

/* A new note (index + 1), or 0 when out of memory; where is taken. */
static size_t new_note(coded_t *c, char *where, const char *code, const char *system)
{
    if (cdx_grow(&c->notes, &c->capnotes, c->nnotes + 1, sizeof *c->notes, 16) != 0) {
        free(where);
        return 0;
    }
    coded_note_t *nt = &c->notes[c->nnotes];
    *nt = (coded_note_t){.where = where, .code = strdup(code), .system = strdup(system)};
    if (nt->code == NULL || nt->system == NULL) {
        free(nt->code);
        free(nt->system);
        free(where);
        return 0;
    }
    return ++c->nnotes;
}

/* Queues note k (index + 1) for the diag, in the canonical form's order. */
static int queue(coded_t *c, size_t k)
{
    if (cdx_grow(&c->order, &c->caporder, c->norder + 1, sizeof *c->order, 16) != 0)
        return CDX_ENOMEM;
    c->order[c->norder++] = k;
    c->notes[k - 1].state = 1;
    return 0;
}

int cdx_coded_note(coded_t *c, xmlNodePtr out, char *where, const char *code, const char *system)
{
    size_t k = new_note(c, where, code, system);
    if (k == 0)
        return CDX_ENOMEM;
    if (out == NULL || out->type != XML_ELEMENT_NODE)
        return queue(c, k);
    /* Appended to the element's chain, so that its notes keep their order. */
    size_t head = out->psvi != NULL ? mark_head(out) : 0;
    if (head == 0) {
        out->psvi = (void *)(uintptr_t)((k << 1) | 1);
    } else {
        while (c->notes[head - 1].next != 0)
            head = c->notes[head - 1].next;
        c->notes[head - 1].next = k;
    }
    return 0;
}

/* Queues (or, dropped, forgets) the notes held for n, and unmarks it. */
static int settle(coded_t *c, xmlNodePtr n, int dropped)
{
    int rc = 0;
    for (size_t k = mark_head(n); k != 0 && rc == 0; k = c->notes[k - 1].next) {
        if (c->notes[k - 1].state != 0)
            continue;
        if (dropped)
            c->notes[k - 1].state = 2;
        else
            rc = queue(c, k);
    }
    n->psvi = NULL;
    return rc;
}

/* Frees a child the mapped form leaves out; the notes held for elements
 * in it are dropped, since the coded template never wrote them. */
static void drop(coded_t *c, xmlNodePtr n)
{
    if (c->nnotes > 0 && n->type == XML_ELEMENT_NODE) {
        for (xmlNodePtr k = n; k != NULL;) {
            if (k->type == XML_ELEMENT_NODE && k->psvi != NULL)
                (void)settle(c, k, 1);
            if (k->type == XML_ELEMENT_NODE && k->children != NULL) {
                k = k->children;
                continue;
            }
            while (k != n && k->next == NULL)
                k = k->parent;
            k = k == n ? NULL : k->next;
        }
    }
    xmlFreeNode(n);
}

void cdx_coded_finish(coded_t *c, int emit)
{
    for (size_t i = 0; emit && i < c->norder; i++) {
        const coded_note_t *nt = &c->notes[c->order[i] - 1];
        add_warning(c, nt->where, nt->code, nt->system);
    }
    for (size_t i = 0; i < c->nnotes; i++) {
        if (emit && c->notes[i].state == 0)
            add_warning(c, c->notes[i].where, c->notes[i].code, c->notes[i].system);
        free(c->notes[i].where);
        free(c->notes[i].code);
        free(c->notes[i].system);
    }
    free(c->notes);
    free(c->order);
    c->notes = NULL;
    c->order = NULL;
    c->nnotes = c->capnotes = c->norder = c->caporder = 0;
    for (size_t i = 0; i < c->nseen; i++)
        free(c->seen[i].system);
    c->nseen = 0;
}

/* ---- the source's unmapped elements ---------------------------------- */

/* Lists the unmapped coded elements of the source in c->tags; with
 * write, gives each its index + 1 as line number (see coded_tag_t). */
static int list_source(coded_t *c, int write)
{
    xmlNodePtr n = c->in != NULL ? xmlDocGetRootElement(c->in) : NULL;
    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && n->properties != NULL && c->ntags < 65535) {
            const code_entry_t *e = NULL;
            char *code, *system;
            int kind = classify(c, n, &e, &code, &system);
            free(code);
            free(system);
            if (kind < 0)
                return CDX_ENOMEM;
            if (kind == 2) {
                if (cdx_grow(&c->tags, &c->captags, c->ntags + 1, sizeof *c->tags, 16) != 0)
                    return CDX_ENOMEM;
                c->tags[c->ntags++] = (coded_tag_t){.node = n, .line = n->line};
                if (write)
                    n->line = (unsigned short)c->ntags;
            }
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n->next == NULL)
            n = n->parent;
        n = n != NULL ? n->next : NULL;
    }
    return 0;
}

int cdx_coded_tag_source(coded_t *c)
{
    cdx_coded_untag(c);
    c->tagged = 1;
    return list_source(c, 1);
}

void cdx_coded_untag(coded_t *c)
{
    for (size_t i = 0; c->tagged && i < c->ntags; i++)
        c->tags[i].node->line = c->tags[i].line;
    free(c->tags);
    c->tags = NULL;
    c->ntags = c->captags = 0;
    c->tagged = c->listed = 0;
}

/* Whether src (a listed source element) has name, code and system. */
static int same_code(const xmlNode *src, const xmlNode *el, const char *code, const char *system)
{
    if (strcmp((const char *)src->name, (const char *)el->name) != 0)
        return 0;
    char *sc = attr_value(cdx_normalize_attr(src, "code", NULL));
    char *ss = attr_value(cdx_normalize_attr(src, "codeSystem", NULL));
    int same = sc != NULL && ss != NULL && strcmp(sc, code) == 0 && strcmp(ss, system) == 0;
    free(sc);
    free(ss);
    return same;
}

/* The source element el (an unmapped coded element of the output) is a
 * copy of, in *src (NULL: none known).  Tagged, by its tag; otherwise by
 * its line number (xsl:copy keeps it) among the listed ones with its name
 * and code: when two share them, CODED_RETRY asks for a run with tags. */
static int source_of(coded_t *c, const xmlNode *el, const char *code, const char *system,
                     xmlNodePtr *src)
{
    *src = NULL;
    if (c->tagged) {
        if (el->line != 0 && el->line <= c->ntags &&
            same_code(c->tags[el->line - 1].node, el, code, system))
            *src = c->tags[el->line - 1].node;
        return 0;
    }
    if (!c->listed) {
        int rc = list_source(c, 0);
        if (rc != 0)
            return rc;
        c->listed = 1;
    }
    for (size_t i = 0; el->line != 0 && i < c->ntags; i++) {
        if (c->tags[i].line != el->line || !same_code(c->tags[i].node, el, code, system))
            continue;
        if (*src != NULL)
            return CODED_RETRY;
        *src = c->tags[i].node;
    }
    return 0;
}

/* ---- rewriting an element --------------------------------------------- */

/* Detaches el's attributes into a list (returned). */
static xmlAttrPtr take_attrs(xmlNodePtr el)
{
    xmlAttrPtr list = el->properties;
    el->properties = NULL;
    return list;
}

static void append_attr(xmlNodePtr el, xmlAttrPtr a)
{
    a->parent = el;
    a->next = a->prev = NULL;
    if (el->properties == NULL) {
        el->properties = a;
        return;
    }
    xmlAttrPtr last = el->properties;
    while (last->next != NULL)
        last = last->next;
    last->next = a;
    a->prev = last;
}

static void append_child(xmlNodePtr el, xmlNodePtr k)
{
    k->parent = el;
    k->next = NULL;
    k->prev = el->last;
    if (el->last != NULL)
        el->last->next = k;
    else
        el->children = k;
    el->last = k;
}

static int is_xsi_type(const xmlAttr *a)
{
    return a->ns != NULL && strcmp((const char *)a->name, "type") == 0 &&
           strcmp((const char *)a->ns->href, NS_XSI) == 0;
}

static int no_ns_named(const xmlAttr *a, const char *name)
{
    return a->ns == NULL && strcmp((const char *)a->name, name) == 0;
}

/* xsl:attribute name="xsi:type": the namespace libxslt gives it on el. */
static int retype(const coded_t *c, xmlNodePtr el, xmlAttrPtr type)
{
    if (type->ns->prefix != NULL && strcmp((const char *)type->ns->prefix, "xsi") == 0 &&
        xmlSearchNs(el->doc, el, BAD_CAST "xsi") == type->ns)
        return 0;
    xmlNsPtr ns = xsltGetSpecialNamespace(c->xslt, el, BAD_CAST NS_XSI, BAD_CAST "xsi", el);
    if (ns == NULL)
        return CDX_ENOMEM;
    type->ns = ns;
    return 0;
}

static int new_attr(xmlNodePtr el, const char *name, const char *value)
{
    return xmlNewProp(el, BAD_CAST name, BAD_CAST value) != NULL ? 0 : CDX_ENOMEM;
}

/* Unlinks a from the list *head. */
static void unlink_attr(xmlAttrPtr *head, xmlAttrPtr a)
{
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        *head = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    a->next = a->prev = NULL;
}

/* Moves the sent attribute a from the list *src to the translation t.
 * The node itself, not a copy: every attribute of libxslt's output and
 * of the walk holds its value as one text node (none when it is empty),
 * written as a new attribute of the same name and value would be. */
static void give_attr(xmlNodePtr t, xmlAttrPtr *src, xmlAttrPtr a)
{
    unlink_attr(src, a);
    append_attr(t, a);
}

/* The source code as the first translation: code and codeSystem as sent,
 * then codeSystemName, then codeSystemVersion and displayName in the
 * order sent (*src: the element's attributes before they changed, the
 * ones the translation takes over unlinked from it). */
static int source_translation(const coded_t *c, xmlNodePtr el, xmlAttrPtr *src)
{
    xmlNodePtr t = xmlNewDocNode(el->doc, NULL, BAD_CAST "translation", NULL);
    if (t == NULL)
        return CDX_ENOMEM;
    append_child(el, t);
    t->ns = xsltGetSpecialNamespace(c->xslt, t, BAD_CAST NS_V3, NULL, t);
    const char *order[] = {"code", "codeSystem", "codeSystemName"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(order); i++) {
        for (xmlAttrPtr a = *src, next; a != NULL; a = next) {
            next = a->next;
            if (no_ns_named(a, order[i]))
                give_attr(t, src, a);
        }
    }
    for (xmlAttrPtr a = *src, next; a != NULL; a = next) {
        next = a->next;
        if (no_ns_named(a, "codeSystemVersion") || no_ns_named(a, "displayName"))
            give_attr(t, src, a);
    }
    return t->ns != NULL ? 0 : CDX_ENOMEM;
}

static void free_attrs(xmlAttrPtr list)
{
    while (list != NULL) {
        xmlAttrPtr next = list->next;
        list->next = list->prev = NULL;
        list->parent = NULL;
        xmlFreeProp(list);
        list = next;
    }
}

/* The attributes the mapped form writes from the code map (or not at all). */
static int replaced(const xmlAttr *a)
{
    return is_xsi_type(a) || no_ns_named(a, "code") || no_ns_named(a, "codeSystem") ||
           no_ns_named(a, "codeSystemName") || no_ns_named(a, "codeSystemVersion") ||
           no_ns_named(a, "displayName");
}

/* Children of a mapped element: originalText and qualifier, the source
 * code (from src, its attributes as sent), the translations; whatever
 * else it held is not written. */
static int map_children(coded_t *c, xmlNodePtr el, xmlAttrPtr *src)
{
    xmlNodePtr kids = el->children, later = NULL, later_last = NULL;
    el->children = el->last = NULL;
    for (xmlNodePtr k = kids, nk; k != NULL; k = nk) {
        nk = k->next;
        k->prev = k->next = NULL;
        if (is_v3_named(k, "originalText") || is_v3_named(k, "qualifier")) {
            append_child(el, k);
        } else if (is_v3_named(k, "translation")) {
            k->parent = NULL;
            if (later_last != NULL)
                later_last->next = k;
            else
                later = k;
            later_last = k;
        } else {
            k->parent = NULL;
            drop(c, k);
        }
    }
    int rc = source_translation(c, el, src);
    for (xmlNodePtr k = later, nk; k != NULL; k = nk) {
        nk = k->next;
        append_child(el, k);
    }
    return rc;
}

/* A mapped element, as the coded template's xsl:copy wrote it: a
 * non-empty xsi:type first, the attributes not replaced, the target's. */
static int map_element(coded_t *c, xmlNodePtr el, const code_entry_t *e)
{
    xmlAttrPtr src = take_attrs(el), type = NULL;
    int rc = 0;
    for (xmlAttrPtr a = src; a != NULL; a = a->next)
        if (is_xsi_type(a))
            type = a;
    if (type != NULL) {
        char *tv = attr_value(type);
        if (tv == NULL) {
            rc = CDX_ENOMEM;
        } else if (tv[0] != '\0') {
            unlink_attr(&src, type);
            rc = retype(c, el, type);
            append_attr(el, type);
        }
        free(tv);
    }
    xmlAttrPtr next;
    for (xmlAttrPtr a = src; a != NULL; a = next) {
        next = a->next;
        if (replaced(a))
            continue; /* stays in src: the translation is made from it */
        unlink_attr(&src, a);
        append_attr(el, a);
    }
    const char *sname = c->system_name(e->system);
    if (rc == 0)
        rc = new_attr(el, "code", e->code);
    if (rc == 0)
        rc = new_attr(el, "codeSystem", e->system);
    if (rc == 0 && sname[0] != '\0')
        rc = new_attr(el, "codeSystemName", sname);
    if (rc == 0 && e->display[0] != '\0')
        rc = new_attr(el, "displayName", e->display);
    int crc = map_children(c, el, &src);
    free_attrs(src);
    return rc != 0 ? rc : crc;
}

/* Whether ns is one of the declarations of list. */
static int declared_in(const xmlNs *list, const xmlNs *ns)
{
    for (; list != NULL; list = list->next)
        if (list == ns)
            return 1;
    return 0;
}

/* The namespace libxslt gives a copy of something in ns on el. */
static int renamespace(const coded_t *c, xmlNodePtr el, xmlNsPtr *ns)
{
    xmlNsPtr got = xsltGetSpecialNamespace(c->xslt, el, (*ns)->href, (*ns)->prefix, el);
    if (got == NULL)
        return CDX_EPARSE; /* libxslt reported why (MAP-XSLT) */
    *ns = got;
    return 0;
}

/* Elements and attributes below el that used one of el's own namespace
 * declarations (old), which xsl:element did not write: each gets the
 * declaration libxslt found or made when it copied them. */
static int rehome(const coded_t *c, xmlNodePtr el, const xmlNs *old)
{
    int rc = 0;
    for (xmlNodePtr k = el->children; k != NULL && rc == 0;) {
        if (k->type == XML_ELEMENT_NODE) {
            if (k->ns != NULL && declared_in(old, k->ns))
                rc = renamespace(c, k, &k->ns);
            for (xmlAttrPtr a = k->properties; a != NULL && rc == 0; a = a->next)
                if (a->ns != NULL && declared_in(old, a->ns))
                    rc = renamespace(c, k, &a->ns);
            if (k->children != NULL) {
                k = k->children;
                continue;
            }
        }
        while (k != el && k->next == NULL)
            k = k->parent;
        k = k == el ? NULL : k->next;
    }
    return rc;
}

/* An unmapped element, as the coded template's xsl:element wrote it: no
 * namespace declarations of its own, a non-empty xsi:type first, the
 * other attributes as sent, codeSystem last. */
static int keep_element(coded_t *c, xmlNodePtr el)
{
    xmlNsPtr old = el->nsDef;
    el->nsDef = NULL;
    int rc = 0;
    el->ns = xsltGetSpecialNamespace(c->xslt, el, BAD_CAST NS_V3, NULL, el);
    if (el->ns == NULL)
        rc = CDX_ENOMEM;
    xmlAttrPtr src = take_attrs(el), system = NULL, next;
    for (xmlAttrPtr a = src; a != NULL; a = a->next) {
        if (!is_xsi_type(a))
            continue;
        char *v = attr_value(a);
        if (v == NULL) {
            rc = CDX_ENOMEM;
        } else if (v[0] != '\0') {
            unlink_attr(&src, a);
            a->ns = xsltGetSpecialNamespace(c->xslt, el, BAD_CAST NS_XSI, BAD_CAST "xsi", el);
            if (a->ns == NULL)
                rc = CDX_ENOMEM;
            append_attr(el, a);
        }
        free(v);
        break;
    }
    for (xmlAttrPtr a = src; a != NULL; a = next) {
        next = a->next;
        if (is_xsi_type(a))
            continue; /* empty: not written */
        unlink_attr(&src, a);
        if (no_ns_named(a, "codeSystem")) {
            system = a;
            continue;
        }
        if (a->ns != NULL && rc == 0)
            rc = renamespace(c, el, &a->ns);
        append_attr(el, a);
    }
    if (system != NULL)
        append_attr(el, system);
    free_attrs(src);
    if (old != NULL) {
        if (rc == 0)
            rc = rehome(c, el, old);
        xmlFreeNsList(old);
    }
    return rc;
}

int cdx_coded_visit(coded_t *c, xmlNodePtr el)
{
    if (el->psvi != NULL)
        return settle(c, el, 0);
    if (el->properties == NULL)
        return 0;
    const code_entry_t *e = NULL;
    char *code, *system;
    int kind = classify(c, el, &e, &code, &system);
    int rc = kind < 0 ? CDX_ENOMEM : 0;
    if (kind == 1) {
        rc = map_element(c, el, e);
    } else if (kind == 2) {
        xmlNodePtr src = NULL;
        rc = source_of(c, el, code, system, &src);
        size_t k = 0;
        if (rc == 0) {
            k = new_note(c, cdx_xml_node_path(src != NULL ? src : el), code, system);
            rc = k != 0 ? queue(c, k) : CDX_ENOMEM;
        }
        if (rc == 0)
            rc = keep_element(c, el);
    }
    free(code);
    free(system);
    return rc;
}
