/* render: CDA documents as safe HTML (see include/cdx/parsers/render.h). */
#include "cdx/parsers/render.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xslt.h"

#include <ctype.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cdx_renderer {
    xsltStylesheetPtr style;
};

#define RENDER_RULE "RENDER"

int cdx_renderer_load(const char *mappings_dir, cdx_renderer_t **out, char *err, size_t errlen)
{
    char root[PATH_MAX], path[PATH_MAX];
    *out = NULL;
    if (snprintf(root, sizeof root, "%s/render", mappings_dir) >= (int)sizeof root ||
        snprintf(path, sizeof path, "%s/%s", mappings_dir, CDX_RENDER_STYLESHEET) >=
            (int)sizeof path) {
        cdx_errf(err, errlen, "%s: path too long", mappings_dir);
        return CDX_ECONFIG;
    }
    cdx_renderer_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CDX_ENOMEM;
    int rc = cdx_xslt_compile(path, root, &r->style, err, errlen);
    if (rc != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cdx_renderer_free(cdx_renderer_t *r)
{
    if (r == NULL)
        return;
    if (r->style != NULL)
        xsltFreeStylesheet(r->style);
    free(r);
}

void cdx_render_result_cleanup(cdx_render_result_t *res)
{
    free(res->html);
    free(res->style);
    *res = (cdx_render_result_t){0};
}

size_t cdx_render_output_bound(size_t len)
{
    size_t frame = 256u * 1024;
    return len > (SIZE_MAX - frame) / 4 ? SIZE_MAX : 4 * len + frame;
}

/* ---- language tags ---------------------------------------------------- */

int cdx_render_lang(const char *in, char *out, size_t outlen)
{
    size_t n = 0, sub = 0, nsub = 0;
    if (outlen > 0)
        out[0] = '\0';
    if (in == NULL || outlen <= CDX_RENDER_LANG_MAX)
        return 0;
    for (const char *p = in;; p++) {
        char c = *p;
        if (c == '\0' || c == '-' || c == '_') {
            const char *start = p - sub;
            /* The first subtag: 2 to 8 letters; the others 1 to 8
             * letters or digits. */
            if (sub == 0 || sub > 8 || (nsub == 0 && sub < 2))
                goto bad;
            for (size_t i = 0; i < sub; i++) {
                unsigned char u = (unsigned char)start[i];
                if (nsub == 0 ? !isalpha(u) : !isalnum(u))
                    goto bad;
                if (!isascii(u))
                    goto bad;
            }
            if (n + (nsub > 0) + sub > CDX_RENDER_LANG_MAX)
                goto bad;
            if (nsub > 0)
                out[n++] = '-';
            int alpha = 1;
            for (size_t i = 0; i < sub; i++)
                alpha &= isalpha((unsigned char)start[i]) != 0;
            for (size_t i = 0; i < sub; i++) {
                unsigned char u = (unsigned char)start[i];
                int upper = nsub > 0 && alpha && ((sub == 2) || (sub == 4 && i == 0));
                out[n++] = (char)(upper ? toupper(u) : tolower(u));
            }
            out[n] = '\0';
            nsub++;
            sub = 0;
            if (c == '\0')
                return 1;
            continue;
        }
        sub++;
        if (sub > 8)
            goto bad;
    }
bad:
    out[0] = '\0';
    return 0;
}

/* ---- the allow-list ---------------------------------------------------- */

enum {
    A_CLASS = 1u << 0,
    A_ID = 1u << 1,
    A_LANG = 1u << 2,
    A_HREF = 1u << 3,
    A_SPAN = 1u << 4, /* colspan, rowspan */
    A_COMMON = A_CLASS | A_ID | A_LANG,
};

enum { E_NORMAL, E_VOID, E_STYLE };

static const struct element {
    const char *name;
    unsigned attrs;
    int kind;
} elements[] = {
    {"html", A_LANG, E_NORMAL},     {"head", 0, E_NORMAL},         {"title", 0, E_NORMAL},
    {"style", 0, E_STYLE},          {"body", A_COMMON, E_NORMAL},  {"header", A_COMMON, E_NORMAL},
    {"main", A_COMMON, E_NORMAL},   {"section", A_COMMON, E_NORMAL},
    {"footer", A_COMMON, E_NORMAL}, {"div", A_COMMON, E_NORMAL},   {"h1", A_COMMON, E_NORMAL},
    {"h2", A_COMMON, E_NORMAL},     {"h3", A_COMMON, E_NORMAL},    {"h4", A_COMMON, E_NORMAL},
    {"h5", A_COMMON, E_NORMAL},     {"h6", A_COMMON, E_NORMAL},    {"dl", A_COMMON, E_NORMAL},
    {"dt", A_COMMON, E_NORMAL},     {"dd", A_COMMON, E_NORMAL},    {"p", A_COMMON, E_NORMAL},
    {"span", A_COMMON, E_NORMAL},   {"ul", A_COMMON, E_NORMAL},    {"ol", A_COMMON, E_NORMAL},
    {"li", A_COMMON, E_NORMAL},     {"table", A_COMMON, E_NORMAL}, {"caption", A_COMMON, E_NORMAL},
    {"thead", A_COMMON, E_NORMAL},  {"tbody", A_COMMON, E_NORMAL}, {"tfoot", A_COMMON, E_NORMAL},
    {"tr", A_COMMON, E_NORMAL},     {"th", A_COMMON | A_SPAN, E_NORMAL},
    {"td", A_COMMON | A_SPAN, E_NORMAL},
    {"br", 0, E_VOID},              {"sub", A_COMMON, E_NORMAL},   {"sup", A_COMMON, E_NORMAL},
    {"small", A_COMMON, E_NORMAL},  {"strong", A_COMMON, E_NORMAL},
    {"em", A_COMMON, E_NORMAL},     {"a", A_COMMON | A_HREF, E_NORMAL},
};

static const struct element *element_of(const char *name)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(elements); i++)
        if (strcmp(elements[i].name, name) == 0)
            return &elements[i];
    return NULL;
}

