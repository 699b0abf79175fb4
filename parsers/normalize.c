/* normalize: institution mappings and code maps (see include/cdx/parsers/normalize.h). */
#include "cdx/parsers/normalize.h"
#include "normalize_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <libxml/xmlstring.h>
#include <libxml/xpathInternals.h>
#include <libxslt/extensions.h>
#include <libxslt/transform.h>
#include <libxslt/variables.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CONF_BYTES   (64u * 1024)
#define MAX_INSTITUTIONS 64

typedef struct mapping {
    char *name;
    char *version;
    char *timezone;
    char *language;
    char **institutions;
    size_t ninstitutions;
    xsltStylesheetPtr style;
    codemaps_t maps; /* the institution's own, searched before the shared ones */
} mapping_t;

struct cdx_mappings {
    mapping_t *v;
    size_t n;
    const mapping_t *fallback;
    codemaps_t shared;
};

/* Entries handed to the stylesheet during one transformation, each built
 * once as an element of a document the call owns (not a result tree
 * fragment, so libxslt neither recycles nor frees it) and returned again
 * on every later lookup of the same entry: a 100 KB laboratory report
 * looks up a dozen codes and units hundreds of times. */
#define CACHE_SLOTS 512 /* a power of two; a full cache only stops caching */

typedef enum { SHAPE_MAP, SHAPE_CDA } shape_t;

typedef struct cached {
    const code_entry_t *e;
    shape_t shape;
    xmlNodePtr node;
} cached_t;

/* What the extension functions of one transformation see. */
typedef struct call {
    const cdx_mappings_t *all;
    const mapping_t *mapping;
    cdx_diag_t *d;
    xmlDocPtr entries; /* holds the cached elements; freed after the transformation */
    size_t ncached;
    cached_t cache[CACHE_SLOTS];
    section_codes_t sections; /* cdx:has-code's table (normalize_sections.c) */
    first_bare_t bare;        /* cdx:first-bare's last parent (normalize_sections.c) */
    coded_t coded;            /* the coded elements' pass (normalize_coded.c) */
} call_t;

/* Canonical names of the code systems targets may name, for codeSystemName. */
static const struct {
    const char *oid;
    const char *name;
} system_names[] = {
    {"2.16.840.1.113883.6.1", "LOINC"},      {"2.16.840.1.113883.6.3", "ICD-10"},
    {"2.16.840.1.113883.6.90", "ICD-10-CM"}, {"2.16.840.1.113883.6.96", "SNOMED CT"},
    {"2.16.840.1.113883.6.88", "RxNorm"},    {"2.16.840.1.113883.6.73", "WHO ATC"},
    {"2.16.840.1.113883.6.12", "CPT-4"},     {"2.16.840.1.113883.6.8", "UCUM"},
    {"2.16.840.1.113883.12.292", "CVX"},     {"1.2.410.100110.40.2.3.2", "KCD-8"},
    {"1.2.410.100110.40.2.3.3", "EDI"},      {"1.2.410.100110.40.2.3.4", "KD"},
};

static const char *system_name(const char *oid)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(system_names); i++)
        if (strcmp(system_names[i].oid, oid) == 0)
            return system_names[i].name;
    return "";
}

/* +HHMM or -HHMM with a plausible hour and minute. */
static int is_zone(const char *s)
{
    return cdx_ts_zone_len(s) == 5 && s[5] == '\0';
}

static void mapping_cleanup(mapping_t *mp)
{
    free(mp->name);
    free(mp->version);
    free(mp->timezone);
    free(mp->language);
    for (size_t i = 0; i < mp->ninstitutions; i++)
        free(mp->institutions[i]);
    free(mp->institutions);
    if (mp->style != NULL)
        xsltFreeStylesheet(mp->style);
    cdx_normalize_codemaps_cleanup(&mp->maps);
}

