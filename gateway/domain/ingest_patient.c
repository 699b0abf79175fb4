/* ingest_patient: the demographics of a document's patient, as the
 * patient index matches them, and a consent document's record (see
 * gateway/domain/ingest_internal.h).
 * Runs on the worker thread, so that the single writer only compares. */
#include "ingest_internal.h"
#include "cdx/base/common.h"
#include "cdx/domain/consent.h"

#include <jansson.h>
#include <string.h>

/* A summary for people to read (the administrator deciding a review):
 * the names as written, birth date, gender, city and postal code.  No
 * identifier. */
static char *summary_json(const cdx_doc_meta_t *m)
{
    json_t *o = json_object();
    json_t *given = json_array();
    if (o == NULL || given == NULL) {
        json_decref(o);
        json_decref(given);
        return NULL;
    }
    for (size_t i = 0; i < m->npatient_given; i++)
        json_array_append_new(given, json_string(m->patient_given[i]));
    json_object_set_new(o, "family", json_string(m->patient_family ? m->patient_family : ""));
    json_object_set_new(o, "given", given);
    if (m->patient_family == NULL && m->npatient_given == 0 && m->patient_name != NULL)
        json_object_set_new(o, "name", json_string(m->patient_name));
    json_object_set_new(o, "birthDate",
                        json_string(m->patient_birth_time.iso ? m->patient_birth_time.iso : ""));
    json_object_set_new(o, "gender",
                        json_string(m->patient_gender.code ? m->patient_gender.code : ""));
    json_object_set_new(o, "city", json_string(m->patient_city ? m->patient_city : ""));
    json_object_set_new(o, "postalCode",
                        json_string(m->patient_postal_code ? m->patient_postal_code : ""));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int cdx_ingest_patient_match(const cdx_doc_meta_t *m, const cdx_match_thresholds_t *t,
                             cdx_ingest_t *out)
{
    if (t != NULL && t->off)
        return 0; /* matching is switched off: no keys, no candidates */
    cdx_demog_input_t din;
    cdx_demog_input_from_meta(m, &din);
    if (cdx_demog_from(&din, &out->demog) != 0)
        return 0; /* nothing to match by */
    out->demog_summary = summary_json(m);
    if (out->demog_summary == NULL)
        return CDX_ENOMEM;
    out->match.demog = &out->demog;
    out->match.nblocks = cdx_demog_block_keys(&out->demog, out->blocks);
    out->match.blocks = (const char(*)[64])out->blocks;
    out->match.summary_json = out->demog_summary;
    out->match.thresholds = t;
    return 0;
}

/* A consent document: the record it becomes, or its rejection. */
void cdx_ingest_read_consent(const cdx_consent_policies_t *policies, void *xml_doc,
                             cdx_ingest_t *out)
{
    char why[256];
    int kind = cdx_consent_from_cda(xml_doc, policies, &out->consent, why, sizeof why);
    if (kind >= 0) {
        out->consent_kind = kind;
        return;
    }
    cdx_diag_add(&out->diag, CDX_SEV_ERROR, "GW-CONSENT", "/ClinicalDocument/documentationOf", "%s",
                 why);
    cdx_diag_reject(&out->diag, 422, "CONSENT_INVALID",
                    "the consent document cannot be read "
                    "as a consent; see the issues");
}

/* Only the patient's home institution submits a consent document: the
 * patient id's root is in the submitter's numbering. */
void cdx_ingest_check_consent_home(const cdx_submitter_t *sub, cdx_ingest_t *out)
{
    if (out->consent_kind == CDX_CONSENT_DOC_NONE || sub == NULL || sub->oid == NULL)
        return;
    if (cdx_consent_home_of(sub->oid, sub->id_roots, sub->nid_roots, out->patient_root))
        return;
    cdx_diag_add(&out->diag, CDX_SEV_ERROR, "GW-CONSENT", "/ClinicalDocument/recordTarget",
                 "a consent document's patient id must be in the submitting institution's "
                 "numbering: only the patient's home institution records consent");
    cdx_diag_reject(&out->diag, 403, "CONSENT_FORBIDDEN",
                    "the consent document's patient is not in this institution's numbering");
}
