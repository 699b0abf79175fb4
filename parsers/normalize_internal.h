/* normalize_internal: the code maps, shared by the mapping loader and the
 * lookup functions (normalize.c) and the code map reader
 * (normalize_codemap.c).  Private to parsers/; the contract is
 * include/cdx/parsers/normalize.h. */
#ifndef CDX_PARSERS_NORMALIZE_INTERNAL_H
#define CDX_PARSERS_NORMALIZE_INTERNAL_H

#include <libxml/tree.h>
#include <libxslt/xsltInternals.h>
#include <stddef.h>

#include "cdx/parsers/diag.h"

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

/* <cdx:copy-attributes/>: copies the context element's attributes to the
 * element being written, as xsl:copy-of select="@*" (normalize_copy.c). */
void cdx_normalize_copy_attributes(xsltTransformContextPtr ctxt, xmlNodePtr node, xmlNodePtr inst,
                                   xsltElemPreCompPtr comp);

/* A section's code as cdx:has-code found it (normalize_sections.c). */
#define SECTION_SLOTS 256 /* a power of two; past 3/4 full, sections are not kept */

typedef struct section_code {
    const xmlNode *section;
    char *code;  /* @code of its only v3 code child; NULL: none, or no @code */
    int several; /* more than one code child: asked of each */
} section_code_t;

/* The sections of one transformation, each read once. */
typedef struct section_codes {
    size_t n;
    section_code_t v[SECTION_SLOTS];
} section_codes_t;

/* Whether section has a v3 code child whose @code is code, as the XPath
 * h:code/@code = 'code' says (t may be NULL: the children are walked). */
int cdx_normalize_has_code(section_codes_t *t, const xmlNode *section, const char *code);
void cdx_normalize_sections_cleanup(section_codes_t *t);

/* The first bare element of a parent as cdx:first-bare found it
 * (normalize_sections.c): the last parent asked about, kept for the
 * calls on its other children. */
#define FIRST_BARE_CHILD_MAX 32

typedef struct first_bare {
    const xmlNode *parent;            /* NULL: nothing kept */
    const xmlChar *name;              /* the siblings' element name and namespace */
    const xmlChar *href;
    char child[FIRST_BARE_CHILD_MAX]; /* the child asked for */
    const xmlNode *first;             /* NULL: none of them is bare */
} first_bare_t;

/* Whether el is the first child of its parent with el's name and
 * namespace that has a child element child (CDA namespace) without a
 * templateId (CDA namespace): the XPath
 *   generate-id(../h:E[h:child[not(h:templateId)]][1]) = generate-id(.)
 * for el an h:E.  Each parent's children are walked once while the calls
 * stay with it (c may be NULL: walked on every call). */
int cdx_normalize_first_bare(first_bare_t *c, const xmlNode *el, const char *child);

/* A MAP-UNMAPPED warning the coded template asked for (cdx:unmapped),
 * held until the finishing walk reaches the element it was written for,
 * so that every warning comes in the order of the canonical form. */
typedef struct coded_note {
    char *where, *code, *system;
    size_t next;  /* index + 1 of the element's next note; 0: none */
    int state;    /* 0: pending, 1: added to the diag, 2: its element was dropped */
} coded_note_t;

/* A source element whose code no map holds, with its line number.  When
 * the output alone cannot tell which source element an unmapped copy
 * came from (two with the same code on one line), the transformation
 * runs again with each one's index + 1 as its line number, which
 * xsl:copy carries into the copies; the lines are given back afterwards. */
typedef struct coded_tag {
    xmlNodePtr node;
    unsigned short line;
} coded_tag_t;

/* What cdx_coded_visit returns when the run must be made again with the
 * source tagged (cdx_coded_tag_source). */
#define CODED_RETRY 1

#define CODED_SEEN 8

/* The coded elements' pass (normalize_coded.c): the code maps applied to
 * the mapping's output by the finishing walk, as the default stylesheet's
 * coded template did, with the source path of each MAP-UNMAPPED. */
typedef struct coded {
    const code_entry_t *(*find)(void *arg, const char *system, const char *code);
    int (*mapped)(void *arg, const char *system);
    const char *(*system_name)(const char *oid);
    void *arg;
    cdx_diag_t *d;
    const char *version;          /* the mapping's, for the warnings */
    xsltTransformContextPtr xslt; /* for libxslt's namespace fix-ups */
    xmlDocPtr in;                 /* the source */
    coded_note_t *notes;
    size_t nnotes, capnotes;
    size_t *order; /* notes (index + 1) in the order they go to the diag */
    size_t norder, caporder;
    coded_tag_t *tags; /* the source's unmapped coded elements, once listed */
    size_t ntags, captags;
    int listed, tagged;
    struct {
        char *system;
        int mapped;
    } seen[CODED_SEEN]; /* the code systems asked about, and the answer */
    size_t nseen;
} coded_t;

/* Marks out (an element of the output) as written by the coded template:
 * the walk leaves its code alone. */
void cdx_coded_mark(xmlNodePtr out);

/* Holds a MAP-UNMAPPED warning for out, located at where (taken), or adds
 * it at once when out is not an element.  Returns 0 or CDX_ENOMEM. */
int cdx_coded_note(coded_t *c, xmlNodePtr out, char *where, const char *code,
                   const char *system);

/* Tags the unmapped coded elements of c->in (see coded_tag_t);
 * cdx_coded_untag gives their line numbers back and forgets them. */
int cdx_coded_tag_source(coded_t *c);
void cdx_coded_untag(coded_t *c);

/* The walk's step for one element of the output: the held warnings of an
 * element the coded template wrote, or the code maps applied to a coded
 * element.  Returns 0, CODED_RETRY or CDX_ENOMEM. */
int cdx_coded_visit(coded_t *c, xmlNodePtr el);

/* After the walk: with emit, adds the warnings to the diag in the order
 * of the canonical form, then those held for elements the walk did not
 * reach (written into a variable, say) and that were not dropped; frees
 * the notes either way. */
void cdx_coded_finish(coded_t *c, int emit);

/* What the walk after the stylesheet needs: the mapping's zone (+HHMM)
 * and the units map's UCUM spelling of a unit (NULL when it has none). */
typedef struct canon {
    const char *zone;
    const char *(*unit)(void *arg, const char *spelling);
    void *arg;
    coded_t *coded; /* NULL: coded elements are left alone */
} canon_t;

/* The canonical form's finishing walk over a mapping's output (see
 * docs/MAPPINGS.md): removes processing instructions, gives times with a
 * time of day and no zone cn->zone, writes units in UCUM, keeping a
 * changed value's spelling as a "unit as sent" translation, and applies
 * the code maps to coded elements (cn->coded).  Returns 0 or CDX_ENOMEM. */
int cdx_normalize_canon(xmlDocPtr doc, const canon_t *cn);

/* Shared by the finishing walk's parts: an element of the CDA (urn:hl7-org:v3)
 * namespace; the attribute name without a namespace (ns NULL) or in ns;
 * an attribute's value as stored (one text child, "" for none) or NULL
 * when a is NULL or its value is made of several nodes. */
int cdx_normalize_is_v3(const xmlNode *n);
xmlAttrPtr cdx_normalize_attr(const xmlNode *n, const char *name, const char *ns);
const char *cdx_normalize_attr_text(const xmlAttr *a);

#endif