/* Parses "institutions = OID, OID" into mp. */
static int parse_institutions(const char *path, size_t lineno, char *value, mapping_t *mp,
                              char *err, size_t errlen)
{
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(value, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        tok = cdx_trim(tok);
        if (strncmp(tok, "urn:oid:", 8) == 0)
            tok += 8;
        if (!cdx_oid_is_dotted(tok)) {
            cdx_errf(err, errlen, "%s:%zu: institution '%s' is not an OID", path, lineno, tok);
            rc = CDX_ECONFIG;
            goto out;
        }
        if (mp->ninstitutions == MAX_INSTITUTIONS) {
            cdx_errf(err, errlen, "%s:%zu: more than %d institutions", path, lineno,
                     MAX_INSTITUTIONS);
            rc = CDX_ECONFIG;
            goto out;
        }
        char **grown = realloc(mp->institutions, (mp->ninstitutions + 1) * sizeof *grown);
        if (grown == NULL) {
            rc = CDX_ENOMEM;
            goto out;
        }
        mp->institutions = grown;
        mp->institutions[mp->ninstitutions] = strdup(tok);
        if (mp->institutions[mp->ninstitutions] == NULL) {
            rc = CDX_ENOMEM;
            goto out;
        }
        mp->ninstitutions++;
    }
out:
    return rc;
}

static int set_once(char **slot, const char *value, const char *path, size_t lineno,
                    const char *key, char *err, size_t errlen)
{
    if (*slot != NULL) {
        cdx_errf(err, errlen, "%s:%zu: '%s' given twice", path, lineno, key);
        return CDX_ECONFIG;
    }
    *slot = strdup(value);
    return *slot ? 0 : CDX_ENOMEM;
}

/* Reads dir/name/mapping.conf into mp (stylesheet path in *stylesheet). */
static int parse_conf(const char *path, mapping_t *mp, char **stylesheet, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, MAX_CONF_BYTES, &text, &len);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: cannot read: %s", path, cdx_strerror(rc));
        rc = rc == CDX_ENOMEM ? rc : CDX_ECONFIG;
        goto out;
    }
    size_t lineno = 0;
    char *p = text;
    while (p != NULL && *p != '\0') {
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p = NULL;
        }
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        line = cdx_trim(line);
        if (*line == '\0')
            continue;
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            cdx_errf(err, errlen, "%s:%zu: want 'key = value'", path, lineno);
            rc = CDX_ECONFIG;
            goto out;
        }
        *eq = '\0';
        char *key = cdx_trim(line);
        char *value = cdx_trim(eq + 1);
        if (*value == '\0') {
            cdx_errf(err, errlen, "%s:%zu: '%s' has no value", path, lineno, key);
            rc = CDX_ECONFIG;
            goto out;
        }
        if (strcmp(key, "institutions") == 0) {
            rc = parse_institutions(path, lineno, value, mp, err, errlen);
        } else if (strcmp(key, "version") == 0) {
            rc = set_once(&mp->version, value, path, lineno, key, err, errlen);
        } else if (strcmp(key, "stylesheet") == 0) {
            rc = set_once(stylesheet, value, path, lineno, key, err, errlen);
        } else if (strcmp(key, "timezone") == 0) {
            if (!is_zone(value)) {
                cdx_errf(err, errlen, "%s:%zu: timezone '%s' is not +HHMM or -HHMM", path, lineno,
                         value);
                rc = CDX_ECONFIG;
                goto out;
            }
            rc = set_once(&mp->timezone, value, path, lineno, key, err, errlen);
        } else if (strcmp(key, "language") == 0) {
            /* Passed to XSLT as a string literal, so quotes are refused. */
            if (strpbrk(value, "'\"") != NULL) {
                cdx_errf(err, errlen, "%s:%zu: language must not contain quotes", path, lineno);
                rc = CDX_ECONFIG;
                goto out;
            }
            rc = set_once(&mp->language, value, path, lineno, key, err, errlen);
        } else {
            cdx_errf(err, errlen,
                     "%s:%zu: unknown key '%s' (institutions, version, stylesheet, timezone, "
                     "language)",
                     path, lineno, key);
            rc = CDX_ECONFIG;
        }
        if (rc != 0)
            goto out;
    }
    if (mp->version == NULL || *stylesheet == NULL) {
        cdx_errf(err, errlen, "%s:%zu: 'version' and 'stylesheet' are required", path, lineno);
        rc = CDX_ECONFIG;
        goto out;
    }
    if (mp->timezone == NULL && (mp->timezone = strdup("+0000")) == NULL)
        rc = CDX_ENOMEM;
    if (mp->language == NULL && (mp->language = strdup("")) == NULL)
        rc = CDX_ENOMEM;
out:
    free(text);
    return rc;
}

