/*
 * render: a stored CDA document as a self-contained HTML page that a
 * hostile document cannot turn into an attack.
 *
 * Responsible for: compiling the renderer stylesheet
 * (<mappings>/render/cda-html.xsl) once, applying it to a document's bytes
 * (hardened parse with the node budget, then XSLT with the same security
 * preferences and depth limits as normalization, parsers/xslt.h), and
 * writing the result as HTML5 through an allow-list: only the elements and
 * attributes of the table in render.c pass, every attribute value is
 * checked (class and id character sets, lang rewritten to a BCP 47 shape,
 * href only "#fragment" or the media download path given by the caller,
 * colspan/rowspan small numbers), text is escaped, and the one <style>
 * element may only hold the renderer's own CSS inside <head>.  Anything
 * else in the stylesheet's result (a forbidden element, an attribute, a
 * namespace) fails the rendering rather than passing through: the
 * stylesheet decides what is shown, this file guarantees what cannot be.
 * The page is bounded: at most max_output bytes.
 * Not responsible for: HTTP headers (the api's render module sets the
 * Content-Security-Policy and the rest), reading the registry.
 *
 * A cdx_renderer_t is immutable after cdx_renderer_load and may be used by
 * several threads at once.
 */
#ifndef CDX_RENDER_H
#define CDX_RENDER_H

#include <libxml/tree.h>
#include <stddef.h>

#include "cdx/parsers/diag.h"
#include "cdx/parsers/xml.h"

typedef struct cdx_renderer cdx_renderer_t;

/* The renderer stylesheet's place under the mappings folder. */
#define CDX_RENDER_STYLESHEET "render/cda-html.xsl"

/* The longest lang value written (BCP 47 allows more; real tags are short). */
#define CDX_RENDER_LANG_MAX 35

/* Compiles mappings_dir/render/cda-html.xsl (imports only from
 * mappings_dir/render).  Returns 0, or CDX_ECONFIG with the reason in err
 * (CDX_ENOMEM).  Start-up only, after cdx_xslt_global_init(). */
int cdx_renderer_load(const char *mappings_dir, cdx_renderer_t **out, char *err, size_t errlen);
void cdx_renderer_free(cdx_renderer_t *r);

typedef struct cdx_render_options {
    const cdx_xml_limits_t *xml_limits; /* NULL: cdx_xml_default_limits */
    /* The path an embedded binary of an allow-listed media type is
     * downloaded from: the observationMedia's ID is appended.  Only
     * characters [A-Za-z0-9/_.-]; NULL or "": such binaries are listed as
     * attachments, without a link. */
    const char *media_base;
    size_t max_output; /* bytes of HTML at most; 0: cdx_render_output_bound(len) */
} cdx_render_options_t;

/* What one rendering produced (heap; cdx_render_result_cleanup). */
typedef struct cdx_render_result {
    char *html; /* UTF-8 HTML5 page, NUL-terminated */
    size_t len;
    char *style; /* the text of the page's <style> element ("" when none) */
} cdx_render_result_t;

void cdx_render_result_cleanup(cdx_render_result_t *res);

/* The default bound on a page rendered from len bytes: four times the
 * input (text escaping can at most quadruple a character: a ">" of
 * CDATA becomes "&gt;") plus room for the page's own frame. */
size_t cdx_render_output_bound(size_t len);

/* Renders len bytes of a CDA document.  Returns 0 with the page in *out;
 * CDX_EPARSE with the reason in d (the document does not parse, the
 * stylesheet fails or stops at its depth limit, the page would exceed
 * max_output, or the result holds something the allow-list refuses);
 * CDX_ENOMEM. */
int cdx_render_html(const cdx_renderer_t *r, const char *data, size_t len,
                    const cdx_render_options_t *opt, cdx_diag_t *d, cdx_render_result_t *out);

/* Writes result (a tree as the renderer stylesheet produces it) as HTML5
 * through the allow-list, into at most max_output bytes.  Exposed for
 * tests; cdx_render_html calls it.  Same returns. */
int cdx_render_write(const xmlDoc *result, const char *media_base, size_t max_output,
                     cdx_diag_t *d, cdx_render_result_t *out);

/* Whether an embedded binary of media type type (as observationMedia's
 * value/@mediaType writes it, surrounding spaces ignored) may be offered
 * for download: image/png, image/jpeg, image/gif, application/pdf.  The
 * renderer stylesheet links the same list. */
int cdx_render_media_type_ok(const char *type);

/* The first observationMedia of the document whose ID is ref, when its
 * value is base64 (representation="B64") of an allowed media type: 0 with
 * the type in type and the decoded bytes in *bytes (heap, *n of them);
 * CDX_ENOTFOUND when ref is empty, there is no such element, or it is of
 * another type or representation; CDX_EPARSE when the document does not parse or the
 * base64 is broken (reason in d); CDX_ENOMEM. */
int cdx_render_media(const char *data, size_t len, const cdx_xml_limits_t *lim, const char *ref,
                     char type[32], char **bytes, size_t *n, cdx_diag_t *d);

/* Rewrites a language tag to the shape of BCP 47: subtags of 1 to 8
 * letters or digits joined by "-" ("_" is read as "-"), the first 2 to 8
 * letters, lower case but for a 4-letter script (Hang) and a 2-letter
 * region (KR), at most CDX_RENDER_LANG_MAX characters.  Returns 1 with the
 * tag in out (outlen > CDX_RENDER_LANG_MAX), or 0 with out "" when in has
 * no such shape (then no lang is written). */
int cdx_render_lang(const char *in, char *out, size_t outlen);

#endif
