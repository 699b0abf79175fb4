/* normalize_canon: what every mapping's output gets after its stylesheet
 * (see normalize_internal.h): one walk over the canonical tree that
 * removes processing instructions, applies the code maps to coded
 * elements (normalize_coded.c), gives zone-less times the mapping's zone
 * and rewrites unit spellings to UCUM.
 *
 * Times and units were templates of the default stylesheet.  In XSLT they
 * made every timestamp and every measured value pass through template
 * matching and be rebuilt attribute by attribute, about a third of the
 * transformation's cost on a laboratory report; here they are a string
 * test on the attributes that need one, changed in place. */
#include "normalize_internal.h"
#include "cdx/base/common.h"

#include <libxml/tree.h>
#include <string.h>

#define NS_V3  "urn:hl7-org:v3"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

int cdx_normalize_is_v3(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           strcmp((const char *)n->ns->href, NS_V3) == 0;
}

static int name_in(const xmlNode *n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp((const char *)n->name, names[i]) == 0)
            return 1;
    return 0;
}

xmlAttrPtr cdx_normalize_attr(const xmlNode *n, const char *name, const char *ns)
{
    for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
        if (strcmp((const char *)a->name, name) != 0)
            continue;
        if (ns == NULL ? a->ns == NULL
                       : (a->ns != NULL && strcmp((const char *)a->ns->href, ns) == 0))
            return a;
    }
    return NULL;
}

const char *cdx_normalize_attr_text(const xmlAttr *a)
{
    if (a == NULL)
        return NULL;
    if (a->children == NULL)
        return "";
    if (a->children->type != XML_TEXT_NODE || a->children->next != NULL)
        return NULL;
    return a->children->content ? (const char *)a->children->content : "";
}

/* The elements whose @value is a timestamp; value only with xsi:type TS. */
static const char *const ts_names[] = {"effectiveTime", "low",  "high",
                                       "center",        "time", "birthTime"};

/* The elements whose @unit the units map rewrites: the ones that carry a
 * PQ (and the time elements, whose IVL_PQ forms hold units too). */
static const char *const unit_names[] = {
    "effectiveTime", "low",      "high",         "center",       "time",
    "birthTime",     "value",    "doseQuantity", "rateQuantity", "maxDoseQuantity",
    "period",        "quantity", "width",        "numerator",    "denominator"};

/* Gives a, whose value is one text node (cdx_normalize_attr_text), the
 * value v: that node's content replaced, where xmlSetProp would free it
 * and make another holding the same. */
static int set_text(xmlAttrPtr a, const char *v)
{
    xmlNodePtr t = a->children;
    xmlNodeSetContent(t, BAD_CAST v);
    return t->content != NULL ? 0 : CDX_ENOMEM;
}

/* The zone rule: a timestamp with a time of day (ten digits or more
 * before any fraction), no zone and no sign, on an element that is not a
 * physical quantity (no @unit, no PQ type on its parent), gets zone. */
static int wants_zone(const xmlNode *el, const char *ts)
{
    if (strchr(ts, '+') != NULL || strchr(ts, '-') != NULL)
        return 0;
    if (cdx_normalize_attr(el, "unit", NULL) != NULL)
        return 0;
    const xmlNode *parent = el->parent;
    if (parent != NULL && parent->type == XML_ELEMENT_NODE) {
        const char *pt = cdx_normalize_attr_text(cdx_normalize_attr(parent, "type", NS_XSI));
        if (pt != NULL && strstr(pt, "PQ") != NULL)
            return 0;
    }
    size_t digits = strcspn(ts, ".");
    if (digits < 10)
        return 0;
    for (size_t i = 0; i < digits; i++)
        if (ts[i] < '0' || ts[i] > '9')
            return 0;
    return 1;
}

static int zone_time(xmlNodePtr el, const char *zone)
{
    int is_ts = name_in(el, ts_names, sizeof ts_names / sizeof *ts_names);
    if (!is_ts && strcmp((const char *)el->name, "value") == 0) {
        const char *t = cdx_normalize_attr_text(cdx_normalize_attr(el, "type", NS_XSI));
        is_ts = t != NULL && strcmp(t, "TS") == 0;
    }
    if (!is_ts)
        return 0;
    xmlAttrPtr a = cdx_normalize_attr(el, "value", NULL);
    const char *ts = cdx_normalize_attr_text(a);
    if (ts == NULL || !wants_zone(el, ts))
        return 0;
    size_t n = strlen(ts), z = strlen(zone);
    char *v = malloc(n + z + 1);
    if (v == NULL)
        return CDX_ENOMEM;
    memcpy(v, ts, n);
    memcpy(v + n, zone, z + 1);
    int rc = set_text(a, v);
    free(v);
    return rc;
}

/* The namespace a translation child of el is written in: the default
 * namespace in scope when it is the v3 one (as an XSLT literal result
 * element would be), else a declaration of its own. */