static int load_mapping(const char *dir, const char *name, mapping_t *mp, char *err, size_t errlen)
{
    char conf[PATH_MAX], path[PATH_MAX];
    char *stylesheet = NULL;
    int rc = CDX_ECONFIG;
    if (snprintf(conf, sizeof conf, "%s/%s/mapping.conf", dir, name) >= (int)sizeof conf) {
        cdx_errf(err, errlen, "%s/%s: path too long", dir, name);
        goto out;
    }
    mp->name = strdup(name);
    if (mp->name == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    rc = parse_conf(conf, mp, &stylesheet, err, errlen);
    if (rc != 0)
        goto out;
    if (strcmp(name, "default") == 0 && mp->ninstitutions > 0) {
        cdx_errf(err, errlen, "%s:1: the default mapping lists no institutions", conf);
        rc = CDX_ECONFIG;
        goto out;
    }
    if (snprintf(path, sizeof path, "%s/%s/%s", dir, name, stylesheet) >= (int)sizeof path) {
        cdx_errf(err, errlen, "%s: stylesheet path too long", conf);
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = cdx_xslt_compile(path, dir, &mp->style, err, errlen);
    if (rc != 0)
        goto out;
    if (snprintf(path, sizeof path, "%s/%s/codemaps", dir, name) >= (int)sizeof path) {
        cdx_errf(err, errlen, "%s: path too long", conf);
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = cdx_normalize_load_codemaps(path, &mp->maps, err, errlen);
out:
    free(stylesheet);
    return rc;
}

void cdx_mappings_free(cdx_mappings_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        mapping_cleanup(&m->v[i]);
    free(m->v);
    cdx_normalize_codemaps_cleanup(&m->shared);
    free(m);
}

/* Refuses two mappings claiming one institution: which one applied would
 * otherwise depend on folder order. */
static int check_unique(const cdx_mappings_t *m, const char *dir, char *err, size_t errlen)
{
    for (size_t a = 0; a < m->n; a++)
        for (size_t i = 0; i < m->v[a].ninstitutions; i++)
            for (size_t b = a; b < m->n; b++)
                for (size_t j = (a == b ? i + 1 : 0); j < m->v[b].ninstitutions; j++)
                    if (strcmp(m->v[a].institutions[i], m->v[b].institutions[j]) == 0) {
                        cdx_errf(err, errlen,
                                 "%s/%s/mapping.conf:1: institution %s is also claimed by %s", dir,
                                 m->v[b].name, m->v[b].institutions[j], m->v[a].name);
                        return CDX_ECONFIG;
                    }
    return 0;
}

int cdx_mappings_load(const char *dir, cdx_mappings_t **out, char *err, size_t errlen)
{
    char **names = NULL;
    size_t nnames = 0;
    int rc;
    *out = NULL;
    cdx_xslt_global_init();
    cdx_mappings_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    rc = cdx_normalize_list_dir(dir, &names, &nnames);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: cannot list the mappings folder: %s", dir, cdx_strerror(rc));
        rc = rc == CDX_ENOMEM ? rc : CDX_ECONFIG;
        goto out;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/codemaps", dir) >= (int)sizeof path) {
        cdx_errf(err, errlen, "%s: path too long", dir);
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = cdx_normalize_load_codemaps(path, &m->shared, err, errlen);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < nnames; i++) {
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s/mapping.conf", dir, names[i]) >= (int)sizeof path ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        mapping_t *grown = realloc(m->v, (m->n + 1) * sizeof *grown);
        if (grown == NULL) {
            rc = CDX_ENOMEM;
            goto out;
        }
        m->v = grown;
        memset(&m->v[m->n], 0, sizeof m->v[m->n]);
        m->n++;
        rc = load_mapping(dir, names[i], &m->v[m->n - 1], err, errlen);
        if (rc != 0)
            goto out;
    }
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, "default") == 0)
            m->fallback = &m->v[i];
    if (m->fallback == NULL) {
        cdx_errf(err, errlen, "%s/default/mapping.conf: the default mapping is missing", dir);
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = check_unique(m, dir, err, errlen);
out:
    cdx_normalize_free_names(names, nnames);
    if (rc != 0)
        cdx_mappings_free(m);
    else
        *out = m;
    return rc;
}

static const mapping_t *mapping_for(const cdx_mappings_t *m, const char *oid)
{
    if (oid != NULL) {
        if (strncmp(oid, "urn:oid:", 8) == 0)
            oid += 8;
        for (size_t i = 0; i < m->n; i++)
            for (size_t j = 0; j < m->v[i].ninstitutions; j++)
                if (strcmp(m->v[i].institutions[j], oid) == 0)
                    return &m->v[i];
    }
    return m->fallback;
}

const char *cdx_mappings_version_for(const cdx_mappings_t *m, const char *institution_oid)
{
    return m ? mapping_for(m, institution_oid)->version : NULL;
}

const char *cdx_mappings_name_for(const cdx_mappings_t *m, const char *institution_oid)
{
    return m ? mapping_for(m, institution_oid)->name : NULL;
}

size_t cdx_mappings_count(const cdx_mappings_t *m)
{
    return m ? m->n : 0;
}

static const code_entry_t *find_in(const codemap_t *cm, const char *code)
{
    code_entry_t key = {.src = (char *)code};
    return bsearch(&key, cm->entries, cm->n, sizeof *cm->entries, cdx_normalize_code_entry_cmp);
}

/* Searches the institution's maps, then the shared ones, for the first
 * map matching (by name, or by source system) that holds code. */
static const code_entry_t *find_code(const call_t *c, const char *name, const char *system,
                                     const char *code)
{
    const codemaps_t *order[2] = {&c->mapping->maps, &c->all->shared};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < order[k]->n; i++) {
            const codemap_t *cm = &order[k]->v[i];
            if (name != NULL && strcmp(cm->name, name) != 0)
                continue;
            if (system != NULL && (cm->source_system == NULL || strcmp(cm->source_system, system)))
                continue;
            const code_entry_t *e = find_in(cm, code);
            if (e != NULL)
                return e;
        }
    }
    return NULL;
}

