/* extract: header metadata and clinical facts (see include/cdx/parsers/extract.h).
 *
 * Everything here walks element children directly instead of evaluating
 * XPath: a CDA document is a shallow, regular tree, so a child walk visits
 * each node of interest once and costs no per-call compilation, which is
 * what keeps extraction well under a millisecond per document. */
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
} ctx_t;

/* ------------------------------------------------------------------ */
/* Tree helpers                                                        */

static bool is_el_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, X(name)))
        return false;
    /* Documents without the v3 default namespace are malformed CDA but
     * common enough in vendor exports that we read them too. */
    if (n->ns == NULL)
        return strcmp(ns, NS_V3) == 0;
    return xmlStrEqual(n->ns->href, X(ns));
}

static bool is_el(const xmlNode *n, const char *name)
{
    return is_el_ns(n, name, NS_V3);
}

static const xmlNode *first_el(const xmlNode *n, const char *name)
{
    if (n == NULL)
        return NULL;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* First child element of that name in namespace ns (sdtc extensions). */
static const xmlNode *first_el_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL)
        return NULL;
    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (is_el_ns(c, name, ns))
            return c;
    return NULL;
}

static const xmlNode *next_el(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->next; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* Follows a chain of first children named by the NULL-terminated list. */
static const xmlNode *get(const xmlNode *n, ...) __attribute__((sentinel));
static const xmlNode *get(const xmlNode *n, ...)
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
static const char *attr_ns(const xmlNode *n, const char *name, const char *ns)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE)
        return NULL;
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        if (!xmlStrEqual(a->name, X(name)))
            continue;
        if (ns == NULL ? a->ns != NULL : (a->ns == NULL || !xmlStrEqual(a->ns->href, X(ns))))
            continue;
        const xmlNode *t = a->children;
        if (t == NULL || t->type != XML_TEXT_NODE || t->content == NULL || t->content[0] == 0)
            return NULL;
        return (const char *)t->content;
    }
    return NULL;
}

static const char *attr(const xmlNode *n, const char *name)
{
    return attr_ns(n, name, NULL);
}

/* xsi:type without its namespace prefix. */
static const char *xsi_type(const xmlNode *n)
{
    const char *t = attr_ns(n, "type", NS_XSI);
    if (t == NULL)
        return NULL;
    const char *colon = strchr(t, ':');
    return colon ? colon + 1 : t;
}

