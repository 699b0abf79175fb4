/* ingest: the document pipeline (see include/cdx/domain/ingest.h). */
#include "cdx/domain/ingest.h"
#include "ingest_internal.h"
#include "cdx/domain/audit_events.h"
#include "cdx/base/common.h"
#include "cdx/domain/facts.h"
#include "cdx/domain/referral.h"
#include "cdx/domain/subscription.h"
#include "cdx/store/outbox.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/ids.h"
#include "cdx/base/log.h"
#include "cdx/parsers/normalize.h"
#include "cdx/parsers/validate.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#include <jansson.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

struct cdx_pipeline {
    cdx_validator_t *validator;
    cdx_mappings_t *mappings;
    cdx_xml_limits_t xml_limits;
    cdx_national_t national;
    cdx_match_thresholds_t thresholds;
    cdx_consent_policies_t consent_policies;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof md);
    cdx_hex(md, 32, out);
}

int cdx_pipeline_new(const cdx_pipeline_options_t *opt, cdx_pipeline_t **out, char *err,
                     size_t errlen)
{
    cdx_xml_global_init();
    cdx_xslt_global_init();
    cdx_pipeline_t *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return CDX_ENOMEM;
    pl->xml_limits = opt->xml_limits.max_nodes > 0 ? opt->xml_limits : cdx_xml_default_limits;
    if (opt->national != NULL)
        pl->national = *opt->national;
    pl->thresholds = opt->match != NULL ? *opt->match : cdx_match_default_thresholds;
    if (opt->consent_policies != NULL)
        pl->consent_policies = *opt->consent_policies;
    char profiles[4096];
    snprintf(profiles, sizeof profiles, "%s/profiles", opt->mappings_dir);
    const char *xsd = opt->xsd_path != NULL && opt->xsd_path[0] != '\0' ? opt->xsd_path : NULL;
    int rc = cdx_validator_new(profiles, xsd, &pl->validator, err, errlen);
    if (rc == 0)
        rc = cdx_mappings_load(opt->mappings_dir, &pl->mappings, err, errlen);
    if (rc != 0) {
        cdx_pipeline_free(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

void cdx_pipeline_free(cdx_pipeline_t *pl)
{
    if (pl == NULL)
        return;
    cdx_validator_free(pl->validator);
    cdx_mappings_free(pl->mappings);
    free(pl);
}

const cdx_national_t *cdx_pipeline_national(const cdx_pipeline_t *pl)
{
    return &pl->national;
}

const char *cdx_pipeline_mapping_version(const cdx_pipeline_t *pl, const char *submitter_oid)
{
    return cdx_mappings_version_for(pl->mappings, submitter_oid);
}

/* The header fields' texts go into one block (out->strings), so that
 * the loop frees them with one free(): a pass that counts, then one that
 * copies (at is NULL while counting). */
typedef struct texts {
    char *at;
    size_t need;
} texts_t;

/* A copy of a, or of "a^b" when b is not empty (an id the way the
 * registry keys it); NULL when a is NULL or while counting. */
static char *keep(texts_t *t, const char *a, const char *b)
{
    if (a == NULL)
        return NULL;
    size_t na = strlen(a), nb = b != NULL ? strlen(b) : 0;
    t->need += na + (nb > 0 ? nb + 1 : 0) + 1;
    if (t->at == NULL)
        return NULL;
    char *r = t->at;
    memcpy(t->at, a, na);
    t->at += na;
    if (nb > 0) {
        *t->at++ = '^';
        memcpy(t->at, b, nb);
        t->at += nb;
    }
    *t->at++ = '\0';
    return r;
}

/* Whether an organization id names oid: the OID itself in @root, or an
 * arc in @root with the rest in @extension (1.2.410.100110.10 +
 * 31100813). */
static int id_names(const cdx_extract_id_t *id, const char *oid)
{
    if (id->root == NULL || oid == NULL || oid[0] == '\0')
        return 0;
    if (strcmp(id->root, oid) == 0)
        return 1;
    size_t n = strlen(id->root);
    return id->extension != NULL && strncmp(oid, id->root, n) == 0 && oid[n] == '.' &&
           strcmp(oid + n + 1, id->extension) == 0;
}

/* The canonical patient id is the first whose root is not national (a
 * national id is stored only as its hash, which says nothing to a
 * reader), else the first. */
static const cdx_extract_id_t *canonical_id(const cdx_doc_meta_t *m, const cdx_national_t *nat)
{
    const cdx_extract_id_t *canonical = NULL;
    for (size_t i = 0; i < m->npatient_ids; i++) {
        const cdx_extract_id_t *id = &m->patient_ids[i];
        if (id->root == NULL)
            continue;
        if (canonical == NULL ||
            (cdx_national_is_root(nat, canonical->root) && !cdx_national_is_root(nat, id->root)))
            canonical = id;
    }
    return canonical;
}

static void fill_texts(cdx_ingest_t *out, const cdx_doc_meta_t *m,
                       const cdx_extract_id_t *canonical, texts_t *t)
{
    out->unique_id = keep(t, m->id.root, m->id.extension);
    out->set_id = keep(t, m->set_id.root, m->set_id.extension);
    out->replaces = keep(t, m->replaces_id, NULL);
    out->custodian_oid = keep(t, m->custodian_id.root, NULL);
    out->custodian_name = keep(t, m->custodian_name, NULL);
    out->author_oid = keep(t, m->author_institution_id.root, NULL);
    out->type_code = keep(t, m->type.code, NULL);
    out->type_system = keep(t, m->type.system, NULL);
    out->title = keep(t, m->title, NULL);
    out->creation_time = keep(t, m->creation_time.iso, NULL);
    out->service_start = keep(t, m->service_start.iso, NULL);
    out->service_stop = keep(t, m->service_stop.iso, NULL);
    out->confidentiality = keep(t, m->confidentiality.code, NULL);
    out->language = keep(t, m->language_code, NULL);
    if (canonical != NULL) {
        out->patient_root = keep(t, canonical->root, NULL);
        out->patient_ext = keep(t, canonical->extension ? canonical->extension : "", NULL);
    }
    for (size_t i = 0; i < out->npatient_ids; i++) {
        out->patient_ids[2 * i] = keep(t, m->patient_ids[i].root, NULL);
        out->patient_ids[2 * i + 1] = keep(t, m->patient_ids[i].extension, NULL);
    }
}

static int fill_fields(cdx_ingest_t *out, const cdx_extract_t *ex, const cdx_national_t *nat)
{
    const cdx_doc_meta_t *m = &ex->meta;
    out->version = m->version_number > 0 ? m->version_number : 1;
    if (m->npatient_ids > 0) {
        out->patient_ids = calloc(2 * m->npatient_ids, sizeof *out->patient_ids);
        out->patient_national = calloc(m->npatient_ids, 1);
        if (out->patient_ids == NULL || out->patient_national == NULL)
            return CDX_ENOMEM;
        out->npatient_ids = m->npatient_ids;
        for (size_t i = 0; i < m->npatient_ids; i++)
            out->patient_national[i] =
                (unsigned char)cdx_national_is_root(nat, m->patient_ids[i].root);
    }
    const cdx_extract_id_t *canonical = canonical_id(m, nat);
    texts_t t = {0};
    fill_texts(out, m, canonical, &t);
    if ((out->strings = malloc(t.need + 1)) == NULL)
        return CDX_ENOMEM;
    t.at = out->strings;
    fill_texts(out, m, canonical, &t);
    out->nfacts = ex->nfacts;
    for (size_t i = 0; i < ex->nfacts; i++)
        if ((unsigned)ex->facts[i].kind < CDX_ARRAY_SIZE(out->facts_by_kind))
            out->facts_by_kind[ex->facts[i].kind]++;
    return 0;
}

/* Who a document is checked against: the institution of a client
 * certificate (sub), or, for documents without one (owned), the
 * institution it is filed under, found through lookup.  NULL: no identity
 * checks (reindex). */
typedef struct identity {
    const cdx_submitter_t *sub;
    const cdx_owner_lookup_t *lookup;
    int owned;
} identity_t;

/* Whether an id root is one the institution may number documents under:
 * a UUID (unique by construction), its own OID or one under it, or one of
 * its registered id roots or an OID under one. */
static int root_belongs(const char *root, const cdx_submitter_t *owner)
{
    if (cdx_uuid_is_valid(root) || cdx_oid_is_at_or_under(root, owner->oid))
        return 1;
    for (size_t i = 0; i < owner->nid_roots; i++)
        if (cdx_oid_is_at_or_under(root, owner->id_roots[i]))
            return 1;
    return 0;
}

/* Refuses a document whose id or setId root is another institution's
 * numbering: storing it would squat that id, and the owner's real document
 * would then get 409 forever. */
static void check_id_roots(const cdx_doc_meta_t *m, const cdx_submitter_t *owner, cdx_diag_t *d)
{
    const struct {
        const cdx_extract_id_t *id;
        const char *where, *what;
    } ids[] = {{&m->id, "/ClinicalDocument/id", "id"},
               {&m->set_id, "/ClinicalDocument/setId", "setId"}};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(ids); i++) {
        const char *root = ids[i].id->root;
        if (root == NULL || root_belongs(root, owner))
            continue;
        cdx_diag_add(d, CDX_SEV_ERROR, "GW-DOCID", ids[i].where,
                     "the %s root %s is not in the numbering of institution %s: use its OID or "
                     "an OID under it, a UUID, or an id_root registered for it",
                     ids[i].what, root, owner->oid);
        cdx_diag_reject(d, 403, "DOCUMENT_ID_FOREIGN",
                        "the document's %s root belongs to another institution's numbering",
                        ids[i].what);
    }
}

/* Owned mode: the institution the document is filed under (its
 * custodian, or its author organization where that institution's policy
 * allows), with what lookup knows of it.  Returns 0, or 1 after rejecting
 * the document. */
static int find_owner(const cdx_doc_meta_t *m, const cdx_owner_lookup_t *lookup,
                      cdx_submitter_t *owner, cdx_diag_t *d)
{
    const char *custodian = m->custodian_id.root;
    const char *author = m->author_institution_id.root;
    memset(owner, 0, sizeof *owner);
    if (custodian != NULL && custodian[0] != '\0') {
        if (lookup == NULL || !lookup->find(lookup->arg, custodian, owner))
            memset(owner, 0, sizeof *owner); /* unknown: no policy, no id roots */
        owner->oid = custodian;
        return 0;
    }
    if (author != NULL && author[0] != '\0' && lookup != NULL &&
        lookup->find(lookup->arg, author, owner) && (owner->policy & CDX_POLICY_AUTHOR_OK)) {
        owner->oid = author;
        return 0;
    }
    memset(owner, 0, sizeof *owner);
    cdx_diag_add(d, CDX_SEV_ERROR, "GW-CUSTODIAN",
                 "/ClinicalDocument/custodian/assignedCustodian/"
                 "representedCustodianOrganization/id",
                 "the custodian organization has no id (no @root, e.g. nullFlavor=\"NI\"), so "
                 "the document has no institution to be filed under: give the custodian its "
                 "OID, or register the author organization with identity_policy = "
                 "custodian_or_author");
    cdx_diag_reject(d, 422, "CUSTODIAN_NO_ID",
                    "the document's custodian organization has no id, and no registered author "
                    "organization may stand in for it");
    return 1;
}

/* The gateway's own policy, on the canonical header. */
static void check_policy(const cdx_extract_t *ex, const identity_t *who, cdx_ingest_t *out)
{
    cdx_diag_t *d = &out->diag;
    const cdx_doc_meta_t *m = &ex->meta;
    if (out->patient_root == NULL) {
        cdx_diag_add(d, CDX_SEV_ERROR, "GW-PATIENT", "/ClinicalDocument/recordTarget",
                     "no usable patient id: recordTarget/patientRole/id needs @root (the "
                     "assigning authority's OID) and @extension");
        cdx_diag_reject(d, 422, "CDA_REQUIRED_FIELD", "the document has no usable patient id");
    } else if (!cdx_validate_is_oid(out->patient_root) &&
               !cdx_validate_is_uuid(out->patient_root)) {
        cdx_diag_add(d, CDX_SEV_ERROR, "GW-PATIENT", "/ClinicalDocument/recordTarget",
                     "the patient id's @root is not an OID or UUID");
        cdx_diag_reject(d, 422, "CDA_REQUIRED_FIELD",
                        "the patient id's root is not an OID or UUID");
    }
    if (m->creation_time.iso == NULL) {
        cdx_diag_add(d, CDX_SEV_ERROR, "GW-TIME", "/ClinicalDocument/effectiveTime",
                     "effectiveTime/@value is missing or not a valid HL7 timestamp "
                     "(YYYYMMDDHHMMSS+ZZZZ)");
        cdx_diag_reject(d, 422, "CDA_REQUIRED_FIELD",
                        "the document's effectiveTime is missing or malformed");
    }
    if (who == NULL)
        return;
    if (who->owned) {
        cdx_submitter_t owner;
        if (find_owner(m, who->lookup, &owner, d) != 0)
            return;
        check_id_roots(m, &owner, d);
        out->owner_oid = strdup(owner.oid);
        return;
    }
    const cdx_submitter_t *sub = who->sub;
    if (sub == NULL || sub->oid == NULL)
        return;
    int custodian = id_names(&m->custodian_id, sub->oid);
    int author =
        (sub->policy & CDX_POLICY_AUTHOR_OK) && id_names(&m->author_institution_id, sub->oid);
    if (!custodian && !author) {
        cdx_diag_add(d, CDX_SEV_ERROR, "GW-IDENTITY",
                     "/ClinicalDocument/custodian/assignedCustodian/"
                     "representedCustodianOrganization/id",
                     "the custodian organization (%s) is not the submitting institution (%s): "
                     "an institution may only submit its own documents",
                     m->custodian_id.root ? m->custodian_id.root : "none", sub->oid);
        cdx_diag_reject(d, 403, "IDENTITY_MISMATCH",
                        "the document's custodian is not the institution of the client "
                        "certificate");
        return;
    }
    check_id_roots(m, sub, d);
    out->owner_oid = strdup(sub->oid);
}

/* The document entry's text and the fact rows.  The rows are written
 * straight from the extraction, here on a worker thread, into one block:
 * the single writer only binds them, and freeing them (on the loop, with
 * the job) is one free().  Nothing here needs the facts' text: a caller
 * that shows it joins the rows (cdx_fact_rows_join). */
static int make_json(cdx_ingest_t *out, const cdx_extract_t *ex)
{
    json_t *meta = cdx_extract_meta_json(&ex->meta);
    int rc = CDX_ENOMEM;
    if (meta == NULL)
        goto out;
    json_object_set_new(meta, "sha256", json_string(out->sha256));
    json_object_set_new(meta, "size", json_integer((json_int_t)out->size));
    json_object_set_new(meta, "normalized_sha256", json_string(out->normalized_sha256));
    if (out->mapping_version != NULL)
        json_object_set_new(meta, "mapping_version", json_string(out->mapping_version));
    out->meta_json = json_dumps(meta, JSON_COMPACT);
    if (out->meta_json != NULL)
        rc = cdx_fact_rows_from_extract(ex, &out->fact_rows, &out->nfact_rows);
out:
    json_decref(meta);
    return rc;
}

/* Normalization, extraction and the JSON, from a parsed document. */
static int transform(const cdx_pipeline_t *pl, xmlDocPtr doc, const char *submitter_oid,
                     const identity_t *who, cdx_ingest_t *out)
{
    xmlDocPtr norm = NULL;
    cdx_extract_t ex;
    int have_ex = 0;
    int rc;
    uint64_t t0 = now_us();
    rc = cdx_normalize(pl->mappings, submitter_oid, doc, &out->diag, &norm, &out->mapping_version);
    if (rc == CDX_EPARSE) {
        cdx_diag_reject(&out->diag, 422, "MAPPING_FAILED",
                        "the institution's mapping could not normalize this document; see the "
                        "issues");
        goto out;
    }
    if (rc != 0)
        goto out;
    /* National ids leave the normalized tree before anything is taken from
     * it: the stored canonical form, its hash, the metadata and the facts
     * carry only their keyed hash. */
    int scrubbed = cdx_national_scrub_tree(&pl->national, norm);
    if (scrubbed < 0) {
        rc = scrubbed;
        goto out;
    }
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpMemoryEnc(norm, &mem, &len, "UTF-8");
    if (mem == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    out->normalized = malloc((size_t)len + 1);
    if (out->normalized != NULL) {
        memcpy(out->normalized, mem, (size_t)len);
        out->normalized[len] = '\0';
        out->normalized_len = (size_t)len;
    }
    xmlFree(mem);
    if (out->normalized == NULL) {
        rc = CDX_ENOMEM;
        goto out;
    }
    sha256_hex(out->normalized, out->normalized_len, out->normalized_sha256);
    uint64_t t1 = now_us();
    out->us_normalize = t1 - t0;
    rc = cdx_extract_lean(norm, &ex, &out->diag);
    if (rc != 0)
        goto out;
    have_ex = 1;
    out->us_extract = now_us() - t1;
    rc = fill_fields(out, &ex, &pl->national);
    if (rc == 0)
        rc = cdx_ingest_patient_match(&ex.meta, &pl->thresholds, out);
    if (rc == 0)
        check_policy(&ex, who, out);
    if (rc == 0 && out->owner_oid == NULL && who != NULL && !cdx_diag_rejected(&out->diag) &&
        (who->owned || (who->sub != NULL && who->sub->oid != NULL)))
        rc = CDX_ENOMEM;
    if (rc == 0)
        rc = make_json(out, &ex);
out:
    if (have_ex)
        cdx_extract_cleanup(&ex);
    xmlFreeDoc(norm);
    if (rc == 0 && cdx_diag_rejected(&out->diag))
        rc = CDX_EPARSE;
    return rc;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
            return c;
    return NULL;
}

/* The custodian organization's @root, which picks the mapping when no
 * submitter is known (validate, import).  Returned as the document owns
 * it (valid while doc is). */
static const char *custodian_root(xmlDocPtr doc)
{
    xmlNodePtr n = child(
        child(child(child(xmlDocGetRootElement(doc) ? (xmlNodePtr)doc : NULL, "ClinicalDocument"),
                    "custodian"),
              "assignedCustodian"),
        "representedCustodianOrganization");
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "id")) {
            for (xmlAttrPtr a = c->properties; a != NULL; a = a->next)
                if (xmlStrEqual(a->name, BAD_CAST "root") && a->children != NULL)
                    return (const char *)a->children->content;
        }
    }
    return NULL;
}