static int system_is_mapped(const call_t *c, const char *system)
{
    const codemaps_t *order[2] = {&c->mapping->maps, &c->all->shared};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < order[k]->n; i++)
            if (order[k]->v[i].source_system != NULL &&
                strcmp(order[k]->v[i].source_system, system) == 0)
                return 1;
    return 0;
}

static call_t *call_of(xmlXPathParserContextPtr ctxt)
{
    xsltTransformContextPtr tctxt = xsltXPathGetTransformContext(ctxt);
    return tctxt ? tctxt->_private : NULL;
}

/* Pops nargs string arguments (last first) into v. */
static int pop_strings(xmlXPathParserContextPtr ctxt, int nargs, int want, xmlChar **v)
{
    if (nargs != want) {
        xmlXPathSetArityError(ctxt);
        return -1;
    }
    for (int i = want - 1; i >= 0; i--)
        v[i] = xmlXPathPopString(ctxt);
    for (int i = 0; i < want; i++)
        if (v[i] == NULL) {
            for (int k = 0; k < want; k++)
                xmlFree(v[k]);
            xmlXPathSetError(ctxt, XPATH_MEMORY_ERROR);
            return -1;
        }
    return 0;
}

/* Builds the element for e in the call's document: <map system=""
 * system-name="" code="" display=""/> for cdx:lookup and cdx:map, or the
 * attributes of a CDA coded element (code, codeSystem, codeSystemName,
 * displayName, the last two only when known) for cdx:code. */
static xmlNodePtr build_entry(call_t *c, const code_entry_t *e, shape_t shape)
{
    if (c->entries == NULL) {
        c->entries = xmlNewDoc(BAD_CAST "1.0");
        if (c->entries == NULL)
            return NULL;
    }
    xmlNodePtr node = xmlNewDocNode(c->entries, NULL, BAD_CAST "map", NULL);
    if (node == NULL)
        return NULL;
    xmlAddChild((xmlNodePtr)c->entries, node);
    const char *sname = system_name(e->system);
    if (shape == SHAPE_MAP) {
        xmlNewProp(node, BAD_CAST "system", BAD_CAST e->system);
        xmlNewProp(node, BAD_CAST "system-name", BAD_CAST sname);
        xmlNewProp(node, BAD_CAST "code", BAD_CAST e->code);
        xmlNewProp(node, BAD_CAST "display", BAD_CAST e->display);
    } else {
        xmlNewProp(node, BAD_CAST "code", BAD_CAST e->code);
        xmlNewProp(node, BAD_CAST "codeSystem", BAD_CAST e->system);
        if (sname[0] != '\0')
            xmlNewProp(node, BAD_CAST "codeSystemName", BAD_CAST sname);
        if (e->display[0] != '\0')
            xmlNewProp(node, BAD_CAST "displayName", BAD_CAST e->display);
    }
    return node;
}

