/* render: GET /v1/documents/{id}/html and its media downloads (see
 * include/cdx/api/render.h). */
#include "cdx/api/render.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"
#include "cdx/domain/audit_events.h"
#include "cdx/net/server.h"
#include "cdx/parsers/render.h"

#include <openssl/evp.h>
#include <string.h>

/* The headers of every rendered page besides those every answer carries
 * (Cache-Control: no-store, X-Content-Type-Options: nosniff): nothing
 * loads, nothing runs, the page's own <style> (by its hash) is the only
 * style, no framing, no referrer. */
#define PAGE_CSP                                                                                   \
    "default-src 'none'; style-src '%s'; img-src 'none'; base-uri 'none'; form-action 'none'; " \
    "frame-ancestors 'none'"
#define PAGE_HEADERS                                                                               \
    "Content-Security-Policy: " PAGE_CSP "\r\n"                                                    \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Cross-Origin-Resource-Policy: same-origin\r\n"                                                \
    "X-CDX-Document-Status: %s\r\n"

/* A download: never displayed in place, never sniffed, never framed. */
#define MEDIA_HEADERS                                                                              \
    "Content-Disposition: attachment; filename=\"%s.%s\"\r\n"                                      \
    "Content-Security-Policy: default-src 'none'; sandbox; frame-ancestors 'none'\r\n"             \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Cross-Origin-Resource-Policy: same-origin\r\n"

#define MEDIA_REF_MAX 80

typedef struct render_ctx {
    int media;                      /* the media route */
    char ref[MEDIA_REF_MAX + 1];    /* the media route's {ref}; "" when not an ID */
    char media_base[64];            /* /v1/documents/<id>/media/ */
    int rc;                         /* of the rendering or the media lookup */
    char status[16];                /* the document's status */
    cdx_diag_t diag;
    cdx_render_result_t page;
    char type[32]; /* the media's */
    char *bytes;
    size_t nbytes;
} render_ctx_t;

static void ctx_free(void *arg)
{
    render_ctx_t *c = arg;
    if (c == NULL)
        return;
    cdx_diag_cleanup(&c->diag);
    cdx_render_result_cleanup(&c->page);
    free(c->bytes);
    free(c);
}

/* Worker thread: the original bytes, then the page (or the media). */
static int read_and_render(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    render_ctx_t *c = d->ctx;
    cdx_doc_row_t row;
    memset(&row, 0, sizeof row);
    int rc = cdx_disclose_read_document(d, reg, CDX_DOC_ORIGINAL, &row);
    if (rc != 0)
        goto out;
    cdx_strlcpy(c->status, row.status ? row.status : "current", sizeof c->status);
    const cdx_config_t *cfg = d->app->cfg;
    cdx_xml_limits_t lim = {(size_t)cfg->xml_max_nodes, (size_t)cfg->xml_max_nodes_per_kb};
    const cdx_xml_limits_t *limp = lim.max_nodes > 0 ? &lim : NULL;
    if (c->media && c->ref[0] == '\0') {
        c->rc = CDX_ENOTFOUND;
    } else if (c->media) {
        c->rc = cdx_render_media(row.content, row.content_len, limp, c->ref, c->type, &c->bytes,
                                 &c->nbytes, &c->diag);
    } else {
        cdx_render_options_t opt = {.xml_limits = limp, .media_base = c->media_base};
        c->rc = cdx_render_html(d->app->renderer, row.content, row.content_len, &opt, &c->diag,
                                &c->page);
    }
out:
    cdx_doc_row_cleanup(&row);
    return rc;
}

static void audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const render_ctx_t *c = d->ctx;
    const char *form = c->media ? "media" : "html";
    if (d->stage == CDX_DISCLOSE_NOT_FOUND)
        snprintf(out, outlen, "form=%s status=404 code=DOCUMENT_NOT_FOUND%s", form,
                 d->target_unknown ? " id=malformed" : "");
    else if (c->rc == CDX_ENOTFOUND)
        snprintf(out, outlen, "form=%s status=404 code=MEDIA_NOT_FOUND", form);
    else if (c->rc != 0)
        snprintf(out, outlen, "form=%s status=%d code=%s", form,
                 c->rc == CDX_EPARSE ? 422 : 503, c->rc == CDX_EPARSE ? "RENDER_FAILED" : "OVERLOADED");
    else
        snprintf(out, outlen, "form=%s", form);
}