static int all_in(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max && strspn(s, set) == n;
}

#define ID_CHARS                                                                                   \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"

/* An href: "#id", or the media path followed by an id. */
static int href_ok(const char *v, const char *media_base)
{
    if (v[0] == '#')
        return all_in(v + 1, ID_CHARS, 1, 80);
    size_t n = media_base != NULL ? strlen(media_base) : 0;
    return n > 0 && strncmp(v, media_base, n) == 0 && all_in(v + n, ID_CHARS, 1, 80);
}

typedef struct writer {
    cdx_buf_t out;
    cdx_buf_t style;
    const char *media_base;
    cdx_diag_t *d;
    int rc;
} writer_t;

static void deny_page(writer_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void deny_page(writer_t *w, const char *fmt, ...)
{
    if (w->rc != 0)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cdx_diag_add(w->d, CDX_SEV_ERROR, RENDER_RULE, NULL, "%s", msg);
    cdx_diag_reject(w->d, 422, "RENDER_FAILED", "%s", msg);
    w->rc = CDX_EPARSE;
}

static void put(writer_t *w, const char *s, size_t n)
{
    if (w->rc != 0)
        return;
    int rc = cdx_buf_append(&w->out, s, n);
    if (rc == CDX_ERANGE) {
        deny_page(w, "the page would exceed %zu bytes", w->out.max);
    } else if (rc != 0) {
        w->rc = rc;
    }
}

static void puts_(writer_t *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Text, escaped for element content or (attr) a double-quoted value. */
static void put_escaped(writer_t *w, const char *s, int attr)
{
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = attr ? "&quot;" : NULL; break;
        default: break;
        }
        if (rep == NULL)
            continue;
        put(w, run, (size_t)(p - run));
        puts_(w, rep);
        run = p + 1;
    }
    put(w, run, strlen(run));
}