static xmlNsPtr v3_default(xmlNodePtr el, xmlNodePtr child)
{
    xmlNsPtr ns = xmlSearchNs(el->doc, el, NULL);
    if (ns != NULL && ns->href != NULL && strcmp((const char *)ns->href, NS_V3) == 0)
        return ns;
    return xmlNewNs(child, BAD_CAST NS_V3, NULL);
}

/* A measured value whose unit changes keeps the spelling it was sent with
 * as its first child: <translation code="SPELLING" codeSystemName="unit
 * as sent" value="VALUE"/>, unless it has one already. */
static int keep_spelling(xmlNodePtr el, const char *spelling)
{
    for (xmlNodePtr c = el->children; c != NULL; c = c->next) {
        if (!cdx_normalize_is_v3(c) || strcmp((const char *)c->name, "translation") != 0)
            continue;
        const char *csn = cdx_normalize_attr_text(cdx_normalize_attr(c, "codeSystemName", NULL));
        if (csn != NULL && strcmp(csn, "unit as sent") == 0)
            return 0;
    }
    xmlNodePtr t = xmlNewDocNode(el->doc, NULL, BAD_CAST "translation", NULL);
    if (t == NULL)
        return CDX_ENOMEM;
    xmlNsPtr ns = v3_default(el, t);
    const char *value = cdx_normalize_attr_text(cdx_normalize_attr(el, "value", NULL));
    if (ns == NULL || xmlNewProp(t, BAD_CAST "code", BAD_CAST spelling) == NULL ||
        xmlNewProp(t, BAD_CAST "codeSystemName", BAD_CAST "unit as sent") == NULL ||
        (cdx_normalize_attr(el, "value", NULL) != NULL &&
         xmlNewProp(t, BAD_CAST "value", BAD_CAST(value ? value : "")) == NULL)) {
        xmlFreeNode(t);
        return CDX_ENOMEM;
    }
    xmlSetNs(t, ns);
    if (el->children != NULL)
        xmlAddPrevSibling(el->children, t);
    else
        xmlAddChild(el, t);
    return 0;
}

static int rewrite_unit(xmlNodePtr el, const canon_t *cn)
{
    if (!name_in(el, unit_names, sizeof unit_names / sizeof *unit_names))
        return 0;
    xmlAttrPtr a = cdx_normalize_attr(el, "unit", NULL);
    const char *spelling = cdx_normalize_attr_text(a);
    if (spelling == NULL || spelling[0] == '\0')
        return 0;
    const char *ucum = cn->unit(cn->arg, spelling);
    if (ucum == NULL || strcmp(ucum, spelling) == 0)
        return 0;
    /* The spelling is needed after the attribute changes. */
    char *sent = strdup(spelling);
    if (sent == NULL)
        return CDX_ENOMEM;
    int rc = 0;
    if (strcmp((const char *)el->name, "value") == 0)
        rc = keep_spelling(el, sent);
    if (rc == 0)
        rc = set_text(a, ucum);
    free(sent);
    return rc;
}

/* Whether el has a @value or a @unit (without a namespace): the
 * attributes the two rules below look at, so the others need no test. */
static int has_value_or_unit(const xmlNode *el)
{
    for (const xmlAttr *a = el->properties; a != NULL; a = a->next)
        if (a->ns == NULL && (strcmp((const char *)a->name, "value") == 0 ||
                              strcmp((const char *)a->name, "unit") == 0))
            return 1;
    return 0;
}

/* The node after n in document order, not descending below stop. */
static xmlNodePtr preorder_next(xmlNodePtr n, xmlNodePtr stop)
{
    if (n->type == XML_ELEMENT_NODE && n->children != NULL)
        return n->children;
    for (; n != NULL && n != stop; n = n->parent)
        if (n->next != NULL)
            return n->next;
    return NULL;
}

int cdx_normalize_canon(xmlDocPtr doc, const canon_t *cn)
{
    xmlNodePtr n = doc != NULL ? doc->children : NULL;
    while (n != NULL) {
        /* A PI has no children: its successor is not inside it.  A
         * translation added to a value is visited next, and left alone
         * (neither list names it). */
        if (n->type == XML_PI_NODE) {
            /* Instructions are addressed to the source's viewers; one served
             * with the canonical form could point a reader's software at a
             * file or URL the source chose.  The original bytes keep them. */
            xmlNodePtr next = preorder_next(n, (xmlNodePtr)doc);
            xmlUnlinkNode(n);
            xmlFreeNode(n);
            n = next;
            continue;
        }
        if (n->type == XML_ELEMENT_NODE && cn->coded != NULL) {
            /* Codes first: a coded element is rebuilt before its times and
             * units are looked at, as when the stylesheet mapped it. */
            int rc = cdx_coded_visit(cn->coded, n);
            if (rc != 0)
                return rc;
        }
        if (cdx_normalize_is_v3(n) && has_value_or_unit(n)) {
            int rc = zone_time(n, cn->zone);
            if (rc == 0)
                rc = rewrite_unit(n, cn);
            if (rc != 0)
                return rc;
        }
        n = preorder_next(n, (xmlNodePtr)doc);
    }
    return 0;
}
