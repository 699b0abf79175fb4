/*
 * consent: a person's decision about who may see their documents.
 *
 * Responsible for: the consent record (permit or deny, a scope of
 * institutions and document types, research, an expiry), reading it from
 * the JSON body of PUT /v1/consents/{ROOT|EXT} with the member at fault
 * named, the scope lists as the registry keeps them (single spaces
 * between entries), and whether a record covers an institution and a
 * document type.
 * Not responsible for: storing records (the registry), deciding an access
 * (domain/access.h reads the records this module describes), or who may
 * record them (the API checks the home institution).
 *
 * Pure: no I/O, no state; any thread.
 */
#ifndef CDX_DOMAIN_CONSENT_H
#define CDX_DOMAIN_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "cdx/domain/types.h"

#define CDX_CONSENT_MAX_SCOPE 16 /* entries of each scope list */
#define CDX_CONSENT_OID_MAX 127  /* an institution OID of a scope */
#define CDX_CONSENT_TYPE_MAX 31  /* a document type code of a scope */
/* The longest scope text: the entries of one list and their spaces. */
#define CDX_CONSENT_SCOPE_TEXT (CDX_CONSENT_MAX_SCOPE * (CDX_CONSENT_OID_MAX + 1))

typedef struct cdx_consent {
    int64_t id;            /* the registry's id, 0 before it is stored */
    int permit;            /* 1 permit, 0 deny */
    int research;          /* -1 not said, 0 deny, 1 permit */
    char expires[64];      /* as written, "" for none */
    char expires_key[15];  /* the expiry as a UTC key "YYYYMMDDHHMMSS", "" for none */
    size_t ninstitutions;  /* 0: every institution */
    char institutions[CDX_CONSENT_MAX_SCOPE][CDX_CONSENT_OID_MAX + 1];
    size_t ntypes;         /* 0: every document type */
    char types[CDX_CONSENT_MAX_SCOPE][CDX_CONSENT_TYPE_MAX + 1];
} cdx_consent_t;

/* Reads a consent body:
 *   {"decision": "permit"|"deny",
 *    "scope": {"institutions": [OID...], "types": [LOINC code...]},
 *    "research": "permit"|"deny", "expires": "<ISO 8601 or HL7 TS>"}
 * scope, research and expires may be left out; an empty or missing list
 * means all.  No other member is accepted.  Returns 0 with *out filled, or
 * CDX_EPARSE with the JSON member at fault in member ("" for the body
 * itself, "scope.types" for a list) and the reason in why. */
int cdx_consent_parse_json(const char *body, size_t len, cdx_consent_t *out, char *member,
                           size_t memberlen, char *why, size_t whylen);

/* Joins a scope list with single spaces into out (size outlen, at least
 * CDX_CONSENT_SCOPE_TEXT).  Returns 0 or CDX_ERANGE. */
int cdx_consent_scope_text(const cdx_consent_t *c, int types, char *out, size_t outlen);

/* Reads a scope list as cdx_consent_scope_text wrote it into c (types 0:
 * the institutions, 1: the types).  Entries past the limits are dropped:
 * a list the registry holds was written by this module.  Returns 0 or
 * CDX_ERANGE when an entry does not fit. */
int cdx_consent_scope_parse(const char *text, int types, cdx_consent_t *c);

/* 1 when c's scope covers institution and document type (a NULL or empty
 * type is covered only by a scope of every type). */
int cdx_consent_covers(const cdx_consent_t *c, const char *institution, const char *type);

/* 1 when root is in inst's numbering: its OID, one of its registered id
 * roots, or an OID under them (the patient's home institution). */
int cdx_consent_home(const cdx_institution_t *inst, const char *root);
/* The same for an institution given by its OID and id roots. */
int cdx_consent_home_of(const char *oid, const char *const *id_roots, size_t nid_roots,
                        const char *root);

/* ---- consent documents (gateway/domain/consent_doc.c) ------------------- */

#define CDX_CONSENT_TEMPLATE_KR "1.2.410.100110.40.2.2.1.1"
#define CDX_CONSENT_TEMPLATE_KR_WITHDRAWAL "1.2.410.100110.40.2.2.1.2"
#define CDX_CONSENT_TEMPLATE_BPPC "1.3.6.1.4.1.19376.1.5.3.1.1.7"
#define CDX_CONSENT_MAX_POLICIES 16

typedef enum cdx_consent_doc_kind {
    CDX_CONSENT_DOC_NONE = 0,       /* not a consent document */
    CDX_CONSENT_DOC_KR = 1,         /* Korean consent: a permit */
    CDX_CONSENT_DOC_WITHDRAWAL = 2, /* Korean withdrawal: a deny, whole or of its scope */
    CDX_CONSENT_DOC_BPPC = 3,       /* IHE BPPC: permit or deny by its policies */
} cdx_consent_doc_kind_t;

/* The BPPC policy OIDs the configuration reads as permit and as deny. */
typedef struct cdx_consent_policies {
    size_t npermit, ndeny;
    char permit[CDX_CONSENT_MAX_POLICIES][128];
    char deny[CDX_CONSENT_MAX_POLICIES][128];
} cdx_consent_policies_t;

/* Reads a consent document (xml_doc an xmlDocPtr of a CDA document),
 * recognised by a ClinicalDocument/templateId above, into out:
 *   - each documentationOf/serviceEvent: a code of LOINC
 *     (2.16.840.1.113883.6.1) names a document type of the scope, any
 *     other code a policy (BPPC: the policy OID in @code); each
 *     performer/assignedEntity/representedOrganization/id/@root an
 *     institution of the scope; effectiveTime/high/@value the expiry;
 *   - the decision: permit (Korean consent), deny (withdrawal), or for
 *     BPPC deny when a policy is one of pol's deny policies, else permit
 *     when one is a permit policy (a deny policy wins);
 * Returns the kind (CDX_CONSENT_DOC_NONE when not a consent document), or
 * CDX_EPARSE with the reason in why: a BPPC document none of whose
 * policies is configured, an expiry or a scope entry that cannot be read,
 * more than CDX_CONSENT_MAX_SCOPE entries. */
int cdx_consent_from_cda(const void *xml_doc, const cdx_consent_policies_t *pol,
                         cdx_consent_t *out, char *why, size_t whylen);

/* 1 when c has an expiry at or before now_key (a UTC key). */
int cdx_consent_expired(const cdx_consent_t *c, const char *now_key);

#endif
