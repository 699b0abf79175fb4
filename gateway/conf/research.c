/* research: the research projects file (see include/cdx/conf/research.h). */
#include "cdx/conf/research.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (1u << 20)

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Checks and keeps one finished section; *found when it is the one asked. */
static int section_end(const cdx_research_project_t *p, int line, const char *dir,
                       const char *want, cdx_research_project_t *out, int *found, char *err,
                       size_t errlen)
{
    if (p->institution[0] == '\0' || p->key_file[0] == '\0') {
        snprintf(err, errlen, "research_projects_file: the section ending at line %d needs "
                 "institution and key_file", line);
        return CDX_ECONFIG;
    }
    if (strcmp(p->institution, want) != 0)
        return 0;
    if (*found) {
        snprintf(err, errlen, "research_projects_file: institution %s has two projects (line %d)",
                 want, line);
        return CDX_ECONFIG;
    }
    *out = *p;
    if (p->key_file[0] != '/' && dir[0] != '\0') {
        size_t dl = strlen(dir), kl = strlen(p->key_file);
        if (dl + 1 + kl >= sizeof out->key_file) {
            snprintf(err, errlen, "research_projects_file: key_file of line %d is too long", line);
            return CDX_ECONFIG;
        }
        memcpy(out->key_file, dir, dl);
        out->key_file[dl] = '/';
        memcpy(out->key_file + dl + 1, p->key_file, kl + 1);
    }
    *found = 1;
    return 0;
}

static int set_key(cdx_research_project_t *p, const char *k, const char *v, int line, char *err,
                   size_t errlen)
{
    if (strcmp(k, "institution") == 0) {
        if (strncmp(v, "urn:oid:", 8) == 0)
            v += 8;
        if (v[0] == '\0' || strlen(v) >= sizeof p->institution ||
            strspn(v, "0123456789.") != strlen(v)) {
            snprintf(err, errlen, "research_projects_file: line %d: institution is an OID", line);
            return CDX_ECONFIG;
        }
        cdx_strlcpy(p->institution, v, sizeof p->institution);
    } else if (strcmp(k, "key_file") == 0) {
        if (v[0] == '\0' || strlen(v) >= sizeof p->key_file) {
            snprintf(err, errlen, "research_projects_file: line %d: key_file is a path", line);
            return CDX_ECONFIG;
        }
        cdx_strlcpy(p->key_file, v, sizeof p->key_file);
    } else if (strcmp(k, "mode") == 0) {
        if (strcmp(v, "shift") == 0)
            p->mode = CDX_EXPORT_SHIFT;
        else if (strcmp(v, "safe_harbor") == 0)
            p->mode = CDX_EXPORT_SAFE_HARBOR;
        else {
            snprintf(err, errlen, "research_projects_file: line %d: mode is shift or safe_harbor",
                     line);
            return CDX_ECONFIG;
        }
    } else {
        snprintf(err, errlen,
                 "research_projects_file: line %d: unknown key '%.40s' (institution, key_file, "
                 "mode)", line, k);
        return CDX_ECONFIG;
    }
    return 0;
}

/* Long: one pass over the lines, a section at a time. */
int cdx_research_project_find(const char *path, const char *institution_oid,
                              cdx_research_project_t *out, char *err, size_t errlen)
{
    err[0] = '\0';
    if (path == NULL || path[0] == '\0')
        return CDX_ENOTFOUND;
    char *text = NULL;
    size_t len = 0;
    if (cdx_read_file(path, MAX_FILE_BYTES, &text, &len) != 0) {
        snprintf(err, errlen, "research_projects_file: cannot read %s", path);
        return CDX_ECONFIG;
    }
    char dir[CDX_PATH_MAX];
    cdx_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        dir[0] = '\0';
    cdx_research_project_t cur;
    int in_section = 0, found = 0, line = 0, rc = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); rc == 0 && l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *s = trim(l);
        if (s[0] == '\0' || s[0] == '#' || s[0] == ';')
            continue;
        if (strcmp(s, "[research_project]") == 0) {
            if (in_section)
                rc = section_end(&cur, line, dir, institution_oid, out, &found, err, errlen);
            memset(&cur, 0, sizeof cur);
            in_section = 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in_section || eq == NULL) {
            snprintf(err, errlen, "research_projects_file: line %d: expected [research_project] "
                     "or key = value", line);
            rc = CDX_ECONFIG;
            break;
        }
        *eq = '\0';
        rc = set_key(&cur, trim(s), trim(eq + 1), line, err, errlen);
    }
    if (rc == 0 && in_section)
        rc = section_end(&cur, line, dir, institution_oid, out, &found, err, errlen);
    free(text);
    if (rc != 0)
        return rc;
    return found ? 0 : CDX_ENOTFOUND;
}
