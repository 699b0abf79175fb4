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

/* The numbers a document's national ids carry, digits only (separators
 * such as "730214-2917364" has dropped), for masking the same number in
 * its text.  Shorter than 6 digits: too short to recognise safely. */
#define MASK_MAX 8
#define MASK_MIN_DIGITS 6
typedef struct masks {
    size_t n;
    char num[MASK_MAX][64];
} masks_t;

static void masks_add(masks_t *m, const char *ext)
{
    char d[64];
    size_t k = 0;
    for (const char *p = ext; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            if (k + 1 >= sizeof d)
                return;
            d[k++] = *p;
        }
    }
    d[k] = '\0';
    if (k < MASK_MIN_DIGITS || m->n == MASK_MAX)
        return;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->num[i], d) == 0)
            return;
    memcpy(m->num[m->n++], d, k + 1);
}

static int is_digit(xmlChar c)
{
    return c >= '0' && c <= '9';
}

/* The length of the span at s that writes num (single '-', ' ' or '.'
 * between digits allowed), not preceded or followed by another digit; 0
 * when none. */
static size_t span_of_number(const xmlChar *start, const xmlChar *s, const char *num)
{
    if (s > start && is_digit(s[-1]))
        return 0;
    size_t p = 0, k = 0;
    while (num[k] != '\0') {
        if (s[p] == (xmlChar)num[k]) {
            p++;
            k++;
        } else if (k > 0 && (s[p] == '-' || s[p] == ' ' || s[p] == '.') && is_digit(s[p + 1])) {
            p++;
        } else {
            return 0;
        }
    }
    return is_digit(s[p]) ? 0 : p;
}

/* Masks every writing of the numbers in text node t ('*' for each digit,
 * separators kept).  Returns how many were masked. */
static int mask_text(xmlNodePtr t, const masks_t *m)
{
    xmlChar *s = xmlStrdup(t->content); /* the node's text may be shared (a dictionary's) */
    if (s == NULL)
        return CDX_ENOMEM;
    int count = 0;
    for (size_t i = 0; s != NULL && s[i] != '\0'; i++) {
        if (!is_digit(s[i]))
            continue;
        for (size_t k = 0; k < m->n; k++) {
            size_t len = span_of_number(s, s + i, m->num[k]);
            if (len == 0)
                continue;
            for (size_t j = i; j < i + len; j++)
                if (is_digit(s[j]))
                    s[j] = '*';
            count++;
            i += len - 1;
            break;
        }
    }
    if (count > 0)
        xmlNodeSetContent(t, s);
    OPENSSL_cleanse(s, (size_t)xmlStrlen(s));
    xmlFree(s);
    return count;
}

/* The next node in document order (no recursion: a deep document cannot
 * exhaust the stack). */
static xmlNodePtr next_node(xmlNodePtr n)
{
    if (n->type == XML_ELEMENT_NODE && n->children != NULL)
        return n->children;
    while (n != NULL && n->next == NULL)
        n = n->parent != NULL && n->parent->type != XML_DOCUMENT_NODE ? n->parent : NULL;
    return n != NULL ? n->next : NULL;
}

/* Rewrites the ids, then masks the same numbers wherever the document's
 * text writes them (a narrative table that prints the registration
 * number), so that the canonical form keeps the number nowhere. */
int cdx_national_scrub_tree(const cdx_national_t *nat, void *xml_doc)
{
    xmlDocPtr doc = xml_doc;
    if (nat == NULL || nat->nroots == 0 || doc == NULL)
        return 0;
    int count = 0;
    masks_t masks = {0};
    for (xmlNodePtr n = xmlDocGetRootElement(doc); n != NULL; n = next_node(n)) {
        if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "id"))
            continue;
        const xmlChar *root = attr_value(n, "root");
        const xmlChar *ext = attr_value(n, "extension");
        if (root == NULL || ext == NULL || !cdx_national_is_root(nat, (const char *)root) ||
            cdx_national_is_hashed((const char *)ext))
            continue;
        masks_add(&masks, (const char *)ext);
        char h[CDX_NATIONAL_EXT_SIZE];
        cdx_national_hash(nat->key, (const char *)root, (const char *)ext, h);
        if (xmlSetProp(n, BAD_CAST "extension", BAD_CAST h) == NULL)
            return CDX_ENOMEM;
        count++;
    }
    for (xmlNodePtr n = xmlDocGetRootElement(doc); n != NULL && masks.n > 0; n = next_node(n))
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
            n->content != NULL) {
            int masked = mask_text(n, &masks);
            if (masked < 0) {
                count = masked;
                break;
            }
            count += masked;
        }
    OPENSSL_cleanse(&masks, sizeof masks);
    return count;
}
