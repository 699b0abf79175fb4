/* extract_encounters: the procedures and encounters sections. */
#include "extract_internal.h"

void cdx_extract_read_procedure(reader_t *r, const xmlNode *stmt)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_PROCEDURE, r->s);
    json_t *ex = jobj(c);
    jstr(c, ex, "statement", (const char *)stmt->name);
    cdx_extract_fill_code(c, &f, first_el(stmt, "code"), ex);
    cdx_extract_fill_value(c, &f, first_el(stmt, "value"), ex);
    cdx_extract_fill_common(c, &f, stmt, ex);
    jput(c, ex, "targetSite", cdx_extract_code_json(c, first_el(stmt, "targetSiteCode"), false));
    jput(c, ex, "method", cdx_extract_code_json(c, first_el(stmt, "methodCode"), false));
    jstr_own(c, ex, "performer",
             cdx_extract_text_of(c, get(stmt, "performer", "assignedEntity",
                                        "representedOrganization", "name", NULL)));
    cdx_extract_fact_push(c, &f, ex);
}

void cdx_extract_read_encounter(reader_t *r, const xmlNode *enc)
{
    ctx_t *c = r->c;
    cdx_fact_t f;
    cdx_extract_fact_init(c, &f, CDX_FACT_ENCOUNTER, r->s);
    json_t *ex = jobj(c);
    const xmlNode *code = first_el(enc, "code");
    cdx_extract_fill_code(c, &f, code, ex);
    jput(c, ex, "type", cdx_extract_code_json(c, code, false));
    cdx_extract_fill_common(c, &f, enc, ex);
    json_t *locs = jarr(c);
    for (const xmlNode *p = first_el(enc, "participant"); p != NULL;
         p = next_el(p, "participant")) {
        if (!attr_is(p, "typeCode", "LOC"))
            continue;
        const xmlNode *role = first_el(p, "participantRole");
        json_t *lj = cdx_extract_code_json(c, first_el(role, "code"), false);
        if (lj == NULL)
            lj = jobj(c);
        jstr_own(c, lj, "name", cdx_extract_text_of(c, get(role, "playingEntity", "name", NULL)));
        jstr_own(c, lj, "address", cdx_extract_text_of(c, first_el(role, "addr")));
        jappend(c, locs, jnonempty(lj));
    }
    jput(c, ex, "locations", jnonempty(locs));
    /* Encounter diagnoses (act > observation) and indications. */
    json_t *dx = jarr(c);
    for (const xmlNode *er = first_el(enc, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        const xmlNode *act = first_el(er, "act");
        if (obs != NULL)
            jappend(c, dx, cdx_extract_code_json(c, first_el(obs, "value"), false));
        for (const xmlNode *er2 = first_el(act, "entryRelationship"); er2 != NULL;
             er2 = next_el(er2, "entryRelationship"))
            jappend(c, dx, cdx_extract_code_json(c, get(er2, "observation", "value", NULL), false));
    }
    jput(c, ex, "diagnoses", jnonempty(dx));
    jput(c, ex, "dischargeDisposition",
         cdx_extract_code_json(c, first_el_ns(enc, "dischargeDispositionCode", NS_SDTC), false));
    cdx_extract_fact_push(c, &f, ex);
}
