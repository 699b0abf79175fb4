/* consent_doc: consent documents as consent records (see
 * include/cdx/domain/consent.h, "consent documents"). */
#include "cdx/domain/consent.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/time_key.h"

#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define V3 "urn:hl7-org:v3"
#define LOINC "2.16.840.1.113883.6.1"

static int is_v3(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           strcmp((const char *)n->ns->href, V3) == 0 && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *next_v3(xmlNode *n, const char *name)
{
    for (; n != NULL; n = n->next)
        if (is_v3(n, name))
            return n;
    return NULL;
}

static xmlNode *child(xmlNode *n, const char *name)
{
    return n != NULL ? next_v3(n->children, name) : NULL;
}

/* An attribute's text, or NULL (no namespace; the node's own storage). */
static const char *attr(const xmlNode *n, const char *name)
{
    if (n == NULL)
        return NULL;
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next)
        if (a->ns == NULL && strcmp((const char *)a->name, name) == 0 && a->children != NULL &&
            a->children->type == XML_TEXT_NODE)
            return (const char *)a->children->content;
    return NULL;
}

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t whylen, const char *fmt,
                                                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return CDX_EPARSE;
}

static cdx_consent_doc_kind_t kind_of(xmlNode *root)
{
    for (xmlNode *t = child(root, "templateId"); t != NULL; t = next_v3(t->next, "templateId")) {
        const char *r = attr(t, "root");
        if (r == NULL)
            continue;
        if (strcmp(r, CDX_CONSENT_TEMPLATE_KR) == 0)
            return CDX_CONSENT_DOC_KR;
        if (strcmp(r, CDX_CONSENT_TEMPLATE_KR_WITHDRAWAL) == 0)
            return CDX_CONSENT_DOC_WITHDRAWAL;
        if (strcmp(r, CDX_CONSENT_TEMPLATE_BPPC) == 0)
            return CDX_CONSENT_DOC_BPPC;
    }
    return CDX_CONSENT_DOC_NONE;
}

static int listed(const char (*list)[128], size_t n, const char *s)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* One scope entry; types 0 an institution OID, 1 a type code. */
static int add_entry(cdx_consent_t *c, int types, const char *s, char *why, size_t whylen)
{
    size_t *n = types ? &c->ntypes : &c->ninstitutions;
    size_t cap = types ? sizeof c->types[0] : sizeof c->institutions[0];
    if (types ? (strlen(s) == 0 || strlen(s) >= cap || strspn(s, "0123456789-") != strlen(s))
              : !cdx_oid_is_valid(s, CDX_CONSENT_OID_MAX))
        return bad(why, whylen, "the consent's scope names '%.40s', not %s", s,
                   types ? "a LOINC document type" : "an institution OID");
    for (size_t i = 0; i < *n; i++)
        if (strcmp(types ? c->types[i] : c->institutions[i], s) == 0)
            return 0;
    if (*n == CDX_CONSENT_MAX_SCOPE)
        return bad(why, whylen, "the consent's scope lists more than %d %s",
                   CDX_CONSENT_MAX_SCOPE, types ? "document types" : "institutions");
    cdx_strlcpy(types ? c->types[*n] : c->institutions[*n], s, cap);
    (*n)++;
    return 0;
}

/* One serviceEvent: its scope, expiry and policies (*permit, *deny
 * counted against pol). */
static int read_event(xmlNode *ev, const cdx_consent_policies_t *pol, cdx_consent_t *c,
                      int *permit, int *deny, char *why, size_t whylen)
{
    xmlNode *code = child(ev, "code");
    const char *value = attr(code, "code"), *system = attr(code, "codeSystem");
    int rc = 0;
    if (value != NULL && system != NULL && strcmp(system, LOINC) == 0) {
        rc = add_entry(c, 1, value, why, whylen);
    } else if (value != NULL && pol != NULL) {
        *permit += listed(pol->permit, pol->npermit, value);
        *deny += listed(pol->deny, pol->ndeny, value);
    }
    for (xmlNode *p = child(ev, "performer"); rc == 0 && p != NULL;
         p = next_v3(p->next, "performer")) {
        xmlNode *org = child(child(p, "assignedEntity"), "representedOrganization");
        for (xmlNode *id = child(org, "id"); rc == 0 && id != NULL; id = next_v3(id->next, "id"))
            if (attr(id, "root") != NULL)
                rc = add_entry(c, 0, attr(id, "root"), why, whylen);
    }
    const char *high = attr(child(child(ev, "effectiveTime"), "high"), "value");
    if (rc == 0 && high != NULL && c->expires[0] == '\0') {
        if (strlen(high) >= sizeof c->expires || cdx_ts_utc_key(high, c->expires_key) != 0)
            return bad(why, whylen, "the consent's expiry (serviceEvent/effectiveTime/high) is "
                                    "not an HL7 timestamp");
        cdx_strlcpy(c->expires, high, sizeof c->expires);
    }
    return rc;
}

int cdx_consent_from_cda(const void *xml_doc, const cdx_consent_policies_t *pol,
                         cdx_consent_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->research = -1;
    xmlNode *root = xml_doc != NULL ? xmlDocGetRootElement((xmlDocPtr)xml_doc) : NULL;
    if (!is_v3(root, "ClinicalDocument"))
        return CDX_CONSENT_DOC_NONE;
    cdx_consent_doc_kind_t kind = kind_of(root);
    if (kind == CDX_CONSENT_DOC_NONE)
        return kind;
    int permit = 0, deny = 0;
    for (xmlNode *d = child(root, "documentationOf"); d != NULL;
         d = next_v3(d->next, "documentationOf")) {
        int rc = read_event(child(d, "serviceEvent"), pol, out, &permit, &deny, why, whylen);
        if (rc != 0)
            return rc;
    }
    if (kind == CDX_CONSENT_DOC_BPPC && permit == 0 && deny == 0)
        return bad(why, whylen, "the BPPC consent acknowledges no policy the gateway reads as "
                                "permit or deny (consent_permit_policies, consent_deny_policies)");
    out->permit = kind == CDX_CONSENT_DOC_KR || (kind == CDX_CONSENT_DOC_BPPC && deny == 0);
    return kind;
}
