/* validate: CDA structure, XSD and profile checks (see include/cdx/parsers/validate.h). */
#include "cdx/parsers/validate.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <libgen.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_V3          "urn:hl7-org:v3"
#define NS_ISSUES      "urn:cdxgw:issues"
#define TYPEID_ROOT    "2.16.840.1.113883.1.3"
#define TYPEID_EXT     "POCD_HD000040"
#define CONF_CODESYS   "2.16.840.1.113883.5.25"
#define MAX_PROFILES   64
#define MAX_SELECTORS  256
#define MAX_XINCLUDES  10
#define CONF_MAX_BYTES (64u * 1024u)

typedef struct profile {
    char name[64]; /* file name without .xsl; names transformation failures */
    xsltStylesheetPtr style;
} profile_t;

typedef struct selector {
    char *root;
    char *ext; /* NULL: any extension (or none) */
    size_t profile;
} selector_t;

struct cdx_validator {
    xmlSchemaPtr schema;
    profile_t profiles[MAX_PROFILES];
    size_t nprofiles;
    selector_t selectors[MAX_SELECTORS];
    size_t nselectors;
};

/* ---------------------------------------------------------------------- */
/* Identifier and time syntax                                              */

int cdx_validate_is_oid(const char *s)
{
    int ok = 0;
    size_t arcs = 0, len = 0;
    if (s == NULL || (s[0] != '0' && s[0] != '1' && s[0] != '2') || s[1] != '.')
        goto out;
    const char *p = s;
    while (*p != '\0') {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t n = (size_t)(p - start);
        /* An arc is a decimal number without a leading zero. */
        if (n == 0 || (n > 1 && start[0] == '0'))
            goto out;
        arcs++;
        if (*p == '.') {
            p++;
            if (*p == '\0')
                goto out;
        } else if (*p != '\0') {
            goto out;
        }
    }
    len = (size_t)(p - s);
    ok = arcs >= 2 && len <= 128;
out:
    return ok;
}

int cdx_validate_is_uuid(const char *s)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    int ok = 0;
    if (s == NULL)
        goto out;
    const char *p = s;
    for (size_t g = 0; g < CDX_ARRAY_SIZE(groups); g++) {
        for (size_t i = 0; i < groups[g]; i++, p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
                goto out;
        if (g + 1 < CDX_ARRAY_SIZE(groups) && *p++ != '-')
            goto out;
    }
    ok = *p == '\0';
out:
    return ok;
}

/* Reads n decimal digits at p into *v; 0 if any is not a digit. */
static int digits(const char *p, size_t n, int *v)
{
    int x = 0, ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        ok = p[i] >= '0' && p[i] <= '9';
        x = x * 10 + (p[i] - '0');
    }
    if (ok)
        *v = x;
    return ok;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int cdx_validate_is_ts(const char *s)
{
    int ok = 0;
    if (s == NULL)
        goto out;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    /* The precision is a year, month, day, hour, minute or second. */
    if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14)
        goto out;
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
    digits(s, 4, &y);
    if (n >= 6 && (!digits(s + 4, 2, &mo) || mo < 1 || mo > 12))
        goto out;
    if (n >= 8 && (!digits(s + 6, 2, &d) || d < 1 || d > days_in_month(y, mo)))
        goto out;
    if (n >= 10 && (!digits(s + 8, 2, &h) || h > 23))
        goto out;
    if (n >= 12 && (!digits(s + 10, 2, &mi) || mi > 59))
        goto out;
    /* 60 admits a leap second. */
    if (n >= 14 && (!digits(s + 12, 2, &sec) || sec > 60))
        goto out;
    const char *p = s + n;
    if (*p == '.') {
        /* Fractions of a second follow a full time only; producers send
         * up to microseconds. */
        if (n != 14)
            goto out;
        size_t f = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            f++;
        if (f < 1 || f > 6)
            goto out;
    }
    if (*p == '+' || *p == '-') {
        /* A zone offset only makes sense with at least a date. */
        if (n < 8)
            goto out;
        p++;
        size_t z = 0;
        while (p[z] >= '0' && p[z] <= '9')
            z++;
        int zh = 0, zm = 0;
        if ((z != 2 && z != 4) || !digits(p, 2, &zh) || zh > 14)
            goto out;
        if (z == 4 && (!digits(p + 2, 2, &zm) || zm > 59))
            goto out;
        p += z;
    }
    ok = *p == '\0';
