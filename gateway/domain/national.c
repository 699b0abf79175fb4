/* national: national patient identifiers as the gateway keeps them (see
 * include/cdx/domain/national.h). */
#include "cdx/domain/national.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

int cdx_national_parse_roots(const char *list, cdx_national_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = list != NULL ? list : "";
    while (*p != '\0') {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        char root[128];
        if (len >= sizeof root || out->nroots == CDX_NATIONAL_MAX_ROOTS) {
            cdx_errf(err, errlen, "national_id_roots: %s",
                     len >= sizeof root ? "an OID is longer than 127 characters"
                                        : "more than 16 roots");
            return CDX_ECONFIG;
        }
        memcpy(root, p, len);
        root[len] = '\0';
        if (!cdx_oid_is_valid(root, sizeof root - 1)) {
            cdx_errf(err, errlen, "national_id_roots: '%s' is not an OID", root);
            return CDX_ECONFIG;
        }
        memcpy(out->roots[out->nroots++], root, len + 1);
        p += len;
    }
    return 0;
}

int cdx_national_is_root(const cdx_national_t *nat, const char *root)
{
    for (size_t i = 0; nat != NULL && root != NULL && i < nat->nroots; i++)
        if (strcmp(nat->roots[i], root) == 0)
            return 1;
    return 0;
}

int cdx_national_is_hashed(const char *ext)
{
    size_t plen = sizeof CDX_NATIONAL_PREFIX - 1;
    if (ext == NULL || strncmp(ext, CDX_NATIONAL_PREFIX, plen) != 0 ||
        strlen(ext) != plen + 64)
        return 0;
    return strspn(ext + plen, "0123456789abcdef") == 64;
}

void cdx_national_hash(const unsigned char key[32], const char *root, const char *ext,
                       char out[CDX_NATIONAL_EXT_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    /* Fed in pieces: no bound on the id's length, no copy of the number. */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mc = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = mc != NULL && EVP_MAC_init(mc, key, 32, params) == 1 &&
             EVP_MAC_update(mc, (const unsigned char *)(root ? root : ""),
                            strlen(root ? root : "")) == 1 &&
             EVP_MAC_update(mc, (const unsigned char *)"|", 1) == 1 &&
             EVP_MAC_update(mc, (const unsigned char *)(ext ? ext : ""),
                            strlen(ext ? ext : "")) == 1 &&
             EVP_MAC_final(mc, md, &outl, sizeof md) == 1 && outl == 32;
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    if (!ok)
        memset(md, 0, 32); /* never the number: an all-zero hash links nothing by chance */
    memcpy(out, CDX_NATIONAL_PREFIX, sizeof CDX_NATIONAL_PREFIX - 1);
    cdx_hex(md, 32, out + sizeof CDX_NATIONAL_PREFIX - 1);
}

int cdx_national_stored_ext(const cdx_national_t *nat, const char *root, const char *ext,
                            char *out, size_t n)
{
    if (!cdx_national_is_root(nat, root)) {
        return cdx_strlcpy(out, ext != NULL ? ext : "", n) == 0 ? 0 : CDX_ERANGE;
    }
    if (n < CDX_NATIONAL_EXT_SIZE)
        return CDX_ERANGE;
    if (cdx_national_is_hashed(ext))
        memcpy(out, ext, CDX_NATIONAL_EXT_SIZE);
    else
        cdx_national_hash(nat->key, root, ext, out);
    return 1;
}

int cdx_national_ref_stored(const cdx_national_t *nat, const char *ref, char *out, size_t n)
{
    const char *bar = ref != NULL ? strchr(ref, '|') : NULL;
    if (bar == NULL)
        return CDX_EINVAL;
    size_t rlen = (size_t)(bar - ref);
    char root[256];
    if (rlen >= sizeof root || rlen + 1 >= n)
        return CDX_ERANGE;
    memcpy(root, ref, rlen);
    root[rlen] = '\0';
    memcpy(out, ref, rlen + 1);
    int rc = cdx_national_stored_ext(nat, root, bar + 1, out + rlen + 1, n - rlen - 1);
    return rc < 0 ? rc : 0;
}

static const xmlChar *attr_value(xmlNodePtr n, const char *name)
{
    for (xmlAttrPtr a = n->properties; a != NULL; a = a->next)
        if (a->ns == NULL && xmlStrEqual(a->name, BAD_CAST name))
            return a->children != NULL ? a->children->content : BAD_CAST "";
    return NULL;
}

/* Walks the tree without recursion (a deep document cannot exhaust the
 * stack). */
int cdx_national_scrub_tree(const cdx_national_t *nat, void *xml_doc)
{
    xmlDocPtr doc = xml_doc;
    if (nat == NULL || nat->nroots == 0 || doc == NULL)
        return 0;
    int count = 0;
    xmlNodePtr n = xmlDocGetRootElement(doc);
    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "id")) {
            const xmlChar *root = attr_value(n, "root");
            const xmlChar *ext = attr_value(n, "extension");
            if (root != NULL && ext != NULL && cdx_national_is_root(nat, (const char *)root) &&
                !cdx_national_is_hashed((const char *)ext)) {
                char h[CDX_NATIONAL_EXT_SIZE];
                cdx_national_hash(nat->key, (const char *)root, (const char *)ext, h);
                if (xmlSetProp(n, BAD_CAST "extension", BAD_CAST h) == NULL)
                    return CDX_ENOMEM;
                count++;
            }
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n->next == NULL)
            n = n->parent != NULL && n->parent->type != XML_DOCUMENT_NODE ? n->parent : NULL;
        if (n != NULL)
            n = n->next;
    }
    return count;
}
