/* extract_header: the document header (ids, type, times, patient, author,
 * custodian, recipients, related documents) into cdx_doc_meta_t. */
#include "extract_internal.h"

/* Appends a zeroed element to *arr (n elements of size) and returns it. */
static void *grow(ctx_t *c, void *arr_p, size_t *n, size_t size)
{
    void **arr = arr_p;
    char *grown = realloc(*arr, (*n + 1) * size);
    if (grown == NULL) {
        c->err = CDX_ENOMEM;
        return NULL;
    }
    *arr = grown;
    memset(grown + *n * size, 0, size);
    return grown + (*n)++ * size;
}

static void read_id(ctx_t *c, const xmlNode *el, cdx_extract_id_t *id)
{
    if (el == NULL)
        return;
    set(c, &id->root, attr(el, "root"));
    set(c, &id->extension, attr(el, "extension"));
    set(c, &id->authority, attr(el, "assigningAuthorityName"));
}

static char *id_display(ctx_t *c, const cdx_extract_id_t *id)
{
    if (id->root != NULL && id->extension != NULL)
        return cdx_extract_printf_dup(c, "%s^%s", id->root, id->extension);
    if (id->root != NULL)
        return dup(c, id->root);
    if (id->extension != NULL)
        return cdx_extract_printf_dup(c, "^%s", id->extension);
    return NULL;
}

static void read_cd(ctx_t *c, const xmlNode *el, cdx_extract_code_t *cd)
{
    if (el == NULL)
        return;
    set(c, &cd->code, attr(el, "code"));
    set(c, &cd->system, attr(el, "codeSystem"));
    set(c, &cd->display, attr(el, "displayName"));
    if (cd->display == NULL)
        cd->display = cdx_extract_resolve_text(c, first_el(el, "originalText"));
}

static void read_time(ctx_t *c, const xmlNode *el, cdx_extract_time_t *t)
{
    const char *raw = attr(el, "value");
    if (raw == NULL)
        return;
    t->raw = dup(c, raw);
    char iso[48];
    if (cdx_ts_parse(raw, iso, sizeof iso, &t->precision) == 0) {
        t->iso = dup(c, iso);
    } else if (c->d != NULL) {
        /* The value is a date, not patient-identifying on its own, but
         * it is still left out of the message: the location is enough. */
        char *path = cdx_xml_node_path(el);
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-TS", path,
                     "the timestamp is not an HL7 TS (YYYYMMDDHHMMSS.UUUU+ZZZZ); it is kept "
                     "as written but has no normalized form");
        free(path);
    }
}

/* A person or organization name: its parts in document order, separated
 * by spaces, or its text when it has no parts. */
static char *name_text(ctx_t *c, const xmlNode *name)
{
    if (name == NULL)
        return NULL;
    textacc_t t;
    cdx_buf_init(&t.b, MAX_TEXT_BYTES);
    t.space = false;
    for (const xmlNode *ch = name->children; ch != NULL; ch = ch->next) {
        if ((ch->type == XML_TEXT_NODE || ch->type == XML_CDATA_SECTION_NODE) && ch->content) {
            cdx_extract_acc_words(&t, (const char *)ch->content);
        } else if (ch->type == XML_ELEMENT_NODE && !is_el(ch, "validTime")) {
            t.space = true;
            cdx_extract_acc_node(&t, ch, 0);
            t.space = true;
        }
    }
    if (t.b.len == 0) {
        cdx_buf_cleanup(&t.b);
        return NULL;
    }
    char *s = cdx_buf_steal(&t.b, NULL);
    if (s == NULL)
        c->err = CDX_ENOMEM;
    return s;
}

