/* extract_internal: what the extract files share (parsers/extract*.c):
 * the reading context, the child-walk and string helpers, and the readers
 * each file contributes.  Private to parsers/; the contract is
 * include/cdx/parsers/extract.h.
 *
 * The small helpers are static inline so that each file keeps its own
 * copy and no generic name (get, set, attr) leaves the library. */
#ifndef CDX_PARSERS_EXTRACT_INTERNAL_H
#define CDX_PARSERS_EXTRACT_INTERNAL_H

#include "cdx/parsers/extract.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_V3   "urn:hl7-org:v3"
#define NS_SDTC "urn:hl7-org:sdtc"
#define NS_XSI  "http://www.w3.org/2001/XMLSchema-instance"

#define X(s) ((const xmlChar *)(s))

/* Nested sections deeper than this are not C-CDA; stopping keeps a hostile
 * document from costing stack. */
#define MAX_SECTION_DEPTH 12
/* Organizers inside organizers, concern acts inside acts: real documents
 * nest two or three levels. */
#define MAX_ENTRY_DEPTH 8
/* Display text drawn from the narrative is a name, not a table. */
#define MAX_TEXT_BYTES (64 * 1024)
/* A bound on facts per document, far above any real document. */
#define MAX_FACTS 200000

typedef struct anchor {
    const char *id;
    const xmlNode *node;
} anchor_t;

typedef struct ctx {
    cdx_diag_t *d;
    int err; /* first allocation failure, kept so helpers need not return it */
    cdx_extract_t *out;
    size_t cap;
    anchor_t *anchors;
    size_t nanchors;
    size_t anchors_cap;
    cdx_buf_t loc; /* location of the statement being read */
    bool limit_reported;
    bool lean; /* cdx_extract_lean: no extras text */
} ctx_t;

typedef struct section {
    cdx_fact_kind_t kind;
    const char *code;
    char *title; /* owned by the walk that reads the section */
} section_t;

/* A kind reader's view: the context and the section being read. */
typedef struct reader reader_t;
struct reader {
    ctx_t *c;
    const section_t *s;
};

typedef struct textacc {
    cdx_buf_t b;
    bool space; /* a separator is due before the next word */
} textacc_t;

/* ---- Tree helpers ----------------------------------------------------------------------- */

/* Whether libxml2 text a equals b (xmlStrEqual's answer), its first
 * byte compared in line: the child scans ask this of every sibling. */
static inline bool xml_text_is(const xmlChar *a, const char *b)
{
    return a != NULL && a[0] == (xmlChar)b[0] && strcmp((const char *)a, b) == 0;
}

static inline bool is_el_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || !xml_text_is(n->name, name))
        return false;
    /* Documents without the v3 default namespace are malformed CDA but
     * common enough in vendor exports that we read them too. */
    if (n->ns == NULL)
        return strcmp(ns, NS_V3) == 0;
    return xml_text_is(n->ns->href, ns);
}

static inline bool is_el(const xmlNode *n, const char *name)
{
    return is_el_ns(n, name, NS_V3);
}

static inline const xmlNode *first_el(const xmlNode *n, const char *name)
{
    if (n == NULL)
        return NULL;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* First child element of that name in namespace ns (sdtc extensions). */
static inline const xmlNode *first_el_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL)
        return NULL;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (is_el_ns(c, name, ns))
            return c;
    return NULL;
}

static inline const xmlNode *next_el(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->next; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* Follows a chain of first children named by the NULL-terminated list. */
static inline const xmlNode *get(const xmlNode *n, ...) __attribute__((sentinel));
static inline const xmlNode *get(const xmlNode *n, ...)
{
    va_list ap;
    va_start(ap, n);
    const char *name;
    while (n != NULL && (name = va_arg(ap, const char *)) != NULL)
        n = first_el(n, name);
    va_end(ap);
    return n;
}

/* The attribute's value without copying.  Values are stored as one text
 * node; an empty value counts as absent, as HL7 treats it. */
static inline const char *attr_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE)
        return NULL;
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        if (!xml_text_is(a->name, name))
            continue;
        if (ns == NULL ? a->ns != NULL : (a->ns == NULL || !xml_text_is(a->ns->href, ns)))
            continue;
        const xmlNode *t = a->children;
        if (t == NULL || t->type != XML_TEXT_NODE || t->content == NULL || t->content[0] == 0)
            return NULL;
        return (const char *)t->content;
    }
    return NULL;
}

static inline const char *attr(const xmlNode *n, const char *name)
{
    return attr_ns(n, name, NULL);
}

/* xsi:type without its namespace prefix. */
static inline const char *xsi_type(const xmlNode *n)
{
    const char *t = attr_ns(n, "type", NS_XSI);
    if (t == NULL)
        return NULL;
    const char *colon = strchr(t, ':');
    return colon ? colon + 1 : t;
}

static inline bool attr_is(const xmlNode *n, const char *name, const char *want)
{
    const char *v = attr(n, name);
    return v != NULL && strcmp(v, want) == 0;
}

static inline bool in_list(const char *s, const char *const *list, size_t n)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static inline bool has_template(const xmlNode *n, const char *const *roots, size_t nroots)
{
    for (const xmlNode *t = first_el(n, "templateId"); t != NULL; t = next_el(t, "templateId"))
        if (in_list(attr(t, "root"), roots, nroots))
            return true;
    return false;
}

/* ---- Strings ---------------------------------------------------------------------------- */

static inline char *dup(ctx_t *c, const char *s)
{
    if (s == NULL)
        return NULL;
    char *r = strdup(s);
    if (r == NULL)
        c->err = CDX_ENOMEM;
    return r;
}

