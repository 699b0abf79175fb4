/*
 * national: national patient identifiers (a resident registration number,
 * a national health number) as the gateway keeps them.
 *
 * Responsible for: which id roots are national (`national_id_roots`), the
 * keyed hash that stands in for a national number everywhere the gateway
 * stores or compares it (HMAC-SHA256 under `national_id_key_file` of
 * root "|" extension, written "hmac-sha256:<64 hex>" in place of the
 * extension), rewriting the ids of a document tree into that form, and
 * mapping a query's "ROOT|EXT" to the stored form.
 * Not responsible for: reading the key file (api/app.c), storing anything,
 * or linking identities (the patient index does).
 *
 * The key is shared by every gateway node of a network: the same national
 * number hashes to the same value on each, and to nothing a dictionary of
 * numbers could reverse without the key.  A cdx_national_t is immutable
 * once filled: any thread may use it.
 */
#ifndef CDX_DOMAIN_NATIONAL_H
#define CDX_DOMAIN_NATIONAL_H

#include <stddef.h>

#define CDX_NATIONAL_MAX_ROOTS 16
#define CDX_NATIONAL_PREFIX "hmac-sha256:"
/* "hmac-sha256:" + 64 hex digits + NUL. */
#define CDX_NATIONAL_EXT_SIZE 77

typedef struct cdx_national {
    size_t nroots;
    char roots[CDX_NATIONAL_MAX_ROOTS][128];
    unsigned char key[32];
} cdx_national_t;

/* Fills out's roots from a list of OIDs separated by commas and/or spaces
 * ("" or NULL: none).  The key is left zero (the caller copies it in).
 * Returns 0, or CDX_ECONFIG with the offending entry named in err. */
int cdx_national_parse_roots(const char *list, cdx_national_t *out, char *err, size_t errlen);

/* 1 when root is one of nat's national roots (nat may be NULL: none). */
int cdx_national_is_root(const cdx_national_t *nat, const char *root);

/* 1 when ext is already in the stored form "hmac-sha256:<64 hex>". */
int cdx_national_is_hashed(const char *ext);

/* The stored form of a national id: "hmac-sha256:" and the lower-case hex
 * HMAC-SHA256 under key of root "|" ext. */
void cdx_national_hash(const unsigned char key[32], const char *root, const char *ext,
                       char out[CDX_NATIONAL_EXT_SIZE]);

/* The extension as the gateway stores it: the hash when root is national
 * (unless ext already is one), else ext itself.  Writes into out (size n).
 * Returns 1 when root is national, 0 when not, CDX_ERANGE when out is too
 * small. */
int cdx_national_stored_ext(const cdx_national_t *nat, const char *root, const char *ext,
                            char *out, size_t n);

/* Maps a query's "ROOT|EXT" to the stored "ROOT|EXT" (the extension
 * hashed when ROOT is national), for the query endpoints.  Returns 0,
 * CDX_EINVAL when ref has no '|', CDX_ERANGE when out (size n) is too
 * small.  Checking ROOT's syntax is the caller's. */
int cdx_national_ref_stored(const cdx_national_t *nat, const char *ref, char *out, size_t n);

/* Rewrites @extension of every `id` element of the document tree (an
 * xmlDocPtr) whose @root is national into the stored form, and masks the
 * same numbers where the document's text writes them ('*' for each digit;
 * "730214-2917364" is found for 7302142917364 too; numbers of fewer than
 * 6 digits are not looked for in text).  Returns how many ids and text
 * writings were rewritten, or CDX_ENOMEM. */
int cdx_national_scrub_tree(const cdx_national_t *nat, void *xml_doc);

#endif
