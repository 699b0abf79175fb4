/*
 * doc_class: the class of a clinical document (the XDS classCode of
 * FindDocuments), derived from its type.
 *
 * Responsible for: the one table that puts each LOINC document type the
 * gateway knows into a coarse class a clinician filters by ("summary",
 * "discharge", "referral", ...), and the list of those classes.  The
 * registry stores the class with a document's sort keys when it stores
 * the document, and schema step 11 fills it for documents stored before.
 * Not responsible for: the type itself (the normalization maps each
 * dialect's type to LOINC).
 *
 * Pure: a static table, any thread.
 */
#ifndef CDX_DOMAIN_DOC_CLASS_H
#define CDX_DOMAIN_DOC_CLASS_H

#include <stddef.h>

/* The class of a document of type (system, code): a name of the table, or
 * NULL when system is not LOINC (2.16.840.1.113883.6.1) or the type is
 * not in the table. */
const char *cdx_doc_class_of(const char *type_system, const char *type_code);

/* Whether name is one of the classes. */
int cdx_doc_class_known(const char *name);

/* The classes, comma-separated, for error messages ("summary, discharge, ..."). */
const char *cdx_doc_class_names(void);

#endif
