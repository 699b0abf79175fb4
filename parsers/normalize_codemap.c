/* normalize_codemap: reading the code map files (TSV: source code, target
 * system OID, target code, display) of a mapping folder. */
#include "normalize_internal.h"
#include "cdx/base/common.h"
#include "cdx/parsers/ids.h"

#include <dirent.h>
#include <errno.h>
#include <libxml/xmlstring.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CODEMAP_BYTES (32u * 1024 * 1024)

static void codemap_cleanup(codemap_t *cm)
{
    for (size_t i = 0; i < cm->n; i++) {
        free(cm->entries[i].src);
        free(cm->entries[i].system);
        free(cm->entries[i].code);
        free(cm->entries[i].display);
    }
    free(cm->entries);
    free(cm->name);
    free(cm->source_system);
    free(cm->file);
}

void cdx_normalize_codemaps_cleanup(codemaps_t *cms)
{
    for (size_t i = 0; i < cms->n; i++)
        codemap_cleanup(&cms->v[i]);
    free(cms->v);
    cms->v = NULL;
    cms->n = 0;
}

int cdx_normalize_code_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const code_entry_t *)a)->src, ((const code_entry_t *)b)->src);
}

/* Parses "# map: NAME [source_system=OID]" into cm.  Returns 0 or -1. */
static int parse_header(char *line, codemap_t *cm)
{
    char *p = cdx_trim(line + 1);
    if (strncmp(p, "map:", 4) != 0)
        return 1; /* an ordinary comment */
    p = cdx_trim(p + 4);
    char *save = NULL;
    char *name = strtok_r(p, " \t", &save);
    if (name == NULL || strchr(name, '=') != NULL)
        return -1;
    cm->name = strdup(name);
    for (char *tok = strtok_r(NULL, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {
        if (strncmp(tok, "source_system=", 14) != 0 || !cdx_oid_is_dotted(tok + 14) ||
            cm->source_system)
            return -1;
        cm->source_system = strdup(tok + 14);
        if (cm->source_system == NULL)
            return -1;
    }
    return cm->name ? 0 : -1;
}

/* Splits one TSV line into at most 4 fields in place; returns the count. */
static int split_tabs(char *line, char **f)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p != '\0'; p++) {
        if (*p == '\t') {
            *p = '\0';
            if (n == 4)
                return 5;
            f[n++] = p + 1;
        }
    }
    return n;
}

/* Reads one entry line (source, target system, target code[, display])
 * into cm, growing its array (capacity *cap).  Returns 0, CDX_ECONFIG
 * with err filled, or CDX_ENOMEM. */
static int add_entry(const char *path, size_t lineno, char *line, codemap_t *cm, size_t *cap,
                     char *err, size_t errlen)
{
    char *f[4] = {NULL, NULL, NULL, ""};
    int nf = split_tabs(line, f);
    if (nf < 3 || nf > 4) {
        cdx_errf(err, errlen,
                 "%s:%zu: want 3 or 4 tab-separated fields (source_code, "
                 "target_system_oid, target_code[, target_display]), found %d",
                 path, lineno, nf > 4 ? 5 : nf);
        return CDX_ECONFIG;
    }
    for (int i = 0; i < 3; i++)
        f[i] = cdx_trim(f[i]);
    f[3] = cdx_trim(f[3]);
    if (f[0][0] == '\0' || f[2][0] == '\0') {
        cdx_errf(err, errlen, "%s:%zu: empty source or target code", path, lineno);
        return CDX_ECONFIG;
    }
    if (!cdx_oid_is_dotted(f[1])) {
        cdx_errf(err, errlen, "%s:%zu: target system '%s' is not an OID", path, lineno, f[1]);
        return CDX_ECONFIG;
    }
    if (cdx_grow(&cm->entries, cap, cm->n + 1, sizeof *cm->entries, 64) != 0)
        return CDX_ENOMEM;
    code_entry_t *e = &cm->entries[cm->n];
    e->src = strdup(f[0]);
    e->system = strdup(f[1]);
    e->code = strdup(f[2]);
    e->display = strdup(f[3]);
    e->line = lineno;
    cm->n++;
    if (!e->src || !e->system || !e->code || !e->display)
        return CDX_ENOMEM;
    return 0;
}

/* Reads the lines of text (NUL-terminated, modified in place) into cm.
 * Returns 0, CDX_ECONFIG with err filled, or CDX_ENOMEM. */
