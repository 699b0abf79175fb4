/* extract: header metadata and clinical facts (see include/cdx/parsers/extract.h).
 *
 * Everything here walks element children directly instead of evaluating
 * XPath: a CDA document is a shallow, regular tree, so a child walk visits
 * each node of interest once and costs no per-call compilation, which is
 * what keeps extraction well under a millisecond per document. */
#include "extract_internal.h"
#include "cdx/parsers/ids.h"

const char *cdx_fact_kind_name(cdx_fact_kind_t k)
{
    static const char *const names[CDX_FACT_KINDS] = {"problems",      "medications", "allergies",
                                                      "results",       "vital_signs", "procedures",
                                                      "immunizations", "encounters"};
    return (unsigned)k < CDX_FACT_KINDS ? names[k] : "unknown";
}

static int extract(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d, bool lean)
{
    int rc = 0;
    ctx_t c;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    c.d = d;
    c.lean = lean;
    c.out = out;
    cdx_buf_init(&c.loc, 16384);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (is_el(root, "section")) {
        /* A section on its own (test fixtures, excerpts): facts only. */
        out->meta.version_number = 1;
        if (d != NULL)
            cdx_diag_add(d, CDX_SEV_WARNING, "EXTRACT-FRAGMENT", "/section",
                         "the document is a lone section, not a ClinicalDocument; only its "
                         "clinical facts were read");
        if (first_el(root, "text") != NULL)
            cdx_extract_collect_anchors(&c, first_el(root, "text"), 0);
        cdx_extract_anchor_sections(&c, root, 0);
        if (c.nanchors > 1)
            qsort(c.anchors, c.nanchors, sizeof *c.anchors, cdx_extract_anchor_cmp);
        cdx_extract_visit_section(&c, root, CDX_FACT_KINDS, 0);
        rc = c.err;
        goto out;
    }
    if (root == NULL || !is_el(root, "ClinicalDocument")) {
        rc = CDX_EINVAL;
        goto out;
    }
    cdx_extract_read_meta(&c, root);
    const xmlNode *body = get(root, "component", "structuredBody", NULL);
    /* Sections straight under the root are not CDA, but some generated
     * excerpts are built that way; they are read as if in a body. */
    bool loose = false;
    for (const xmlNode *ch = root->children; ch != NULL && !loose; ch = ch->next)
        loose = is_el(ch, "section");
    if (c.err == 0 && (body != NULL || loose)) {
        if (body != NULL)
            cdx_extract_anchor_sections(&c, body, 0);
        for (const xmlNode *ch = root->children; loose && ch != NULL; ch = ch->next)
            if (is_el(ch, "section") && first_el(ch, "text") != NULL)
                cdx_extract_collect_anchors(&c, first_el(ch, "text"), 0);
        if (c.nanchors > 1)
            qsort(c.anchors, c.nanchors, sizeof *c.anchors, cdx_extract_anchor_cmp);
        if (body != NULL)
            cdx_extract_walk_sections(&c, body, CDX_FACT_KINDS, 0);
        for (const xmlNode *ch = root->children; loose && ch != NULL && c.err == 0; ch = ch->next)
            if (is_el(ch, "section"))
                cdx_extract_visit_section(&c, ch, CDX_FACT_KINDS, 0);
    }
    rc = c.err;
out:
    if (rc != 0)
        cdx_extract_cleanup(out);
    free(c.anchors);
    cdx_buf_cleanup(&c.loc);
    return rc;
}

int cdx_extract(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d)
{
    return extract(doc, out, d, false);
}

int cdx_extract_lean(xmlDocPtr doc, cdx_extract_t *out, cdx_diag_t *d)
{
    return extract(doc, out, d, true);
}

static void id_free(cdx_extract_id_t *id)
{
    free(id->root);
    free(id->extension);
    free(id->authority);
}

static void code_free(cdx_extract_code_t *cd)
{
    free(cd->code);
    free(cd->system);
    free(cd->display);
}

static void time_free(cdx_extract_time_t *t)
{
    free(t->raw);
    free(t->iso);
}