/* The element for e, from the cache when this transformation built it
 * before. */
static xmlNodePtr entry_node(call_t *c, const code_entry_t *e, shape_t shape)
{
    size_t h = (((uintptr_t)e >> 4) * 2654435761u + (size_t)shape) & (CACHE_SLOTS - 1);
    for (size_t i = 0; i < CACHE_SLOTS; i++, h = (h + 1) & (CACHE_SLOTS - 1)) {
        cached_t *slot = &c->cache[h];
        if (slot->e == e && slot->shape == shape)
            return slot->node;
        if (slot->e != NULL)
            continue;
        xmlNodePtr node = build_entry(c, e, shape);
        if (node != NULL && c->ncached < CACHE_SLOTS * 3 / 4) {
            *slot = (cached_t){.e = e, .shape = shape, .node = node};
            c->ncached++;
        }
        return node;
    }
    return build_entry(c, e, shape);
}

/* Returns the entry (or nothing) as a node-set of one element. */
static void push_entry(xmlXPathParserContextPtr ctxt, call_t *c, const code_entry_t *e,
                       shape_t shape)
{
    xmlXPathObjectPtr ret = xmlXPathNewNodeSet(NULL);
    if (ret == NULL) {
        xmlXPathSetError(ctxt, XPATH_MEMORY_ERROR);
        return;
    }
    if (e != NULL && c != NULL) {
        xmlNodePtr node = entry_node(c, e, shape);
        if (node == NULL) {
            xmlXPathFreeObject(ret);
            xmlXPathSetError(ctxt, XPATH_MEMORY_ERROR);
            return;
        }
        xmlXPathNodeSetAddUnique(ret->nodesetval, node);
    }
    valuePush(ctxt, ret);
}

static void fn_lookup(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[2];
    if (pop_strings(ctxt, nargs, 2, v) != 0)
        return;
    call_t *c = call_of(ctxt);
    const code_entry_t *e = NULL;
    if (c != NULL && v[0][0] != '\0' && v[1][0] != '\0')
        e = find_code(c, NULL, (const char *)v[0], (const char *)v[1]);
    push_entry(ctxt, c, e, SHAPE_MAP);
    xmlFree(v[0]);
    xmlFree(v[1]);
}

static void fn_map(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[2];
    if (pop_strings(ctxt, nargs, 2, v) != 0)
        return;
    call_t *c = call_of(ctxt);
    const code_entry_t *e = NULL;
    if (c != NULL && v[0][0] != '\0' && v[1][0] != '\0')
        e = find_code(c, (const char *)v[0], NULL, (const char *)v[1]);
    push_entry(ctxt, c, e, SHAPE_MAP);
    xmlFree(v[0]);
    xmlFree(v[1]);
}

/* cdx:code(system, code): like cdx:lookup, as the attributes the coded
 * element gets, so that a mapping copies them instead of rebuilding each. */
static void fn_code(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[2];
    if (pop_strings(ctxt, nargs, 2, v) != 0)
        return;
    call_t *c = call_of(ctxt);
    const code_entry_t *e = NULL;
    if (c != NULL && v[0][0] != '\0' && v[1][0] != '\0')
        e = find_code(c, NULL, (const char *)v[0], (const char *)v[1]);
    push_entry(ctxt, c, e, SHAPE_CDA);
    xmlFree(v[0]);
    xmlFree(v[1]);
}

/* cdx:unit(spelling): the units map's spelling of a unit, or the spelling
 * as given when the map has none; a string, so no node is built. */
static void fn_unit(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[1];
    if (pop_strings(ctxt, nargs, 1, v) != 0)
        return;
    const call_t *c = call_of(ctxt);
    const code_entry_t *e = NULL;
    if (c != NULL && v[0][0] != '\0')
        e = find_code(c, "units", NULL, (const char *)v[0]);
    if (e != NULL) {
        valuePush(ctxt, xmlXPathNewCString(e->code));
        xmlFree(v[0]);
    } else {
        valuePush(ctxt, xmlXPathWrapString(v[0]));
    }
}

