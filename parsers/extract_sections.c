/* extract_sections: which kind a section holds (its templateId, else its
 * LOINC code), and the walk over sections, entries and nested statements
 * that hands each statement to its kind reader. */
#include "extract_internal.h"

static bool is_statement(const xmlNode *n)
{
    static const char *const names[] = {"observation",     "act",
                                        "organizer",       "procedure",
                                        "encounter",       "substanceAdministration",
                                        "supply",          "observationMedia",
                                        "regionOfInterest"};
    if (n == NULL || n->type != XML_ELEMENT_NODE)
        return false;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(names); i++)
        if (is_el(n, names[i]))
            return true;
    return false;
}

/* The clinical statement of an entry, component or entryRelationship,
 * which may follow sequenceNumber and seperatableInd. */
static const xmlNode *statement_of(const xmlNode *holder)
{
    for (const xmlNode *ch = holder->children; ch != NULL; ch = ch->next)
        if (is_statement(ch))
            return ch;
    return NULL;
}

static void read_statement(reader_t *r, const xmlNode *stmt, const xmlNode *container, int depth);

/* Visits the statements of a container's components and entry
 * relationships: concern acts, organizers and wrapping acts. */
static void read_children(reader_t *r, const xmlNode *container, int depth)
{
    ctx_t *c = r->c;
    if (depth >= MAX_ENTRY_DEPTH)
        return;
    size_t ncomp = 0, nrel = 0;
    for (const xmlNode *ch = container->children; ch != NULL && c->err == 0; ch = ch->next) {
        size_t idx;
        if (is_el(ch, "component"))
            idx = ++ncomp;
        else if (is_el(ch, "entryRelationship"))
            idx = ++nrel;
        else
            continue;
        const xmlNode *stmt = statement_of(ch);
        if (stmt == NULL)
            continue;
        size_t mark = cdx_extract_loc_push(c, ch, idx);
        cdx_extract_loc_push(c, stmt, 0);
        read_statement(r, stmt, container, depth + 1);
        cdx_extract_loc_pop(c, mark);
    }
}

static void read_statement(reader_t *r, const xmlNode *stmt, const xmlNode *container, int depth)
{
    bool obs = is_el(stmt, "observation");
    bool act = is_el(stmt, "act");
    bool org = is_el(stmt, "organizer");
    const xmlNode *concern = is_el(container, "act") ? container : NULL;
    const xmlNode *panel = is_el(container, "organizer") ? container : NULL;
    switch (r->s->kind) {
    case CDX_FACT_PROBLEM:
        if (obs && !cdx_extract_is_status_obs(stmt))
            cdx_extract_read_problem(r, stmt, concern);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_ALLERGY:
        if (obs && !cdx_extract_is_status_obs(stmt))
            cdx_extract_read_allergy(r, stmt, concern);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_MEDICATION:
    case CDX_FACT_IMMUNIZATION:
        if (is_el(stmt, "substanceAdministration")) {
            if (r->s->kind == CDX_FACT_MEDICATION)
                cdx_extract_read_medication(r, stmt);
            else
                cdx_extract_read_immunization(r, stmt);
        } else if (act || org) {
            read_children(r, stmt, depth);
        }
        break;
    case CDX_FACT_RESULT:
    case CDX_FACT_VITAL_SIGN:
        /* A procedure in a results section (a specimen collection in a
         * panel, say) is a procedure; only one that carries a value is a
         * vendor's result written as a procedure. */
        if (is_el(stmt, "procedure") && first_el(stmt, "value") == NULL)
            cdx_extract_read_procedure(r, stmt);
        else if (obs || is_el(stmt, "procedure"))
            cdx_extract_read_result(r, stmt, panel);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_PROCEDURE:
        if (obs || act || is_el(stmt, "procedure"))
            cdx_extract_read_procedure(r, stmt);
        else if (org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_ENCOUNTER:
        if (is_el(stmt, "encounter"))
            cdx_extract_read_encounter(r, stmt);
        else if (act || org)
            read_children(r, stmt, depth);
        break;
    case CDX_FACT_KINDS:
        break;
    }
}

static void read_section(ctx_t *c, const xmlNode *sec, const section_t *s)
{
    reader_t r = {c, s};
    size_t idx = 0, empty = 0;
    char *first_empty = NULL;
    for (const xmlNode *e = first_el(sec, "entry"); e != NULL && c->err == 0;
         e = next_el(e, "entry")) {
        idx++;
        size_t before = c->out->nfacts;
        size_t mark = cdx_extract_loc_push(c, e, idx);
        const xmlNode *stmt = statement_of(e);
        if (stmt != NULL) {
            cdx_extract_loc_push(c, stmt, 0);
            read_statement(&r, stmt, NULL, 0);
        }
        if (c->out->nfacts == before && empty++ == 0)
            first_empty = dup(c, c->loc.data);
        cdx_extract_loc_pop(c, mark);
    }
    /* One warning per section, so that a long list of unreadable entries
     * does not crowd every other issue out of the diag. */
    if (empty > 0 && c->d != NULL && c->err == 0)
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-ENTRY", first_empty,
                     "%zu of %zu entries of the %s section hold no readable %s statement (this "
                     "is the first)",
                     empty, idx, cdx_fact_kind_name(s->kind), cdx_fact_kind_name(s->kind));
    free(first_empty);
}