static bool attr_is(const xmlNode *n, const char *name, const char *want)
{
    const char *v = attr(n, name);
    return v != NULL && strcmp(v, want) == 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool has_template(const xmlNode *n, const char *const *roots, size_t nroots)
{
    for (const xmlNode *t = first_el(n, "templateId"); t != NULL; t = next_el(t, "templateId"))
        if (in_list(attr(t, "root"), roots, nroots))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */

static char *dup(ctx_t *c, const char *s)
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
static void set(ctx_t *c, char **dst, const char *s)
{
    if (*dst == NULL && s != NULL)
        *dst = dup(c, s);
}

/* Like set() for a string the caller already owns. */
static void take(char **dst, char *s)
{
    if (*dst == NULL)
        *dst = s;
    else
        free(s);
}

static char *printf_dup(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *printf_dup(ctx_t *c, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto out;
    s = malloc((size_t)n + 1);
    if (s == NULL) {
        c->err = CDX_ENOMEM;
        goto out;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
out:
    return s;
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

typedef struct textacc {
    cdx_buf_t b;
    bool space; /* a separator is due before the next word */
} textacc_t;

static void acc_words(textacc_t *t, const char *s)
{
    while (*s != 0) {
        if (is_ws(*s)) {
            t->space = true;
            s++;
            continue;
        }
        const char *e = s;
        while (*e != 0 && !is_ws(*e))
            e++;
        if (t->space && t->b.len > 0)
            cdx_buf_append(&t->b, " ", 1);
        t->space = false;
        /* Past the bound the word is dropped whole, so no UTF-8 sequence
         * is ever cut. */
        cdx_buf_append(&t->b, s, (size_t)(e - s));
        s = e;
    }
}

/* Narrative cells, paragraphs and line breaks separate words even when
 * the markup has no whitespace between them. */
static bool is_block(const xmlNode *n)
{
    static const char *const blocks[] = {"td",      "th",   "tr",    "paragraph", "br",   "item",
                                         "caption", "list", "table", "thead",     "tbody"};
    return in_list((const char *)n->name, blocks, CDX_ARRAY_SIZE(blocks));
}

static void acc_node(textacc_t *t, const xmlNode *n, int depth)
{
    for (const xmlNode *ch = n->children; ch != NULL; ch = ch->next) {
        if ((ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) && ch->content)
            acc_words(t, (const char *)ch->content);
        else if (ch->type == XML_ELEMENT_NODE && depth < CDX_XML_MAX_DEPTH) {
            bool block = is_block(ch);
            t->space |= block;
            acc_node(t, ch, depth + 1);
            t->space |= block;
        }
    }
}

/* The element's text with whitespace collapsed, or NULL when blank. */
static char *text_of(ctx_t *c, const xmlNode *n)
{
    if (n == NULL)
        return NULL;
    textacc_t t;
    cdx_buf_init(&t.b, MAX_TEXT_BYTES);
    t.space = false;
    acc_node(&t, n, 0);
    if (t.b.len == 0) {
        cdx_buf_cleanup(&t.b);
        return NULL;
    }
    char *s = cdx_buf_steal(&t.b, NULL);
    if (s == NULL)
        c->err = CDX_ENOMEM;
    return s;
}

/* ------------------------------------------------------------------ */
/* Narrative references                                                */

static void collect_anchors(ctx_t *c, const xmlNode *n, int depth)
{
    for (const xmlNode *ch = n->children; ch != NULL; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE)
            continue;
        const char *id = attr(ch, "ID");
        if (id != NULL) {
            if (c->nanchors == c->anchors_cap) {
                size_t cap = c->anchors_cap ? c->anchors_cap * 2 : 64;
                anchor_t *grown = realloc(c->anchors, cap * sizeof *grown);
                if (grown == NULL) {
                    c->err = CDX_ENOMEM;
                    return;
                }
                c->anchors = grown;
                c->anchors_cap = cap;
            }
            c->anchors[c->nanchors].id = id;
            c->anchors[c->nanchors].node = ch;
            c->nanchors++;
        }
        if (depth < CDX_XML_MAX_DEPTH)
            collect_anchors(c, ch, depth + 1);
    }
}

static int anchor_cmp(const void *a, const void *b)
{
    return strcmp(((const anchor_t *)a)->id, ((const anchor_t *)b)->id);
}

static const xmlNode *find_anchor(const ctx_t *c, const char *ref)
{
    if (ref == NULL || c->nanchors == 0)
        return NULL;
    if (ref[0] == '#')
        ref++;
    anchor_t key = {ref, NULL};
    const anchor_t *a = bsearch(&key, c->anchors, c->nanchors, sizeof key, anchor_cmp);
    return a ? a->node : NULL;
}

/* The text of an originalText or text element: its own words, else the
 * narrative its reference points to. */
static char *resolve_text(ctx_t *c, const xmlNode *holder)
{
    if (holder == NULL)
        return NULL;
    char *s = text_of(c, holder);
    if (s == NULL) {
        const xmlNode *ref = first_el(holder, "reference");
        s = text_of(c, find_anchor(c, attr(ref, "value")));
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* JSON helpers for extras                                             */

static void jput(ctx_t *c, json_t *o, const char *key, json_t *v)
{
    if (o == NULL || v == NULL)
        return;
    if (json_object_set_new(o, key, v) != 0)
        c->err = CDX_ENOMEM;
}

static void jstr(ctx_t *c, json_t *o, const char *key, const char *s)
{
    if (s == NULL || o == NULL)
        return;
    json_t *v = json_string(s);
    if (v == NULL)
        c->err = CDX_ENOMEM;
    jput(c, o, key, v);
}

static void jstr_own(ctx_t *c, json_t *o, const char *key, char *s)
{
    jstr(c, o, key, s);
    free(s);
}

static void jappend(ctx_t *c, json_t *a, json_t *v)
{
    if (a == NULL || v == NULL)
        return;
    if (json_array_append_new(a, v) != 0)
        c->err = CDX_ENOMEM;
}

static json_t *jobj(ctx_t *c)
{
    json_t *o = json_object();
    if (o == NULL)
        c->err = CDX_ENOMEM;
    return o;
}

static json_t *jarr(ctx_t *c)
{
    json_t *a = json_array();
    if (a == NULL)
        c->err = CDX_ENOMEM;
    return a;
}

/* Returns o, or NULL (and frees it) when it ended up empty, so that extras
 * only name what the document says. */
static json_t *jnonempty(json_t *o)
{
    if (o != NULL && ((json_is_object(o) && json_object_size(o) == 0) ||
                      (json_is_array(o) && json_array_size(o) == 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A coded element as {"code","codeSystem","displayName","originalText",
 * "nullFlavor","translations"}, or NULL when it says nothing. */
static json_t *code_json(ctx_t *c, const xmlNode *el, bool translations)
{
    if (el == NULL)
        return NULL;
    json_t *o = jobj(c);
    jstr(c, o, "code", attr(el, "code"));
    jstr(c, o, "codeSystem", attr(el, "codeSystem"));
    jstr(c, o, "codeSystemName", attr(el, "codeSystemName"));
    jstr(c, o, "displayName", attr(el, "displayName"));
    jstr_own(c, o, "originalText", resolve_text(c, first_el(el, "originalText")));
    jstr(c, o, "nullFlavor", attr(el, "nullFlavor"));
    if (translations) {
        json_t *a = jarr(c);
        for (const xmlNode *t = first_el(el, "translation"); t != NULL;
             t = next_el(t, "translation"))
            jappend(c, a, code_json(c, t, false));
        jput(c, o, "translations", jnonempty(a));
    }
    return jnonempty(o);
}

/* ------------------------------------------------------------------ */
/* Facts                                                               */

static void fact_free(cdx_fact_t *f)
{
    char **strs[] = {&f->section_code, &f->location,       &f->code_system, &f->code,
                     &f->display_name, &f->original_text,  &f->null_flavor, &f->value_type,
                     &f->value,        &f->unit,           &f->ref_low,     &f->ref_high,
                     &f->ref_text,     &f->interpretation, &f->time_low,    &f->time_high,
                     &f->status,       &f->extras};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(strs); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    json_decref((json_t *)f->extras_obj);
    f->extras_obj = NULL;
}

typedef struct section {
    cdx_fact_kind_t kind;
    const char *code;
} section_t;

static void fact_init(ctx_t *c, cdx_fact_t *f, cdx_fact_kind_t kind, const section_t *s)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->section = s->kind;
    f->section_code = dup(c, s->code);
    f->location = dup(c, c->loc.data);
}

/* Moves f (and ex, serialized) into the output; f is left empty. */
static void fact_push(ctx_t *c, cdx_fact_t *f, json_t *ex)
{
    if (ex != NULL) {
        f->extras = json_dumps(ex, JSON_COMPACT | JSON_PRESERVE_ORDER);
        f->extras_obj = ex; /* kept for cdx_extract_facts_json */
    } else {
        f->extras = dup(c, "{}");
    }
    if (f->extras == NULL)
        c->err = CDX_ENOMEM;
    cdx_extract_t *x = c->out;
    if (c->err == 0 && x->nfacts >= MAX_FACTS) {
        if (!c->limit_reported && c->d != NULL)
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-LIMIT", c->loc.data,
                         "more than %d clinical statements; the rest were not extracted",
                         MAX_FACTS);
        c->limit_reported = true;
        fact_free(f);
        return;
    }
    if (c->err == 0 && x->nfacts == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        cdx_fact_t *grown = realloc(x->facts, cap * sizeof *grown);
        if (grown == NULL) {
            c->err = CDX_ENOMEM;
        } else {
            x->facts = grown;
            c->cap = cap;
        }
    }
    if (c->err != 0) {
        fact_free(f);
        return;
    }
    x->facts[x->nfacts++] = *f;
    memset(f, 0, sizeof *f);
}

/* Pushes "/name[i]" onto the location and returns the length to restore. */
static size_t loc_push(ctx_t *c, const xmlNode *n, size_t index)
{
    size_t mark = c->loc.len;
    int rc = index > 0 ? cdx_buf_printf(&c->loc, "/%s[%zu]", (const char *)n->name, index)
                       : cdx_buf_printf(&c->loc, "/%s", (const char *)n->name);
    if (rc == CDX_ENOMEM)
        c->err = rc;
    return mark;
}

static void loc_pop(ctx_t *c, size_t mark)
{
    if (c->loc.data != NULL && mark <= c->loc.len) {
        c->loc.len = mark;
        c->loc.data[mark] = 0;
    }
}

/* Reads code, codeSystem, display name (displayName, else originalText,
 * else the first translation's displayName) and translations. */
static void fill_code(ctx_t *c, cdx_fact_t *f, const xmlNode *el, json_t *ex)
{
    if (el == NULL)
        return;
    set(c, &f->code, attr(el, "code"));
    set(c, &f->code_system, attr(el, "codeSystem"));
    set(c, &f->null_flavor, attr(el, "nullFlavor"));
    take(&f->original_text, resolve_text(c, first_el(el, "originalText")));
    set(c, &f->display_name, attr(el, "displayName"));
    set(c, &f->display_name, f->original_text);
    json_t *a = jarr(c);
    for (const xmlNode *t = first_el(el, "translation"); t != NULL; t = next_el(t, "translation")) {
        set(c, &f->display_name, attr(t, "displayName"));
        jappend(c, a, code_json(c, t, false));
    }
    a = jnonempty(a);
    if (a != NULL && ex != NULL && json_object_get(ex, "translations") == NULL)
        jput(c, ex, "translations", a);
    else
        json_decref(a);
}

/* "low-high unit", ">=low unit", "<=high unit" for an interval of PQ. */
static char *ivl_text(ctx_t *c, const char *lo, const char *hi, const char *unit)
{
    const char *u = unit ? unit : "";
    const char *sp = unit ? " " : "";
    if (lo && hi)
        return printf_dup(c, "%s-%s%s%s", lo, hi, sp, u);
    if (lo)
        return printf_dup(c, ">=%s%s%s", lo, sp, u);
    if (hi)
        return printf_dup(c, "<=%s%s%s", hi, sp, u);
    return NULL;
}

static bool parse_number(const char *s, double *out)
{
    if (s == NULL)
        return false;
    char *end = NULL;
    double v = strtod(s, &end);
    while (end != NULL && is_ws(*end))
        end++;
    if (end == s || end == NULL || *end != 0)
        return false;
    *out = v;
    return true;
}

/* The observation's value in text form, by xsi:type (guessed from the
 * attributes when a vendor left it out). */
static void fill_value(ctx_t *c, cdx_fact_t *f, const xmlNode *v, json_t *ex)
{
    if (v == NULL)
        return;
    const char *type = xsi_type(v);
    if (type == NULL) {
        if (attr(v, "code") != NULL || attr(v, "codeSystem") != NULL)
            type = "CD";
        else if (attr(v, "unit") != NULL)
            type = "PQ";
        else if (first_el(v, "low") != NULL || first_el(v, "high") != NULL)
            type = "IVL_PQ";
        else if (attr(v, "value") != NULL)
            type = "REAL";
        else
            type = "ST";
    }
    set(c, &f->value_type, type);
    const char *nf = attr(v, "nullFlavor");
    if (nf != NULL)
        jstr(c, ex, "valueNullFlavor", nf);
    if (strcmp(type, "PQ") == 0 || strcmp(type, "INT") == 0 || strcmp(type, "REAL") == 0 ||
        strcmp(type, "MO") == 0) {
        const char *val = attr(v, "value");
        const char *unit = attr(v, strcmp(type, "MO") == 0 ? "currency" : "unit");
        if (val != NULL) {
            f->has_number = parse_number(val, &f->number);
            take(&f->value, unit ? printf_dup(c, "%s %s", val, unit) : dup(c, val));
        }
        set(c, &f->unit, unit);
    } else if (strncmp(type, "IVL_", 4) == 0) {
        const xmlNode *lo = first_el(v, "low"), *hi = first_el(v, "high");
        const char *unit = attr(lo, "unit") ? attr(lo, "unit") : attr(hi, "unit");
        take(&f->value, ivl_text(c, attr(lo, "value"), attr(hi, "value"), unit));
        set(c, &f->unit, unit);
    } else if (strcmp(type, "CD") == 0 || strcmp(type, "CE") == 0 || strcmp(type, "CO") == 0 ||
               strcmp(type, "CV") == 0 || strcmp(type, "CS") == 0) {
        jput(c, ex, "valueCode", code_json(c, v, true));
        set(c, &f->value, attr(v, "displayName"));
        take(&f->value, resolve_text(c, first_el(v, "originalText")));
        set(c, &f->value, attr(v, "code"));
    } else if (strncmp(type, "RTO", 3) == 0) {
        const xmlNode *num = first_el(v, "numerator"), *den = first_el(v, "denominator");
        const char *n1 = attr(num, "value"), *d1 = attr(den, "value");
        if (n1 != NULL && d1 != NULL)
            take(&f->value, printf_dup(c, "%s/%s", n1, d1));
    } else if (strcmp(type, "BL") == 0 || strcmp(type, "TS") == 0) {
        set(c, &f->value, attr(v, "value"));
    } else {
        /* ST, ED, SC and anything unforeseen: the text, else a value. */
        take(&f->value, resolve_text(c, v));
        set(c, &f->value, attr(v, "value"));
    }
}

/* The first effectiveTime that is an instant or interval (periodic ones
 * describe frequency and are read by the medication reader). */
static void fill_time(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt)
{
    for (const xmlNode *t = first_el(stmt, "effectiveTime"); t != NULL;
         t = next_el(t, "effectiveTime")) {
        const char *type = xsi_type(t);
        if (type != NULL && (strstr(type, "PIVL") || strstr(type, "EIVL") || strstr(type, "SXPR")))
            continue;
        if (attr(t, "value") != NULL) {
            set(c, &f->time_low, attr(t, "value"));
        } else {
            set(c, &f->time_low, attr(first_el(t, "low"), "value"));
            set(c, &f->time_high, attr(first_el(t, "high"), "value"));
            set(c, &f->time_low, attr(first_el(t, "center"), "value"));
        }
        return;
    }
}

static const char *const STATUS_TEMPLATES[] = {
    "2.16.840.1.113883.10.20.22.4.6",  /* C-CDA Problem Status */
    "2.16.840.1.113883.10.20.22.4.28", /* C-CDA Allergy Status */
    "2.16.840.1.113883.10.20.1.50",    /* CCD Problem Status */
    "2.16.840.1.113883.10.20.1.39",    /* CCD Alert Status */
    "2.16.840.1.113883.10.20.1.47",    /* CCD Medication Status */
    "2.16.840.1.113883.10.20.22.4.1.1" /* unofficial vendor variant */
};

static bool is_status_obs(const xmlNode *obs)
{
    return has_template(obs, STATUS_TEMPLATES, CDX_ARRAY_SIZE(STATUS_TEMPLATES)) ||
           attr_is(first_el(obs, "code"), "code", "33999-4");
}

/* The value of a status observation under stmt, or NULL. */
static const xmlNode *status_value(const xmlNode *stmt)
{
    for (const xmlNode *er = first_el(stmt, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs != NULL && is_status_obs(obs))
            return first_el(obs, "value");
    }
    return NULL;
}

static void fill_status(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt)
{
    const xmlNode *sv = status_value(stmt);
    if (sv != NULL) {
        set(c, &f->status, attr(sv, "displayName"));
        take(&f->status, resolve_text(c, first_el(sv, "originalText")));
        set(c, &f->status, attr(sv, "code"));
    }
    set(c, &f->status, attr(first_el(stmt, "statusCode"), "code"));
}

static void fill_common(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt, json_t *ex)
{
    fill_time(c, f, stmt);
    fill_status(c, f, stmt);
    f->negated = attr_is(stmt, "negationInd", "true");
    jstr(c, ex, "moodCode", attr(stmt, "moodCode"));
    /* The statement's own narrative reference as the last resort name. */
    take(&f->display_name, resolve_text(c, first_el(stmt, "text")));
}

static void fill_range(ctx_t *c, cdx_fact_t *f, const xmlNode *obs, json_t *ex)
{
    const xmlNode * or = get(obs, "referenceRange", "observationRange", NULL);
    if (or == NULL)
        return;
    const xmlNode *v = first_el(or, "value");
    if (v != NULL) {
        const xmlNode *lo = first_el(v, "low"), *hi = first_el(v, "high");
        set(c, &f->ref_low, attr(lo, "value"));
        set(c, &f->ref_high, attr(hi, "value"));
        const char *unit = attr(lo, "unit") ? attr(lo, "unit") : attr(hi, "unit");
        jstr(c, ex, "referenceRangeUnit", unit);
        /* A coded or text range (e.g. "negative") has no bounds. */
        if (lo == NULL && hi == NULL) {
            set(c, &f->ref_text, attr(v, "displayName"));
            take(&f->ref_text, text_of(c, v));
        }
    }
    take(&f->ref_text, resolve_text(c, first_el(or, "text")));
}

/* ------------------------------------------------------------------ */
/* Kind readers                                                        */

typedef struct reader reader_t;
struct reader {
    ctx_t *c;
    const section_t *s;
};

static const xmlNode *entry_rel_obs_with(const xmlNode *stmt, const char *const *roots,
                                         size_t nroots, const char *code, const xmlNode *after)
{
    const xmlNode *er =
        after ? next_el(after->parent, "entryRelationship") : first_el(stmt, "entryRelationship");
    for (; er != NULL; er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs == NULL)
            continue;
        if (has_template(obs, roots, nroots) ||
            (code != NULL && attr_is(first_el(obs, "code"), "code", code)))
            return obs;
    }
    return NULL;
}

static void read_problem(reader_t *r, const xmlNode *obs, const xmlNode *concern)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_PROBLEM, r->s);
    json_t *ex = jobj(c);
    const xmlNode *v = first_el(obs, "value");
    const xmlNode *code = first_el(obs, "code");
    /* The diagnosis is the value; the code says what kind of problem it
     * is.  Documents that leave the value out code the problem itself. */
    if (v != NULL && (attr(v, "code") || attr(v, "nullFlavor") || first_el(v, "originalText") ||
                      first_el(v, "translation"))) {
        fill_code(c, &f, v, ex);
        set(c, &f.value_type, "CD");
        jput(c, ex, "problemType", code_json(c, code, false));
    } else {
        fill_code(c, &f, code, ex);
    }
    fill_common(c, &f, obs, ex);
    const xmlNode *et = first_el(obs, "effectiveTime");
    jstr(c, ex, "onset", attr(first_el(et, "low"), "value"));
    jstr(c, ex, "resolution", attr(first_el(et, "high"), "value"));
    if (concern != NULL) {
        /* The concern's status (active/completed) outranks the
         * observation's, which C-CDA fixes at "completed". */
        const char *cs = attr(first_el(concern, "statusCode"), "code");
        jstr(c, ex, "concernStatus", cs);
        if (status_value(obs) == NULL && cs != NULL) {
            free(f.status);
            f.status = dup(c, cs);
        }
        if (f.time_low == NULL && f.time_high == NULL)
            fill_time(c, &f, concern);
        take(&f.display_name, resolve_text(c, first_el(concern, "text")));
    }
    fact_push(c, &f, ex);
}

static const char *const REACTION_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.9",
                                                 "2.16.840.1.113883.10.20.1.54"};
static const char *const SEVERITY_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.8",
                                                 "2.16.840.1.113883.10.20.1.55"};
static const char *const CRITICALITY_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.145"};

static json_t *severity_json(ctx_t *c, const xmlNode *stmt)
{
    const xmlNode *sev = entry_rel_obs_with(stmt, SEVERITY_TEMPLATES,
                                            CDX_ARRAY_SIZE(SEVERITY_TEMPLATES), "SEV", NULL);
    return sev ? code_json(c, first_el(sev, "value"), false) : NULL;
}

static void read_allergy(reader_t *r, const xmlNode *obs, const xmlNode *concern)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_ALLERGY, r->s);
    json_t *ex = jobj(c);
    /* The substance is the consumable participant's playing entity; the
     * observation's value only says what kind of intolerance it is. */
    const xmlNode *entity = NULL;
    for (const xmlNode *p = first_el(obs, "participant"); p != NULL;
         p = next_el(p, "participant")) {
        const xmlNode *pe = get(p, "participantRole", "playingEntity", NULL);
        if (pe != NULL && (entity == NULL || attr_is(p, "typeCode", "CSM")))
            entity = pe;
    }
    const xmlNode *scode = first_el(entity, "code");
    char *sname = text_of(c, first_el(entity, "name"));
    json_t *sub = code_json(c, scode, true);
    if (sname != NULL) {
        if (sub == NULL)
            sub = jobj(c);
        jstr(c, sub, "name", sname);
    }
    jput(c, ex, "substance", sub);
    const xmlNode *v = first_el(obs, "value");
    if (scode != NULL) {
        fill_code(c, &f, scode, ex);
        take(&f.display_name, sname);
        sname = NULL;
    } else if (sname != NULL) {
        take(&f.display_name, sname);
        sname = NULL;
    } else {
        /* Older documents name the substance in the value's originalText. */
        take(&f.display_name, resolve_text(c, first_el(v, "originalText")));
    }
    free(sname);
    fill_value(c, &f, v, ex);
    jput(c, ex, "type", code_json(c, v, false));
    fill_common(c, &f, obs, ex);
    /* With no substance named (a "no known allergies" assertion, say), the
     * kind of intolerance is the best description there is. */
    set(c, &f.display_name, f.value);

    json_t *reactions = jarr(c);
    for (const xmlNode *re = entry_rel_obs_with(obs, REACTION_TEMPLATES,
                                                CDX_ARRAY_SIZE(REACTION_TEMPLATES), NULL, NULL);
         re != NULL; re = entry_rel_obs_with(obs, REACTION_TEMPLATES,
                                             CDX_ARRAY_SIZE(REACTION_TEMPLATES), NULL, re)) {
        json_t *rj = code_json(c, first_el(re, "value"), false);
        if (rj == NULL)
            rj = jnonempty(jobj(c));
        if (rj == NULL) {
            char *t = resolve_text(c, first_el(re, "text"));
            if (t != NULL) {
                rj = jobj(c);
                jstr(c, rj, "originalText", t);
            }
            free(t);
        }
        if (rj != NULL)
            jput(c, rj, "severity", severity_json(c, re));
        jappend(c, reactions, rj);
    }
    /* MFST relationships without the reaction template are reactions too. */
    if (json_array_size(reactions) == 0) {
        for (const xmlNode *er = first_el(obs, "entryRelationship"); er != NULL;
             er = next_el(er, "entryRelationship")) {
            const xmlNode *ro = first_el(er, "observation");
            if (ro != NULL && attr_is(er, "typeCode", "MFST"))
                jappend(c, reactions, code_json(c, first_el(ro, "value"), false));
        }
    }
    jput(c, ex, "reactions", jnonempty(reactions));
    jput(c, ex, "severity", severity_json(c, obs));
    const xmlNode *crit = entry_rel_obs_with(obs, CRITICALITY_TEMPLATES,
                                             CDX_ARRAY_SIZE(CRITICALITY_TEMPLATES), NULL, NULL);
    if (crit != NULL)
        jput(c, ex, "criticality", code_json(c, first_el(crit, "value"), false));
    if (concern != NULL) {
        const char *cs = attr(first_el(concern, "statusCode"), "code");
        jstr(c, ex, "concernStatus", cs);
        if (status_value(obs) == NULL && cs != NULL) {
            free(f.status);
            f.status = dup(c, cs);
        }
        if (f.time_low == NULL && f.time_high == NULL)
            fill_time(c, &f, concern);
    }
    fact_push(c, &f, ex);
}

/* Dose, route, frequency and product of a substanceAdministration, shared
 * by medications and immunizations. */
static void read_administration(ctx_t *c, cdx_fact_t *f, const xmlNode *sa, json_t *ex)
{
    const xmlNode *product = get(sa, "consumable", "manufacturedProduct", NULL);
    const xmlNode *material = first_el(product, "manufacturedMaterial");
    /* CDA R2's own examples and early CCDs use manufacturedLabeledDrug. */
    if (material == NULL)
        material = first_el(product, "manufacturedLabeledDrug");
    const xmlNode *code = first_el(material, "code");
    fill_code(c, f, code, ex);
    char *name = text_of(c, first_el(material, "name"));
    jstr(c, ex, "drugName", name);
    take(&f->display_name, name);
    json_t *drug = code_json(c, code, true);
    jput(c, ex, "product", drug);
    jstr_own(c, ex, "manufacturer",
             text_of(c, get(product, "manufacturerOrganization", "name", NULL)));

    const xmlNode *dose = first_el(sa, "doseQuantity");
    if (dose != NULL) {
        json_t *dj = jobj(c);
        const char *dv = attr(dose, "value");
        if (dv == NULL)
            dv = attr(first_el(dose, "low"), "value");
        const char *du = attr(dose, "unit");
        if (du == NULL)
            du = attr(first_el(dose, "low"), "unit");
        jstr(c, dj, "value", dv);
        jstr(c, dj, "unit", du);
        jput(c, ex, "dose", jnonempty(dj));
    }
    const xmlNode *rate = first_el(sa, "rateQuantity");
    if (rate != NULL) {
        json_t *rj = jobj(c);
        jstr(c, rj, "value", attr(rate, "value"));
        jstr(c, rj, "unit", attr(rate, "unit"));
        jput(c, ex, "rate", jnonempty(rj));
    }
    jput(c, ex, "route", code_json(c, first_el(sa, "routeCode"), false));
    jput(c, ex, "form", code_json(c, first_el(sa, "administrationUnitCode"), false));
    for (const xmlNode *t = first_el(sa, "effectiveTime"); t != NULL;
         t = next_el(t, "effectiveTime")) {
        const char *type = xsi_type(t);
        if (type == NULL)
            continue;
        json_t *fj = NULL;
        if (strstr(type, "PIVL") != NULL) {
            fj = jobj(c);
            const xmlNode *p = first_el(t, "period");
            jstr(c, fj, "period", attr(p, "value"));
            jstr(c, fj, "unit", attr(p, "unit"));
            jstr(c, fj, "institutionSpecified", attr(t, "institutionSpecified"));
            const xmlNode *lo = get(p, "low", NULL), *hi = get(p, "high", NULL);
            jstr(c, fj, "periodLow", attr(lo, "value"));
            jstr(c, fj, "periodHigh", attr(hi, "value"));
        } else if (strstr(type, "EIVL") != NULL) {
            fj = jobj(c);
            jstr(c, fj, "event", attr(first_el(t, "event"), "code"));
        }
        if (fj != NULL && json_object_get(ex, "frequency") == NULL)
            jput(c, ex, "frequency", jnonempty(fj));
        else
            json_decref(fj);
    }
}

static void read_medication(reader_t *r, const xmlNode *sa)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_MEDICATION, r->s);
    json_t *ex = jobj(c);
    read_administration(c, &f, sa, ex);
    fill_common(c, &f, sa, ex);
    json_t *ind = jarr(c);
    for (const xmlNode *er = first_el(sa, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs != NULL && attr_is(er, "typeCode", "RSON"))
            jappend(c, ind, code_json(c, first_el(obs, "value"), false));
    }
    jput(c, ex, "indications", jnonempty(ind));
    fact_push(c, &f, ex);
}