static void fn_mapped_system(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[1];
    if (pop_strings(ctxt, nargs, 1, v) != 0)
        return;
    const call_t *c = call_of(ctxt);
    int yes = c != NULL && v[0][0] != '\0' && system_is_mapped(c, (const char *)v[0]);
    valuePush(ctxt, xmlXPathNewBoolean(yes));
    xmlFree(v[0]);
}

/* cdx:unmapped(system, code): a MAP-UNMAPPED warning located at the
 * context node (the coded element in the source), held for the element
 * being written (normalize_coded.c) so that it comes in output order. */
static void fn_unmapped(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlChar *v[2];
    if (pop_strings(ctxt, nargs, 2, v) != 0)
        return;
    call_t *c = call_of(ctxt);
    xsltTransformContextPtr tctxt = xsltXPathGetTransformContext(ctxt);
    if (c != NULL && c->d != NULL) {
        xmlNodePtr node = ctxt->context ? ctxt->context->node : NULL;
        char *where = node ? cdx_xml_node_path(node) : NULL;
        if (cdx_coded_note(&c->coded, tctxt != NULL ? tctxt->insert : NULL, where,
                           (const char *)v[1], (const char *)v[0]) != 0)
            xmlXPathSetError(ctxt, XPATH_MEMORY_ERROR);
    }
    valuePush(ctxt, xmlXPathNewCString(""));
    xmlFree(v[0]);
    xmlFree(v[1]);
}

/* cdx:coded(): marks the element being written as a coded element the
 * stylesheet wrote itself, which the finishing walk leaves alone. */
static void fn_coded(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 0) {
        xmlXPathSetArityError(ctxt);
        return;
    }
    xsltTransformContextPtr tctxt = xsltXPathGetTransformContext(ctxt);
    if (tctxt != NULL)
        cdx_coded_mark(tctxt->insert);
    valuePush(ctxt, xmlXPathNewCString(""));
}

/* A test of the context element node with the string argument arg (c:
 * the call, NULL outside one: no table kept). */
typedef int (*element_test_t)(call_t *c, const xmlNode *node, const char *arg);

/* Pops the one string argument, asks test of the context element and
 * pushes the answer (false for a context that is not an element). */
static void element_test(xmlXPathParserContextPtr ctxt, int nargs, element_test_t test)
{
    xmlChar *v[1];
    if (pop_strings(ctxt, nargs, 1, v) != 0)
        return;
    const xmlNode *node = ctxt->context ? ctxt->context->node : NULL;
    int yes = node != NULL && node->type == XML_ELEMENT_NODE &&
              test(call_of(ctxt), node, (const char *)v[0]);
    valuePush(ctxt, xmlXPathNewBoolean(yes));
    xmlFree(v[0]);
}

static int has_code(call_t *c, const xmlNode *node, const char *code)
{
    return cdx_normalize_has_code(c != NULL ? &c->sections : NULL, node, code);
}

static int first_bare(call_t *c, const xmlNode *node, const char *child)
{
    return cdx_normalize_first_bare(c != NULL ? &c->bare : NULL, node, child);
}

/* cdx:has-code(code): whether the context element has a v3 code child
 * whose @code is code, as h:code/@code = 'code' says.  The entry
 * templates ask it of a section for every entry in it; the XPath
 * collected every code child, walking all of the section's entries each
 * time (quadratic in a section's length: 13 % of normalizing a 1 MB
 * document, 2 % at 100 KB); a section's code is looked at once per
 * transformation here. */
static void fn_has_code(xmlXPathParserContextPtr ctxt, int nargs)
{
    element_test(ctxt, nargs, has_code);
}

/* cdx:first-bare(child): whether the context element is the first of
 * its parent's children of its name that has a v3 child element `child`
 * without a templateId.  The vital signs template asks it of every bare
 * entry to write their organizer once; the xsl:key it replaces matched
 * its pattern against every node of the document, calling cdx:has-code
 * on every section, on its first use in each transformation. */
static void fn_first_bare(xmlXPathParserContextPtr ctxt, int nargs)
{
    element_test(ctxt, nargs, first_bare);
}