static void read_patient(ctx_t *c, const xmlNode *role)
{
    cdx_doc_meta_t *m = &c->out->meta;
    const xmlNode *addr = first_el(role, "addr");
    m->patient_street = cdx_extract_text_of(c, first_el(addr, "streetAddressLine"));
    m->patient_city = cdx_extract_text_of(c, first_el(addr, "city"));
    m->patient_state = cdx_extract_text_of(c, first_el(addr, "state"));
    m->patient_postal_code = cdx_extract_text_of(c, first_el(addr, "postalCode"));
    m->patient_country = cdx_extract_text_of(c, first_el(addr, "country"));
    for (const xmlNode *t = first_el(role, "telecom"); t != NULL; t = next_el(t, "telecom")) {
        const char *v = attr(t, "value");
        if (v != NULL && (v[0] | 0x20) == 't' && (v[1] | 0x20) == 'e' && (v[2] | 0x20) == 'l' &&
            v[3] == ':') {
            set(c, &m->patient_phone, v);
            break;
        }
    }
    const xmlNode *p = first_el(role, "patient");
    const xmlNode *name = first_el(p, "name");
    m->patient_name = name_text(c, name);
    m->patient_family = cdx_extract_text_of(c, first_el(name, "family"));
    for (const xmlNode *g = first_el(name, "given"); g != NULL; g = next_el(g, "given")) {
        char *s = cdx_extract_text_of(c, g);
        if (s == NULL)
            continue;
        char **slot = grow(c, &m->patient_given, &m->npatient_given, sizeof *slot);
        if (slot == NULL) {
            free(s);
            return;
        }
        *slot = s;
    }
    read_time(c, first_el(p, "birthTime"), &m->patient_birth_time);
    read_cd(c, first_el(p, "administrativeGenderCode"), &m->patient_gender);
    /* raceCode first, then the sdtc extension's additional races. */
    for (const xmlNode *ch = p ? p->children : NULL; ch != NULL; ch = ch->next) {
        bool race = is_el(ch, "raceCode") || is_el_ns(ch, "raceCode", NS_SDTC);
        bool eth = is_el(ch, "ethnicGroupCode") || is_el_ns(ch, "ethnicGroupCode", NS_SDTC);
        if ((!race && !eth) || (attr(ch, "code") == NULL && first_el(ch, "originalText") == NULL))
            continue;
        cdx_extract_code_t *cd =
            race ? grow(c, &m->patient_race, &m->npatient_race, sizeof *cd)
                 : grow(c, &m->patient_ethnicity, &m->npatient_ethnicity, sizeof *cd);
        if (cd == NULL)
            return;
        read_cd(c, ch, cd);
    }
}

/* The document's own identity: template ids, id, type, title, time,
 * confidentiality, language, set and version.  Returns -1 when an array
 * could not grow (c->err says so). */
static int read_identity(ctx_t *c, const xmlNode *root)
{
    cdx_doc_meta_t *m = &c->out->meta;
    set(c, &m->realm_code, attr(first_el(root, "realmCode"), "code"));
    for (const xmlNode *t = first_el(root, "templateId"); t != NULL; t = next_el(t, "templateId")) {
        cdx_extract_id_t *id = grow(c, &m->template_ids, &m->ntemplate_ids, sizeof *id);
        if (id == NULL)
            return -1;
        read_id(c, t, id);
    }
    read_id(c, first_el(root, "id"), &m->id);
    m->unique_id = id_display(c, &m->id);
    if (m->unique_id == NULL && c->d != NULL)
        cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-ID", "/ClinicalDocument/id",
                     "the document has no id, so it has no uniqueId; give it id/@root "
                     "(and @extension)");
    read_cd(c, first_el(root, "code"), &m->type);
    m->title = cdx_extract_text_of(c, first_el(root, "title"));
    read_time(c, first_el(root, "effectiveTime"), &m->creation_time);
    read_cd(c, first_el(root, "confidentialityCode"), &m->confidentiality);
    set(c, &m->language_code, attr(first_el(root, "languageCode"), "code"));
    read_id(c, first_el(root, "setId"), &m->set_id);
    const xmlNode *vn = first_el(root, "versionNumber");
    const char *vs = attr(vn, "value");
    if (vs != NULL) {
        char *end = NULL;
        long v = strtol(vs, &end, 10);
        if (end != vs && *end == 0 && v >= 0 && v <= 1000000)
            m->version_number = (int)v;
        else if (c->d != NULL)
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-VERSION",
                         "/ClinicalDocument/versionNumber",
                         "versionNumber/@value is not a non-negative integer; 1 is assumed");
    }
    return 0;
}

/* The patients' ids (every recordTarget) and the first patient's details.
 * Returns -1 when an array could not grow. */