typedef struct section_template {
    const char *root;
    cdx_fact_kind_t kind;
} section_template_t;

/* C-CDA R2.1/R1.1 (entries optional and required), CCD 1.0, HITSP C32/C83
 * and IHE PCC templates. */
static const section_template_t SECTION_TEMPLATES[] = {
    {"2.16.840.1.113883.10.20.22.2.5", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.22.2.5.1", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.1.11", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.3.88.11.83.103", CDX_FACT_PROBLEM},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.6", CDX_FACT_PROBLEM},
    {"2.16.840.1.113883.10.20.22.2.24", CDX_FACT_PROBLEM}, /* discharge diagnosis */
    {"2.16.840.1.113883.10.20.22.2.43", CDX_FACT_PROBLEM}, /* admission diagnosis */
    {"2.16.840.1.113883.10.20.22.2.1", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.1.1", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.38", CDX_FACT_MEDICATION},   /* administered */
    {"2.16.840.1.113883.10.20.22.2.11", CDX_FACT_MEDICATION},   /* discharge */
    {"2.16.840.1.113883.10.20.22.2.11.1", CDX_FACT_MEDICATION}, /* discharge */
    {"2.16.840.1.113883.10.20.22.2.44", CDX_FACT_MEDICATION},   /* admission */
    {"2.16.840.1.113883.10.20.1.8", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.3.88.11.83.112", CDX_FACT_MEDICATION},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.19", CDX_FACT_MEDICATION},
    {"2.16.840.1.113883.10.20.22.2.6", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.22.2.6.1", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.1.2", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.3.88.11.83.102", CDX_FACT_ALLERGY},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.13", CDX_FACT_ALLERGY},
    {"2.16.840.1.113883.10.20.22.2.3", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.22.2.3.1", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.1.14", CDX_FACT_RESULT},
    {"2.16.840.1.113883.3.88.11.83.122", CDX_FACT_RESULT},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.28", CDX_FACT_RESULT},
    {"2.16.840.1.113883.10.20.22.2.4", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.22.2.4.1", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.1.16", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.3.88.11.83.119", CDX_FACT_VITAL_SIGN},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.25", CDX_FACT_VITAL_SIGN},
    {"1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2", CDX_FACT_VITAL_SIGN},
    {"2.16.840.1.113883.10.20.22.2.7", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.22.2.7.1", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.1.12", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.3.88.11.83.108", CDX_FACT_PROCEDURE},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.12", CDX_FACT_PROCEDURE},
    {"2.16.840.1.113883.10.20.22.2.2", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.22.2.2.1", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.1.6", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.3.88.11.83.117", CDX_FACT_IMMUNIZATION},
    {"1.3.6.1.4.1.19376.1.5.3.1.3.23", CDX_FACT_IMMUNIZATION},
    {"2.16.840.1.113883.10.20.22.2.22", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.10.20.22.2.22.1", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.10.20.1.3", CDX_FACT_ENCOUNTER},
    {"2.16.840.1.113883.3.88.11.83.127", CDX_FACT_ENCOUNTER},
    {"1.3.6.1.4.1.19376.1.5.3.1.1.5.3.3", CDX_FACT_ENCOUNTER},
};

/* LOINC section codes, for documents (K-CDA among them) whose sections
 * carry no templateId we know. */
static const section_template_t SECTION_CODES[] = {
    {"11450-4", CDX_FACT_PROBLEM},    {"29548-5", CDX_FACT_PROBLEM}, /* K-CDA diagnoses */
    {"11535-2", CDX_FACT_PROBLEM},    {"46241-6", CDX_FACT_PROBLEM},
    {"10160-0", CDX_FACT_MEDICATION}, {"10183-2", CDX_FACT_MEDICATION},
    {"29549-3", CDX_FACT_MEDICATION}, {"42346-7", CDX_FACT_MEDICATION},
    {"75311-1", CDX_FACT_MEDICATION}, {"48765-2", CDX_FACT_ALLERGY},
    {"30954-2", CDX_FACT_RESULT},     {"26436-6", CDX_FACT_RESULT},
    {"11502-2", CDX_FACT_RESULT},     {"8716-3", CDX_FACT_VITAL_SIGN},
    {"47519-4", CDX_FACT_PROCEDURE},  {"11369-6", CDX_FACT_IMMUNIZATION},
    {"46240-8", CDX_FACT_ENCOUNTER},
};

static void classify(const xmlNode *sec, section_t *s)
{
    s->kind = CDX_FACT_KINDS;
    const xmlNode *code = first_el(sec, "code");
    s->code = attr(code, "code");
    for (const xmlNode *t = first_el(sec, "templateId"); t != NULL; t = next_el(t, "templateId")) {
        const char *root = attr(t, "root");
        for (size_t i = 0; root != NULL && i < CDX_ARRAY_SIZE(SECTION_TEMPLATES); i++) {
            if (strcmp(root, SECTION_TEMPLATES[i].root) == 0) {
                s->kind = SECTION_TEMPLATES[i].kind;
                return;
            }
        }
    }
    for (size_t i = 0; s->code != NULL && i < CDX_ARRAY_SIZE(SECTION_CODES); i++) {
        if (strcmp(s->code, SECTION_CODES[i].root) == 0) {
            s->kind = SECTION_CODES[i].kind;
            return;
        }
    }
}

void cdx_extract_anchor_sections(ctx_t *c, const xmlNode *container, int depth)
{
    for (const xmlNode *comp = first_el(container, "component"); comp != NULL && c->err == 0;
         comp = next_el(comp, "component")) {
        const xmlNode *sec = first_el(comp, "section");
        if (sec == NULL)
            continue;
        const xmlNode *text = first_el(sec, "text");
        if (text != NULL)
            cdx_extract_collect_anchors(c, text, 0);
        if (depth + 1 < MAX_SECTION_DEPTH)
            cdx_extract_anchor_sections(c, sec, depth + 1);
    }
}

/* Reads one section's entries when it is of a known kind (its own, else
 * its parent's), then its subsections. */
void cdx_extract_visit_section(ctx_t *c, const xmlNode *sec, cdx_fact_kind_t parent, int depth)
{
    section_t s;
    classify(sec, &s);
    s.title = NULL;
    /* A subsection of a known section without its own identity (a
     * results subsection per laboratory, say) belongs to its parent. */
    if (s.kind == CDX_FACT_KINDS)
        s.kind = parent;
    if (s.kind != CDX_FACT_KINDS && first_el(sec, "entry") != NULL) {
        char *path = cdx_xml_node_path(sec);
        if (path == NULL) {
            c->err = CDX_ENOMEM;
            return;
        }
        cdx_buf_reset(&c->loc);
        if (cdx_buf_puts(&c->loc, path) == CDX_ENOMEM)
            c->err = CDX_ENOMEM;
        free(path);
        s.title = cdx_extract_text_of(c, first_el(sec, "title"));
        read_section(c, sec, &s);
        free(s.title);
        s.title = NULL;
    }
    if (first_el(sec, "component") == NULL)
        return;
    if (depth + 1 >= MAX_SECTION_DEPTH) {
        if (c->d != NULL) {
            char *path = cdx_xml_node_path(sec);
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-DEPTH", path,
                         "sections nested deeper than %d levels were not read", MAX_SECTION_DEPTH);
            free(path);
        }
        return;
    }
    cdx_extract_walk_sections(c, sec, s.kind, depth + 1);
}

void cdx_extract_walk_sections(ctx_t *c, const xmlNode *container, cdx_fact_kind_t parent,
                               int depth)
{
    for (const xmlNode *comp = first_el(container, "component"); comp != NULL && c->err == 0;
         comp = next_el(comp, "component")) {
        const xmlNode *sec = first_el(comp, "section");
        if (sec != NULL)
            cdx_extract_visit_section(c, sec, parent, depth);
    }
}
