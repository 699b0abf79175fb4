/* doc_class: the class of a document from its LOINC type (see
 * include/cdx/domain/doc_class.h). */
#include "cdx/domain/doc_class.h"
#include "cdx/base/common.h"

#include <string.h>

#define LOINC_OID "2.16.840.1.113883.6.1"

/* The classes and their types, as README.md ("Finding a patient's
 * documents") lists them; cdx_doc_class_names names every row
 * (tests/unit/domain/test_doc_class.c checks both ways). */
static const struct doc_class {
    const char *name;
    const char *types[4];
} classes[] = {
    {"summary", {"34133-9", "60591-5"}},
    {"discharge", {"18842-5", "11490-0", "28655-9"}},
    {"transfer", {"18761-7"}},
    {"referral", {"57133-1"}},
    {"consult", {"11488-4"}},
    {"history-physical", {"34117-2"}},
    {"progress", {"11506-3"}},
    {"emergency", {"34878-9"}},
    {"procedure", {"28570-0", "11504-8"}},
    {"imaging", {"18748-4"}},
    {"laboratory", {"11502-2"}},
    {"pathology", {"11526-1"}},
    {"care-plan", {"18776-5", "52521-2"}},
    {"immunization", {"11369-6"}},
    {"consent", {"59284-0", "57016-8"}},
};

const char *cdx_doc_class_of(const char *type_system, const char *type_code)
{
    if (type_system == NULL || type_code == NULL || strcmp(type_system, LOINC_OID) != 0)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(classes); i++)
        for (size_t k = 0; k < CDX_ARRAY_SIZE(classes[i].types) && classes[i].types[k]; k++)
            if (strcmp(classes[i].types[k], type_code) == 0)
                return classes[i].name;
    return NULL;
}

int cdx_doc_class_known(const char *name)
{
    for (size_t i = 0; name != NULL && i < CDX_ARRAY_SIZE(classes); i++)
        if (strcmp(classes[i].name, name) == 0)
            return 1;
    return 0;
}

const char *cdx_doc_class_names(void)
{
    return "summary, discharge, transfer, referral, consult, history-physical, progress, "
           "emergency, procedure, imaging, laboratory, pathology, care-plan, immunization, "
           "consent";
}
