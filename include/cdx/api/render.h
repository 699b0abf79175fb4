/*
 * render: the document as a page a browser may show, and the downloads
 * that page links.
 *
 * Responsible for: GET /v1/documents/{id}/html (role query) and
 * GET /v1/documents/{id}/media/{ref} (role query), each a disclosure
 * through the disclosure sequence (disclose.h) recorded as
 * "document.read" with form=html or form=media: the stored original is
 * rendered on a worker thread by the renderer (parsers/render.h) and
 * answered as text/html; charset=utf-8 with a Content-Security-Policy that
 * loads and runs nothing (style-src the hash of the page's own <style>),
 * no framing and no referrer; an embedded binary of an allow-listed type
 * is answered as an attachment of that type.  A document that cannot be
 * rendered gets 422 RENDER_FAILED, a media ID the document does not hold
 * (or holds with another type) 404 MEDIA_NOT_FOUND; both are audited.
 * Not responsible for: what the page shows (mappings/render/cda-html.xsl)
 * or the allow-list itself (parsers/render.c).
 */
#ifndef CDX_API_RENDER_H
#define CDX_API_RENDER_H

#include "cdx/api/routes.h"

extern const cdx_route_t cdx_render_routes[];
extern const size_t cdx_render_nroutes;

#endif
