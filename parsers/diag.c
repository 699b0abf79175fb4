/* diag: located issues and verdicts (see include/cdx/parsers/diag.h). */
#include "cdx/parsers/diag.h"
#include "cdx/base/common.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cdx_diag_init(cdx_diag_t *d)
{
    memset(d, 0, sizeof *d);
}

void cdx_diag_cleanup(cdx_diag_t *d)
{
    for (size_t i = 0; i < d->nissues; i++) {
        free(d->issues[i].rule);
        free(d->issues[i].location);
        free(d->issues[i].message);
    }
    free(d->issues);
    memset(d, 0, sizeof *d);
}

int cdx_diag_add(cdx_diag_t *d, cdx_severity_t sev, const char *rule, const char *location,
                 const char *fmt, ...)
{
    if (sev == CDX_SEV_ERROR)
        d->nerrors++;
    if (d->nissues >= CDX_DIAG_MAX_ISSUES) {
        d->dropped++;
        return 0;
    }
    if (cdx_grow(&d->issues, &d->cap, d->nissues + 1, sizeof *d->issues, 8) != 0)
        return CDX_ENOMEM;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cdx_issue_t *is = &d->issues[d->nissues];
    is->severity = sev;
    is->rule = strdup(rule ? rule : "");
    is->location = strdup(location ? location : "");
    is->message = strdup(msg);
    if (is->rule == NULL || is->location == NULL || is->message == NULL) {
        free(is->rule);
        free(is->location);
        free(is->message);
        return CDX_ENOMEM;
    }
    d->nissues++;
    return 0;
}

void cdx_diag_reject(cdx_diag_t *d, int status, const char *code, const char *fmt, ...)
{
    if (d->status != 0)
        return;
    d->status = status;
    cdx_strlcpy(d->code, code, sizeof d->code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
}

int cdx_diag_rejected(const cdx_diag_t *d)
{
    return d->status != 0;
}

char *cdx_diag_issues_json(const cdx_diag_t *d)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < d->nissues; i++) {
        const cdx_issue_t *is = &d->issues[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "severity",
                              is->severity == CDX_SEV_ERROR ? "error" : "warning", "rule",
                              is->rule, "location", is->location, "message", is->message);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(arr);
    return text;
}