out:
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Tree helpers                                                            */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int in_ns(const xmlNode *n, const char *href)
{
    return n != NULL && n->ns != NULL && n->ns->href != NULL &&
           strcmp((const char *)n->ns->href, href) == 0;
}

static int is_v3(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && in_ns(n, NS_V3) &&
           strcmp((const char *)n->name, name) == 0;
}

/* The next v3 element named name among the siblings from n on. */
static xmlNode *next_v3(xmlNode *n, const char *name)
{
    while (n != NULL && !is_v3(n, name))
        n = n->next;
    return n;
}

static xmlNode *child(const xmlNode *parent, const char *name)
{
    return parent != NULL ? next_v3(parent->children, name) : NULL;
}

/* An unqualified attribute's value in the tree (no copy), or NULL.  The
 * parser substitutes no entities, so a value is one text node. */
static const char *attr(const xmlNode *n, const char *name)
{
    const char *v = NULL;
    for (const xmlAttr *a = n ? n->properties : NULL; a != NULL && v == NULL; a = a->next) {
        if (a->ns != NULL || strcmp((const char *)a->name, name) != 0)
            continue;
        v = "";
        if (a->children != NULL && a->children->type == XML_TEXT_NODE && a->children->content)
            v = (const char *)a->children->content;
    }
    return v;
}

/* The node after n in document order within top's subtree, or NULL: a
 * depth-first walk without recursion. */
static xmlNode *walk_next(xmlNode *n, const xmlNode *top)
{
    xmlNode *next = NULL;
    if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
        next = n->children;
    } else {
        while (n != NULL && n != top && n->next == NULL)
            n = n->parent;
        if (n != NULL && n != top)
            next = n->next;
    }
    return next;
}

static int has_attr(const xmlNode *n, const char *name)
{
    const char *v = attr(n, name);
    return v != NULL && v[0] != '\0';
}

/* ---------------------------------------------------------------------- */
/* Layer 1: the project's own structure checks                             */

typedef struct check {
    cdx_diag_t *d;
    size_t errors;
    int oom;
} check_t;

/* Adds an issue located at node (plus an optional path suffix naming a
 * missing child).  Messages never contain document values. */
