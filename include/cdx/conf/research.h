/*
 * research: the research projects file (configuration key
 * research_projects_file): which key pseudonymizes each research
 * institution's exports and how their dates leave.
 *
 * The file holds [research_project] sections of key = value lines:
 *   institution = OID   the research institution (an optional urn:oid:)
 *   key_file = PATH     its project's 32-byte key (relative to the file;
 *                       created, mode 0600, on the first export when missing)
 *   mode = shift        dates shifted per person (default), or safe_harbor:
 *                       years alone
 * An institution has at most one project.  Lines starting with # or ; are
 * comments.
 *
 * Not responsible for: reading the key itself (the export does, each
 * time, so the key is held only while one export runs).  Any thread.
 */
#ifndef CDX_CONF_RESEARCH_H
#define CDX_CONF_RESEARCH_H

#include <stddef.h>

#include "cdx/base/common.h"
#include "cdx/conf/config.h"
#include "cdx/domain/export.h"

typedef struct cdx_research_project {
    char institution[128];
    char key_file[CDX_PATH_MAX];
    cdx_export_mode_t mode;
} cdx_research_project_t;

/* Finds institution_oid's project in the file at path.  Returns 0 with
 * *out, CDX_ENOTFOUND when the file has none for it (or path is ""), or
 * CDX_ECONFIG with the file's fault (line and key) in err. */
int cdx_research_project_find(const char *path, const char *institution_oid,
                              cdx_research_project_t *out, char *err, size_t errlen);

#endif
