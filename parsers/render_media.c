/* render_media: embedded binaries of a document, for download (see
 * include/cdx/parsers/render.h). */
#include "cdx/parsers/render.h"
#include "cdx/base/common.h"
#include "cdx/parsers/mime.h"

#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#define HL7_NS "urn:hl7-org:v3"

static const char *const media_types[] = {"image/png", "image/jpeg", "image/gif",
                                          "application/pdf"};

int cdx_render_media_type_ok(const char *type)
{
    if (type == NULL)
        return 0;
    while (*type == ' ' || *type == '\t' || *type == '\n' || *type == '\r')
        type++;
    size_t n = strlen(type);
    while (n > 0 && strchr(" \t\n\r", type[n - 1]) != NULL)
        n--;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(media_types); i++)
        if (strlen(media_types[i]) == n && strncmp(media_types[i], type, n) == 0)
            return (int)i + 1;
    return 0;
}

static int is_hl7(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           strcmp((const char *)n->ns->href, HL7_NS) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

/* The first observationMedia with ID ref, in document order (as the
 * stylesheet's key() finds it).  Iterative: no recursion on input depth. */
static const xmlNode *find_media(const xmlNode *root, const char *ref)
{
    const xmlNode *n = root;
    while (n != NULL) {
        if (is_hl7(n, "observationMedia")) {
            xmlChar *id = xmlGetNoNsProp(n, (const xmlChar *)"ID");
            int same = id != NULL && strcmp((const char *)id, ref) == 0;
            xmlFree(id);
            if (same)
                return n;
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n != root && n->next == NULL)
            n = n->parent;
        if (n == NULL || n == root)
            break;
        n = n->next;
    }
    return NULL;
}

static const xmlNode *value_of(const xmlNode *media)
{
    for (const xmlNode *c = media->children; c != NULL; c = c->next)
        if (is_hl7(c, "value"))
            return c;
    return NULL;
}

int cdx_render_media(const char *data, size_t len, const cdx_xml_limits_t *lim, const char *ref,
                     char type[32], char **bytes, size_t *n, cdx_diag_t *d)
{
    xmlDocPtr doc = NULL;
    xmlChar *mt = NULL, *rep = NULL, *text = NULL;
    char *out = NULL;
    *bytes = NULL;
    *n = 0;
    type[0] = '\0';
    if (ref == NULL || ref[0] == '\0')
        return CDX_ENOTFOUND;
    int rc = cdx_xml_parse_limited(data, len, lim, d, &doc, NULL);
    if (rc != 0)
        goto out;
    rc = CDX_ENOTFOUND;
    const xmlNode *media = find_media(xmlDocGetRootElement(doc), ref);
    const xmlNode *value = media != NULL ? value_of(media) : NULL;
    if (value == NULL)
        goto out;
    mt = xmlGetNoNsProp(value, (const xmlChar *)"mediaType");
    rep = xmlGetNoNsProp(value, (const xmlChar *)"representation");
    int which = cdx_render_media_type_ok((const char *)mt);
    if (which == 0 || rep == NULL || strcmp((const char *)rep, "B64") != 0)
        goto out;
    text = xmlNodeGetContent(value);
    size_t tlen = text != NULL ? strlen((const char *)text) : 0;
    out = malloc(tlen + 1);
    if (out == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    size_t bad = 0;
    if (cdx_mime_base64(text != NULL ? (const char *)text : "", tlen, out, n, &bad) != 0) {
        cdx_diag_reject(d, 422, "RENDER_FAILED",
                        "the embedded binary is not valid base64 (byte %zu)", bad);
        rc = CDX_EPARSE;
        goto out;
    }
    cdx_strlcpy(type, media_types[which - 1], 32);
    *bytes = out;
    out = NULL;
    rc = 0;
out:
    free(out);
    xmlFree(text);
    xmlFree(rep);
    xmlFree(mt);
    xmlFreeDoc(doc);
    return rc;
}