/* 'sha256-<base64>' of the page's style text, as CSP names it. */
static void style_hash(const char *style, char out[64])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(style, strlen(style), md, &n, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof md);
    memcpy(out, "sha256-", 7);
    EVP_EncodeBlock((unsigned char *)out + 7, md, 32); /* 44 characters and a NUL */
}

static void respond_page(render_ctx_t *c, cdx_request_t *rq)
{
    char hash[64];
    char extra[768];
    style_hash(c->page.style, hash);
    snprintf(extra, sizeof extra, PAGE_HEADERS, hash, c->status);
    cdx_respond(rq, 200, "text/html; charset=utf-8", c->page.html, c->page.len, extra);
}

static void respond_media(render_ctx_t *c, cdx_request_t *rq)
{
    char extra[512];
    const char *slash = strchr(c->type, '/');
    snprintf(extra, sizeof extra, MEDIA_HEADERS, c->ref,
             strcmp(c->type, "image/jpeg") == 0 ? "jpg" : (slash ? slash + 1 : "bin"));
    cdx_respond(rq, 200, c->type, c->bytes, c->nbytes, extra);
}

static void respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    render_ctx_t *c = d->ctx;
    if (d->stage == CDX_DISCLOSE_NOT_FOUND) {
        cdx_disclose_respond_no_document(d, rq);
        return;
    }
    if (c->rc == CDX_ENOTFOUND) {
        cdx_respond_problem(rq, 404, "MEDIA_NOT_FOUND",
                            "the document has no embedded binary with this ID of a type offered "
                            "for download (image/png, image/jpeg, image/gif, application/pdf)",
                            NULL);
        return;
    }
    if (c->rc == CDX_EPARSE) {
        CDX_WARN("document.render_failed", "req=%s doc=%s form=%s code=%s", rq->id,
                 d->target_id, c->media ? "media" : "html", c->diag.code);
        char *issues = cdx_diag_issues_json(&c->diag);
        char detail[640];
        snprintf(detail, sizeof detail, "the document could not be rendered: %s",
                 c->diag.message[0] ? c->diag.message : "see issues");
        cdx_respond_problem(rq, 422, "RENDER_FAILED", detail, issues);
        free(issues);
        return;
    }
    if (c->rc != 0) {
        cdx_respond_overloaded(rq);
        return;
    }
    if (c->media)
        respond_media(c, rq);
    else
        respond_page(c, rq);
}

static const cdx_disclose_endpoint_t render_endpoint = {
    .event = CDX_AUDIT_DOCUMENT_READ,
    .read = read_and_render,
    .audit_detail = audit_detail,
    .respond = respond,
    .free_ctx = ctx_free,
};

static void start(cdx_request_t *rq, int media)
{
    render_ctx_t *c = calloc(1, sizeof *c);
    cdx_disclosure_t *d = c != NULL ? cdx_disclose_new(rq, &render_endpoint, c) : NULL;
    if (d == NULL) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_diag_init(&c->diag);
    c->media = media;
    d->target_unknown = !cdx_disclose_target_id(&rq->params, d->target_id);
    snprintf(c->media_base, sizeof c->media_base, "/v1/documents/%s/media/", d->target_id);
    if (media) {
        /* Only an ID the page could have linked: [A-Za-z0-9_.:-], 1 to 80;
         * any other is no media of this document (read and audited all
         * the same: the document is disclosed to exist). */
        char ref[MEDIA_REF_MAX + 2] = "";
        int rc = cdx_route_param(&rq->params, "ref", ref, sizeof ref);
        size_t n = strlen(ref);
        if (rc == 0 && n >= 1 && n <= MEDIA_REF_MAX &&
            strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n)
            memcpy(c->ref, ref, n + 1);
    }
    cdx_disclose_run(d);
}

static void h_html(cdx_request_t *rq)
{
    start(rq, 0);
}

static void h_media(cdx_request_t *rq)
{
    start(rq, 1);
}

const cdx_route_t cdx_render_routes[] = {
    {"documents.html", "GET", "/v1/documents/{id}/html", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_html)},
    {"documents.media", "GET", "/v1/documents/{id}/media/{ref}", CDX_ROLE_QUERY,
     CDX_ROUTE_DISCLOSES, CDX_HANDLER(h_media)},
};
const size_t cdx_render_nroutes = CDX_ARRAY_SIZE(cdx_render_routes);
