/* extract_facts: one fact from one clinical statement: the output list, the
 * location, and the fields every kind fills the same way (code, value,
 * time, status, reference range). */
#include "extract_internal.h"

void cdx_extract_fact_free(cdx_fact_t *f)
{
    char **strs[] = {&f->section_code, &f->section_title, &f->location,      &f->code_system,
                     &f->code,         &f->display_name,  &f->original_text, &f->null_flavor,
                     &f->value_type,   &f->value,         &f->unit,          &f->unit_original,
                     &f->ref_low,      &f->ref_high,      &f->ref_text,      &f->interpretation,
                     &f->time_low,     &f->time_high,     &f->status,        &f->extras};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(strs); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    json_decref((json_t *)f->extras_obj);
    f->extras_obj = NULL;
}

void cdx_extract_fact_init(ctx_t *c, cdx_fact_t *f, cdx_fact_kind_t kind, const section_t *s)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->section = s->kind;
    f->section_code = dup(c, s->code);
    f->section_title = dup(c, s->title);
    f->location = dup(c, c->loc.data);
}

/* Moves f (and ex, serialized) into the output; f is left empty. */
void cdx_extract_fact_push(ctx_t *c, cdx_fact_t *f, json_t *ex)
{
    if (ex != NULL) {
        f->extras_obj = ex; /* kept for cdx_extract_facts_json */
        if (!c->lean && (f->extras = json_dumps(ex, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
            c->err = CDX_ENOMEM;
    } else if (!c->lean && (f->extras = dup(c, "{}")) == NULL) {
        c->err = CDX_ENOMEM;
    }
    cdx_extract_t *x = c->out;
    if (c->err == 0 && x->nfacts >= MAX_FACTS) {
        if (!c->limit_reported && c->d != NULL)
            cdx_diag_add(c->d, CDX_SEV_WARNING, "EXTRACT-LIMIT", c->loc.data,
                         "more than %d clinical statements; the rest were not extracted",
                         MAX_FACTS);
        c->limit_reported = true;
        cdx_extract_fact_free(f);
        return;
    }
    if (c->err == 0 && cdx_grow(&x->facts, &c->cap, x->nfacts + 1, sizeof *x->facts, 32) != 0)
        c->err = CDX_ENOMEM;
    if (c->err != 0) {
        cdx_extract_fact_free(f);
        return;
    }
    x->facts[x->nfacts++] = *f;
    memset(f, 0, sizeof *f);
}

/* Pushes "/name[i]" onto the location and returns the length to restore.
 * The step is put together here and appended whole (as a printf into the
 * buffer would be), without a printf per statement. */
size_t cdx_extract_loc_push(ctx_t *c, const xmlNode *n, size_t index)
{
    size_t mark = c->loc.len;
    const char *name = (const char *)n->name;
    size_t len = strlen(name);
    char step[128];
    int rc;
    if (len + 24 <= sizeof step) {
        char digits[24];
        size_t nd = 0, at = 0;
        step[at++] = '/';
        memcpy(step + at, name, len);
        at += len;
        if (index > 0) {
            for (size_t v = index; v > 0; v /= 10)
                digits[nd++] = (char)('0' + v % 10);
            step[at++] = '[';
            while (nd > 0)
                step[at++] = digits[--nd];
            step[at++] = ']';
        }
        rc = cdx_buf_append(&c->loc, step, at);
    } else {
        rc = index > 0 ? cdx_buf_printf(&c->loc, "/%s[%zu]", name, index)
                       : cdx_buf_printf(&c->loc, "/%s", name);
    }
    if (rc == CDX_ENOMEM)
        c->err = rc;
    return mark;
}

void cdx_extract_loc_pop(ctx_t *c, size_t mark)
{
    if (c->loc.data != NULL && mark <= c->loc.len) {
        c->loc.len = mark;
        c->loc.data[mark] = 0;
    }
}

/* Reads code, codeSystem, display name (displayName, else originalText,
 * else the first translation's displayName) and translations. */
void cdx_extract_fill_code(ctx_t *c, cdx_fact_t *f, const xmlNode *el, json_t *ex)
{
    if (el == NULL)
        return;
    set(c, &f->code, attr(el, "code"));
    set(c, &f->code_system, attr(el, "codeSystem"));
    set(c, &f->null_flavor, attr(el, "nullFlavor"));
    take(&f->original_text, cdx_extract_resolve_text(c, first_el(el, "originalText")));
    set(c, &f->display_name, attr(el, "displayName"));
    set(c, &f->display_name, f->original_text);
    json_t *a = jarr(c);
    for (const xmlNode *t = first_el(el, "translation"); t != NULL; t = next_el(t, "translation")) {
        set(c, &f->display_name, attr(t, "displayName"));
        jappend(c, a, cdx_extract_code_json(c, t, false));
    }
    a = jnonempty(a);
    if (a != NULL && ex != NULL && json_object_get(ex, "translations") == NULL)
        jput(c, ex, "translations", a);
    else
        json_decref(a);
}

/* "low-high unit", ">=low unit", "<=high unit" for an interval of PQ. */
static char *ivl_text(ctx_t *c, const char *lo, const char *hi, const char *unit)
{
    const char *u = unit ? unit : "";
    const char *sp = unit ? " " : "";
    if (lo && hi)
        return cdx_extract_printf_dup(c, "%s-%s%s%s", lo, hi, sp, u);
    if (lo)
        return cdx_extract_printf_dup(c, ">=%s%s%s", lo, sp, u);
    if (hi)
        return cdx_extract_printf_dup(c, "<=%s%s%s", hi, sp, u);
    return NULL;
}

static bool parse_number(const char *s, double *out)
{
    if (s == NULL)
        return false;
    char *end = NULL;
    double v = strtod(s, &end);
    while (end != NULL && is_ws(*end))
        end++;
    if (end == s || end == NULL || *end != 0)
        return false;
    *out = v;
    return true;
}

/* The unit a normalization rewrote, kept in a PQ translation (PQR) whose
 * codeSystemName is "unit as sent" and whose code is the original
 * spelling; NULL when there is none. */
static const char *unit_as_sent(const xmlNode *v)
{
    for (const xmlNode *t = first_el(v, "translation"); t != NULL; t = next_el(t, "translation"))
        if (attr_is(t, "codeSystemName", "unit as sent") && attr(t, "code") != NULL)
            return attr(t, "code");
    return NULL;
}

/* The observation's value in text form, by xsi:type (guessed from the
 * attributes when a vendor left it out). */
void cdx_extract_fill_value(ctx_t *c, cdx_fact_t *f, const xmlNode *v, json_t *ex)
{
    if (v == NULL)
        return;
    const char *type = xsi_type(v);
    if (type == NULL) {
        if (attr(v, "code") != NULL || attr(v, "codeSystem") != NULL)
            type = "CD";
        else if (attr(v, "unit") != NULL)
            type = "PQ";
        else if (first_el(v, "low") != NULL || first_el(v, "high") != NULL)
            type = "IVL_PQ";
        else if (attr(v, "value") != NULL)
            type = "REAL";
        else
            type = "ST";
    }
    set(c, &f->value_type, type);
    const char *nf = attr(v, "nullFlavor");
    if (nf != NULL)
        jstr(c, ex, "valueNullFlavor", nf);
    if (strcmp(type, "PQ") == 0 || strcmp(type, "INT") == 0 || strcmp(type, "REAL") == 0 ||
        strcmp(type, "MO") == 0) {
        const char *val = attr(v, "value");
        const char *unit = attr(v, strcmp(type, "MO") == 0 ? "currency" : "unit");
        if (val != NULL) {
            f->has_number = parse_number(val, &f->number);
            take(&f->value, unit ? cdx_extract_printf_dup(c, "%s %s", val, unit) : dup(c, val));
        }
        set(c, &f->unit, unit);
        set(c, &f->unit_original, unit_as_sent(v));
        set(c, &f->unit_original, unit);
    } else if (strncmp(type, "IVL_", 4) == 0) {
        const xmlNode *lo = first_el(v, "low"), *hi = first_el(v, "high");
        const char *unit = attr(lo, "unit") ? attr(lo, "unit") : attr(hi, "unit");
        take(&f->value, ivl_text(c, attr(lo, "value"), attr(hi, "value"), unit));
        set(c, &f->unit, unit);
    } else if (strcmp(type, "CD") == 0 || strcmp(type, "CE") == 0 || strcmp(type, "CO") == 0 ||
               strcmp(type, "CV") == 0 || strcmp(type, "CS") == 0) {
        jput(c, ex, "valueCode", cdx_extract_code_json(c, v, true));
        set(c, &f->value, attr(v, "displayName"));
        take(&f->value, cdx_extract_resolve_text(c, first_el(v, "originalText")));
        set(c, &f->value, attr(v, "code"));
    } else if (strncmp(type, "RTO", 3) == 0) {
        const xmlNode *num = first_el(v, "numerator"), *den = first_el(v, "denominator");
        const char *n1 = attr(num, "value"), *d1 = attr(den, "value");
        if (n1 != NULL && d1 != NULL)
            take(&f->value, cdx_extract_printf_dup(c, "%s/%s", n1, d1));
    } else if (strcmp(type, "BL") == 0 || strcmp(type, "TS") == 0) {
        set(c, &f->value, attr(v, "value"));
    } else {
        /* ST, ED, SC and anything unforeseen: the text, else a value. */
        take(&f->value, cdx_extract_resolve_text(c, v));
        set(c, &f->value, attr(v, "value"));
    }
}

/* The first effectiveTime that is an instant or interval (periodic ones
 * describe frequency and are read by the medication reader). */
void cdx_extract_fill_time(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt)
{
    for (const xmlNode *t = first_el(stmt, "effectiveTime"); t != NULL;
         t = next_el(t, "effectiveTime")) {
        const char *type = xsi_type(t);
        if (type != NULL && (strstr(type, "PIVL") || strstr(type, "EIVL") || strstr(type, "SXPR")))
            continue;
        if (attr(t, "value") != NULL) {
            set(c, &f->time_low, attr(t, "value"));
        } else {
            set(c, &f->time_low, attr(first_el(t, "low"), "value"));
            set(c, &f->time_high, attr(first_el(t, "high"), "value"));
            set(c, &f->time_low, attr(first_el(t, "center"), "value"));
        }
        return;
    }
}

static const char *const STATUS_TEMPLATES[] = {
    "2.16.840.1.113883.10.20.22.4.6",  /* C-CDA Problem Status */
    "2.16.840.1.113883.10.20.22.4.28", /* C-CDA Allergy Status */
    "2.16.840.1.113883.10.20.1.50",    /* CCD Problem Status */
    "2.16.840.1.113883.10.20.1.39",    /* CCD Alert Status */
    "2.16.840.1.113883.10.20.1.47",    /* CCD Medication Status */
    "2.16.840.1.113883.10.20.22.4.1.1" /* unofficial vendor variant */
};

bool cdx_extract_is_status_obs(const xmlNode *obs)
{
    return has_template(obs, STATUS_TEMPLATES, CDX_ARRAY_SIZE(STATUS_TEMPLATES)) ||
           attr_is(first_el(obs, "code"), "code", "33999-4");
}

/* The value of a status observation under stmt, or NULL. */
const xmlNode *cdx_extract_status_value(const xmlNode *stmt)
{
    for (const xmlNode *er = first_el(stmt, "entryRelationship"); er != NULL;
         er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs != NULL && cdx_extract_is_status_obs(obs))
            return first_el(obs, "value");
    }
    return NULL;
}

static void fill_status(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt)
{
    const xmlNode *sv = cdx_extract_status_value(stmt);
    if (sv != NULL) {
        set(c, &f->status, attr(sv, "displayName"));
        take(&f->status, cdx_extract_resolve_text(c, first_el(sv, "originalText")));
        set(c, &f->status, attr(sv, "code"));
    }
    set(c, &f->status, attr(first_el(stmt, "statusCode"), "code"));
}

void cdx_extract_fill_common(ctx_t *c, cdx_fact_t *f, const xmlNode *stmt, json_t *ex)
{
    cdx_extract_fill_time(c, f, stmt);
    fill_status(c, f, stmt);
    f->negated = attr_is(stmt, "negationInd", "true");
    jstr(c, ex, "moodCode", attr(stmt, "moodCode"));
    /* The statement's own narrative reference as the last resort name. */
    take(&f->display_name, cdx_extract_resolve_text(c, first_el(stmt, "text")));
}

void cdx_extract_fill_range(ctx_t *c, cdx_fact_t *f, const xmlNode *obs, json_t *ex)
{
    const xmlNode * or = get(obs, "referenceRange", "observationRange", NULL);
    if (or == NULL)
        return;
    const xmlNode *v = first_el(or, "value");
    if (v != NULL) {
        const xmlNode *lo = first_el(v, "low"), *hi = first_el(v, "high");
        set(c, &f->ref_low, attr(lo, "value"));
        set(c, &f->ref_high, attr(hi, "value"));
        const char *unit = attr(lo, "unit") ? attr(lo, "unit") : attr(hi, "unit");
        jstr(c, ex, "referenceRangeUnit", unit);
        /* A coded or text range (e.g. "negative") has no bounds. */
        if (lo == NULL && hi == NULL) {
            set(c, &f->ref_text, attr(v, "displayName"));
            take(&f->ref_text, cdx_extract_text_of(c, v));
        }
    }
    take(&f->ref_text, cdx_extract_resolve_text(c, first_el(or, "text")));
}

const xmlNode *cdx_extract_entry_rel_obs_with(const xmlNode *stmt, const char *const *roots,
                                              size_t nroots, const char *code, const xmlNode *after)
{
    const xmlNode *er =
        after ? next_el(after->parent, "entryRelationship") : first_el(stmt, "entryRelationship");
    for (; er != NULL; er = next_el(er, "entryRelationship")) {
        const xmlNode *obs = first_el(er, "observation");
        if (obs == NULL)
            continue;
        if (has_template(obs, roots, nroots) ||
            (code != NULL && attr_is(first_el(obs, "code"), "code", code)))
            return obs;
    }
    return NULL;
}
