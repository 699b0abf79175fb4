/* referral: the institutions a document is addressed to (see
 * include/cdx/domain/referral.h). */
#include "cdx/domain/referral.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"

#include <stdlib.h>
#include <string.h>

#define HL7_NS "urn:hl7-org:v3"

static int is_el(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name) &&
           n->ns != NULL && xmlStrEqual(n->ns->href, BAD_CAST HL7_NS);
}

static xmlNodePtr first(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

static int add(char ***list, size_t *n, const char *oid)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], oid) == 0)
            return 0;
    if (*n >= CDX_REFERRAL_MAX)
        return 0;
    char *copy = strdup(oid);
    if (copy == NULL)
        return CDX_ENOMEM;
    (*list)[(*n)++] = copy;
    return 0;
}

int cdx_referral_recipients(xmlDocPtr doc, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || !is_el(root, "ClinicalDocument"))
        return 0;
    char **list = calloc(CDX_REFERRAL_MAX, sizeof *list);
    if (list == NULL)
        return CDX_ENOMEM;
    int rc = 0;
    for (xmlNodePtr ir = root->children; ir != NULL && rc == 0; ir = ir->next) {
        if (!is_el(ir, "informationRecipient"))
            continue;
        xmlNodePtr org = first(first(ir, "intendedRecipient"), "receivedOrganization");
        for (xmlNodePtr id = org ? org->children : NULL; id != NULL && rc == 0; id = id->next) {
            if (!is_el(id, "id"))
                continue;
            xmlChar *r = xmlGetNoNsProp(id, BAD_CAST "root");
            if (r != NULL && cdx_oid_is_valid((const char *)r, 127))
                rc = add(&list, n, (const char *)r);
            xmlFree(r);
        }
    }
    if (rc != 0 || *n == 0) {
        cdx_referral_free(list, *n);
        *n = 0;
        return rc;
    }
    *out = list;
    return 0;
}

void cdx_referral_free(char **list, size_t n)
{
    for (size_t i = 0; i < n && list != NULL; i++)
        free(list[i]);
    free(list);
}