static const char *const REFUSAL_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.53"};

static void read_immunization(reader_t *r, const xmlNode *sa)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_IMMUNIZATION, r->s);
    json_t *ex = jobj(c);
    read_administration(c, &f, sa, ex);
    fill_common(c, &f, sa, ex);
    const xmlNode *product = get(sa, "consumable", "manufacturedProduct", NULL);
    const xmlNode *material = first_el(product, "manufacturedMaterial");
    if (material == NULL)
        material = first_el(product, "manufacturedLabeledDrug");
    jstr_own(c, ex, "lot", text_of(c, first_el(material, "lotNumberText")));
    jput(c, ex, "refused", f.negated ? json_true() : json_false());
    const xmlNode *why =
        entry_rel_obs_with(sa, REFUSAL_TEMPLATES, CDX_ARRAY_SIZE(REFUSAL_TEMPLATES), NULL, NULL);
    if (why != NULL)
        jput(c, ex, "refusalReason", code_json(c, first_el(why, "code"), false));
    fact_push(c, &f, ex);
}

static void read_result(reader_t *r, const xmlNode *obs, const xmlNode *organizer)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, r->s->kind == CDX_FACT_VITAL_SIGN ? CDX_FACT_VITAL_SIGN : CDX_FACT_RESULT,
              r->s);
    json_t *ex = jobj(c);
    fill_code(c, &f, first_el(obs, "code"), ex);
    fill_value(c, &f, first_el(obs, "value"), ex);
    fill_range(c, &f, obs, ex);
    const xmlNode *ic = first_el(obs, "interpretationCode");
    set(c, &f.interpretation, attr(ic, "code"));
    if (f.interpretation == NULL)
        take(&f.interpretation, resolve_text(c, first_el(ic, "originalText")));
    fill_common(c, &f, obs, ex);
    jput(c, ex, "method", code_json(c, first_el(obs, "methodCode"), false));
    jput(c, ex, "targetSite", code_json(c, first_el(obs, "targetSiteCode"), false));
    const xmlNode *spec = get(obs, "specimen", "specimenRole", "specimenPlayingEntity", NULL);
    if (organizer != NULL) {
        json_t *panel = code_json(c, first_el(organizer, "code"), true);
        jput(c, ex, "panel", panel);
        if (f.time_low == NULL && f.time_high == NULL)
            fill_time(c, &f, organizer);
        if (spec == NULL)
            spec = get(organizer, "specimen", "specimenRole", "specimenPlayingEntity", NULL);
    }
    if (spec != NULL) {
        json_t *sj = code_json(c, first_el(spec, "code"), false);
        char *sname = text_of(c, first_el(spec, "name"));
        if (sname != NULL) {
            if (sj == NULL)
                sj = jobj(c);
            jstr(c, sj, "name", sname);
            free(sname);
        }
        jput(c, ex, "specimen", sj);
    }
    fact_push(c, &f, ex);
}

