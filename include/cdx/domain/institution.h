/*
 * institution: roles and the rules every institution entry obeys, wherever
 * it comes from (configuration file, institutions file, the store).
 *
 * Responsible for: role lists (parse and format), the syntax of an
 * institution's OID, display name and delivery endpoint, and checking a
 * complete entry.
 * Not responsible for: reading files (conf/) or storing entries (store/).
 */
#ifndef CDX_DOMAIN_INSTITUTION_H
#define CDX_DOMAIN_INSTITUTION_H

#include <stddef.h>

#include "cdx/domain/types.h"

/* Parses a comma- or space-separated role list ("submit,query").  An empty
 * string gives 0.  Returns 0 or CDX_EINVAL naming nothing (the caller says
 * which key was wrong). */
int cdx_roles_parse(const char *s, unsigned *out);
/* Writes "submit,query" (or "none") into out of size n. */
void cdx_roles_format(unsigned roles, char *out, size_t n);

/* As cdx_roles_parse; on an unknown name copies that token (at most 64
 * bytes) into bad so the caller can name it. */
int cdx_roles_parse_named(const char *s, unsigned *out, char *bad, size_t badlen);

/* Field checks: 0, or CDX_ECONFIG with "key: reason" in why. */
int cdx_institution_oid_check(const char *oid, char *why, size_t whylen);
int cdx_institution_name_check(const char *name, char *why, size_t whylen);
int cdx_institution_endpoint_check(const char *url, char *why, size_t whylen);

/* Checks a complete institution (OID syntax, name present, endpoint an
 * https URL or empty).  Returns 0 or CDX_ECONFIG with the reason in err. */
int cdx_institution_check(const cdx_institution_t *inst, char *err, size_t errlen);

/* 1 when root (a patient id's assigning authority) is in inst's
 * numbering: its OID, one of its id roots, or an OID under one; the
 * institution is then the home of the ids under root. */
int cdx_institution_is_home_of(const cdx_institution_t *inst, const char *root);

#endif