static void setup(xsltTransformContextPtr ctxt, void *arg)
{
    ctxt->_private = arg;
    const xmlChar *ns = BAD_CAST CDX_NORMALIZE_EXT_NS;
    xsltRegisterExtFunction(ctxt, BAD_CAST "lookup", ns, fn_lookup);
    xsltRegisterExtFunction(ctxt, BAD_CAST "map", ns, fn_map);
    xsltRegisterExtFunction(ctxt, BAD_CAST "code", ns, fn_code);
    xsltRegisterExtFunction(ctxt, BAD_CAST "unit", ns, fn_unit);
    xsltRegisterExtFunction(ctxt, BAD_CAST "mapped-system", ns, fn_mapped_system);
    xsltRegisterExtFunction(ctxt, BAD_CAST "unmapped", ns, fn_unmapped);
    xsltRegisterExtFunction(ctxt, BAD_CAST "coded", ns, fn_coded);
    xsltRegisterExtFunction(ctxt, BAD_CAST "has-code", ns, fn_has_code);
    xsltRegisterExtFunction(ctxt, BAD_CAST "first-bare", ns, fn_first_bare);
    xsltRegisterExtElement(ctxt, BAD_CAST "copy-attributes", ns, cdx_normalize_copy_attributes);
}

/* The units map's spelling of a unit for the finishing walk. */
static const char *unit_of(void *arg, const char *spelling)
{
    const code_entry_t *e = find_code(arg, "units", NULL, spelling);
    return e != NULL ? e->code : NULL;
}

/* The code maps for the coded elements' pass. */
static const code_entry_t *code_of(void *arg, const char *system, const char *code)
{
    return find_code(arg, NULL, system, code);
}

static int is_mapped(void *arg, const char *system)
{
    return system_is_mapped(arg, system);
}

/* After the stylesheet, with its context still there: the walk. */
static int finish(xsltTransformContextPtr ctxt, xmlDocPtr res, void *arg)
{
    call_t *call = arg;
    call->coded.xslt = ctxt;
    canon_t cn = {.zone = call->mapping->timezone, .unit = unit_of, .arg = call,
                  .coded = &call->coded};
    int rc = cdx_normalize_canon(res, &cn);
    cdx_coded_finish(&call->coded, rc == 0);
    return rc;
}

int cdx_normalize(const cdx_mappings_t *m, const char *institution_oid, xmlDocPtr in, cdx_diag_t *d,
                  xmlDocPtr *out, const char **mapping_version)
{
    int rc = CDX_EINVAL;
    *out = NULL;
    if (m == NULL || in == NULL)
        goto out;
    const mapping_t *mp = mapping_for(m, institution_oid);
    if (institution_oid != NULL && strncmp(institution_oid, "urn:oid:", 8) == 0)
        institution_oid += 8;
    /* Parameters are XPath string literals; anything but a plain OID is
     * passed as empty rather than quoted, so it cannot inject XPath. */
    char oid_lit[160], zone_lit[16], lang_lit[64];
    snprintf(oid_lit, sizeof oid_lit, "'%s'",
             institution_oid && cdx_oid_is_dotted(institution_oid) && strlen(institution_oid) < 150
                 ? institution_oid
                 : "");
    snprintf(zone_lit, sizeof zone_lit, "'%s'", mp->timezone);
    snprintf(lang_lit, sizeof lang_lit, "'%s'", strlen(mp->language) < 60 ? mp->language : "");
    const char *params[] = {"institution-oid", oid_lit,  "timezone", zone_lit,
                            "language",        lang_lit, NULL};
    call_t *call = calloc(1, sizeof *call);
    if (call == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    call->all = m;
    call->mapping = mp;
    call->d = d;
    call->coded = (coded_t){.find = code_of, .mapped = is_mapped, .system_name = system_name,
                            .arg = call, .d = d, .version = mp->version, .in = in};
    rc = cdx_xslt_apply_finish(mp->style, in, params, setup, finish, call, "MAP-XSLT", d, out);
    if (rc == CODED_RETRY) {
        /* Two unmapped codes alike on one line: again, with the source
         * tagged, so that each warning names its own element. */
        rc = cdx_coded_tag_source(&call->coded);
        if (rc == 0)
            rc = cdx_xslt_apply_finish(mp->style, in, params, setup, finish, call, "MAP-XSLT", d,
                                       out);
    }
    cdx_coded_untag(&call->coded);
    cdx_coded_finish(&call->coded, 1);
    xmlFreeDoc(call->entries);
    cdx_normalize_sections_cleanup(&call->sections);
    free(call);
    if (rc == 0 && mapping_version != NULL)
        *mapping_version = mp->version;
out:
    return rc;
}
