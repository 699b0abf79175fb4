/*
 * problem: RFC 9457 `application/problem+json` error bodies.
 *
 * Responsible for: rendering an error as a JSON object with a stable
 * machine code (`code`, also in `type` as urn:cdxgw:problem:<code>), the
 * HTTP status, the title of the code in the catalogue (errors.h), a human
 * `detail`, the request id, and optional structured issues.
 * Not responsible for: choosing codes; callers pass them.
 */
#ifndef CDX_PROBLEM_H
#define CDX_PROBLEM_H

#include "cdx/base/buf.h"

/* Appends the problem object to out.  The title is the catalogue's for
 * code; title is used only for a code the catalogue lacks (which
 * tests/check_errors.py keeps from happening).  issues_json, when not
 * NULL, is a JSON array text added as "issues".  Returns 0 or a negative
 * error. */
int cdx_problem_render(cdx_buf_t *out, int status, const char *title, const char *code,
                       const char *detail, const char *request_id, const char *issues_json);

#endif
