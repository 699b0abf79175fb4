/* problem: application/problem+json rendering (see include/cdx/base/problem.h). */
#include "cdx/base/problem.h"
#include "cdx/base/common.h"
#include "cdx/base/errors.h"

#include <jansson.h>
#include <stdio.h>

int cdx_problem_render(cdx_buf_t *out, int status, const char *title, const char *code,
                       const char *detail, const char *request_id, const char *issues_json)
{
    int rc = CDX_ENOMEM;
    const cdx_error_t *known = cdx_error_find(code);
    if (known != NULL)
        title = known->title;
    char type[128];
    snprintf(type, sizeof type, "urn:cdxgw:problem:%s", code);
    json_t *obj = json_object();
    if (obj == NULL)
        return CDX_ENOMEM;
    if (json_object_set_new(obj, "type", json_string(type)) != 0 ||
        json_object_set_new(obj, "title", json_string(title ? title : "")) != 0 ||
        json_object_set_new(obj, "status", json_integer(status)) != 0 ||
        json_object_set_new(obj, "code", json_string(code)) != 0 ||
        json_object_set_new(obj, "detail", json_string(detail ? detail : "")) != 0 ||
        json_object_set_new(obj, "request_id", json_string(request_id ? request_id : "")) != 0)
        goto out;
    if (issues_json != NULL) {
        json_error_t jerr;
        json_t *issues = json_loads(issues_json, 0, &jerr);
        if (issues == NULL) {
            rc = CDX_EINVAL;
            goto out;
        }
        if (json_object_set_new(obj, "issues", issues) != 0)
            goto out;
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text == NULL)
        goto out;
    rc = cdx_buf_puts(out, text);
    free(text);
out:
    json_decref(obj);
    return rc;
}