static void read_procedure(reader_t *r, const xmlNode *stmt)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_PROCEDURE, r->s);
    json_t *ex = jobj(c);
    jstr(c, ex, "statement", (const char *)stmt->name);
    fill_code(c, &f, first_el(stmt, "code"), ex);
    fill_value(c, &f, first_el(stmt, "value"), ex);
    fill_common(c, &f, stmt, ex);
    jput(c, ex, "targetSite", code_json(c, first_el(stmt, "targetSiteCode"), false));
    jput(c, ex, "method", code_json(c, first_el(stmt, "methodCode"), false));
    jstr_own(c, ex, "performer",
             text_of(c, get(stmt, "performer", "assignedEntity", "representedOrganization", "name",
                            NULL)));
    fact_push(c, &f, ex);
}

static void read_encounter(reader_t *r, const xmlNode *enc)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    fact_init(c, &f, CDX_FACT_ENCOUNTER, r->s);
    json_t *ex = jobj(c);
    const xmlNode *code = first_el(enc, "code");
    fill_code(c, &f, code, ex);
    jput(c, ex, "type", code_json(c, code, false));
    fill_common(c, &f, enc, ex);
    json_t *locs = jarr(c);
    for (const xmlNode *p = first_el(enc, "participant"); p != NULL;
         p = next_el(p, "participant")) {
        if (!attr_is(p, "typeCode", "LOC"))
            continue;
        const xmlNode *role = first_el(p, "participantRole");
        json_t *lj = code_json(c, first_el(role, "code"), false);
        if (lj == NULL)
            lj = jobj(c);
        jstr_own(c, lj, "name", text_of(c, get(role, "playingEntity", "name", NULL)));
        jstr_own(c, lj, "address", text_of(c, first_el(role, "addr")));
        jappend(c, locs, jnonempty(lj));
    }
    jput(c, ex, "locations", jnonempty(locs));
    /* Encounter diagnoses (act > observation) and indications. */
    json_t *dx = jarr(c);
    for (const xmlNode *er = first_el(enc, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        const xmlNode *act = first_el(er, "act");
        if (obs != NULL)
            jappend(c, dx, code_json(c, first_el(obs, "value"), false));
        for (const xmlNode *er2 = first_el(act, "entryRelationship"); er2 != NULL;
             er2 = next_el(er2, "entryRelationship"))
            jappend(c, dx, code_json(c, get(er2, "observation", "value", NULL), false));
    }
    jput(c, ex, "diagnoses", jnonempty(dx));
    jput(c, ex, "dischargeDisposition",
         code_json(c, first_el_ns(enc, "dischargeDispositionCode", NS_SDTC), false));
    fact_push(c, &f, ex);
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */

static bool is_statement(const xmlNode *n)
{
    static const char *const names[] = {"observation",     "act",
                                        "organizer",       "procedure",
                                        "encounter",       "substanceAdministration",
                                        "supply",          "observationMedia",
                                        "regionOfInterest"};
    if (n == NULL || n->type != XML_ELEMENT_NODE)
        return false;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(names); i++)
        if (is_el(n, names[i]))
            return true;
    return false;
}