/* What both entry points do first: reset out, hash the original bytes and
 * parse them.  Returns cdx_xml_parse's result. */
static int start(const cdx_pipeline_t *pl, const char *data, size_t len, cdx_ingest_t *out,
                 xmlDocPtr *doc)
{
    memset(out, 0, sizeof *out);
    cdx_diag_init(&out->diag);
    out->size = len;
    sha256_hex(data, len, out->sha256);
    *doc = NULL;
    uint64_t t0 = now_us();
    int rc = cdx_xml_parse_limited(data, len, &pl->xml_limits, &out->diag, doc, NULL);
    out->us_parse = now_us() - t0;
    return rc;
}

/* Packs both forms and the fact extras for the registry here, on the
 * pipeline's thread, so that the single writer only binds them.  A
 * failure leaves them NULL: the registry then packs them itself. */
static void pack_forms(const char *data, size_t len, cdx_ingest_t *out)
{
    if (cdx_registry_pack(data, len, &out->original_packed, &out->original_packed_len) != 0)
        return;
    if (out->normalized != NULL &&
        cdx_registry_pack(out->normalized, out->normalized_len, &out->normalized_packed,
                          &out->normalized_packed_len) != 0) {
        free(out->original_packed);
        out->original_packed = NULL;
        return;
    }
    if (out->nfact_rows > 0 &&
        cdx_registry_pack_fact_extras(out->fact_rows, out->nfact_rows, &out->fact_extras_packed,
                                      &out->fact_extras_packed_len) != 0)
        out->fact_extras_packed = NULL;
}