/* Writes one attribute of an allowed element, or refuses the page. */
static void put_attr(writer_t *w, const struct element *el, const xmlAttr *a)
{
    const char *name = (const char *)a->name;
    xmlChar *raw = xmlNodeGetContent((const xmlNode *)a);
    const char *v = raw != NULL ? (const char *)raw : "";
    char lang[CDX_RENDER_LANG_MAX + 1];
    if (a->ns != NULL) {
        deny_page(w, "the renderer produced a namespaced attribute %s", name);
    } else if (strcmp(name, "class") == 0 && (el->attrs & A_CLASS)) {
        if (!all_in(v, "abcdefghijklmnopqrstuvwxyz0123456789 -", 0, 200))
            deny_page(w, "the renderer produced a class outside its set on <%s>", el->name);
        else if (v[0] != '\0') {
            puts_(w, " class=\"");
            puts_(w, v);
            puts_(w, "\"");
        }
    } else if (strcmp(name, "id") == 0 && (el->attrs & A_ID)) {
        if (!all_in(v, ID_CHARS, 1, 80))
            deny_page(w, "the renderer produced an id outside its set on <%s>", el->name);
        puts_(w, " id=\"");
        puts_(w, v);
        puts_(w, "\"");
    } else if (strcmp(name, "lang") == 0 && (el->attrs & A_LANG)) {
        /* The document's language code, reshaped; none when it has no
         * tag's shape. */
        if (cdx_render_lang(v, lang, sizeof lang)) {
            puts_(w, " lang=\"");
            puts_(w, lang);
            puts_(w, "\"");
        }
    } else if (strcmp(name, "href") == 0 && (el->attrs & A_HREF)) {
        if (!href_ok(v, w->media_base))
            deny_page(w, "the renderer produced a link outside the document on <%s>", el->name);
        puts_(w, " href=\"");
        put_escaped(w, v, 1);
        puts_(w, "\"");
    } else if ((strcmp(name, "colspan") == 0 || strcmp(name, "rowspan") == 0) &&
               (el->attrs & A_SPAN)) {
        if (!all_in(v, "0123456789", 1, 3) || atoi(v) < 1)
            deny_page(w, "the renderer produced a span that is not 1 to 999 on <%s>", el->name);
        put(w, " ", 1);
        puts_(w, name);
        puts_(w, "=\"");
        puts_(w, v);
        puts_(w, "\"");
    } else {
        deny_page(w, "the renderer produced a forbidden attribute %s", name);
    }
    xmlFree(raw);
}

/* The page's <style>: in <head>, text only, nothing that could end the
 * element early. */
static void put_style(writer_t *w, const xmlNode *node)
{
    if (node->parent == NULL || node->parent->name == NULL ||
        strcmp((const char *)node->parent->name, "head") != 0 || node->properties != NULL) {
        deny_page(w, "the renderer produced a style element outside <head>");
        return;
    }
    for (const xmlNode *c = node->children; c != NULL && w->rc == 0; c = c->next) {
        if (c->type != XML_TEXT_NODE || c->content == NULL ||
            strchr((const char *)c->content, '<') != NULL) {
            deny_page(w, "the renderer produced <style> holding more than CSS");
            return;
        }
        if (cdx_buf_puts(&w->style, (const char *)c->content) != 0)
            w->rc = CDX_ENOMEM;
    }
    puts_(w, "<style>");
    if (w->style.data != NULL)
        puts_(w, w->style.data);
    puts_(w, "</style>");
}

static void put_node(writer_t *w, const xmlNode *node, int depth);

static void put_children(writer_t *w, const xmlNode *node, int depth)
{
    for (const xmlNode *c = node->children; c != NULL && w->rc == 0; c = c->next)
        put_node(w, c, depth + 1);
}

