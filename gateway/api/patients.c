/* patients: GET /v1/patients (see include/cdx/api/patients.h). */
#include "cdx/api/patients.h"
#include "api_internal.h"
#include "cdx/api/app.h"
#include "cdx/api/disclose.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/match.h"
#include "cdx/net/server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many persons answer one demographic search. */
#define PERSONS_MAX 20

json_t *cdx_identity_json(const cdx_identity_t *id)
{
    if (id->national)
        return json_pack("{s:s, s:b}", "root", id->root, "national", 1);
    json_t *o = json_pack("{s:s, s:s}", "root", id->root, "extension", id->ext);
    if (o != NULL && id->institution[0] != '\0')
        json_object_set_new(o, "institution", json_string(id->institution));
    return o;
}

typedef struct query_ctx {
    int by_identifier;
    cdx_patient_ref_t ref;
    cdx_demog_t demog;
    char block_key[CDX_DEMOG_BLOCK_LEN];
    char sex[2];
    cdx_person_row_t *persons;
    size_t n;
    size_t withheld; /* persons left out by the access decision */
} query_ctx_t;

static void query_ctx_free(void *arg)
{
    query_ctx_t *c = arg;
    if (c == NULL)
        return;
    cdx_person_rows_free(c->persons, c->n);
    free(c);
}

/* Whether the caller may see any document of person: the access
 * decision on each of them, as the timeline decides (a person of whom
 * nothing may be seen is left out, as if the index lacked it). */
static int person_visible(cdx_disclosure_t *d, cdx_registry_t *reg, int64_t person, int *visible)
{
    *visible = 0;
    int rc = cdx_disclose_load_person(d, reg, person);
    cdx_doc_access_t *docs = NULL;
    size_t ndocs = 0;
    if (rc == 0)
        rc = cdx_registry_person_documents(reg, person, &docs, &ndocs);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ndocs; i++)
        if (cdx_disclose_decide_doc(d, &docs[i]).allow)
            *visible = 1;
    free(docs);
    return 0;
}

static void person_row_cleanup(cdx_person_row_t *p)
{
    for (size_t j = 0; j < p->nsummaries; j++)
        free(p->summaries[j]);
    free(p->summaries);
    free(p->ids);
    memset(p, 0, sizeof *p);
}

/* Leaves out the persons the caller may see nothing of, counting them. */
static int keep_visible(cdx_disclosure_t *d, cdx_registry_t *reg, query_ctx_t *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        int visible = 0;
        int rc = person_visible(d, reg, c->persons[i].id, &visible);
        if (rc != 0)
            return rc;
        if (!visible) {
            c->withheld++;
            person_row_cleanup(&c->persons[i]);
            continue;
        }
        if (kept != i) {
            /* Moved, not copied: a read failing later frees each row once. */
            c->persons[kept] = c->persons[i];
            memset(&c->persons[i], 0, sizeof c->persons[i]);
        }
        kept++;
    }
    c->n = kept;
    return 0;
}

static int query_read(cdx_disclosure_t *d, cdx_registry_t *reg)
{
    query_ctx_t *c = d->ctx;
    int rc = c->by_identifier
                 ? cdx_registry_persons_by_identity(reg, c->ref.root, c->ref.ext, &c->persons,
                                                    &c->n)
                 : cdx_registry_persons_by_demographics(reg, c->block_key, c->demog.family,
                                                        c->demog.given, c->demog.birth, c->sex,
                                                        PERSONS_MAX, &c->persons, &c->n);
    if (rc == 0)
        rc = keep_visible(d, reg, c);
    if (rc != 0)
        return rc;
    if (c->n == 0)
        return CDX_ENOTFOUND;
    /* The person the record names is the one a break-glass time box
     * opened by this lookup is for. */
    if (d->person_id != c->persons[0].id)
        rc = cdx_disclose_load_person(d, reg, c->persons[0].id);
    if (rc != 0)
        return rc;
    /* The record names the first person by the keyed hash of an identity
     * that is not national (the one asked for, when asked by one). */
    const cdx_identity_t *key_of = NULL;
    for (size_t i = 0; key_of == NULL && i < c->persons[0].nids; i++)
        if (!c->persons[0].ids[i].national)
            key_of = &c->persons[0].ids[i];
    if (c->by_identifier)
        cdx_app_patient_key(d->app->patient_key, c->ref.root, c->ref.ext, d->patient_key);
    else if (key_of != NULL)
        cdx_app_patient_key(d->app->patient_key, key_of->root, key_of->ext, d->patient_key);
    return 0;
}

static void query_audit_detail(const cdx_disclosure_t *d, char *out, size_t outlen)
{
    const query_ctx_t *c = d->ctx;
    int n = snprintf(out, outlen, "route=patients.query by=%s persons=%zu",
                     c->by_identifier ? "identifier" : "demographics",
                     d->stage == CDX_DISCLOSE_FOUND ? c->n : (size_t)0);
    if (c->withheld > 0 && n > 0 && (size_t)n < outlen)
        snprintf(out + n, outlen - (size_t)n, " withheld=%zu", c->withheld);
}

static json_t *person_json(const cdx_person_row_t *p)
{
    json_t *ids = json_array(), *demog = json_array();
    for (size_t i = 0; ids != NULL && i < p->nids; i++)
        json_array_append_new(ids, cdx_identity_json(&p->ids[i]));
    for (size_t i = 0; demog != NULL && i < p->nsummaries; i++) {
        json_error_t jerr;
        json_t *s = json_loads(p->summaries[i], 0, &jerr);
        if (s != NULL)
            json_array_append_new(demog, s);
    }
    return json_pack("{s:o, s:o}", "identifiers", ids ? ids : json_array(), "demographics",
                     demog ? demog : json_array());
}

