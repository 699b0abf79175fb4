/* extract_results: the results and vital signs sections, observations
 * grouped in organizers. */
#include "extract_internal.h"

/* An observation that is itself a null flavor (nullFlavor="NI": no
 * information) and carries no value states nothing. */
static bool states_nothing(const xmlNode *obs)
{
    if (attr(obs, "nullFlavor") == NULL)
        return false;
    const xmlNode *v = first_el(obs, "value");
    return v == NULL || (attr(v, "value") == NULL && attr(v, "code") == NULL &&
                         first_el(v, "low") == NULL && first_el(v, "high") == NULL &&
                         first_el(v, "originalText") == NULL && v->children == NULL);
}

void cdx_extract_read_result(reader_t *r, const xmlNode *obs, const xmlNode *organizer)
{
    ctx_t *c = r->c;
    if (states_nothing(obs))
        return;
    cdx_fact_t f;
    cdx_extract_fact_init(
        c, &f, r->s->kind == CDX_FACT_VITAL_SIGN ? CDX_FACT_VITAL_SIGN : CDX_FACT_RESULT, r->s);
    json_t *ex = jobj(c);
    cdx_extract_fill_code(c, &f, first_el(obs, "code"), ex);
    cdx_extract_fill_value(c, &f, first_el(obs, "value"), ex);
    cdx_extract_fill_range(c, &f, obs, ex);
    const xmlNode *ic = first_el(obs, "interpretationCode");
    set(c, &f.interpretation, attr(ic, "code"));
    if (f.interpretation == NULL)
        take(&f.interpretation, cdx_extract_resolve_text(c, first_el(ic, "originalText")));
    cdx_extract_fill_common(c, &f, obs, ex);
    jput(c, ex, "method", cdx_extract_code_json(c, first_el(obs, "methodCode"), false));
    jput(c, ex, "targetSite", cdx_extract_code_json(c, first_el(obs, "targetSiteCode"), false));
    const xmlNode *spec = get(obs, "specimen", "specimenRole", "specimenPlayingEntity", NULL);
    if (organizer != NULL) {
        json_t *panel = cdx_extract_code_json(c, first_el(organizer, "code"), true);
        jput(c, ex, "panel", panel);
        if (f.time_low == NULL && f.time_high == NULL)
            cdx_extract_fill_time(c, &f, organizer);
        if (spec == NULL)
            spec = get(organizer, "specimen", "specimenRole", "specimenPlayingEntity", NULL);
    }
    if (spec != NULL) {
        json_t *sj = cdx_extract_code_json(c, first_el(spec, "code"), false);
        char *sname = cdx_extract_text_of(c, first_el(spec, "name"));
        if (sname != NULL) {
            if (sj == NULL)
                sj = jobj(c);
            jstr(c, sj, "name", sname);
            free(sname);
        }
        jput(c, ex, "specimen", sj);
    }
    cdx_extract_fact_push(c, &f, ex);
}