/* The clinical statement of an entry, component or entryRelationship,
 * which may follow sequenceNumber and seperatableInd. */
static const xmlNode *statement_of(const xmlNode *holder)
{
    for (const xmlNode *ch = holder->children; ch != NULL; ch = ch->next)
        if (is_statement(ch))
            return ch;
    return NULL;
}

static void read_statement(reader_t *r, const xmlNode *stmt, const xmlNode *container, int depth);

/* Visits the statements of a container's components and entry
 * relationships: concern acts, organizers and wrapping acts. */
static void read_children(reader_t *r, const xmlNode *container, int depth)
{
    ctx_t *c = r->c;
    if (depth >= MAX_ENTRY_DEPTH)
        return;
    size_t ncomp = 0, nrel = 0;
    for (const xmlNode *ch = container->children; ch != NULL && c->err == 0; ch = ch->next) {
        size_t idx;
        if (is_el(ch, "component"))
            idx = ++ncomp;
        else if (is_el(ch, "entryRelationship"))
            idx = ++nrel;
        else
            continue;
        const xmlNode *stmt = statement_of(ch);
        if (stmt == NULL)
            continue;
        size_t mark = loc_push(c, ch, idx);
        loc_push(c, stmt, 0);
        read_statement(r, stmt, container, depth + 1);
        loc_pop(c, mark);
    }
}

static void read_statement(reader_t *r, const xmlNode *stmt, const xmlNode *container, int depth)
{
    bool obs = is_el(stmt, "observation");
    bool act = is_el(stmt, "act");
    bool org = is_el(stmt, "organizer");
    const xmlNode *concern = is_el(container, "act") ? container : NULL;
    const xmlNode *panel = is_el(container, "organizer") ? container : NULL;
    switch (r->s->kind) {
    case CDX_FACT_PROBLEM:
        if (obs && !is_status_obs(stmt))
            read_problem(r, stmt, concern);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_ALLERGY:
        if (obs && !is_status_obs(stmt))
            read_allergy(r, stmt, concern);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_MEDICATION:
    case CDX_FACT_IMMUNIZATION:
        if (is_el(stmt, "substanceAdministration")) {
            if (r->s->kind == CDX_FACT_MEDICATION)
                read_medication(r, stmt);
            else
                read_immunization(r, stmt);
        } else if (act || org) {
            read_children(r, stmt, depth);
        }
        break;
    case CDX_FACT_RESULT:
    case CDX_FACT_VITAL_SIGN:
        /* Vendors put Result Observation templates on procedures too. */
        if (obs || is_el(stmt, "procedure"))
            read_result(r, stmt, panel);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_PROCEDURE:
        if (obs || act || is_el(stmt, "procedure"))
            read_procedure(r, stmt);
        else if (org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_ENCOUNTER:
        if (is_el(stmt, "encounter"))
            read_encounter(r, stmt);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_KINDS:
        break;
    }
}

static void read_section(ctx_t *c, const xmlNode *sec, const section_t *s)
{
    reader_t r = {c, s};
    size_t idx = 0, empty = 0;
    char *first_empty = NULL;
    for (const xmlNode *e = first_el(sec, "entry"); e != NULL && c->err == 0;
         e = next_el(e, "entry")) {
        idx++;
        size_t before = c->out->nfacts;
        size_t mark = loc_push(c, e, idx);
        const xmlNode *stmt = statement_of(e);
        if (stmt != NULL) {
            loc_push(c, stmt, 0);
            read_statement(&r, stmt, NULL, 0);
        }
        if (c->out->nfacts == before && empty++ == 0)
            first_empty = dup(c, c->loc.data);
        loc_pop(c, mark);
    }
    /* One warning per section, so that a long list of unreadable entries
     * does not crowd every other issue out of the diag. */
    if (empty > 0 && c->d != NULL && c->err == 0)
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-ENTRY", first_empty,
                     "%zu of %zu entries of the %s section hold no readable %s statement (this "
                     "is the first)",
                     empty, idx, cdx_fact_kind_name(s->kind), cdx_fact_kind_name(s->kind));
    free(first_empty);
}

/* ------------------------------------------------------------------ */
/* Sections                                                            */

typedef struct section_template {
    const char *root;
    cdx_fact_kind_t kind;
} section_template_t;

/* C-CDA R2.1/R1.1 (entries optional and required), CCD 1.0, HITSP C32/C83
 * and IHE PCC templates. */
static const section_template_t SECTION_TEMPLATES[] = {
    {"2.16.840.1.113883.10.20.22.2.5", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.22.2.5.1", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.1.11", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.3.88.11.83.103", CDX_FACT_PROBLEM},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.6", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.22.2.24", CDX_FACT_PROBLEM}, /* discharge diagnosis */
    {"2.16.840.1.113883.10.20.22.2.43", CDX_FACT_PROBLEM}, /* admission diagnosis */
    {"2.16.840.1.113883.10.20.22.2.1", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.1.1", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.38", CDX_FACT_MEDICATION},   /* administered */
    {"2.16.840.1.113883.10.20.22.2.11", CDX_FACT_MEDICATION},   /* discharge */
    {"2.16.840.1.113883.10.20.22.2.11.1", CDX_FACT_MEDICATION}, /* discharge */
    {"2.16.840.1.113883.10.20.22.2.44", CDX_FACT_MEDICATION},   /* admission */
    {"2.16.840.1.113883.10.20.1.8", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.3.88.11.83.112", CDX_FACT_MEDICATION},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.19", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.6", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.22.2.6.1", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.1.2", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.3.88.11.83.102", CDX_FACT_ALLERGY},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.13", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.22.2.3", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.22.2.3.1", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.1.14", CDX_FACT_RESULT},
    {"2.16.840.1.113883.3.88.11.83.122", CDX_FACT_RESULT},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.28", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.22.2.4", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.22.2.4.1", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.1.16", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.3.88.11.83.119", CDX_FACT_VITAL_SIGN},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.25", CDX_FACT_VITAL_SIGN},
    {"1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.22.2.7", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.22.2.7.1", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.1.12", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.3.88.11.83.108", CDX_FACT_PROCEDURE},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.12", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.22.2.2", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.22.2.2.1", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.1.6", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.3.88.11.83.117", CDX_FACT_IMMUNIZATION},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.23", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.22.2.22", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.10.20.22.2.22.1", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.10.20.1.3", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.3.88.11.83.127", CDX_FACT_ENCOUNTER},
    {"1.3.6.1.4.1.19376.1.5.3.1.1.5.3.3", CDX_FACT_ENCOUNTER},
};

/* LOINC section codes, for documents (K-CDA among them) whose sections
 * carry no templateId we know. */
static const section_template_t SECTION_CODES[] = {
    {"11450-4", CDX_FACT_PROBLEM},    {"29548-5", CDX_FACT_PROBLEM}, /* K-CDA diagnoses */
    {"11535-2", CDX_FACT_PROBLEM},    {"46241-6", CDX_FACT_PROBLEM},
    {"10160-0", CDX_FACT_MEDICATION}, {"10183-2", CDX_FACT_MEDICATION},
    {"29549-3", CDX_FACT_MEDICATION}, {"42346-7", CDX_FACT_MEDICATION},
    {"75311-1", CDX_FACT_MEDICATION}, {"48765-2", CDX_FACT_ALLERGY},
    {"30954-2", CDX_FACT_RESULT},     {"26436-6", CDX_FACT_RESULT},
    {"11502-2", CDX_FACT_RESULT},     {"8716-3", CDX_FACT_VITAL_SIGN},
    {"47519-4", CDX_FACT_PROCEDURE},  {"11369-6", CDX_FACT_IMMUNIZATION},
    {"46240-8", CDX_FACT_ENCOUNTER},
};

static void classify(const xmlNode *sec, section_t *s)
{
    s->kind = CDX_FACT_KINDS;
    const xmlNode *code = first_el(sec, "code");
    s->code = attr(code, "code");
    for (const xmlNode *t = first_el(sec, "templateId"); t != NULL; t = next_el(t, "templateId")) {
        const char *root = attr(t, "root");
        for (size_t i = 0; root != NULL && i < CDX_ARRAY_SIZE(SECTION_TEMPLATES); i++) {
            if (strcmp(root, SECTION_TEMPLATES[i].root) == 0) {
                s->kind = SECTION_TEMPLATES[i].kind;
                return;
            }
        }
    }
    for (size_t i = 0; s->code != NULL && i < CDX_ARRAY_SIZE(SECTION_CODES); i++) {
        if (strcmp(s->code, SECTION_CODES[i].root) == 0) {
            s->kind = SECTION_CODES[i].kind;
            return;
        }
    }
}

static void anchor_sections(ctx_t *c, const xmlNode *container, int depth)
{
    for (const xmlNode *comp = first_el(container, "component"); comp != NULL && c->err == 0;
         comp = next_el(comp, "component")) {
        const xmlNode *sec = first_el(comp, "section");
        if (sec == NULL)
            continue;
        const xmlNode *text = first_el(sec, "text");
        if (text != NULL)
            collect_anchors(c, text, 0);
        if (depth + 1 < MAX_SECTION_DEPTH)
            anchor_sections(c, sec, depth + 1);
    }
}

static void walk_sections(ctx_t *c, const xmlNode *container, cdx_fact_kind_t parent, int depth);