/* Sets *dst to a copy of s unless it already holds something: callers list
 * sources from the best to the last resort. */
static inline void set(ctx_t *c, char **dst, const char *s)
{
    if (*dst == NULL && s != NULL)
        *dst = dup(c, s);
}

/* Like set() for a string the caller already owns. */
static inline void take(char **dst, char *s)
{
    if (*dst == NULL)
        *dst = s;
    else
        free(s);
}

static inline bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* ---- JSON helpers for extras ------------------------------------------------------------ */

static inline void jput(ctx_t *c, json_t *o, const char *key, json_t *v)
{
    if (o == NULL || v == NULL)
        return;
    if (json_object_set_new(o, key, v) != 0)
        c->err = CDX_ENOMEM;
}

static inline void jstr(ctx_t *c, json_t *o, const char *key, const char *s)
{
    if (s == NULL || o == NULL)
        return;
    json_t *v = json_string(s);
    if (v == NULL)
        c->err = CDX_ENOMEM;
    jput(c, o, key, v);
}

static inline void jstr_own(ctx_t *c, json_t *o, const char *key, char *s)
{
    jstr(c, o, key, s);
    free(s);
}

static inline void jappend(ctx_t *c, json_t *a, json_t *v)
{
    if (a == NULL || v == NULL)
        return;
    if (json_array_append_new(a, v) != 0)
        c->err = CDX_ENOMEM;
}

static inline json_t *jobj(ctx_t *c)
{
    json_t *o = json_object();
    if (o == NULL)
        c->err = CDX_ENOMEM;
    return o;
}

static inline json_t *jarr(ctx_t *c)
{
    json_t *a = json_array();
    if (a == NULL)
        c->err = CDX_ENOMEM;
    return a;
}

/* Returns o, or NULL (and frees it) when it ended up empty, so that extras
 * only name what the document says. */
static inline json_t *jnonempty(json_t *o)
{
    if (o != NULL && ((json_is_object(o) && json_object_size(o) == 0) ||
                      (json_is_array(o) && json_array_size(o) == 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- Shared between the files (each defined where its comment says) --------------------- */

/* extract_text.c: strings, narrative text and references, coded elements. */
char *cdx_extract_printf_dup(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cdx_extract_acc_words(textacc_t *t, const char *s);
void cdx_extract_acc_node(textacc_t *t, const xmlNode *n, int depth);
char *cdx_extract_text_of(ctx_t *c, const xmlNode *n);
void cdx_extract_collect_anchors(ctx_t *c, const xmlNode *n, int depth);
int cdx_extract_anchor_cmp(const void *a, const void *b);
char *cdx_extract_resolve_text(ctx_t *c, const xmlNode *holder);
json_t *cdx_extract_code_json(ctx_t *c, const xmlNode *el, bool translations);

/* extract_facts.c: building one fact and the fields all kinds share. */
void cdx_extract_fact_free(cdx_fact_t *f);
void cdx_extract_fact_init(ctx_t *c, cdx_fact_t *f, cdx_fact_kind_t kind, const section_t *s);
void cdx_extract_fact_push(ctx_t *c, cdx_fact_t *f, json_t *ex);
size_t cdx_extract_loc_push(ctx_t *c, const xmlNode *n, size_t index);
void cdx_extract_loc_pop(ctx_t *c, size_t mark);
void cdx_extract_fill_code(ctx_t *c, cdx_fact_t *f, const xmlNode *el, json_t *ex);
void cdx_extract_fill_value(ctx_t *c, cdx_fact_t *f, const xmlNode *v, json_t *ex);
void cdx_extract_fill_time(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt);
void cdx_extract_fill_common(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt, json_t *ex);
void cdx_extract_fill_range(ctx_t *c, cdx_fact_t *f, const xmlNode *obs, json_t *ex);
bool cdx_extract_is_status_obs(const xmlNode *obs);
const xmlNode *cdx_extract_status_value(const xmlNode *stmt);
const xmlNode *cdx_extract_entry_rel_obs_with(const xmlNode *stmt, const char *const *roots,
                                              size_t nroots, const char *code,
                                              const xmlNode *after);

/* The kind readers, one file per section family: each reads one clinical
 * statement into one fact. */
/* extract_problems.c */
void cdx_extract_read_problem(reader_t *r, const xmlNode *obs, const xmlNode *concern);
void cdx_extract_read_allergy(reader_t *r, const xmlNode *obs, const xmlNode *concern);
/* extract_medications.c */
void cdx_extract_read_medication(reader_t *r, const xmlNode *sa);
void cdx_extract_read_immunization(reader_t *r, const xmlNode *sa);
/* extract_results.c */
void cdx_extract_read_result(reader_t *r, const xmlNode *obs, const xmlNode *organizer);
/* extract_encounters.c */
void cdx_extract_read_procedure(reader_t *r, const xmlNode *stmt);
void cdx_extract_read_encounter(reader_t *r, const xmlNode *enc);

/* extract_sections.c: classifying sections and walking their entries. */
void cdx_extract_anchor_sections(ctx_t *c, const xmlNode *container, int depth);
void cdx_extract_visit_section(ctx_t *c, const xmlNode *sec, cdx_fact_kind_t parent, int depth);
void cdx_extract_walk_sections(ctx_t *c, const xmlNode *container, cdx_fact_kind_t parent,
                               int depth);

/* extract_header.c: the document's header into c->out->meta. */
void cdx_extract_read_meta(ctx_t *c, const xmlNode *root);

#endif
