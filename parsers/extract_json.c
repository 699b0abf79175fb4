/* extract_json: the extraction as JSON (cdx_extract_meta_json,
 * cdx_extract_facts_json). */
#include "extract_internal.h"

static json_t *id_json(ctx_t *c, const cdx_extract_id_t *id)
{
    json_t *o = jobj(c);
    jstr(c, o, "root", id->root);
    jstr(c, o, "extension", id->extension);
    jstr(c, o, "assigningAuthorityName", id->authority);
    return jnonempty(o);
}

static json_t *cd_json(ctx_t *c, const cdx_extract_code_t *cd)
{
    json_t *o = jobj(c);
    jstr(c, o, "code", cd->code);
    jstr(c, o, "codeSystem", cd->system);
    jstr(c, o, "displayName", cd->display);
    return jnonempty(o);
}

static json_t *time_json(ctx_t *c, const cdx_extract_time_t *t)
{
    if (t->raw == NULL)
        return NULL;
    json_t *o = jobj(c);
    jstr(c, o, "raw", t->raw);
    jstr(c, o, "iso", t->iso);
    if (t->iso != NULL)
        jput(c, o, "precision", json_integer(t->precision));
    return o;
}

static json_t *org_json(ctx_t *c, const cdx_extract_id_t *id, const char *name)
{
    json_t *o = id_json(c, id);
    if (o == NULL && name != NULL)
        o = jobj(c);
    jstr(c, o, "name", name);
    return o;
}