static int read_lines(const char *path, char *text, codemap_t *cm, char *err, size_t errlen)
{
    size_t lineno = 0, cap = 0;
    char *p = text;
    /* Lines are cut by hand: strtok_r would skip empty lines and shift
     * the line numbers errors report. */
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
        size_t ll = strlen(line);
        if (ll > 0 && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            line += 3;
        if (cdx_trim(line)[0] == '\0')
            continue;
        if (line[0] == '#') {
            int h = parse_header(line, cm);
            if (h < 0) {
                cdx_errf(err, errlen, "%s:%zu: bad header; want '# map: NAME [source_system=OID]'",
                         path, lineno);
                return CDX_ECONFIG;
            }
            if (h == 0 && cm->n > 0) {
                cdx_errf(err, errlen, "%s:%zu: the '# map:' header must come before entries", path,
                         lineno);
                return CDX_ECONFIG;
            }
            continue;
        }
        if (cm->name == NULL) {
            cdx_errf(err, errlen, "%s:%zu: entry before the '# map: NAME' header", path, lineno);
            return CDX_ECONFIG;
        }
        int rc = add_entry(path, lineno, line, cm, &cap, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Loads one code map file.  On error fills err with "path:line: reason". */
static int load_codemap(const char *path, codemap_t *cm, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, MAX_CODEMAP_BYTES, &text, &len);
    memset(cm, 0, sizeof *cm);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: cannot read: %s", path, cdx_strerror(rc));
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = CDX_ECONFIG;
    cm->file = strdup(path);
    if (cm->file == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    /* libxml2's check: well-formed sequences, overlong forms not looked for. */
    if (xmlCheckUTF8((const unsigned char *)text) == 0 || strlen(text) != len) {
        cdx_errf(err, errlen, "%s:1: not UTF-8 text", path);
        goto out;
    }
    rc = read_lines(path, text, cm, err, errlen);
    if (rc != 0)
        goto out;
    rc = CDX_ECONFIG;
    if (cm->name == NULL) {
        cdx_errf(err, errlen, "%s:1: missing the '# map: NAME [source_system=OID]' header", path);
        goto out;
    }
    qsort(cm->entries, cm->n, sizeof *cm->entries, cdx_normalize_code_entry_cmp);
    for (size_t i = 1; i < cm->n; i++) {
        const code_entry_t *a = &cm->entries[i - 1], *b = &cm->entries[i];
        if (strcmp(a->src, b->src) == 0) {
            /* A second target for one code would make lookups ambiguous. */
            cdx_errf(err, errlen, "%s:%zu: source code '%s' is already mapped on line %zu", path,
                     CDX_MAX(a->line, b->line), b->src, CDX_MIN(a->line, b->line));
            goto out;
        }
    }
    rc = 0;
out:
    free(text);
    return rc;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cdx_normalize_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Lists the names in dir (sorted, so loading order and thus lookup order
 * never depend on the file system). */
int cdx_normalize_list_dir(const char *dir, char ***names, size_t *n)
{
    DIR *dp = opendir(dir);
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    *names = NULL;
    *n = 0;
    if (dp == NULL) {
        rc = -errno;
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (cdx_grow(&v, &cap, count + 1, sizeof *v, 16) != 0) {
            rc = CDX_ENOMEM;
            goto out;
        }
        v[count] = strdup(de->d_name);
        if (v[count] == NULL) {
            rc = CDX_ENOMEM;
            goto out;
        }
        count++;
    }
    if (count > 0)
        qsort(v, count, sizeof *v, cmp_str);
out:
    if (dp != NULL)
        closedir(dp);
    if (rc != 0) {
        cdx_normalize_free_names(v, count);
    } else {
        *names = v;
        *n = count;
    }
    return rc;
}

/* Loads every .tsv file of dir into cms; a missing folder is no error. */
int cdx_normalize_load_codemaps(const char *dir, codemaps_t *cms, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int rc = cdx_normalize_list_dir(dir, &names, &n);
    if (rc == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: cannot list: %s", dir, cdx_strerror(rc));
        rc = rc == CDX_ENOMEM ? rc : CDX_ECONFIG;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!has_suffix(names[i], ".tsv"))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            cdx_errf(err, errlen, "%s/%s: path too long", dir, names[i]);
            rc = CDX_ECONFIG;
            goto out;
        }
        codemap_t *grown = realloc(cms->v, (cms->n + 1) * sizeof *grown);
        if (grown == NULL) {
            rc = CDX_ENOMEM;
            goto out;
        }
        cms->v = grown;
        rc = load_codemap(path, &cms->v[cms->n], err, errlen);
        cms->n++;
        if (rc != 0)
            goto out;
    }
    rc = 0;
out:
    cdx_normalize_free_names(names, n);
    return rc;
}