static void put_node(writer_t *w, const xmlNode *node, int depth)
{
    if (depth > 4 * CDX_XML_MAX_DEPTH) {
        deny_page(w, "the page is nested deeper than %d levels", 4 * CDX_XML_MAX_DEPTH);
        return;
    }
    switch (node->type) {
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        if (node->content != NULL)
            put_escaped(w, (const char *)node->content, 0);
        return;
    case XML_COMMENT_NODE:
    case XML_PI_NODE:
        return; /* never written */
    case XML_ELEMENT_NODE:
        break;
    default:
        deny_page(w, "the renderer produced a node of kind %d", (int)node->type);
        return;
    }
    const char *name = (const char *)node->name;
    const struct element *el = node->ns == NULL ? element_of(name) : NULL;
    if (el == NULL) {
        deny_page(w, "the renderer produced a forbidden element <%s>", name);
        return;
    }
    if (node->nsDef != NULL) {
        deny_page(w, "the renderer produced a namespace declaration on <%s>", name);
        return;
    }
    if (el->kind == E_STYLE) {
        put_style(w, node);
        return;
    }
    put(w, "<", 1);
    puts_(w, el->name);
    for (const xmlAttr *a = node->properties; a != NULL && w->rc == 0; a = a->next)
        put_attr(w, el, a);
    put(w, ">", 1);
    if (el->kind == E_VOID) {
        if (node->children != NULL)
            deny_page(w, "the renderer produced content in <%s>", name);
        return;
    }
    put_children(w, node, depth);
    puts_(w, "</");
    puts_(w, el->name);
    put(w, ">", 1);
}

int cdx_render_write(const xmlDoc *result, const char *media_base, size_t max_output,
                     cdx_diag_t *d, cdx_render_result_t *out)
{
    writer_t w = {.media_base = media_base, .d = d};
    cdx_buf_init(&w.out, max_output);
    cdx_buf_init(&w.style, 64u * 1024);
    const xmlNode *root = xmlDocGetRootElement(result);
    if (root == NULL || root->name == NULL || strcmp((const char *)root->name, "html") != 0)
        deny_page(&w, "the renderer produced no html page");
    puts_(&w, "<!DOCTYPE html>\n");
    if (w.rc == 0)
        put_node(&w, root, 0);
    put(&w, "\n", 1);
    if (w.rc == 0) {
        out->style = w.style.data != NULL ? cdx_buf_steal(&w.style, NULL) : strdup("");
        out->html = cdx_buf_steal(&w.out, &out->len);
        if (out->style == NULL || out->html == NULL) {
            cdx_render_result_cleanup(out);
            w.rc = CDX_ENOMEM;
        }
    }
    cdx_buf_cleanup(&w.out);
    cdx_buf_cleanup(&w.style);
    return w.rc;
}

int cdx_render_html(const cdx_renderer_t *r, const char *data, size_t len,
                    const cdx_render_options_t *opt, cdx_diag_t *d, cdx_render_result_t *out)
{
    xmlDocPtr doc = NULL, res = NULL;
    *out = (cdx_render_result_t){0};
    const char *media = opt != NULL && opt->media_base != NULL ? opt->media_base : "";
    if (!all_in(media, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-", 0,
                200))
        return CDX_EINVAL;
    int rc = cdx_xml_parse_limited(data, len, opt != NULL ? opt->xml_limits : NULL, d, &doc, NULL);
    if (rc != 0)
        goto out;
    /* The media path is a plain path (checked above): safe inside an
     * XPath string literal. */
    char media_param[256];
    snprintf(media_param, sizeof media_param, "'%s'", media);
    const char *params[] = {"media-base", media_param, NULL};
    rc = cdx_xslt_apply(r->style, doc, params, NULL, NULL, RENDER_RULE, d, &res);
    if (rc != 0) {
        if (rc == CDX_EPARSE)
            cdx_diag_reject(d, 422, "RENDER_FAILED",
                            "the document could not be rendered (the renderer stopped: %s)",
                            d->nissues > 0 ? "see issues" : "no reason given");
        goto out;
    }
    size_t max = opt != NULL && opt->max_output > 0 ? opt->max_output
                                                      : cdx_render_output_bound(len);
    rc = cdx_render_write(res, media, max, d, out);
out:
    xmlFreeDoc(res);
    xmlFreeDoc(doc);
    return rc;
}