static int run(const cdx_pipeline_t *pl, const char *data, size_t len, const identity_t *who,
               cdx_ingest_t *out)
{
    const cdx_submitter_t *sub = who != NULL ? who->sub : NULL;
    xmlDocPtr doc = NULL;
    int rc = start(pl, data, len, out, &doc);
    if (rc != 0)
        goto out;
    uint64_t t1 = now_us();
    cdx_schema_policy_t policy = sub != NULL && (sub->policy & CDX_POLICY_SCHEMA_STRICT)
                                     ? CDX_SCHEMA_STRICT
                                     : CDX_SCHEMA_STANDARD;
    rc = cdx_validate(pl->validator, doc, policy, &out->diag);
    out->us_validate = now_us() - t1;
    if (rc != 0)
        goto out;
    if (cdx_diag_rejected(&out->diag)) {
        rc = CDX_EPARSE;
        goto out;
    }
    cdx_ingest_read_consent(&pl->consent_policies, doc, out);
    if (cdx_diag_rejected(&out->diag)) {
        rc = CDX_EPARSE;
        goto out;
    }
    rc = cdx_referral_recipients(doc, &out->recipients, &out->nrecipients);
    if (rc != 0)
        goto out;
    const char *mapping_oid = sub != NULL && sub->oid != NULL ? sub->oid : custodian_root(doc);
    rc = transform(pl, doc, mapping_oid, who, out);
    if (rc == 0)
        cdx_ingest_check_consent_home(sub, out);
out:
    xmlFreeDoc(doc);
    if (rc == 0 && out->diag.nerrors > 0 && !cdx_diag_rejected(&out->diag))
        cdx_diag_reject(&out->diag, 422, "CDA_INVALID", "the document has errors; see the issues");
    if (rc == 0 && cdx_diag_rejected(&out->diag))
        rc = CDX_EPARSE;
    out->issues_json = cdx_diag_issues_json(&out->diag);
    if (rc == 0)
        pack_forms(data, len, out);
    cdx_ingest_release_memory(len);
    return rc;
}

