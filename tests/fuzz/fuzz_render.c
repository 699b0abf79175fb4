/* libFuzzer target: the HTML renderer (parsers/render.c, render_media.c
 * and mappings/render/cda-html.xsl) over any document, and the language
 * tag rewriting over any text.  Besides crashes, leaks and undefined
 * behaviour, a finding is a page that breaks the renderer's promises: a
 * page over its bound, or markup naming a script sink. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/parsers/diag.h"
#include "cdx/parsers/render.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether any tag of html names a sink (text is escaped, so '<' only
 * opens tags). */
static int has_sink(const char *html)
{
    static const char *const sinks[] = {"<script", "<iframe", "<img",     "<svg",  "<math",
                                        "<object", "<embed",  " on",      "style=", "javascript:",
                                        "data:",   "<link",   "<meta",    "<base", "<form"};
    for (const char *lt = strchr(html, '<'); lt != NULL; lt = strchr(lt + 1, '<')) {
        const char *gt = strchr(lt, '>');
        size_t n = gt != NULL ? (size_t)(gt - lt) : strlen(lt);
        for (size_t i = 0; i < sizeof sinks / sizeof sinks[0]; i++) {
            size_t k = strlen(sinks[i]);
            for (size_t j = 0; j + k <= n; j++)
                if (strncmp(lt + j, sinks[i], k) == 0)
                    return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdx_renderer_t *renderer;
    if (renderer == NULL) {
        cdx_xml_global_init();
        cdx_xslt_global_init();
        char err[512];
        if (cdx_renderer_load(CDX_FUZZ_MAPPINGS_DIR, &renderer, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        cdx_xml_seal();
    }
    cdx_diag_t d;
    cdx_diag_init(&d);
    cdx_render_result_t res = {0};
    cdx_render_options_t opt = {.media_base = "/v1/documents/0/media/"};
    if (cdx_render_html(renderer, (const char *)data, size, &opt, &d, &res) == 0) {
        if (res.len > cdx_render_output_bound(size) || has_sink(res.html))
            abort();
        cdx_render_result_cleanup(&res);
    }
    cdx_diag_cleanup(&d);
    cdx_diag_init(&d);
    char type[32];
    char *bytes = NULL;
    size_t n = 0;
    if (cdx_render_media((const char *)data, size, NULL, "M1", type, &bytes, &n, &d) == 0 &&
        !cdx_render_media_type_ok(type))
        abort();
    free(bytes);
    cdx_diag_cleanup(&d);
    char text[64], lang[CDX_RENDER_LANG_MAX + 1];
    size_t k = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, k);
    text[k] = '\0';
    if (cdx_render_lang(text, lang, sizeof lang) && strlen(lang) > CDX_RENDER_LANG_MAX)
        abort();
    return 0;
}