/* Reads one section's entries when it is of a known kind (its own, else
 * its parent's), then its subsections. */
static void visit_section(ctx_t *c, const xmlNode *sec, cdx_fact_kind_t parent, int depth)
{
    section_t s;
    classify(sec, &s);
    /* A subsection of a known section without its own identity (a
     * results subsection per laboratory, say) belongs to its parent. */
    if (s.kind == CDX_FACT_KINDS)
        s.kind = parent;
    if (s.kind != CDX_FACT_KINDS && first_el(sec, "entry") != NULL) {
        char *path = cdx_xml_node_path(sec);
        if (path == NULL) {
            c->err = CDX_ENOMEM;
            return;
        }
        cdx_buf_reset(&c->loc);
        if (cdx_buf_puts(&c->loc, path) == CDX_ENOMEM)
            c->err = CDX_ENOMEM;
        free(path);
        read_section(c, sec, &s);
    }
    if (first_el(sec, "component") == NULL)
        return;
    if (depth + 1 >= MAX_SECTION_DEPTH) {
        if (c->d != NULL) {
            char *path = cdx_xml_node_path(sec);
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-DEPTH", path,
                         "sections nested deeper than %d levels were not read", MAX_SECTION_DEPTH);
            free(path);
        }
        return;
    }
    walk_sections(c, sec, s.kind, depth + 1);
}

static void walk_sections(ctx_t *c, const xmlNode *container, cdx_fact_kind_t parent, int depth)
{
    for (const xmlNode *comp = first_el(container, "component"); comp != NULL && c->err == 0;
         comp = next_el(comp, "component")) {
        const xmlNode *sec = first_el(comp, "section");
        if (sec != NULL)
            visit_section(c, sec, parent, depth);
    }
}

/* ------------------------------------------------------------------ */
/* Header                                                              */

/* Appends a zeroed element to *arr (n elements of size) and returns it. */
static void *grow(ctx_t *c, void *arr_p, size_t *n, size_t size)
{
    void **arr = arr_p;
    char *grown = realloc(*arr, (*n + 1) * size);
    if (grown == NULL) {
        c->err = CDX_ENOMEM;
        return NULL;
    }
    *arr = grown;
    memset(grown + *n * size, 0, size);
    return grown + (*n)++ * size;
}

static void read_id(ctx_t *c, const xmlNode *el, cdx_extract_id_t *id)
{
    if (el == NULL)
        return;
    set(c, &id->root, attr(el, "root"));
    set(c, &id->extension, attr(el, "extension"));
    set(c, &id->authority, attr(el, "assigningAuthorityName"));
}

static char *id_display(ctx_t *c, const cdx_extract_id_t *id)
{
    if (id->root != NULL && id->extension != NULL)
        return printf_dup(c, "%s^%s", id->root, id->extension);
    if (id->root != NULL)
        return dup(c, id->root);
    if (id->extension != NULL)
        return printf_dup(c, "^%s", id->extension);
    return NULL;
}

static void read_cd(ctx_t *c, const xmlNode *el, cdx_extract_code_t *cd)
{
    if (el == NULL)
        return;
    set(c, &cd->code, attr(el, "code"));
    set(c, &cd->system, attr(el, "codeSystem"));
    set(c, &cd->display, attr(el, "displayName"));
    if (cd->display == NULL)
        cd->display = resolve_text(c, first_el(el, "originalText"));
}

static void read_time(ctx_t *c, const xmlNode *el, cdx_extract_time_t *t)
{
    const char *raw = attr(el, "value");
    if (raw == NULL)
        return;
    t->raw = dup(c, raw);
    char iso[48];
    if (cdx_ts_parse(raw, iso, sizeof iso, &t->precision) == 0) {
        t->iso = dup(c, iso);
    } else if (c->d != NULL) {
        /* The value is a date, not patient-identifying on its own, but
         * it is still left out of the message: the location is enough. */
        char *path = cdx_xml_node_path(el);
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-TS", path,
                     "the timestamp is not an HL7 TS (YYYYMMDDHHMMSS.UUUU+ZZZZ); it is kept "
                     "as written but has no normalized form");
        free(path);
    }
}

/* A person or organization name: its parts in document order, separated
 * by spaces, or its text when it has no parts. */
static char *name_text(ctx_t *c, const xmlNode *name)
{
    if (name == NULL)
        return NULL;
    textacc_t t;
    cdx_buf_init(&t.b, MAX_TEXT_BYTES);
    t.space = false;
    for (const xmlNode *ch = name->children; ch != NULL; ch = ch->next) {
        if ((ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) && ch->content) {
            acc_words(&t, (const char *)ch->content);
        } else if (ch->type == XML_ELEMENT_NODE && !is_el(ch, "validTime")) {
            t.space = true;
            acc_node(&t, ch, 0);
            t.space = true;
        }
    }
    if (t.b.len == 0) {
        cdx_buf_cleanup(&t.b);
        return NULL;
    }
    char *s = cdx_buf_steal(&t.b, NULL);
    if (s == NULL)
        c->err = CDX_ENOMEM;
    return s;
}

static void read_patient(ctx_t *c, const xmlNode *role)
{
    cdx_doc_meta_t *m = &c->out->meta;
    const xmlNode *addr = first_el(role, "addr");
    m->patient_city = text_of(c, first_el(addr, "city"));
    m->patient_state = text_of(c, first_el(addr, "state"));
    m->patient_postal_code = text_of(c, first_el(addr, "postalCode"));
    m->patient_country = text_of(c, first_el(addr, "country"));
    const xmlNode *p = first_el(role, "patient");
    const xmlNode *name = first_el(p, "name");
    m->patient_name = name_text(c, name);
    m->patient_family = text_of(c, first_el(name, "family"));
    for (const xmlNode *g = first_el(name, "given"); g != NULL; g = next_el(g, "given")) {
        char *s = text_of(c, g);
        if (s == NULL)
            continue;
        char **slot = grow(c, &m->patient_given, &m->npatient_given, sizeof *slot);
        if (slot == NULL) {
            free(s);
            return;
        }
        *slot = s;
    }
    read_time(c, first_el(p, "birthTime"), &m->patient_birth_time);
    read_cd(c, first_el(p, "administrativeGenderCode"), &m->patient_gender);
    /* raceCode first, then the sdtc extension's additional races. */
    for (const xmlNode *ch = p ? p->children : NULL; ch != NULL; ch = ch->next) {
        bool race = is_el(ch, "raceCode") || is_el_ns(ch, "raceCode", NS_SDTC);
        bool eth = is_el(ch, "ethnicGroupCode") || is_el_ns(ch, "ethnicGroupCode", NS_SDTC);
        if ((!race && !eth) || (attr(ch, "code") == NULL && first_el(ch, "originalText") == NULL))
            continue;
        cdx_extract_code_t *cd =
            race ? grow(c, &m->patient_race, &m->npatient_race, sizeof *cd)
                 : grow(c, &m->patient_ethnicity, &m->npatient_ethnicity, sizeof *cd);
        if (cd == NULL)
            return;
        read_cd(c, ch, cd);
    }
}