int cdx_ingest_run(const cdx_pipeline_t *pl, const char *data, size_t len,
                   const cdx_submitter_t *sub, cdx_ingest_t *out)
{
    identity_t who = {.sub = sub};
    return run(pl, data, len, sub != NULL ? &who : NULL, out);
}

int cdx_ingest_run_owned(const cdx_pipeline_t *pl, const char *data, size_t len,
                         const cdx_owner_lookup_t *lookup, cdx_ingest_t *out)
{
    identity_t who = {.lookup = lookup, .owned = 1};
    return run(pl, data, len, &who, out);
}

int cdx_ingest_renormalize(const cdx_pipeline_t *pl, const char *data, size_t len,
                           const char *submitter_oid, cdx_ingest_t *out)
{
    xmlDocPtr doc = NULL;
    int rc = start(pl, data, len, out, &doc);
    if (rc == 0)
        rc = transform(pl, doc, submitter_oid, NULL, out);
    xmlFreeDoc(doc);
    out->issues_json = cdx_diag_issues_json(&out->diag);
    return rc;
}

void cdx_ingest_cleanup(cdx_ingest_t *in)
{
    cdx_diag_cleanup(&in->diag);
    free(in->normalized);
    free(in->original_packed);
    free(in->normalized_packed);
    free(in->fact_extras_packed);
    free(in->meta_json);
    free(in->issues_json);
    cdx_fact_rows_free(in->fact_rows, in->nfact_rows);
    free(in->strings); /* the header fields and patient ids */
    free(in->owner_oid);
    free(in->patient_ids);
    free(in->patient_national);
    free(in->demog_summary);
    cdx_referral_free(in->recipients, in->nrecipients);
    memset(in, 0, sizeof *in);
}

