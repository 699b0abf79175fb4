/* validate: CDA structure, XSD and profile checks (see include/cdx/parsers/validate.h);
 * the validator is built in validate_load.c. */
#include "validate_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <libxml/xmlerror.h>
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

/* ---------------------------------------------------------------------- */
/* Identifier and time syntax: the validator's rules over parsers/ids.c    */

int cdx_validate_is_oid(const char *s)
{
    return cdx_oid_is_valid(s, 128);
}

int cdx_validate_is_uuid(const char *s)
{
    return cdx_uuid_is_valid(s);
}

int cdx_validate_is_ts(const char *s)
{
    cdx_ts_t t;
    /* Producers send up to microseconds; a zone offset only makes sense
     * with at least a date. */
    return s != NULL && cdx_ts_scan(s, &t) == 0 && t.nfrac <= 6 &&
           (t.zone == NULL || t.digits >= 8);
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
