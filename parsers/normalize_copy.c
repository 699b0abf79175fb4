/* normalize_copy: the cdx:copy-attributes extension element (see
 * normalize_internal.h). */
#include "normalize_internal.h"

#include <libxml/xmlstring.h>
#include <libxslt/namespaces.h>
#include <libxslt/xsltutils.h>

/* What xsl:copy-of select="@*" does right after xsl:copy, without the
 * XPath evaluation, the node set and the search for an attribute of the
 * same name on an element that has none yet: each attribute of the
 * context element is added to the element being written, its value as
 * libxslt's copy takes it (the text of its children, entities expanded)
 * and its namespace bound as libxslt binds it. */
void cdx_normalize_copy_attributes(xsltTransformContextPtr ctxt, xmlNodePtr node, xmlNodePtr inst,
                                   xsltElemPreCompPtr comp)
{
    (void)comp;
    xmlNodePtr out = ctxt != NULL ? ctxt->insert : NULL;
    if (node == NULL || node->type != XML_ELEMENT_NODE || node->properties == NULL || out == NULL)
        return;
    if (out->type != XML_ELEMENT_NODE || out->children != NULL) {
        xsltTransformError(ctxt, NULL, inst,
                           "cdx:copy-attributes: attributes must be added to an element "
                           "before its children\n");
        return;
    }
    /* Source attributes have distinct names: only an element that has
     * attributes already needs xmlSetNsProp's replacing of a namesake. */
    int fresh = out->properties == NULL;
    for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
        xmlNsPtr ns = NULL;
        if (a->ns != NULL)
            ns = xsltGetSpecialNamespace(ctxt, inst, a->ns->href, a->ns->prefix, out);
        const xmlNode *t = a->children;
        xmlChar *owned = NULL;
        const xmlChar *value = NULL;
        if (t != NULL && t->type == XML_TEXT_NODE && t->next == NULL && t->content != NULL)
            value = t->content;
        else if (t != NULL)
            value = owned = xmlNodeListGetString(a->doc, a->children, 1);
        if (fresh)
            xmlNewNsProp(out, ns, a->name, value);
        else
            xmlSetNsProp(out, ns, a->name, value);
        xmlFree(owned);
    }
}