void cdx_ingest_record(const cdx_ingest_t *in, const char *submitter_oid, const char *data,
                       const char *patient_key, cdx_doc_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->unique_id = in->unique_id;
    rec->set_id = in->set_id;
    rec->version = in->version;
    rec->replaces = in->replaces;
    rec->submitter_oid = submitter_oid;
    rec->custodian_oid = in->custodian_oid;
    rec->author_oid = in->author_oid;
    rec->type_code = in->type_code;
    rec->type_system = in->type_system;
    rec->title = in->title;
    rec->creation_time = in->creation_time;
    rec->service_start = in->service_start;
    rec->service_stop = in->service_stop;
    rec->confidentiality = in->confidentiality;
    rec->language = in->language;
    rec->patient_root = in->patient_root;
    rec->patient_ext = in->patient_ext;
    rec->patient_ids = (const char *const *)in->patient_ids;
    rec->npatient_ids = in->npatient_ids;
    rec->patient_national = in->patient_national;
    rec->match = in->match.demog != NULL ? &in->match : NULL;
    rec->patient_key = patient_key;
    rec->sha256 = in->sha256;
    rec->original = data;
    rec->size = in->size;
    rec->normalized_sha256 = in->normalized_sha256;
    rec->normalized = in->normalized;
    rec->normalized_size = in->normalized_len;
    if (in->original_packed != NULL && (in->normalized == NULL || in->normalized_packed != NULL)) {
        rec->original_packed = in->original_packed;
        rec->original_packed_size = in->original_packed_len;
        rec->normalized_packed = in->normalized_packed;
        rec->normalized_packed_size = in->normalized_packed_len;
    }
    rec->fact_extras_packed = in->fact_extras_packed;
    rec->fact_extras_packed_size = in->fact_extras_packed_len;
    rec->mapping_version = in->mapping_version;
    rec->meta_json = in->meta_json;
    rec->fact_rows = in->fact_rows;
    rec->nfact_rows = in->nfact_rows;
    rec->warnings_json = in->issues_json;
}

