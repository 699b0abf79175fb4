/* extract_problems: the problem and allergy sections, whose statements sit
 * in concern acts. */
#include "extract_internal.h"

void cdx_extract_read_problem(reader_t *r, const xmlNode *obs, const xmlNode *concern)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_PROBLEM, r->s);
    json_t *ex = jobj(c);
    const xmlNode *v = first_el(obs, "value");
    const xmlNode *code = first_el(obs, "code");
    /* The diagnosis is the value; the code says what kind of problem it
     * is.  Documents that leave the value out code the problem itself. */
    if (v != NULL && (attr(v, "code") || attr(v, "nullFlavor") || first_el(v, "originalText") ||
                      first_el(v, "translation"))) {
        cdx_extract_fill_code(c, &f, v, ex);
        set(c, &f.value_type, "CD");
        jput(c, ex, "problemType", cdx_extract_code_json(c, code, false));
    } else {
        cdx_extract_fill_code(c, &f, code, ex);
    }
    cdx_extract_fill_common(c, &f, obs, ex);
    const xmlNode *et = first_el(obs, "effectiveTime");
    jstr(c, ex, "onset", attr(first_el(et, "low"), "value"));
    jstr(c, ex, "resolution", attr(first_el(et, "high"), "value"));
    if (concern != NULL) {
        /* The concern's status (active/completed) outranks the
         * observation's, which C-CDA fixes at "completed". */
        const char *cs = attr(first_el(concern, "statusCode"), "code");
        jstr(c, ex, "concernStatus", cs);
        if (cdx_extract_status_value(obs) == NULL && cs != NULL) {
            free(f.status);
            f.status = dup(c, cs);
        }
        if (f.time_low == NULL && f.time_high == NULL)
            cdx_extract_fill_time(c, &f, concern);
        take(&f.display_name, cdx_extract_resolve_text(c, first_el(concern, "text")));
    }
    cdx_extract_fact_push(c, &f, ex);
}

static const char *const REACTION_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.9",
                                                 "2.16.840.1.113883.10.20.1.54"};
static const char *const SEVERITY_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.8",
                                                 "2.16.840.1.113883.10.20.1.55"};
static const char *const CRITICALITY_TEMPLATES[] = {"2.16.840.1.113883.10.20.22.4.145"};

static json_t *severity_json(ctx_t *c, const xmlNode *stmt)
{
    const xmlNode *sev = cdx_extract_entry_rel_obs_with(
        stmt, SEVERITY_TEMPLATES, CDX_ARRAY_SIZE(SEVERITY_TEMPLATES), "SEV", NULL);
    return sev ? cdx_extract_code_json(c, first_el(sev, "value"), false) : NULL;
}

void cdx_extract_read_allergy(reader_t *r, const xmlNode *obs, const xmlNode *concern)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_ALLERGY, r->s);
    json_t *ex = jobj(c);
    /* The substance is the consumable participant's playing entity; the
     * observation's value only says what kind of intolerance it is. */
    const xmlNode *entity = NULL;
    for (const xmlNode *p = first_el(obs, "participant"); p != NULL;
         p = next_el(p, "participant")) {
        const xmlNode *pe = get(p, "participantRole", "playingEntity", NULL);
        if (pe != NULL && (entity == NULL || attr_is(p, "typeCode", "CSM")))
            entity = pe;
    }
    const xmlNode *scode = first_el(entity, "code");
    char *sname = cdx_extract_text_of(c, first_el(entity, "name"));
    json_t *sub = cdx_extract_code_json(c, scode, true);
    if (sname != NULL) {
        if (sub == NULL)
            sub = jobj(c);
        jstr(c, sub, "name", sname);
    }
    jput(c, ex, "substance", sub);
    const xmlNode *v = first_el(obs, "value");
    if (scode != NULL) {
        cdx_extract_fill_code(c, &f, scode, ex);
        take(&f.display_name, sname);
        sname = NULL;
    } else if (sname != NULL) {
        take(&f.display_name, sname);
        sname = NULL;
    } else {
        /* Older documents name the substance in the value's originalText. */
        take(&f.display_name, cdx_extract_resolve_text(c, first_el(v, "originalText")));
    }
    free(sname);
    cdx_extract_fill_value(c, &f, v, ex);
    jput(c, ex, "type", cdx_extract_code_json(c, v, false));
    cdx_extract_fill_common(c, &f, obs, ex);
    /* With no substance named (a "no known allergies" assertion, say), the
     * kind of intolerance is the best description there is. */
    set(c, &f.display_name, f.value);

    json_t *reactions = jarr(c);
    for (const xmlNode *re = cdx_extract_entry_rel_obs_with(
             obs, REACTION_TEMPLATES, CDX_ARRAY_SIZE(REACTION_TEMPLATES), NULL, NULL);
         re != NULL; re = cdx_extract_entry_rel_obs_with(
                         obs, REACTION_TEMPLATES, CDX_ARRAY_SIZE(REACTION_TEMPLATES), NULL, re)) {
        json_t *rj = cdx_extract_code_json(c, first_el(re, "value"), false);
        if (rj == NULL)
            rj = jnonempty(jobj(c));
        if (rj == NULL) {
            char *t = cdx_extract_resolve_text(c, first_el(re, "text"));
            if (t != NULL) {
                rj = jobj(c);
                jstr(c, rj, "originalText", t);
            }
            free(t);
        }
        if (rj != NULL)
            jput(c, rj, "severity", severity_json(c, re));
        jappend(c, reactions, rj);
    }
    /* MFST relationships without the reaction template are reactions too. */
    if (json_array_size(reactions) == 0) {
        for (const xmlNode *er = first_el(obs, "entryRelationship"); er != NULL;
             er = next_el(er, "entryRelationship")) {
            const xmlNode *ro = first_el(er, "observation");
            if (ro != NULL && attr_is(er, "typeCode", "MFST"))
                jappend(c, reactions, cdx_extract_code_json(c, first_el(ro, "value"), false));
        }
    }
    jput(c, ex, "reactions", jnonempty(reactions));
    jput(c, ex, "severity", severity_json(c, obs));
    const xmlNode *crit = cdx_extract_entry_rel_obs_with(
        obs, CRITICALITY_TEMPLATES, CDX_ARRAY_SIZE(CRITICALITY_TEMPLATES), NULL, NULL);
    if (crit != NULL)
        jput(c, ex, "criticality", cdx_extract_code_json(c, first_el(crit, "value"), false));
    if (concern != NULL) {
        const char *cs = attr(first_el(concern, "statusCode"), "code");
        jstr(c, ex, "concernStatus", cs);
        if (cdx_extract_status_value(obs) == NULL && cs != NULL) {
            free(f.status);
            f.status = dup(c, cs);
        }
        if (f.time_low == NULL && f.time_high == NULL)
            cdx_extract_fill_time(c, &f, concern);
    }
    cdx_extract_fact_push(c, &f, ex);
}