static void read_meta(ctx_t *c, const xmlNode *root)
{
    cdx_doc_meta_t *m = &c->out->meta;
    m->version_number = 1;
    set(c, &m->realm_code, attr(first_el(root, "realmCode"), "code"));
    for (const xmlNode *t = first_el(root, "templateId"); t != NULL; t = next_el(t, "templateId")) {
        cdx_extract_id_t *id = grow(c, &m->template_ids, &m->ntemplate_ids, sizeof *id);
        if (id == NULL)
            return;
        read_id(c, t, id);
    }
    read_id(c, first_el(root, "id"), &m->id);
    m->unique_id = id_display(c, &m->id);
    if (m->unique_id == NULL && c->d != NULL)
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-ID", "/ClinicalDocument/id",
                     "the document has no id, so it has no uniqueId; give it id/@root "
                     "(and @extension)");
    read_cd(c, first_el(root, "code"), &m->type);
    m->title = text_of(c, first_el(root, "title"));
    read_time(c, first_el(root, "effectiveTime"), &m->creation_time);
    read_cd(c, first_el(root, "confidentialityCode"), &m->confidentiality);
    set(c, &m->language_code, attr(first_el(root, "languageCode"), "code"));
    read_id(c, first_el(root, "setId"), &m->set_id);
    const xmlNode *vn = first_el(root, "versionNumber");
    const char *vs = attr(vn, "value");
    if (vs != NULL) {
        char *end = NULL;
        long v = strtol(vs, &end, 10);
        if (end != vs && *end == 0 && v >= 0 && v <= 1000000)
            m->version_number = (int)v;
        else if (c->d != NULL)
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-VERSION",
                         "/ClinicalDocument/versionNumber",
                         "versionNumber/@value is not a non-negative integer; 1 is assumed");
    }

    for (const xmlNode *rt = first_el(root, "recordTarget"); rt != NULL;
         rt = next_el(rt, "recordTarget")) {
        const xmlNode *role = first_el(rt, "patientRole");
        for (const xmlNode *id = first_el(role, "id"); id != NULL; id = next_el(id, "id")) {
            if (attr(id, "root") == NULL && attr(id, "extension") == NULL)
                continue;
            cdx_extract_id_t *pid = grow(c, &m->patient_ids, &m->npatient_ids, sizeof *pid);
            if (pid == NULL)
                return;
            read_id(c, id, pid);
        }
        if (rt == first_el(root, "recordTarget"))
            read_patient(c, role);
    }

    /* The first author that names an organization: device authors often
     * come first and name none. */
    const xmlNode *first_author = first_el(root, "author");
    read_time(c, first_el(first_author, "time"), &m->author_time);
    for (const xmlNode *a = first_author; a != NULL; a = next_el(a, "author")) {
        const xmlNode *org = get(a, "assignedAuthor", "representedOrganization", NULL);
        if (org == NULL)
            continue;
        read_id(c, first_el(org, "id"), &m->author_institution_id);
        m->author_institution_name = text_of(c, first_el(org, "name"));
        break;
    }
    const xmlNode *cust =
        get(root, "custodian", "assignedCustodian", "representedCustodianOrganization", NULL);
    read_id(c, first_el(cust, "id"), &m->custodian_id);
    m->custodian_name = text_of(c, first_el(cust, "name"));

    for (const xmlNode *ir = first_el(root, "informationRecipient"); ir != NULL;
         ir = next_el(ir, "informationRecipient")) {
        const xmlNode *ie = first_el(ir, "intendedRecipient");
        if (ie == NULL)
            continue;
        cdx_extract_recipient_t *rc = grow(c, &m->recipients, &m->nrecipients, sizeof *rc);
        if (rc == NULL)
            return;
        rc->person_name = name_text(c, get(ie, "informationRecipient", "name", NULL));
        const xmlNode *org = first_el(ie, "receivedOrganization");
        read_id(c, first_el(org, "id"), &rc->org_id);
        rc->org_name = text_of(c, first_el(org, "name"));
    }

    read_time(c, get(root, "legalAuthenticator", "time", NULL), &m->legal_authenticator_time);

    for (const xmlNode *doc = first_el(root, "documentationOf"); doc != NULL;
         doc = next_el(doc, "documentationOf")) {
        const xmlNode *et = get(doc, "serviceEvent", "effectiveTime", NULL);
        if (et == NULL)
            continue;
        const xmlNode *lo = first_el(et, "low");
        read_time(c, lo ? lo : et, &m->service_start);
        read_time(c, first_el(et, "high"), &m->service_stop);
        break;
    }

    for (const xmlNode *rd = first_el(root, "relatedDocument"); rd != NULL;
         rd = next_el(rd, "relatedDocument")) {
        cdx_extract_related_t *rel = grow(c, &m->related, &m->nrelated, sizeof *rel);
        if (rel == NULL)
            return;
        rel->type_code = dup(c, attr(rd, "typeCode"));
        read_id(c, get(rd, "parentDocument", "id", NULL), &rel->id);
        if (m->replaces_id == NULL && attr_is(rd, "typeCode", "RPLC"))
            m->replaces_id = id_display(c, &rel->id);
    }
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

const char *cdx_fact_kind_name(cdx_fact_kind_t k)
{
    static const char *const names[CDX_FACT_KINDS] = {"problems",      "medications", "allergies",
                                                      "results",       "vital_signs", "procedures",
                                                      "immunizations", "encounters"};
    return (unsigned)k < CDX_FACT_KINDS ? names[k] : "unknown";
}

int cdx_extract(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d)
{
    int rc = 0;
    ctx_t c;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    c.d = d;
    c.out = out;
    cdx_buf_init(&c.loc, 16384);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (is_el(root, "section")) {
        /* A section on its own (test fixtures, excerpts): facts only. */
        out->meta.version_number = 1;
        if (d != NULL)
            cdx_diag_add(d, CDX_SEV_WARNING, "EXTRACT-FRAGMENT", "/section",
                         "the document is a lone section, not a ClinicalDocument; only its "
                         "clinical facts were read");
        if (first_el(root, "text") != NULL)
            collect_anchors(&c, first_el(root, "text"), 0);
        anchor_sections(&c, root, 0);
        if (c.nanchors > 1)
            qsort(c.anchors, c.nanchors, sizeof *c.anchors, anchor_cmp);
        visit_section(&c, root, CDX_FACT_KINDS, 0);
        rc = c.err;
        goto out;
    }
    if (root == NULL || !is_el(root, "ClinicalDocument")) {
        rc = CDX_EINVAL;
        goto out;
    }
    read_meta(&c, root);
    const xmlNode *body = get(root, "component", "structuredBody", NULL);
    /* Sections straight under the root are not CDA, but some generated
     * excerpts are built that way; they are read as if in a body. */
    bool loose = false;
    for (const xmlNode *ch = root->children; ch != NULL && !loose; ch = ch->next)
        loose = is_el(ch, "section");
    if (c.err == 0 && (body != NULL || loose)) {
        if (body != NULL)
            anchor_sections(&c, body, 0);
        for (const xmlNode *ch = root->children; loose && ch != NULL; ch = ch->next)
            if (is_el(ch, "section") && first_el(ch, "text") != NULL)
                collect_anchors(&c, first_el(ch, "text"), 0);
        if (c.nanchors > 1)
            qsort(c.anchors, c.nanchors, sizeof *c.anchors, anchor_cmp);
        if (body != NULL)
            walk_sections(&c, body, CDX_FACT_KINDS, 0);
        for (const xmlNode *ch = root->children; loose && ch != NULL && c.err == 0; ch = ch->next)
            if (is_el(ch, "section"))
                visit_section(&c, ch, CDX_FACT_KINDS, 0);
    }
    rc = c.err;
out:
    if (rc != 0)
        cdx_extract_cleanup(out);
    free(c.anchors);
    cdx_buf_cleanup(&c.loc);
    return rc;
}

static void id_free(cdx_extract_id_t *id)
{
    free(id->root);
    free(id->extension);
    free(id->authority);
}

static void code_free(cdx_extract_code_t *cd)
{
    free(cd->code);
    free(cd->system);
    free(cd->display);
}

static void time_free(cdx_extract_time_t *t)
{
    free(t->raw);
    free(t->iso);
}

static void meta_free(cdx_doc_meta_t *m)
{
    id_free(&m->id);
    free(m->unique_id);
    id_free(&m->set_id);
    for (size_t i = 0; i < m->nrelated; i++) {
        free(m->related[i].type_code);
        id_free(&m->related[i].id);
    }
    free(m->related);
    free(m->replaces_id);
    code_free(&m->type);
    free(m->title);
    time_free(&m->creation_time);
    time_free(&m->service_start);
    time_free(&m->service_stop);
    code_free(&m->confidentiality);
    free(m->language_code);
    free(m->realm_code);
    for (size_t i = 0; i < m->ntemplate_ids; i++)
        id_free(&m->template_ids[i]);
    free(m->template_ids);
    id_free(&m->author_institution_id);
    free(m->author_institution_name);
    time_free(&m->author_time);
    id_free(&m->custodian_id);
    free(m->custodian_name);
    for (size_t i = 0; i < m->npatient_ids; i++)
        id_free(&m->patient_ids[i]);
    free(m->patient_ids);
    free(m->patient_family);
    for (size_t i = 0; i < m->npatient_given; i++)
        free(m->patient_given[i]);
    free(m->patient_given);
    free(m->patient_name);
    time_free(&m->patient_birth_time);
    code_free(&m->patient_gender);
    free(m->patient_city);
    free(m->patient_state);
    free(m->patient_postal_code);
    free(m->patient_country);
    for (size_t i = 0; i < m->npatient_race; i++)
        code_free(&m->patient_race[i]);
    free(m->patient_race);
    for (size_t i = 0; i < m->npatient_ethnicity; i++)
        code_free(&m->patient_ethnicity[i]);
    free(m->patient_ethnicity);
    for (size_t i = 0; i < m->nrecipients; i++) {
        free(m->recipients[i].person_name);
        id_free(&m->recipients[i].org_id);
        free(m->recipients[i].org_name);
    }
    free(m->recipients);
    time_free(&m->legal_authenticator_time);
    free(m->hash);
}

