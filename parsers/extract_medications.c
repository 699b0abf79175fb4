/* extract_medications: the medication and immunization sections, both
 * substance administrations. */
#include "extract_internal.h"

/* Dose, route, frequency and product of a substanceAdministration, shared
 * by medications and immunizations. */
static void read_administration(ctx_t *c, cdx_fact_t *f, const xmlNode *sa, json_t *ex)
{
    const xmlNode *product = get(sa, "consumable", "manufacturedProduct", NULL);
    const xmlNode *material = first_el(product, "manufacturedMaterial");
    /* CDA R2's own examples and early CCDs use manufacturedLabeledDrug. */
    if (material == NULL)
        material = first_el(product, "manufacturedLabeledDrug");
    const xmlNode *code = first_el(material, "code");
    cdx_extract_fill_code(c, f, code, ex);
    char *name = cdx_extract_text_of(c, first_el(material, "name"));
    jstr(c, ex, "drugName", name);
    take(&f->display_name, name);
    json_t *drug = cdx_extract_code_json(c, code, true);
    jput(c, ex, "product", drug);
    jstr_own(c, ex, "manufacturer",
             cdx_extract_text_of(c, get(product, "manufacturerOrganization", "name", NULL)));

    const xmlNode *dose = first_el(sa, "doseQuantity");
    if (dose != NULL) {
        json_t *dj = jobj(c);
        const char *dv = attr(dose, "value");
        if (dv == NULL)
            dv = attr(first_el(dose, "low"), "value");
        const char *du = attr(dose, "unit");
        if (du == NULL)
            du = attr(first_el(dose, "low"), "unit");
        jstr(c, dj, "value", dv);
        jstr(c, dj, "unit", du);
        jput(c, ex, "dose", jnonempty(dj));
    }
    const xmlNode *rate = first_el(sa, "rateQuantity");
    if (rate != NULL) {
        json_t *rj = jobj(c);
        jstr(c, rj, "value", attr(rate, "value"));
        jstr(c, rj, "unit", attr(rate, "unit"));
        jput(c, ex, "rate", jnonempty(rj));
    }
    jput(c, ex, "route", cdx_extract_code_json(c, first_el(sa, "routeCode"), false));
    jput(c, ex, "form", cdx_extract_code_json(c, first_el(sa, "administrationUnitCode"), false));
    for (const xmlNode *t = first_el(sa, "effectiveTime"); t != NULL;
         t = next_el(t, "effectiveTime")) {
        const char *type = xsi_type(t);
        if (type == NULL)
            continue;
        json_t *fj = NULL;
        if (strstr(type, "PIVL") != NULL) {
            fj = jobj(c);
            const xmlNode *p = first_el(t, "period");
            jstr(c, fj, "period", attr(p, "value"));
            jstr(c, fj, "unit", attr(p, "unit"));
            jstr(c, fj, "institutionSpecified", attr(t, "institutionSpecified"));
            const xmlNode *lo = get(p, "low", NULL), *hi = get(p, "high", NULL);
            jstr(c, fj, "periodLow", attr(lo, "value"));
            jstr(c, fj, "periodHigh", attr(hi, "value"));
        } else if (strstr(type, "EIVL") != NULL) {
            fj = jobj(c);
            jstr(c, fj, "event", attr(first_el(t, "event"), "code"));
        }
        if (fj != NULL && json_object_get(ex, "frequency") == NULL)
            jput(c, ex, "frequency", jnonempty(fj));
        else
            json_decref(fj);
    }
}

void cdx_extract_read_medication(reader_t *r, const xmlNode *sa)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_MEDICATION, r->s);
    json_t *ex = jobj(c);
    read_administration(c, &f, sa, ex);
    cdx_extract_fill_common(c, &f, sa, ex);
    json_t *ind = jarr(c);
    for (const xmlNode *er = first_el(sa, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs != NULL && attr_is(er, "typeCode", "RSON"))
            jappend(c, ind, cdx_extract_code_json(c, first_el(obs, "value"), false));
    }
    jput(c, ex, "indications", jnonempty(ind));
    cdx_extract_fact_push(c, &f, ex);
}

static const char *const REFUSAL_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.53"};

void cdx_extract_read_immunization(reader_t *r, const xmlNode *sa)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_IMMUNIZATION, r->s);
    json_t *ex = jobj(c);
    read_administration(c, &f, sa, ex);
    cdx_extract_fill_common(c, &f, sa, ex);
    const xmlNode *product = get(sa, "consumable", "manufacturedProduct", NULL);
    const xmlNode *material = first_el(product, "manufacturedMaterial");
    if (material == NULL)
        material = first_el(product, "manufacturedLabeledDrug");
    jstr_own(c, ex, "lot", cdx_extract_text_of(c, first_el(material, "lotNumberText")));
    jput(c, ex, "refused", f.negated ? json_true() : json_false());
    const xmlNode *why = cdx_extract_entry_rel_obs_with(
        sa, REFUSAL_TEMPLATES, CDX_ARRAY_SIZE(REFUSAL_TEMPLATES), NULL, NULL);
    if (why != NULL)
        jput(c, ex, "refusalReason", cdx_extract_code_json(c, first_el(why, "code"), false));
    cdx_extract_fact_push(c, &f, ex);
}