static void meta_free(cdx_doc_meta_t *m)
{
    id_free(&m->id);
    free(m->unique_id);
    id_free(&m->set_id);
    for (size_t i = 0; i < m->nrelated; i++) {
        free(m->related[i].type_code);
        id_free(&m->related[i].id);
    }
    free(m->related);
    free(m->replaces_id);
    code_free(&m->type);
    free(m->title);
    time_free(&m->creation_time);
    time_free(&m->service_start);
    time_free(&m->service_stop);
    code_free(&m->confidentiality);
    free(m->language_code);
    free(m->realm_code);
    for (size_t i = 0; i < m->ntemplate_ids; i++)
        id_free(&m->template_ids[i]);
    free(m->template_ids);
    id_free(&m->author_institution_id);
    free(m->author_institution_name);
    time_free(&m->author_time);
    id_free(&m->custodian_id);
    free(m->custodian_name);
    for (size_t i = 0; i < m->npatient_ids; i++)
        id_free(&m->patient_ids[i]);
    free(m->patient_ids);
    free(m->patient_family);
    for (size_t i = 0; i < m->npatient_given; i++)
        free(m->patient_given[i]);
    free(m->patient_given);
    free(m->patient_name);
    time_free(&m->patient_birth_time);
    code_free(&m->patient_gender);
    free(m->patient_street);
    free(m->patient_city);
    free(m->patient_state);
    free(m->patient_postal_code);
    free(m->patient_country);
    free(m->patient_phone);
    for (size_t i = 0; i < m->npatient_race; i++)
        code_free(&m->patient_race[i]);
    free(m->patient_race);
    for (size_t i = 0; i < m->npatient_ethnicity; i++)
        code_free(&m->patient_ethnicity[i]);
    free(m->patient_ethnicity);
    for (size_t i = 0; i < m->nrecipients; i++) {
        free(m->recipients[i].person_name);
        id_free(&m->recipients[i].org_id);
        free(m->recipients[i].org_name);
    }
    free(m->recipients);
    time_free(&m->legal_authenticator_time);
    free(m->hash);
}

void cdx_extract_cleanup(cdx_extract_t *x)
{
    if (x == NULL)
        return;
    meta_free(&x->meta);
    for (size_t i = 0; i < x->nfacts; i++)
        cdx_extract_fact_free(&x->facts[i]);
    free(x->facts);
    memset(x, 0, sizeof *x);
}

/* ---- Timestamps ---- */

int cdx_ts_parse(const char *ts, char *iso, size_t isolen, int *precision)
{
    int rc = CDX_EINVAL;
    char tmp[64];
    cdx_ts_t t;
    if (iso != NULL && isolen > 0)
        iso[0] = 0;
    if (precision != NULL)
        *precision = 0;
    /* Extraction takes up to nanoseconds and only four-digit offsets, and
     * refuses year 0000, which has no ISO 8601 form here. */
    if (ts == NULL || cdx_ts_scan(ts, &t) != 0 || t.year < 1 || t.nfrac > 9 ||
        (t.zone != NULL && t.zone_len != 5))
        goto out;
    int nd = t.digits;
    int n = snprintf(tmp, sizeof tmp, "%04d", t.year);
    if (nd >= 6)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "-%02d", t.month);
    if (nd >= 8)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "-%02d", t.day);
    if (nd >= 10)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "T%02d", t.hour);
    if (nd >= 12)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ":%02d", t.minute);
    if (nd >= 14)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ":%02d", t.second);
    if (t.frac != NULL)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%.*s", t.nfrac, t.frac);
    /* ISO 8601 gives a date no offset, so one written on a date is dropped
     * after it has been checked. */
    if (t.zone != NULL && nd >= 10)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%c%02d:%02d", t.zone[0], t.zone_hour,
                      t.zone_minute);
    if (iso == NULL || (size_t)n + 1 > isolen) {
        rc = CDX_ERANGE;
        goto out;
    }
    memcpy(iso, tmp, (size_t)n + 1);
    if (precision != NULL)
        *precision = nd + t.nfrac;
    rc = 0;
out:
    return rc;
}