static void query_respond(cdx_disclosure_t *d, cdx_request_t *rq)
{
    query_ctx_t *c = d->ctx;
    json_t *persons = json_array();
    for (size_t i = 0; persons != NULL && d->stage == CDX_DISCLOSE_FOUND && i < c->n; i++)
        json_array_append_new(persons, person_json(&c->persons[i]));
    cdx_api_respond_json(rq, 200, json_pack("{s:o}", "persons", persons ? persons : json_array()));
}

static const cdx_disclose_endpoint_t patient_query = {
    .event = CDX_AUDIT_PATIENT_QUERY,
    .read = query_read,
    .audit_detail = query_audit_detail,
    .respond = query_respond,
    .free_ctx = query_ctx_free,
};

static const cdx_param_spec_t query_params[] = {
    {"identifier", 0, 400}, {"family", 0, 128}, {"given", 0, 128},
    {"birthdate", 0, 32},   {"gender", 0, 8},
};

static int param_fail(cdx_param_error_t *e, int status, const char *code, const char *param,
                      const char *detail)
{
    *e = (cdx_param_error_t){.status = status, .code = code};
    cdx_strlcpy(e->param, param, sizeof e->param);
    cdx_strlcpy(e->detail, detail, sizeof e->detail);
    return CDX_EINVAL;
}

/* Long: each parameter's check ends in its own refusal that names it. */
static int query_params_read(const char *query, query_ctx_t *c, cdx_param_error_t *e)
{
    cdx_params_t p;
    if (cdx_params_parse(query, query_params, CDX_ARRAY_SIZE(query_params), &p, e) != 0)
        return CDX_EINVAL;
    int present = 0;
    if (cdx_params_patient(&p, "identifier", &c->ref, &present, e) != 0)
        return CDX_EINVAL;
    const char *family = cdx_params_get(&p, "family"), *given = cdx_params_get(&p, "given");
    const char *birth = cdx_params_get(&p, "birthdate"), *gender = cdx_params_get(&p, "gender");
    int demographic = family != NULL || given != NULL || birth != NULL || gender != NULL;
    if (present && demographic)
        return param_fail(e, 400, "PARAMETER_INVALID", "identifier",
                          "search by identifier or by demographics (family, given, birthdate, "
                          "gender), not both");
    if (present) {
        c->by_identifier = 1;
        return 0;
    }
    if (family == NULL || birth == NULL)
        return param_fail(e, 400, "PATIENT_QUERY_INCOMPLETE", family == NULL ? "family" : "birthdate",
                          "give identifier=ROOT|EXT, or at least family and birthdate (given and "
                          "gender narrow the search)");
    char key[CDX_TIME_KEY_LEN];
    if (cdx_params_time(&p, "birthdate", key, e) != 0)
        return CDX_EINVAL;
    if (gender != NULL && strcmp(gender, "M") != 0 && strcmp(gender, "F") != 0)
        return param_fail(e, 400, "PARAMETER_INVALID", "gender", "gender is M or F");
    const char *const givens[1] = {given};
    cdx_demog_input_t in = {.family = family, .given = givens, .ngiven = given != NULL,
                            .birth = birth, .gender = gender};
    if (cdx_demog_from(&in, &c->demog) != 0 || c->demog.family[0] == '\0')
        return param_fail(e, 400, "PARAMETER_INVALID", "family",
                          "family has no letters that can be compared");
    if (strlen(c->demog.birth) != 8)
        return param_fail(e, 400, "PARAMETER_INVALID", "birthdate",
                          "birthdate must name a day (YYYYMMDD or YYYY-MM-DD)");
    if (given != NULL && c->demog.given[0] == '\0')
        return param_fail(e, 400, "PARAMETER_INVALID", "given",
                          "given has no letters that can be compared");
    c->sex[0] = c->demog.sex;
    char keys[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    size_t nkeys = cdx_demog_block_keys(&c->demog, keys);
    for (size_t i = 0; i < nkeys && c->block_key[0] == '\0'; i++)
        if (strncmp(keys[i], "d:", 2) == 0)
            cdx_strlcpy(c->block_key, keys[i], sizeof c->block_key);
    if (c->block_key[0] == '\0')
        return param_fail(e, 400, "PARAMETER_INVALID", "family",
                          "family and birthdate give no search key");
    return 0;
}

static void h_patients_query(cdx_request_t *rq)
{
    cdx_app_t *app = cdx_server_app(rq->server);
    query_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_param_error_t e;
    if (query_params_read(rq->http->query, c, &e) != 0) {
        free(c);
        cdx_params_refuse(app, rq, &e);
        return;
    }
    if (c->by_identifier && cdx_app_stored_identity(app, &c->ref) != 0) {
        free(c);
        cdx_respond_overloaded(rq);
        return;
    }
    cdx_disclose_start(rq, &patient_query, c);
}

const cdx_route_t cdx_patient_routes[] = {
    {"patients.query", "GET", "/v1/patients", CDX_ROLE_QUERY, CDX_ROUTE_DISCLOSES,
     CDX_HANDLER(h_patients_query)},
};
const size_t cdx_patient_nroutes = CDX_ARRAY_SIZE(cdx_patient_routes);
