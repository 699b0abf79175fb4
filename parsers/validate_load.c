/* validate_load: building a validator from the CDA schema and the profile
 * rule sets of a folder, and freeing it (see include/cdx/parsers/validate.h). */
#include "validate_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <libgen.h>
#include <libxml/xmlerror.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
