/*
 * referral: the institutions a document is addressed to.
 *
 * Responsible for: reading the intended recipients' organizations
 * (ClinicalDocument/informationRecipient/intendedRecipient/
 * receivedOrganization/id/@root) of a parsed document: well-formed OIDs,
 * each once, at most CDX_REFERRAL_MAX.
 * Not responsible for: whether they are registered, or delivering (the
 * registry change of an ingest, the delivery worker).
 *
 * Pure: any thread, on a tree the caller owns.
 */
#ifndef CDX_DOMAIN_REFERRAL_H
#define CDX_DOMAIN_REFERRAL_H

#include <libxml/tree.h>
#include <stddef.h>

#define CDX_REFERRAL_MAX 8

/* Fills out (heap strings the caller frees with cdx_referral_free) with
 * the recipients' OIDs.  Returns 0 or CDX_ENOMEM. */
int cdx_referral_recipients(xmlDocPtr doc, char ***out, size_t *n);
void cdx_referral_free(char **list, size_t n);

#endif