static int read_record_targets(ctx_t *c, const xmlNode *root)
{
    cdx_doc_meta_t *m = &c->out->meta;
    for (const xmlNode *rt = first_el(root, "recordTarget"); rt != NULL;
         rt = next_el(rt, "recordTarget")) {
        const xmlNode *role = first_el(rt, "patientRole");
        for (const xmlNode *id = first_el(role, "id"); id != NULL; id = next_el(id, "id")) {
            if (attr(id, "root") == NULL && attr(id, "extension") == NULL)
                continue;
            cdx_extract_id_t *pid = grow(c, &m->patient_ids, &m->npatient_ids, sizeof *pid);
            if (pid == NULL)
                return -1;
            read_id(c, id, pid);
        }
        if (rt == first_el(root, "recordTarget"))
            read_patient(c, role);
    }
    return 0;
}

/* Author institution, custodian and intended recipients.  Returns -1 when
 * an array could not grow. */
static int read_organizations(ctx_t *c, const xmlNode *root)
{
    cdx_doc_meta_t *m = &c->out->meta;
    /* The first author that names an organization: device authors often
     * come first and name none. */
    const xmlNode *first_author = first_el(root, "author");
    read_time(c, first_el(first_author, "time"), &m->author_time);
    for (const xmlNode *a = first_author; a != NULL; a = next_el(a, "author")) {
        const xmlNode *org = get(a, "assignedAuthor", "representedOrganization", NULL);
        if (org == NULL)
            continue;
        read_id(c, first_el(org, "id"), &m->author_institution_id);
        m->author_institution_name = cdx_extract_text_of(c, first_el(org, "name"));
        break;
    }
    const xmlNode *cust =
        get(root, "custodian", "assignedCustodian", "representedCustodianOrganization", NULL);
    read_id(c, first_el(cust, "id"), &m->custodian_id);
    m->custodian_name = cdx_extract_text_of(c, first_el(cust, "name"));

    for (const xmlNode *ir = first_el(root, "informationRecipient"); ir != NULL;
         ir = next_el(ir, "informationRecipient")) {
        const xmlNode *ie = first_el(ir, "intendedRecipient");
        if (ie == NULL)
            continue;
        cdx_extract_recipient_t *rc = grow(c, &m->recipients, &m->nrecipients, sizeof *rc);
        if (rc == NULL)
            return -1;
        rc->person_name = name_text(c, get(ie, "informationRecipient", "name", NULL));
        const xmlNode *org = first_el(ie, "receivedOrganization");
        read_id(c, first_el(org, "id"), &rc->org_id);
        rc->org_name = cdx_extract_text_of(c, first_el(org, "name"));
    }
    return 0;
}

void cdx_extract_read_meta(ctx_t *c, const xmlNode *root)
{
    cdx_doc_meta_t *m = &c->out->meta;
    m->version_number = 1;
    if (read_identity(c, root) != 0 || read_record_targets(c, root) != 0 ||
        read_organizations(c, root) != 0)
        return;

    read_time(c, get(root, "legalAuthenticator", "time", NULL), &m->legal_authenticator_time);

    for (const xmlNode *doc = first_el(root, "documentationOf"); doc != NULL;
         doc = next_el(doc, "documentationOf")) {
        const xmlNode *et = get(doc, "serviceEvent", "effectiveTime", NULL);
        if (et == NULL)
            continue;
        const xmlNode *lo = first_el(et, "low");
        read_time(c, lo ? lo : et, &m->service_start);
        read_time(c, first_el(et, "high"), &m->service_stop);
        break;
    }

    for (const xmlNode *rd = first_el(root, "relatedDocument"); rd != NULL;
         rd = next_el(rd, "relatedDocument")) {
        cdx_extract_related_t *rel = grow(c, &m->related, &m->nrelated, sizeof *rel);
        if (rel == NULL)
            return;
        rel->type_code = dup(c, attr(rd, "typeCode"));
        read_id(c, get(rd, "parentDocument", "id", NULL), &rel->id);
        if (m->replaces_id == NULL && attr_is(rd, "typeCode", "RPLC"))
            m->replaces_id = id_display(c, &rel->id);
    }
}