__attribute__((format(printf, 6, 7))) static void issue(check_t *c, cdx_severity_t sev,
                                                        const char *rule, const xmlNode *node,
                                                        const char *suffix, const char *fmt, ...)
{
    char msg[768];
    char *path = node != NULL ? cdx_xml_node_path(node) : NULL;
    char loc[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(loc, sizeof loc, "%s%s", path != NULL ? path : "", suffix != NULL ? suffix : "");
    if (node != NULL && path == NULL)
        c->oom = 1;
    if (cdx_diag_add(c->d, sev, rule, loc, "%s", msg) != 0)
        c->oom = 1;
    if (sev == CDX_SEV_ERROR)
        c->errors++;
    free(path);
}

static int is_xinclude(const xmlNode *n)
{
    return in_ns(n, "http://www.w3.org/2001/XInclude") ||
           in_ns(n, "http://www.w3.org/2003/XInclude");
}

/* Reports XInclude elements anywhere in the document.  They are never
 * expanded (the parser does not process XInclude); a CDA document has no
 * use for them, so their presence alone is a schema violation. */
static size_t check_xinclude(check_t *c, xmlNode *root)
{
    size_t found = 0;
    for (xmlNode *n = root; n != NULL; n = walk_next(n, root)) {
        if (n->type == XML_ELEMENT_NODE && is_xinclude(n)) {
            if (found < MAX_XINCLUDES)
                issue(c, CDX_SEV_ERROR, "CDA-002", n, NULL,
                      "an XInclude element is not part of CDA R2 and is never expanded; remove "
                      "it and put the content in the document itself");
            found++;
        }
    }
    if (found > MAX_XINCLUDES)
        issue(c, CDX_SEV_ERROR, "CDA-002", root, NULL, "%zu more XInclude elements not listed",
              found - MAX_XINCLUDES);
    return found;
}

static void check_type_id(check_t *c, xmlNode *root)
{
    xmlNode *t = child(root, "typeId");
    const char *r = attr(t, "root"), *e = attr(t, "extension");
    if (t == NULL)
        issue(c, CDX_SEV_WARNING, "CDA-003", root, "/typeId",
              "typeId is missing; add <typeId root=\"" TYPEID_ROOT "\" extension=\"" TYPEID_EXT
              "\"/> after realmCode");
    else if (r == NULL || e == NULL || strcmp(r, TYPEID_ROOT) != 0 || strcmp(e, TYPEID_EXT) != 0)
        issue(c, CDX_SEV_WARNING, "CDA-003", t, NULL,
              "typeId should be root=\"" TYPEID_ROOT "\" extension=\"" TYPEID_EXT
              "\" (the CDA R2 ClinicalDocument message type)");
}

static void check_doc_id(check_t *c, xmlNode *root)
{
    xmlNode *id = child(root, "id");
    const char *r = attr(id, "root");
    if (id == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-004", root, "/id",
              "the document id is missing; add <id root=\"OID or UUID\" extension=\"...\"/> "
              "that identifies this document uniquely");
    else if (r == NULL || r[0] == '\0')
        issue(c, CDX_SEV_ERROR, "CDA-004", id, NULL,
              "the document id has no @root; set root to the OID or UUID of the "
              "identifier's assigning system");
    else if (!cdx_validate_is_oid(r) && !cdx_validate_is_uuid(r))
        issue(c, CDX_SEV_ERROR, "CDA-005", id, "/@root",
              "the document id/@root is neither an OID (e.g. 2.16.840.1.113883.19.5) nor a "
              "UUID; use the assigning system's OID, or a UUID as root without extension");
}

static void check_code(check_t *c, xmlNode *root)
{
    xmlNode *code = child(root, "code");
    if (code == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-006", root, "/code",
              "the document type code is missing; add <code code=\"...\" "
              "codeSystem=\"2.16.840.1.113883.6.1\"/> with the LOINC document type");
    else if (!has_attr(code, "code") && !has_attr(code, "nullFlavor"))
        issue(c, CDX_SEV_ERROR, "CDA-006", code, NULL,
              "the document type code has neither @code nor @nullFlavor; give the LOINC "
              "document type code");
}

static void check_effective_time(check_t *c, xmlNode *root)
{
    xmlNode *t = child(root, "effectiveTime");
    const char *v = attr(t, "value");
    if (t == NULL || v == NULL || v[0] == '\0')
        issue(c, CDX_SEV_ERROR, "CDA-007", t != NULL ? t : root,
              t != NULL ? "/@value" : "/effectiveTime",
              "the document creation time is missing; add <effectiveTime "
              "value=\"YYYYMMDDHHMMSS+ZZZZ\"/>");
    else if (!cdx_validate_is_ts(v))
        issue(c, CDX_SEV_ERROR, "CDA-008", t, "/@value",
              "effectiveTime/@value is not a valid HL7 TS; write YYYYMMDD or "
              "YYYYMMDDHHMM[SS] with an optional +ZZZZ offset (e.g. 20240105093000+0900)");
}

static void check_confidentiality(check_t *c, xmlNode *root)
{
    xmlNode *cc = child(root, "confidentialityCode");
    const char *code = attr(cc, "code"), *sys = attr(cc, "codeSystem");
    int known = code != NULL &&
                (strcmp(code, "N") == 0 || strcmp(code, "R") == 0 || strcmp(code, "V") == 0);
    if (cc == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-009", root, "/confidentialityCode",
              "confidentialityCode is missing; add <confidentialityCode code=\"N\" "
              "codeSystem=\"" CONF_CODESYS "\"/> (N, R or V)");
    else if (!known || sys == NULL || strcmp(sys, CONF_CODESYS) != 0)
        issue(c, CDX_SEV_WARNING, "CDA-010", cc, NULL,
              "confidentialityCode should be N, R or V from HL7 Confidentiality "
              "(codeSystem " CONF_CODESYS "); receivers may treat other codes as restricted");
}

static void check_record_target(check_t *c, xmlNode *root)
{
    xmlNode *rt = child(root, "recordTarget");
    if (rt == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-011", root, "/recordTarget",
              "no patient id: recordTarget is missing; add recordTarget/patientRole/id with "
              "the patient identifier and its assigning authority OID in @root");
    for (; rt != NULL; rt = next_v3(rt->next, "recordTarget")) {
        xmlNode *pr = child(rt, "patientRole");
        int found = 0, well_formed = 0;
        for (xmlNode *id = child(pr, "id"); id != NULL; id = next_v3(id->next, "id")) {
            const char *r = attr(id, "root");
            if (r != NULL && r[0] != '\0') {
                found = 1;
                well_formed |= cdx_validate_is_oid(r) || cdx_validate_is_uuid(r);
            }
        }
        if (!found)
            issue(c, CDX_SEV_ERROR, "CDA-011", pr != NULL ? pr : rt,
                  pr != NULL ? "/id" : "/patientRole",
                  "no patient id: patientRole needs an id whose @root names the assigning "
                  "authority (OID) and whose @extension holds the patient identifier");
        else if (!well_formed)
            issue(c, CDX_SEV_WARNING, "CDA-016", pr, "/id",
                  "no patient id has an OID or UUID as @root; use the assigning authority's "
                  "OID so that receivers can match the patient");
    }
}

static void check_author(check_t *c, xmlNode *root)
{
    xmlNode *a = child(root, "author");
    if (a == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-012", root, "/author",
              "author is missing; add author with time and assignedAuthor (id and "
              "assignedPerson or assignedAuthoringDevice)");
    for (; a != NULL; a = next_v3(a->next, "author")) {
        if (child(a, "time") == NULL)
            issue(c, CDX_SEV_ERROR, "CDA-012", a, "/time",
                  "author/time is missing; add the time of authorship (a nullFlavor is "
                  "allowed when unknown)");
        if (child(a, "assignedAuthor") == NULL)
            issue(c, CDX_SEV_ERROR, "CDA-012", a, "/assignedAuthor",
                  "author/assignedAuthor is missing; add it with the author's id");
    }
}

static void check_custodian(check_t *c, xmlNode *root)
{
    xmlNode *cu = child(root, "custodian");
    xmlNode *ac = child(cu, "assignedCustodian");
    xmlNode *org = child(ac, "representedCustodianOrganization");
    xmlNode *at = org ? org : ac ? ac : cu ? cu : root;
    const char *suffix = org  ? "/id"
                         : ac ? "/representedCustodianOrganization"
                         : cu ? "/assignedCustodian"
                              : "/custodian";
    if (child(org, "id") == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-013", at, suffix,
              "the custodian organization id is missing; add "
              "custodian/assignedCustodian/representedCustodianOrganization/id with the "
              "institution's OID in @root");
}

static void check_body(check_t *c, xmlNode *root)
{
    xmlNode *comp = child(root, "component");
    xmlNode *sb = child(comp, "structuredBody");
    if (sb == NULL && child(comp, "nonXMLBody") == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-014", comp ? comp : root,
              comp ? "/structuredBody" : "/component",
              "the document has no body; add component/structuredBody with sections, or "
              "component/nonXMLBody for an unstructured document");
    /* Every section at any depth of the structured body. */
    for (xmlNode *n = sb; n != NULL; n = walk_next(n, sb))
        if (is_v3(n, "section") && child(n, "title") == NULL && child(n, "code") == NULL)
            issue(c, CDX_SEV_WARNING, "CDA-015", n, NULL,
                  "the section has neither title nor code; add a LOINC section code and a "
                  "title so that receivers can tell what it holds");
}

/* Returns 1 when the root is a CDA ClinicalDocument; else reports why. */
static int check_root(check_t *c, xmlNode *root)
{
    int ok = 0;
    if (root == NULL)
        issue(c, CDX_SEV_ERROR, "CDA-001", NULL, NULL, "the document has no root element");
    else if (strcmp((const char *)root->name, "ClinicalDocument") != 0)
        issue(c, CDX_SEV_ERROR, "CDA-001", root, NULL,
              "the root element is not ClinicalDocument; only CDA R2 documents "
              "(<ClinicalDocument xmlns=\"" NS_V3 "\">) are accepted");
    else if (!in_ns(root, NS_V3))
        issue(c, CDX_SEV_ERROR, "CDA-001", root, NULL,
              "ClinicalDocument is not in the HL7 v3 namespace; declare "
              "xmlns=\"" NS_V3 "\" on the root element");
    else
        ok = 1;
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Layer 2: XSD                                                            */

typedef struct xsd_state {
    cdx_diag_t *d;
    cdx_severity_t sev;
    size_t count;
    size_t errors;
    int oom;
} xsd_state_t;

/* Copies a libxml2 schema message without the instance values it quotes,
 * so that issues never echo document content such as names or
 * identifiers.  libxml2 quotes a value after ": " ("attribute 'value':
 * '...' is not a valid value of ...") or after "value " ("The value '...'
 * is not accepted by the pattern ..."), and ends it with "' is " or
 * "' has "; the value itself may contain quotes, so the end is found by
 * those markers, not by the next quote.  Names and schema facts are kept. */
static void redact(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;
    while (*p != '\0' && o + 6 < outlen) {
        int value =
            *p == '\'' && p - in >= 2 &&
            (strncmp(p - 2, ": ", 2) == 0 || (p - in >= 6 && strncmp(p - 6, "value ", 6) == 0));
        if (value) {
            const char *e1 = strstr(p + 1, "' is "), *e2 = strstr(p + 1, "' has ");
            const char *end = e1 == NULL ? e2 : e2 == NULL ? e1 : e1 < e2 ? e1 : e2;
            memcpy(out + o, "'...'", 5);
            o += 5;
            p = end != NULL ? end + 1 : p + strlen(p);
        } else if (*p == '\n') {
            p++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    while (o > 0 && out[o - 1] == ' ')
        out[--o] = '\0';
}

static void on_xsd_error(void *data, xmlErrorPtr err)
{
    xsd_state_t *st = data;
    char msg[600];
    char *path = NULL;
    if (err == NULL)
        goto out;
    cdx_severity_t sev = err->level >= XML_ERR_ERROR ? st->sev : CDX_SEV_WARNING;
    if (err->level >= XML_ERR_ERROR)
        st->errors++;
    /* Past the cap findings are only counted. */
    if (st->count++ >= CDX_VALIDATE_MAX_XSD_ISSUES)
        goto out;
    redact(err->message ? err->message : "schema violation", msg, sizeof msg);
    path = err->node != NULL ? cdx_xml_node_path((const xmlNode *)err->node) : NULL;
    if (cdx_diag_add(st->d, sev, "XSD", path, "line %d: %s", err->line, msg) != 0)
        st->oom = 1;
out:
    free(path);
}

static int run_schema(const cdx_validator_t *v, xmlDocPtr doc, cdx_schema_policy_t policy,
                      cdx_diag_t *d, size_t *errors)
{
    int rc = 0;
    xsd_state_t st = {.d = d, .sev = policy == CDX_SCHEMA_STRICT ? CDX_SEV_ERROR : CDX_SEV_WARNING};
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(v->schema);
    if (vc == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    xmlSchemaSetValidStructuredErrors(vc, on_xsd_error, &st);
    int res = xmlSchemaValidateDoc(vc, doc);
    if (st.count > CDX_VALIDATE_MAX_XSD_ISSUES &&
        cdx_diag_add(d, st.sev, "XSD", NULL, "%zu more schema findings not listed",
                     st.count - CDX_VALIDATE_MAX_XSD_ISSUES) != 0)
        st.oom = 1;
    if (res < 0) {
        /* libxml2 could not finish (not a verdict on the document). */
        cdx_diag_add(d, CDX_SEV_ERROR, "XSD", NULL,
                     "the schema validator failed internally; the document was not validated");
        rc = CDX_EPARSE;
        goto out;
    }
    if (st.oom) {
        rc = CDX_ENOMEM;
        goto out;
    }
    /* A document can be invalid with no error reported through the
     * handler; count it so that strict policy still rejects it. */
    if (res > 0 && st.errors == 0)
        st.errors = 1;
    *errors = st.errors;
out:
    xmlSchemaFreeValidCtxt(vc);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Layer 3: profile rule sets                                              */

/* Copies the issues a rule set produced into d; counts errors.  Returns 0
 * or a negative code when the result is not an issues document (a bug in
 * our stylesheet, not in the input). */
static int collect_issues(const profile_t *p, xmlDocPtr res, cdx_diag_t *d, size_t *errors)
{
    int rc = 0;
    xmlNode *root = res != NULL ? xmlDocGetRootElement(res) : NULL;
    if (root == NULL || !in_ns(root, NS_ISSUES) ||
        strcmp((const char *)root->name, "issues") != 0) {
        cdx_diag_add(d, CDX_SEV_ERROR, p->name, NULL,
                     "the rule set produced no issues element; the profile was not checked");
        rc = CDX_ECONFIG;
        goto out;
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || !in_ns(n, NS_ISSUES) ||
            strcmp((const char *)n->name, "issue") != 0)
            continue;
        const char *sev = attr(n, "severity"), *rule = attr(n, "rule"), *loc = attr(n, "location");
        /* Anything not explicitly a warning counts as an error. */
        cdx_severity_t s =
            sev != NULL && strcmp(sev, "warning") == 0 ? CDX_SEV_WARNING : CDX_SEV_ERROR;
        xmlChar *text = xmlNodeGetContent(n);
        if (cdx_diag_add(d, s, rule != NULL ? rule : p->name, loc, "%s",
                         text != NULL ? (const char *)text : "") != 0)
            rc = CDX_ENOMEM;
        xmlFree(text);
        if (rc != 0)
            goto out;
        if (s == CDX_SEV_ERROR)
            (*errors)++;
    }
out:
    return rc;
}

static int run_profiles(const cdx_validator_t *v, xmlDocPtr doc, cdx_diag_t *d, size_t *errors,
                        unsigned *nrun)
{
    int rc = 0;
    bool apply[MAX_PROFILES] = {false};
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNode *t = child(root, "templateId"); t != NULL; t = next_v3(t->next, "templateId")) {
        const char *r = attr(t, "root"), *e = attr(t, "extension");
        if (r == NULL)
            continue;
        for (size_t i = 0; i < v->nselectors; i++) {
            const selector_t *s = &v->selectors[i];
            if (strcmp(s->root, r) == 0 && (s->ext == NULL || (e != NULL && !strcmp(s->ext, e))))
                apply[s->profile] = true;
        }
    }
    for (size_t i = 0; i < v->nprofiles; i++) {
        if (!apply[i])
            continue;
        const profile_t *p = &v->profiles[i];
        xmlDocPtr res = NULL;
        rc = cdx_xslt_apply(p->style, doc, NULL, NULL, NULL, p->name, d, &res);
        if (rc == 0)
            rc = collect_issues(p, res, d, errors);
        xmlFreeDoc(res);
        if (rc != 0)
            goto out;
        (*nrun)++;
    }
out:
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Entry point                                                             */

int cdx_validate_timed(const cdx_validator_t *v, xmlDocPtr doc, cdx_schema_policy_t policy,
                       cdx_diag_t *d, cdx_validate_timing_t *timing)
{
    int rc = 0;
    cdx_validate_timing_t t = {0};
    check_t c = {.d = d};
    size_t xinc = 0, xsd_errors = 0, profile_errors = 0;
    if (v == NULL || doc == NULL || d == NULL) {
        rc = CDX_EINVAL;
        goto out;
    }
    uint64_t t0 = now_ns();
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!check_root(&c, root)) {
        cdx_diag_reject(d, 422, "CDA_SCHEMA_INVALID",
                        "the document is not a CDA R2 ClinicalDocument in the urn:hl7-org:v3 "
                        "namespace");
        t.structure_ns = now_ns() - t0;
        goto out;
    }
    xinc = check_xinclude(&c, root);
    size_t before = c.errors;
    check_type_id(&c, root);
    check_doc_id(&c, root);
    check_code(&c, root);
    check_effective_time(&c, root);
    check_confidentiality(&c, root);
    check_record_target(&c, root);
    check_author(&c, root);
    check_custodian(&c, root);
    check_body(&c, root);
    size_t structure_errors = c.errors - before;
    t.structure_ns = now_ns() - t0;
    if (c.oom) {
        rc = CDX_ENOMEM;
        goto out;
    }

    if (v->schema != NULL) {
        uint64_t t1 = now_ns();
        rc = run_schema(v, doc, policy, d, &xsd_errors);
        t.schema_ns = now_ns() - t1;
        if (rc != 0)
            goto out;
    }

    uint64_t t2 = now_ns();
    rc = run_profiles(v, doc, d, &profile_errors, &t.profiles_run);
    t.profile_ns = now_ns() - t2;
    if (rc != 0)
        goto out;

    /* The verdict names the most basic problem; later ones stay as issues. */
    if (xinc > 0)
        cdx_diag_reject(d, 422, "CDA_SCHEMA_INVALID",
                        "the document contains XInclude elements, which CDA R2 does not allow");
    else if (structure_errors > 0)
        cdx_diag_reject(d, 422, "CDA_REQUIRED_FIELD",
                        "%zu required CDA header part(s) missing or malformed", structure_errors);
    else if (policy == CDX_SCHEMA_STRICT && xsd_errors > 0)
        cdx_diag_reject(d, 422, "CDA_SCHEMA_INVALID",
                        "the document does not conform to the CDA R2 schema (%zu error(s))",
                        xsd_errors);
    else if (profile_errors > 0)
        cdx_diag_reject(d, 422, "CDA_PROFILE_INVALID",
                        "the document breaks %zu rule(s) of the profile(s) it declares",
                        profile_errors);
out:
    if (timing != NULL)
        *timing = t;
    return rc;
}

int cdx_validate(const cdx_validator_t *v, xmlDocPtr doc, cdx_schema_policy_t policy, cdx_diag_t *d)
{
    return cdx_validate_timed(v, doc, policy, d, NULL);
}

/* ---------------------------------------------------------------------- */
/* Construction                                                            */

static void on_schema_parse_error(void *data, xmlErrorPtr err)
{
    char *first = data;
    /* The first error explains a failed compile best; later ones follow
     * from it. */
    if (err != NULL && err->level >= XML_ERR_ERROR && first[0] == '\0') {
        snprintf(first, 512, "%s:%d: %s", err->file ? err->file : "schema", err->line,
                 err->message ? err->message : "error");
        size_t n = strlen(first);
        while (n > 0 && (first[n - 1] == '\n' || first[n - 1] == ' '))
            first[--n] = '\0';
    }
}

static int load_schema(cdx_validator_t *v, const char *xsd_path, char *err, size_t errlen)
{
    int rc = CDX_ECONFIG;
    char first[512] = "";
    char dir[PATH_MAX];
    xmlSchemaParserCtxtPtr pc = NULL;
    if (cdx_strlcpy(dir, xsd_path, sizeof dir) != 0) {
        snprintf(err, errlen, "schema path too long");
        goto out;
    }
    /* The schema's own folder is the only place its includes may come from;
     * the entity loader refuses it again once the server seals it. */
    if (cdx_xml_allow_dir(dirname(dir)) != 0) {
        snprintf(err, errlen, "%s: schema folder not found or not allowed", xsd_path);
        goto out;
    }
    pc = xmlSchemaNewParserCtxt(xsd_path);
    if (pc == NULL) {
        rc = CDX_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    xmlSchemaSetParserStructuredErrors(pc, on_schema_parse_error, first);
    v->schema = xmlSchemaParse(pc);
    if (v->schema == NULL) {
        snprintf(err, errlen, "%s: cannot compile the schema: %s", xsd_path,
                 first[0] ? first : "unknown error");
        goto out;
    }
    rc = 0;
out:
    xmlSchemaFreeParserCtxt(pc);
    return rc;
}

static int valid_file_name(const char *s)
{
    size_t n = strlen(s);
    /* A plain name in the profiles folder: no separators, no hidden files. */
    int ok = n >= 5 && n < sizeof(((profile_t *)0)->name) + 4 && s[0] != '.' &&
             strcmp(s + n - 4, ".xsl") == 0;
    for (size_t i = 0; i < n && ok; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-';
    return ok;
}

/* Finds or compiles the rule set file; *idx receives its index. */
static int add_profile(cdx_validator_t *v, const char *dir, const char *file, size_t *idx,
                       char *err, size_t errlen)
{
    int rc = 0;
    char name[sizeof v->profiles[0].name];
    size_t n = strlen(file) - 4;
    memcpy(name, file, n);
    name[n] = '\0';
    for (size_t i = 0; i < v->nprofiles; i++) {
        if (strcmp(v->profiles[i].name, name) == 0) {
            *idx = i;
            goto out;
        }
    }
    if (v->nprofiles >= MAX_PROFILES) {
        rc = CDX_ECONFIG;
        snprintf(err, errlen, "profiles.conf: more than %d rule sets", MAX_PROFILES);
        goto out;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        rc = CDX_ECONFIG;
        snprintf(err, errlen, "profiles.conf: path too long");
        goto out;
    }
    profile_t *p = &v->profiles[v->nprofiles];
    rc = cdx_xslt_compile(path, dir, &p->style, err, errlen);
    if (rc != 0)
        goto out;
    memcpy(p->name, name, n + 1);
    *idx = v->nprofiles++;
out:
    return rc;
}

/* Splits s at blanks into at most max tokens (in place); returns the count,
 * or max + 1 when there are more. */
static size_t tokens(char *s, char **tok, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t\r", &save); t != NULL && n <= max;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (n < max)
            tok[n] = t;
        n++;
    }
    return n;
}

static int load_profiles(cdx_validator_t *v, const char *dir, char *err, size_t errlen)
{
    int rc = CDX_ECONFIG;
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/profiles.conf", dir);
    if (cdx_read_file(path, CONF_MAX_BYTES, &text, &len) != 0) {
        snprintf(err, errlen, "%s: cannot read", path);
        goto out;
    }
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *eq = strchr(line, '=');
        char *left[3] = {NULL}, *right[2] = {NULL};
        size_t nl, nr;
        if (eq == NULL) {
            if (tokens(line, left, 2) == 0)
                continue;
            snprintf(err, errlen, "%s: line %d: expected 'templateId-root [extension] = file.xsl'",
                     path, lineno);
            goto out;
        }
        *eq = '\0';
        nl = tokens(line, left, 2);
        nr = tokens(eq + 1, right, 1);
        if (nl < 1 || nl > 2 || nr != 1 || !cdx_validate_is_oid(left[0]) ||
            !valid_file_name(right[0])) {
            snprintf(err, errlen,
                     "%s: line %d: expected 'templateId-root [extension] = file.xsl' with an "
                     "OID root and a plain .xsl file name",
                     path, lineno);
            goto out;
        }
        if (v->nselectors >= MAX_SELECTORS) {
            snprintf(err, errlen, "%s: more than %d selectors", path, MAX_SELECTORS);
            goto out;
        }
        size_t idx = 0;
        int prc = add_profile(v, dir, right[0], &idx, err, errlen);
        if (prc != 0) {
            rc = prc;
            goto out;
        }
        selector_t *s = &v->selectors[v->nselectors];
        s->root = strdup(left[0]);
        s->ext = nl == 2 ? strdup(left[1]) : NULL;
        s->profile = idx;
        if (s->root == NULL || (nl == 2 && s->ext == NULL)) {
            free(s->root);
            free(s->ext);
            rc = CDX_ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        v->nselectors++;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

int cdx_validator_new(const char *profiles_dir, const char *xsd_path, cdx_validator_t **out,
                      char *err, size_t errlen)
{
    int rc = 0;
    cdx_validator_t *v = NULL;
    *out = NULL;
    cdx_xml_global_init();
    cdx_xslt_global_init();
    v = calloc(1, sizeof *v);
    if (v == NULL) {
        rc = CDX_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (xsd_path != NULL && (rc = load_schema(v, xsd_path, err, errlen)) != 0)
        goto out;
    if (profiles_dir != NULL && (rc = load_profiles(v, profiles_dir, err, errlen)) != 0)
        goto out;
    *out = v;
    v = NULL;
out:
    cdx_validator_free(v);
    return rc;
}

void cdx_validator_free(cdx_validator_t *v)
{
    if (v != NULL) {
        xmlSchemaFree(v->schema);
        for (size_t i = 0; i < v->nprofiles; i++)
            xsltFreeStylesheet(v->profiles[i].style);
        for (size_t i = 0; i < v->nselectors; i++) {
            free(v->selectors[i].root);
            free(v->selectors[i].ext);
        }
        free(v);
    }
}

size_t cdx_validator_profile_count(const cdx_validator_t *v)
{
    return v != NULL ? v->nprofiles : 0;
}