int cdx_ingest_code_is_alert(const char *code)
{
    static const char *const alerts[] = {"XML_DTD_FORBIDDEN", "IDENTITY_MISMATCH", "XML_LIMIT",
                                         "DOCUMENT_ID_FOREIGN"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(alerts); i++)
        if (strcmp(code, alerts[i]) == 0)
            return 1;
    return 0;
}

/* The deliveries a new document's recipients cause, in its transaction:
 * one per registered recipient that is neither the submitter nor the
 * owner; the others are named for the answer's warnings. */
int cdx_ingest_refer(cdx_registry_t *reg, cdx_ingest_change_t *c)
{
    const cdx_ingest_t *in = c->in;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    c->nreferred = c->nunknown = 0;
    for (size_t i = 0; i < in->nrecipients && i < CDX_INGEST_MAX_RECIPIENTS; i++) {
        const char *to = in->recipients[i];
        if (strcmp(to, c->submitter) == 0 || (in->owner_oid && strcmp(to, in->owner_oid) == 0))
            continue;
        int known = 0, created = 0;
        int rc = cdx_outbox_destination_known(reg, to, &known);
        if (rc == 0 && known)
            rc = cdx_outbox_add(reg, c->uid, to, "referral", c->uid, NULL, now_ms, &created);
        if (rc != 0)
            return rc;
        if (known)
            c->nreferred++;
        else
            cdx_strlcpy(c->unknown[c->nunknown++], to, sizeof c->unknown[0]);
    }
    return 0;
}