void cdx_extract_cleanup(cdx_extract_t *x)
{
    if (x == NULL)
        return;
    meta_free(&x->meta);
    for (size_t i = 0; i < x->nfacts; i++)
        fact_free(&x->facts[i]);
    free(x->facts);
    memset(x, 0, sizeof *x);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static json_t *id_json(ctx_t *c, const cdx_extract_id_t *id)
{
    json_t *o = jobj(c);
    jstr(c, o, "root", id->root);
    jstr(c, o, "extension", id->extension);
    jstr(c, o, "assigningAuthorityName", id->authority);
    return jnonempty(o);
}

static json_t *cd_json(ctx_t *c, const cdx_extract_code_t *cd)
{
    json_t *o = jobj(c);
    jstr(c, o, "code", cd->code);
    jstr(c, o, "codeSystem", cd->system);
    jstr(c, o, "displayName", cd->display);
    return jnonempty(o);
}

static json_t *time_json(ctx_t *c, const cdx_extract_time_t *t)
{
    if (t->raw == NULL)
        return NULL;
    json_t *o = jobj(c);
    jstr(c, o, "raw", t->raw);
    jstr(c, o, "iso", t->iso);
    if (t->iso != NULL)
        jput(c, o, "precision", json_integer(t->precision));
    return o;
}

static json_t *org_json(ctx_t *c, const cdx_extract_id_t *id, const char *name)
{
    json_t *o = id_json(c, id);
    if (o == NULL && name != NULL)
        o = jobj(c);
    jstr(c, o, "name", name);
    return o;
}

json_t *cdx_extract_meta_json(const cdx_doc_meta_t *m)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    json_t *o = jobj(&c);
    if (o == NULL)
        return NULL;
    jstr(&c, o, "uniqueId", m->unique_id);
    jput(&c, o, "id", id_json(&c, &m->id));
    jput(&c, o, "setId", id_json(&c, &m->set_id));
    jput(&c, o, "versionNumber", json_integer(m->version_number));
    json_t *rel = jarr(&c);
    for (size_t i = 0; i < m->nrelated; i++) {
        json_t *r = id_json(&c, &m->related[i].id);
        if (r == NULL)
            r = jobj(&c);
        jstr(&c, r, "typeCode", m->related[i].type_code);
        jappend(&c, rel, r);
    }
    jput(&c, o, "relatedDocuments", jnonempty(rel));
    jstr(&c, o, "replaces", m->replaces_id);
    jput(&c, o, "typeCode", cd_json(&c, &m->type));
    jstr(&c, o, "title", m->title);
    jput(&c, o, "creationTime", time_json(&c, &m->creation_time));
    jput(&c, o, "serviceStartTime", time_json(&c, &m->service_start));
    jput(&c, o, "serviceStopTime", time_json(&c, &m->service_stop));
    jput(&c, o, "confidentialityCode", cd_json(&c, &m->confidentiality));
    jstr(&c, o, "languageCode", m->language_code);
    jstr(&c, o, "realmCode", m->realm_code);
    json_t *tids = jarr(&c);
    for (size_t i = 0; i < m->ntemplate_ids; i++)
        jappend(&c, tids, id_json(&c, &m->template_ids[i]));
    jput(&c, o, "templateIds", jnonempty(tids));
    jput(&c, o, "authorInstitution",
         org_json(&c, &m->author_institution_id, m->author_institution_name));
    jput(&c, o, "authorTime", time_json(&c, &m->author_time));
    jput(&c, o, "custodian", org_json(&c, &m->custodian_id, m->custodian_name));
    json_t *pids = jarr(&c);
    for (size_t i = 0; i < m->npatient_ids; i++)
        jappend(&c, pids, id_json(&c, &m->patient_ids[i]));
    jput(&c, o, "patientIds", jnonempty(pids));

    json_t *p = jobj(&c);
    jstr(&c, p, "name", m->patient_name);
    jstr(&c, p, "family", m->patient_family);
    json_t *given = jarr(&c);
    for (size_t i = 0; i < m->npatient_given; i++)
        jappend(&c, given, json_string(m->patient_given[i]));
    jput(&c, p, "given", jnonempty(given));
    jput(&c, p, "birthTime", time_json(&c, &m->patient_birth_time));
    jput(&c, p, "gender", cd_json(&c, &m->patient_gender));
    json_t *addr = jobj(&c);
    jstr(&c, addr, "city", m->patient_city);
    jstr(&c, addr, "state", m->patient_state);
    jstr(&c, addr, "postalCode", m->patient_postal_code);
    jstr(&c, addr, "country", m->patient_country);
    jput(&c, p, "address", jnonempty(addr));
    json_t *race = jarr(&c);
    for (size_t i = 0; i < m->npatient_race; i++)
        jappend(&c, race, cd_json(&c, &m->patient_race[i]));
    jput(&c, p, "race", jnonempty(race));
    json_t *eth = jarr(&c);
    for (size_t i = 0; i < m->npatient_ethnicity; i++)
        jappend(&c, eth, cd_json(&c, &m->patient_ethnicity[i]));
    jput(&c, p, "ethnicity", jnonempty(eth));
    jput(&c, o, "patient", jnonempty(p));

    json_t *recips = jarr(&c);
    for (size_t i = 0; i < m->nrecipients; i++) {
        const cdx_extract_recipient_t *r = &m->recipients[i];
        json_t *rj = jobj(&c);
        jstr(&c, rj, "personName", r->person_name);
        jput(&c, rj, "organization", org_json(&c, &r->org_id, r->org_name));
        jappend(&c, recips, jnonempty(rj));
    }
    jput(&c, o, "intendedRecipients", jnonempty(recips));
    jput(&c, o, "legalAuthenticatorTime", time_json(&c, &m->legal_authenticator_time));
    if (m->size > 0)
        jput(&c, o, "size", json_integer((json_int_t)m->size));
    jstr(&c, o, "hash", m->hash);
    if (c.err != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *fact_json(ctx_t *c, const cdx_fact_t *f)
{
    json_t *o = jobj(c);
    jstr(c, o, "section", cdx_fact_kind_name(f->section));
    jstr(c, o, "sectionCode", f->section_code);
    jstr(c, o, "location", f->location);
    jstr(c, o, "codeSystem", f->code_system);
    jstr(c, o, "code", f->code);
    jstr(c, o, "displayName", f->display_name);
    jstr(c, o, "originalText", f->original_text);
    jstr(c, o, "nullFlavor", f->null_flavor);
    jstr(c, o, "valueType", f->value_type);
    jstr(c, o, "value", f->value);
    if (f->has_number)
        jput(c, o, "number", json_real(f->number));
    jstr(c, o, "unit", f->unit);
    json_t *rr = jobj(c);
    jstr(c, rr, "low", f->ref_low);
    jstr(c, rr, "high", f->ref_high);
    jstr(c, rr, "text", f->ref_text);
    jput(c, o, "referenceRange", jnonempty(rr));
    jstr(c, o, "interpretation", f->interpretation);
    json_t *et = jobj(c);
    jstr(c, et, "low", f->time_low);
    jstr(c, et, "high", f->time_high);
    jput(c, o, "effectiveTime", jnonempty(et));
    jstr(c, o, "status", f->status);
    jput(c, o, "negated", json_boolean(f->negated));
    if (f->extras_obj != NULL) {
        jput(c, o, "extras", json_incref((json_t *)f->extras_obj));
    } else if (f->extras != NULL) {
        json_t *ex = json_loads(f->extras, 0, NULL);
        if (ex == NULL)
            c->err = CDX_ENOMEM;
        jput(c, o, "extras", ex);
    }
    return o;
}

json_t *cdx_extract_facts_json(const cdx_extract_t *x)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    json_t *o = jobj(&c);
    json_t *lists[CDX_FACT_KINDS];
    for (int k = 0; k < CDX_FACT_KINDS; k++) {
        lists[k] = jarr(&c);
        jput(&c, o, cdx_fact_kind_name((cdx_fact_kind_t)k), lists[k]);
    }
    for (size_t i = 0; i < x->nfacts && c.err == 0; i++) {
        const cdx_fact_t *f = &x->facts[i];
        if ((unsigned)f->kind < CDX_FACT_KINDS)
            jappend(&c, lists[f->kind], fact_json(&c, f));
    }
    if (c.err != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* Timestamps                                                          */

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int cdx_ts_parse(const char *ts, char *iso, size_t isolen, int *precision)
{
    int rc = CDX_EINVAL;
    int prec = 0;
    char tmp[64];
    if (iso != NULL && isolen > 0)
        iso[0] = 0;
    if (precision != NULL)
        *precision = 0;
    if (ts == NULL)
        goto out;
    int nd = 0;
    while (nd < 15 && ts[nd] >= '0' && ts[nd] <= '9')
        nd++;
    if (nd < 4 || nd > 14 || nd % 2 != 0)
        goto out;
    int year = digits(ts, 4);
    int mon = nd >= 6 ? digits(ts + 4, 2) : 1;
    int day = nd >= 8 ? digits(ts + 6, 2) : 1;
    int hour = nd >= 10 ? digits(ts + 8, 2) : 0;
    int min = nd >= 12 ? digits(ts + 10, 2) : 0;
    int sec = nd >= 14 ? digits(ts + 12, 2) : 0;
    /* Second 60 is a leap second; hour 24 is not HL7. */
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
        min > 59 || sec > 60)
        goto out;
    const char *p = ts + nd;
    const char *frac = NULL;
    int nfrac = 0;
    if (*p == '.') {
        if (nd != 14)
            goto out;
        frac = ++p;
        while (p[nfrac] >= '0' && p[nfrac] <= '9')
            nfrac++;
        if (nfrac < 1 || nfrac > 9)
            goto out;
        p += nfrac;
    }
    char sign = 0;
    int oh = 0, om = 0;
    if (*p == '+' || *p == '-') {
        sign = *p++;
        for (int i = 0; i < 4; i++)
            if (p[i] < '0' || p[i] > '9')
                goto out;
        oh = digits(p, 2);
        om = digits(p + 2, 2);
        if (oh > 14 || om > 59)
            goto out;
        p += 4;
    }
    if (*p != 0)
        goto out;

    int n = snprintf(tmp, sizeof tmp, "%04d", year);
    if (nd >= 6)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "-%02d", mon);
    if (nd >= 8)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "-%02d", day);
    if (nd >= 10)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "T%02d", hour);
    if (nd >= 12)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ":%02d", min);
    if (nd >= 14)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ":%02d", sec);
    if (frac != NULL)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%.*s", nfrac, frac);
    /* ISO 8601 gives a date no offset, so one written on a date is dropped
     * after it has been checked. */
    if (sign != 0 && nd >= 10)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%c%02d:%02d", sign, oh, om);
    prec = nd + nfrac;
    if (iso == NULL || (size_t)n + 1 > isolen) {
        rc = CDX_ERANGE;
        goto out;
    }
    memcpy(iso, tmp, (size_t)n + 1);
    if (precision != NULL)
        *precision = prec;
    rc = 0;
out:
    return rc;
}
