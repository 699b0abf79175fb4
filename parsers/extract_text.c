/* extract_text: formatted strings, narrative text with its references, and
 * coded elements as JSON, for every reader (see extract_internal.h). */
#include "extract_internal.h"

/* Formatted once into a buffer on the stack, which holds the usual short
 * value ("5.4 mmol/L"); formatted again into the heap only when longer. */
char *cdx_extract_printf_dup(ctx_t *c, const char *fmt, ...)
{
    char *s = NULL;
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto out;
    s = malloc((size_t)n + 1);
    if (s == NULL) {
        c->err = CDX_ENOMEM;
        goto out;
    }
    if ((size_t)n < sizeof small) {
        memcpy(s, small, (size_t)n + 1);
        goto out;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
out:
    return s;
}

void cdx_extract_acc_words(textacc_t *t, const char *s)
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

void cdx_extract_acc_node(textacc_t *t, const xmlNode *n, int depth)
{
    for (const xmlNode *ch = n->children; ch != NULL; ch = ch->next) {
        if ((ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) && ch->content)
            cdx_extract_acc_words(t, (const char *)ch->content);
        else if (ch->type == XML_ELEMENT_NODE && depth < CDX_XML_MAX_DEPTH) {
            bool block = is_block(ch);
            t->space |= block;
            cdx_extract_acc_node(t, ch, depth + 1);
            t->space |= block;
        }
    }
}

/* The element's text with whitespace collapsed, or NULL when blank. */
char *cdx_extract_text_of(ctx_t *c, const xmlNode *n)
{
    if (n == NULL)
        return NULL;
    textacc_t t;
    cdx_buf_init(&t.b, MAX_TEXT_BYTES);
    t.space = false;
    cdx_extract_acc_node(&t, n, 0);
    if (t.b.len == 0) {
        cdx_buf_cleanup(&t.b);
        return NULL;
    }
    char *s = cdx_buf_steal(&t.b, NULL);
    if (s == NULL)
        c->err = CDX_ENOMEM;
    return s;
}

void cdx_extract_collect_anchors(ctx_t *c, const xmlNode *n, int depth)
{
    for (const xmlNode *ch = n->children; ch != NULL; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE)
            continue;
        const char *id = attr(ch, "ID");
        if (id != NULL) {
            size_t need = c->nanchors + 1;
            if (cdx_grow(&c->anchors, &c->anchors_cap, need, sizeof *c->anchors, 64) != 0) {
                c->err = CDX_ENOMEM;
                return;
            }
            c->anchors[c->nanchors].id = id;
            c->anchors[c->nanchors].node = ch;
            c->nanchors++;
        }
        if (depth < CDX_XML_MAX_DEPTH)
            cdx_extract_collect_anchors(c, ch, depth + 1);
    }
}

int cdx_extract_anchor_cmp(const void *a, const void *b)
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
    const anchor_t *a = bsearch(&key, c->anchors, c->nanchors, sizeof key, cdx_extract_anchor_cmp);
    return a ? a->node : NULL;
}

/* The text of an originalText or text element: its own words, else the
 * narrative its reference points to. */
char *cdx_extract_resolve_text(ctx_t *c, const xmlNode *holder)
{
    if (holder == NULL)
        return NULL;
    char *s = cdx_extract_text_of(c, holder);
    if (s == NULL) {
        const xmlNode *ref = first_el(holder, "reference");
        s = cdx_extract_text_of(c, find_anchor(c, attr(ref, "value")));
    }
    return s;
}

/* A coded element as {"code","codeSystem","displayName","originalText",
 * "nullFlavor","translations"}, or NULL when it says nothing. */
json_t *cdx_extract_code_json(ctx_t *c, const xmlNode *el, bool translations)
{
    if (el == NULL)
        return NULL;
    json_t *o = jobj(c);
    jstr(c, o, "code", attr(el, "code"));
    jstr(c, o, "codeSystem", attr(el, "codeSystem"));
    jstr(c, o, "codeSystemName", attr(el, "codeSystemName"));
    jstr(c, o, "displayName", attr(el, "displayName"));
    jstr_own(c, o, "originalText", cdx_extract_resolve_text(c, first_el(el, "originalText")));
    jstr(c, o, "nullFlavor", attr(el, "nullFlavor"));
    if (translations) {
        json_t *a = jarr(c);
        for (const xmlNode *t = first_el(el, "translation"); t != NULL;
             t = next_el(t, "translation"))
            jappend(c, a, cdx_extract_code_json(c, t, false));
        jput(c, o, "translations", jnonempty(a));
    }
    return jnonempty(o);
}
