/* normalize_internal: the code maps, shared by the mapping loader and the
 * lookup functions (normalize.c) and the code map reader
 * (normalize_codemap.c).  Private to parsers/; the contract is
 * include/cdx/parsers/normalize.h. */
#ifndef CDX_PARSERS_NORMALIZE_INTERNAL_H
#define CDX_PARSERS_NORMALIZE_INTERNAL_H

#include <libxml/tree.h>
#include <stddef.h>

typedef struct code_entry {
    char *src;     /* source code, the sort key */
    char *system;  /* target code system OID */
    char *code;    /* target code */
    char *display; /* target display name, possibly empty */
    size_t line;   /* where it was read, for duplicate errors */
} code_entry_t;

typedef struct codemap {
    char *name;
    char *source_system; /* NULL for maps looked up by name only */
    char *file;
    code_entry_t *entries; /* sorted by src */
    size_t n;
} codemap_t;

typedef struct codemaps {
    codemap_t *v;
    size_t n;
} codemaps_t;

/* Orders code entries by source code (the maps are sorted so). */
int cdx_normalize_code_entry_cmp(const void *a, const void *b);

/* Frees every map of cms and empties it. */
void cdx_normalize_codemaps_cleanup(codemaps_t *cms);

/* Loads every .tsv file of dir into cms; a missing folder is no error.  On
 * error fills err with "path:line: reason" and returns CDX_ECONFIG or
 * CDX_ENOMEM. */
int cdx_normalize_load_codemaps(const char *dir, codemaps_t *cms, char *err, size_t errlen);

/* Lists the names in dir not starting with a dot, sorted, into *names (free
 * with cdx_normalize_free_names()).  Returns 0, -errno or CDX_ENOMEM. */
int cdx_normalize_list_dir(const char *dir, char ***names, size_t *n);
void cdx_normalize_free_names(char **names, size_t n);

/* What the walk after the stylesheet needs: the mapping's zone (+HHMM)
 * and the units map's UCUM spelling of a unit (NULL when it has none). */
typedef struct canon {
    const char *zone;
    const char *(*unit)(void *arg, const char *spelling);
    void *arg;
} canon_t;

/* The canonical form's finishing walk over a mapping's output (see
 * docs/MAPPINGS.md): removes processing instructions, gives times with a
 * time of day and no zone cn->zone, and writes units in UCUM, keeping a
 * changed value's spelling as a "unit as sent" translation.  Returns 0 or
 * CDX_ENOMEM. */
int cdx_normalize_canon(xmlDocPtr doc, const canon_t *cn);

#endif
