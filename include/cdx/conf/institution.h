/*
 * institution: the keys of an `[institution]` section, their checks, and
 * the institutions file.
 *
 * Responsible for: the table of `[institution]` keys (it drives the
 * parser, the README's table and its test), applying one `key = value`
 * line to an institution,
 * reading an institutions file with line-precise errors, and certificate
 * fingerprints for `cert_file`.
 * Not responsible for: storing institutions (the store does).
 */
#ifndef CDX_CONF_INSTITUTION_H
#define CDX_CONF_INSTITUTION_H

#include <stddef.h>
#include <stdio.h>

#include "cdx/conf/keys.h"
#include "cdx/domain/institution.h"

/* Applies one `key = value` line of an [institution] section to inst.
 * The keys are one table (institution.c: oid, name, roles, endpoint,
 * cert_sha256, spki_sha256, cert_file, schema_policy, identity_policy,
 * id_root; the credential keys and id_root may repeat); dashes are read as
 * underscores.  base_dir resolves a relative cert_file.  Returns 0 or
 * CDX_ECONFIG with the reason in err. */
int cdx_institution_set_key(cdx_institution_t *inst, const char *key, const char *value,
                            const char *base_dir, char *err, size_t errlen);

/* The key table (n rows), in the order the README lists it. */
const cdx_conf_key_t *cdx_institution_keys(size_t *n);

/* Writes the key table as a Markdown table (for the README). */
void cdx_institution_keys_markdown(FILE *out);

/* Reads an institutions file (format in README: `[institution]` sections
 * of key = value lines, the keys of the table above).  cert_file paths are relative to the file's
 * folder and are turned into cert_sha256 credentials.  On error returns
 * CDX_ECONFIG with "path:line: reason" in err.  The caller frees *out. */
int cdx_institutions_file_load(const char *path, cdx_institution_t **out, size_t *n, char *err,
                               size_t errlen);

/* SHA-256 of the DER certificate (spki 0) or of its DER
 * SubjectPublicKeyInfo (spki 1) in the first PEM certificate of
 * cert_path, as 64 lower-case hex characters plus NUL.  Returns 0,
 * CDX_EIO (unreadable) or CDX_ECRYPTO (not a certificate). */
int cdx_cert_fingerprint_file(const char *cert_path, int spki, char out[65]);

#endif
