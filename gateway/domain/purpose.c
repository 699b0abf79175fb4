/* purpose: the accepted purposes of use (see include/cdx/domain/purpose.h). */
#include "cdx/domain/purpose.h"
#include "cdx/base/common.h"

#include <string.h>

/* HL7 v3 ActReason codes of the PurposeOfUse value set that a request to
 * this gateway may declare.  README.md lists the same rows (checked by
 * tests/unit/domain/test_purpose.c). */
static const cdx_purpose_t table[] = {
    {"TREAT", "treatment of the patient (the default when no purpose is sent)"},
    {"ETREAT", "emergency treatment (break the glass)"},
    {"CAREMGT", "care management: coordinating the patient's care across providers"},
    {"PATRQT", "the patient asked for the disclosure"},
    {"FAMRQT", "a family member asked for the disclosure"},
    {"PWATRNY", "the patient's power of attorney asked for the disclosure"},
    {"SUPNWK", "the patient's support network asked for the disclosure"},
    {"HPAYMT", "payment for care: claims, eligibility, billing"},
    {"COVERAGE", "coverage under a health plan or programme"},
    {"HOPERAT", "healthcare operations of the institution"},
    {"HQUALIMP", "quality improvement of care"},
    {"PATADMIN", "patient administration: registration, scheduling, admission"},
    {"RECORDMGT", "records management: keeping the medical record complete and correct"},
    {"HSYSADMIN", "administration of the health information systems"},
    {"HRESCH", "healthcare research"},
    {"CLINTRCH", "research within a clinical trial"},
    {"PUBHLTH", "public health: surveillance, reporting of notifiable conditions"},
    {"DISASTER", "disaster response"},
    {"THREAT", "preventing a serious threat to the health or safety of a person or the public"},
    {"HLEGAL", "legal proceedings and law enforcement as the law requires"},
    {"TRAIN", "training of health care staff"},
};

const cdx_purpose_t *cdx_purpose_find(const char *code)
{
    if (code == NULL)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(table); i++)
        if (strcmp(table[i].code, code) == 0)
            return &table[i];
    return NULL;
}

const cdx_purpose_t *cdx_purpose_table(size_t *n)
{
    *n = CDX_ARRAY_SIZE(table);
    return table;
}

void cdx_purpose_list(char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(table) && len < n; i++) {
        int w = snprintf(out + len, n - len, "%s%s", i ? ", " : "", table[i].code);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

void cdx_purpose_unknown_detail(char *out, size_t n)
{
    char list[256];
    cdx_purpose_list(list, sizeof list);
    snprintf(out, n,
             "X-CDX-Purpose names no purpose of use this gateway accepts; send one of %s (or "
             "none, for %s)",
             list, CDX_PURPOSE_DEFAULT);
}

void cdx_purpose_markdown(FILE *out)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(table); i++)
        fprintf(out, "| `%s` | %s |\n", table[i].code, table[i].meaning);
}