json_t *cdx_extract_meta_json(const cdx_doc_meta_t *m)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    json_t *o = jobj(&c);
    if (o == NULL)
        return NULL;
    jstr(&c, o, "uniqueId", m->unique_id);
    jput(&c, o, "id", id_json(&c, &m->id));
    jput(&c, o, "setId", id_json(&c, &m->set_id));
    jput(&c, o, "versionNumber", json_integer(m->version_number));
    json_t *rel = jarr(&c);
    for (size_t i = 0; i < m->nrelated; i++) {
        json_t *r = id_json(&c, &m->related[i].id);
        if (r == NULL)
            r = jobj(&c);
        jstr(&c, r, "typeCode", m->related[i].type_code);
        jappend(&c, rel, r);
    }
    jput(&c, o, "relatedDocuments", jnonempty(rel));
    jstr(&c, o, "replaces", m->replaces_id);
    jput(&c, o, "typeCode", cd_json(&c, &m->type));
    jstr(&c, o, "title", m->title);
    jput(&c, o, "creationTime", time_json(&c, &m->creation_time));
    jput(&c, o, "serviceStartTime", time_json(&c, &m->service_start));
    jput(&c, o, "serviceStopTime", time_json(&c, &m->service_stop));
    jput(&c, o, "confidentialityCode", cd_json(&c, &m->confidentiality));
    jstr(&c, o, "languageCode", m->language_code);
    jstr(&c, o, "realmCode", m->realm_code);
    json_t *tids = jarr(&c);
    for (size_t i = 0; i < m->ntemplate_ids; i++)
        jappend(&c, tids, id_json(&c, &m->template_ids[i]));
    jput(&c, o, "templateIds", jnonempty(tids));
    jput(&c, o, "authorInstitution",
         org_json(&c, &m->author_institution_id, m->author_institution_name));
    jput(&c, o, "authorTime", time_json(&c, &m->author_time));
    jput(&c, o, "custodian", org_json(&c, &m->custodian_id, m->custodian_name));
    json_t *pids = jarr(&c);
    for (size_t i = 0; i < m->npatient_ids; i++)
        jappend(&c, pids, id_json(&c, &m->patient_ids[i]));
    jput(&c, o, "patientIds", jnonempty(pids));

    json_t *p = jobj(&c);
    jstr(&c, p, "name", m->patient_name);
    jstr(&c, p, "family", m->patient_family);
    json_t *given = jarr(&c);
    for (size_t i = 0; i < m->npatient_given; i++)
        jappend(&c, given, json_string(m->patient_given[i]));
    jput(&c, p, "given", jnonempty(given));
    jput(&c, p, "birthTime", time_json(&c, &m->patient_birth_time));
    jput(&c, p, "gender", cd_json(&c, &m->patient_gender));
    json_t *addr = jobj(&c);
    jstr(&c, addr, "streetAddressLine", m->patient_street);
    jstr(&c, addr, "city", m->patient_city);
    jstr(&c, addr, "state", m->patient_state);
    jstr(&c, addr, "postalCode", m->patient_postal_code);
    jstr(&c, addr, "country", m->patient_country);
    jput(&c, p, "address", jnonempty(addr));
    jstr(&c, p, "telecom", m->patient_phone);
    json_t *race = jarr(&c);
    for (size_t i = 0; i < m->npatient_race; i++)
        jappend(&c, race, cd_json(&c, &m->patient_race[i]));
    jput(&c, p, "race", jnonempty(race));
    json_t *eth = jarr(&c);
    for (size_t i = 0; i < m->npatient_ethnicity; i++)
        jappend(&c, eth, cd_json(&c, &m->patient_ethnicity[i]));
    jput(&c, p, "ethnicity", jnonempty(eth));
    jput(&c, o, "patient", jnonempty(p));

    json_t *recips = jarr(&c);
    for (size_t i = 0; i < m->nrecipients; i++) {
        const cdx_extract_recipient_t *r = &m->recipients[i];
        json_t *rj = jobj(&c);
        jstr(&c, rj, "personName", r->person_name);
        jput(&c, rj, "organization", org_json(&c, &r->org_id, r->org_name));
        jappend(&c, recips, jnonempty(rj));
    }
    jput(&c, o, "intendedRecipients", jnonempty(recips));
    jput(&c, o, "legalAuthenticatorTime", time_json(&c, &m->legal_authenticator_time));
    if (m->size > 0)
        jput(&c, o, "size", json_integer((json_int_t)m->size));
    jstr(&c, o, "hash", m->hash);
    if (c.err != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *fact_json(ctx_t *c, const cdx_fact_t *f)
{
    json_t *o = jobj(c);
    jstr(c, o, "section", cdx_fact_kind_name(f->section));
    jstr(c, o, "sectionCode", f->section_code);
    jstr(c, o, "sectionTitle", f->section_title);
    jstr(c, o, "location", f->location);
    jstr(c, o, "codeSystem", f->code_system);
    jstr(c, o, "code", f->code);
    jstr(c, o, "displayName", f->display_name);
    jstr(c, o, "originalText", f->original_text);
    jstr(c, o, "nullFlavor", f->null_flavor);
    jstr(c, o, "valueType", f->value_type);
    jstr(c, o, "value", f->value);
    if (f->has_number)
        jput(c, o, "number", json_real(f->number));
    jstr(c, o, "unit", f->unit);
    jstr(c, o, "unitOriginal", f->unit_original);
    json_t *rr = jobj(c);
    jstr(c, rr, "low", f->ref_low);
    jstr(c, rr, "high", f->ref_high);
    jstr(c, rr, "text", f->ref_text);
    jput(c, o, "referenceRange", jnonempty(rr));
    jstr(c, o, "interpretation", f->interpretation);
    json_t *et = jobj(c);
    jstr(c, et, "low", f->time_low);
    jstr(c, et, "high", f->time_high);
    jput(c, o, "effectiveTime", jnonempty(et));
    jstr(c, o, "status", f->status);
    jput(c, o, "negated", json_boolean(f->negated));
    if (f->extras_obj != NULL) {
        jput(c, o, "extras", json_incref((json_t *)f->extras_obj));
    } else if (f->extras == NULL || strcmp(f->extras, "{}") == 0) {
        /* No extras (the lean extraction has no text): an empty object,
         * not "{}" parsed back. */
        jput(c, o, "extras", jobj(c));
    } else {
        json_t *ex = json_loads(f->extras, 0, NULL);
        if (ex == NULL)
            c->err = CDX_ENOMEM;
        jput(c, o, "extras", ex);
    }
    return o;
}

json_t *cdx_extract_facts_json(const cdx_extract_t *x)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    json_t *o = jobj(&c);
    json_t *lists[CDX_FACT_KINDS];
    for (int k = 0; k < CDX_FACT_KINDS; k++) {
        lists[k] = jarr(&c);
        jput(&c, o, cdx_fact_kind_name((cdx_fact_kind_t)k), lists[k]);
    }
    for (size_t i = 0; i < x->nfacts && c.err == 0; i++) {
        const cdx_fact_t *f = &x->facts[i];
        if ((unsigned)f->kind < CDX_FACT_KINDS)
            jappend(&c, lists[f->kind], fact_json(&c, f));
    }
    if (c.err != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}