/* The deliveries the subscriptions of a new document's person cause, in
 * its transaction. */
int cdx_ingest_subscriptions(cdx_registry_t *reg, cdx_ingest_change_t *c)
{
    const cdx_ingest_t *in = c->in;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cdx_subscribed_doc_t doc = {
        .uid = c->uid,
        .root = in->patient_root,
        .ext = in->patient_ext,
        .submitter_oid = c->relay != NULL ? in->owner_oid : c->submitter,
        .author_oid = in->author_oid,
        .custodian_oid = in->custodian_oid,
        .type_code = in->type_code,
        .confidentiality = in->confidentiality,
    };
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return cdx_subscriptions_deliver(reg, &doc, now_ms, &c->nsubscribed);
}

int cdx_ingest_apply_store(cdx_registry_t *reg, void *arg)
{
    cdx_ingest_change_t *c = arg;
    cdx_doc_record_t rec;
    /* A relayed document is filed under its custodian, as if it had come
     * directly; the relay is the actor and is recorded with it. */
    const char *owner = c->relay != NULL ? c->in->owner_oid : c->submitter;
    cdx_ingest_record(c->in, owner, c->body, c->patient_key, &rec);
    int n = snprintf(c->detail, sizeof c->detail, "sha256=%.16s size=%zu issues=%zu", c->in->sha256,
                     c->in->size, c->in->diag.nissues);
    if (c->relay != NULL && n > 0 && (size_t)n < sizeof c->detail)
        snprintf(c->detail + n, sizeof c->detail - (size_t)n, " relayed_for=%s", owner);
    if (c->relay != NULL) {
        int erc = cdx_registry_ensure_institution(reg, owner, owner);
        if (erc != 0)
            return erc;
    }
    char uid[33];
    cdx_registry_doc_uid(c->in->unique_id, uid);
    cdx_audit_event_t ev = {
        .event = CDX_AUDIT_DOCUMENT_INGEST,
        .actor_oid = c->submitter,
        .actor_user = c->user != NULL && c->user[0] ? c->user : NULL,
        .peer = c->peer != NULL && c->peer[0] ? c->peer : NULL,
        .purpose = c->purpose,
        .outcome = CDX_AUDIT_SUCCESS,
        .patient_key = c->patient_key,
        .document_id = uid,
        .detail = c->detail,
    };
    int rc = cdx_registry_store_document(reg, &rec, &ev, &c->outcome, c->uid);
    if (rc == 0 && c->outcome == CDX_STORE_CREATED && c->relay != NULL)
        rc = cdx_outbox_set_relay(reg, c->uid, c->relay);
    else if (rc == 0 && c->outcome == CDX_STORE_CREATED && c->refer)
        rc = cdx_ingest_refer(reg, c);
    if (rc == 0 && c->outcome == CDX_STORE_CREATED)
        rc = cdx_ingest_subscriptions(reg, c);
    if (rc != 0 || c->outcome != CDX_STORE_CREATED || c->in->consent_kind == CDX_CONSENT_DOC_NONE)
        return rc;
    /* A consent document becomes the patient's consent record, in the same
     * transaction. */
    cdx_audit_event_t cev = ev;
    cev.event = CDX_AUDIT_CONSENT_RECORD;
    cev.detail = NULL;
    int64_t consent_id = 0;
    return cdx_registry_put_consent(reg, c->in->patient_root, c->in->patient_ext, &c->in->consent,
                                    "document", c->uid, c->submitter, &cev, &consent_id);
}

int cdx_ingest_apply_reject(cdx_registry_t *reg, void *arg)
{
    cdx_ingest_change_t *c = arg;
    const cdx_diag_t *d = &c->in->diag;
    int alert = cdx_ingest_code_is_alert(d->code);
    snprintf(c->detail, sizeof c->detail, "code=%s status=%d sha256=%.16s size=%zu", d->code,
             d->status, c->in->sha256, c->in->size);
    cdx_audit_event_t ev = {
        .event = alert ? CDX_AUDIT_SECURITY_ALERT : CDX_AUDIT_DOCUMENT_REJECT,
        .actor_oid = c->submitter,
        .actor_user = c->user != NULL && c->user[0] ? c->user : NULL,
        .peer = c->peer != NULL && c->peer[0] ? c->peer : NULL,
        .purpose = c->purpose,
        .outcome = alert ? CDX_AUDIT_SERIOUS_FAILURE : CDX_AUDIT_MINOR_FAILURE,
        .patient_key = c->patient_key != NULL && c->patient_key[0] ? c->patient_key : NULL,
        .detail = c->detail,
    };
    return cdx_registry_audit(reg, &ev);
}
