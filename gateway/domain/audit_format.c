/* audit_format: an audit record as JSON, FHIR AuditEvent and syslog line
 * (see include/cdx/domain/audit_format.h). */
#include "cdx/domain/audit_format.h"
#include "cdx/base/common.h"

#include <string.h>

#define DCM "http://dicom.nema.org/resources/ontology/DCM"

const char *cdx_audit_event_action(const cdx_audit_event_def_t *def)
{
    static const struct {
        const char *event_code;
        const char *action;
    } actions[] = {
        {"110107", "C"}, /* Import: something was stored */
        {"110106", "R"}, /* Export: something was read out */
        {"110110", "U"}, /* Patient Record: the index changed */
        {"110112", "E"}, /* Query */
        {"110113", "E"}, /* Security Alert */
    };
    for (size_t i = 0; def != NULL && i < CDX_ARRAY_SIZE(actions); i++)
        if (strcmp(def->event_code, actions[i].event_code) == 0)
            return actions[i].action;
    return "E";
}

/* A string or JSON null; json_string refuses text that is not UTF-8, so
 * such a value (none is written so) reads as null rather than failing. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s != NULL ? json_string(s) : NULL;
    return v != NULL ? v : json_null();
}

json_t *cdx_audit_record_json(const cdx_audit_record_t *r)
{
    const cdx_audit_event_def_t *def = cdx_audit_event_find(r->event);
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "seq", json_integer(r->seq));
    static const char *const names[] = {"ts",          "event",       "actor",  "user", "purpose",
                                        "patient_key", "document_id", "detail", "peer", "decision",
                                        "reason",      "consent",     "hash"};
    const char *values[] = {r->ts,      r->event,       r->actor_oid,   r->actor_user,
                            r->purpose, r->patient_key, r->document_id, r->detail,
                            r->peer,    r->decision,    r->reason,      r->consent,
                            r->hash};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(names); i++)
        bad |= json_object_set_new(o, names[i], str_or_null(values[i]));
    bad |= json_object_set_new(o, "outcome", json_integer(r->outcome));
    bad |= json_object_set_new(o, "hash_version", json_integer(r->version));
    bad |= json_object_set_new(o, "dicom_event", str_or_null(def ? def->event_code : NULL));
    bad |= json_object_set_new(o, "dicom_type", str_or_null(def ? def->type_code : NULL));
    bad |= json_object_set_new(o, "action", json_string(cdx_audit_event_action(def)));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *coding(const char *system, const char *code, const char *display)
{
    json_t *c = json_pack("{s:s, s:s}", "system", system, "code", code);
    if (c != NULL && display != NULL)
        json_object_set_new(c, "display", json_string(display));
    return c;
}

static json_t *identifier(const char *value)
{
    /* An institution's OID as a URI; a local actor ("local:import") as it is. */
    int oid = value[0] >= '0' && value[0] <= '9';
    char uri[160];
    snprintf(uri, sizeof uri, "%s%s", oid ? "urn:oid:" : "", value);
    return json_pack("{s:{s:s, s:s}}", "identifier", "system", "urn:ietf:rfc:3986", "value", uri);
}

static json_t *agents(const cdx_audit_record_t *r)
{
    json_t *list = json_array();
    json_t *inst = json_pack("{s:o, s:b}", "type",
                             json_pack("{s:[o]}", "coding",
                                       coding("http://terminology.hl7.org/CodeSystem/"
                                              "extra-security-role-type",
                                              "dataprocessor", "data processor")),
                             "requestor", r->actor_user == NULL);
    if (list == NULL || inst == NULL) {
        json_decref(list);
        json_decref(inst);
        return NULL;
    }
    json_object_set_new(inst, "who",
                        r->actor_oid ? identifier(r->actor_oid)
                                     : json_pack("{s:s}", "display", "unknown"));
    if (r->peer != NULL)
        json_object_set_new(
            inst, "network",
            json_pack("{s:s, s:s}", "address", r->peer, "type", "2")); /* 2: an IP address */
    if (r->purpose != NULL)
        json_object_set_new(inst, "purposeOfUse",
                            json_pack("[{s:[o]}]", "coding",
                                      coding("http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                             r->purpose, NULL)));
    json_array_append_new(list, inst);
    if (r->actor_user != NULL) {
        json_t *user = json_pack("{s:{s:s}, s:b}", "who", "display", r->actor_user, "requestor", 1);
        if (user != NULL)
            json_object_set_new(user, "altId", json_string(r->actor_user));
        json_array_append_new(list, user);
    }
    return list;
}

static json_t *entities(const cdx_audit_record_t *r)
{
    json_t *list = json_array();
    if (list == NULL)
        return NULL;
    if (r->patient_key != NULL)
        json_array_append_new(
            list,
            json_pack(
                "{s:{s:{s:s, s:s}}, s:o, s:o}", "what", "identifier", "system",
                "urn:cdxgw:patient-key", "value", r->patient_key, "type",
                coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
                "role",
                coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient")));
    json_t *doc = json_pack(
        "{s:o, s:o}", "type",
        coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
        "role", coding("http://terminology.hl7.org/CodeSystem/object-role", "20", "Job"));
    if (doc == NULL)
        return list;
    if (r->document_id != NULL)
        json_object_set_new(doc, "what",
                            json_pack("{s:{s:s, s:s}}", "identifier", "system",
                                      "urn:cdxgw:document", "value", r->document_id));
    json_t *details = json_array();
    static const char *const names[] = {"detail", "decision", "reason", "consent", "hash"};
    const char *values[] = {r->detail, r->decision, r->reason, r->consent, r->hash};
    for (size_t i = 0; details != NULL && i < CDX_ARRAY_SIZE(names); i++)
        if (values[i] != NULL)
            json_array_append_new(
                details, json_pack("{s:s, s:s}", "type", names[i], "valueString", values[i]));
    json_object_set_new(doc, "detail", details);
    json_array_append_new(list, doc);
    return list;
}

json_t *cdx_audit_record_fhir(const cdx_audit_record_t *r)
{
    const cdx_audit_event_def_t *def = cdx_audit_event_find(r->event);
    char id[32], outcome[8];
    snprintf(id, sizeof id, "cdxgw-audit-%lld", (long long)r->seq);
    snprintf(outcome, sizeof outcome, "%d", r->outcome);
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:[o], s:s, s:s, s:s, s:o, s:{s:{s:s}, s:[o]}}", "resourceType",
        "AuditEvent", "id", id, "type",
        coding(DCM, def ? def->event_code : "110100", def ? def->event_display : "Application"),
        "subtype", coding("urn:cdxgw:audit-event", r->event ? r->event : "", NULL), "action",
        cdx_audit_event_action(def), "recorded", r->ts ? r->ts : "", "outcome", outcome, "agent",
        agents(r), "source", "observer", "display", "cdxgw", "type",
        coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4",
               "Application Server"));
    if (o == NULL)
        return NULL;
    if (def != NULL && def->type_code != NULL)
        json_array_append_new(json_object_get(o, "subtype"),
                              coding(DCM, def->type_code, def->type_display));
    if (r->detail != NULL)
        json_object_set_new(o, "outcomeDesc", json_string(r->detail));
    json_object_set_new(o, "entity", entities(r));
    if (r->purpose != NULL)
        json_object_set_new(o, "purposeOfEvent",
                            json_pack("[{s:[o]}]", "coding",
                                      coding("http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                             r->purpose, NULL)));
    return o;
}

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3), control
 * bytes replaced so that one record stays one line. */
static int sd_param(cdx_buf_t *out, const char *name, const char *value)
{
    if (value == NULL)
        return 0;
    int rc = cdx_buf_printf(out, " %s=\"", name);
    for (const char *p = value; rc == 0 && *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c == ']')
            rc = cdx_buf_printf(out, "\\%c", c);
        else
            rc = cdx_buf_append(out, c < 0x20 || c == 0x7f ? "?" : p, 1);
    }
    return rc == 0 ? cdx_buf_puts(out, "\"") : rc;
}

/* MSGID and HOSTNAME are printable US-ASCII without spaces, at most 32
 * and 255 bytes. */
static int header_token(cdx_buf_t *out, const char *s, size_t max)
{
    size_t n = 0;
    int rc = 0;
    for (; s != NULL && s[n] != '\0' && n < max && rc == 0; n++)
        rc = cdx_buf_append(out, s[n] > 32 && s[n] < 127 ? &s[n] : "_", 1);
    return rc == 0 && n == 0 ? cdx_buf_puts(out, "-") : rc;
}

/* Informational, notice, warning, error. */
static int syslog_severity(int outcome)
{
    switch (outcome) {
    case CDX_AUDIT_SUCCESS:
        return 6;
    case CDX_AUDIT_MINOR_FAILURE:
        return 5;
    case CDX_AUDIT_SERIOUS_FAILURE:
        return 4;
    default:
        return 3;
    }
}

int cdx_audit_record_syslog(const cdx_audit_record_t *r, const char *hostname, cdx_buf_t *out)
{
    const cdx_audit_event_def_t *def = cdx_audit_event_find(r->event);
    /* Facility 10 (security/authorization, private); severity by outcome. */
    int severity = syslog_severity(r->outcome);
    char seq[24], outcome[8], version[8];
    snprintf(seq, sizeof seq, "%lld", (long long)r->seq);
    snprintf(outcome, sizeof outcome, "%d", r->outcome);
    snprintf(version, sizeof version, "%d", r->version);
    int rc = cdx_buf_printf(out, "<%d>1 %s ", 10 * 8 + severity, r->ts ? r->ts : "-");
    if (rc == 0)
        rc = header_token(out, hostname, 255);
    if (rc == 0)
        rc = cdx_buf_puts(out, " cdxgw - ");
    if (rc == 0)
        rc = header_token(out, r->event, 32);
    if (rc == 0)
        rc = cdx_buf_puts(out, " [cdx-audit@32473");
    const char *names[] = {"seq",         "eventID",  "eventTypeCode", "action",  "outcome",
                           "actor",       "user",     "peer",          "purpose", "patientKey",
                           "document",    "decision", "reason",        "consent", "detail",
                           "hashVersion", "hash"};
    const char *values[] = {seq,
                            def ? def->event_code : NULL,
                            def ? def->type_code : NULL,
                            cdx_audit_event_action(def),
                            outcome,
                            r->actor_oid,
                            r->actor_user,
                            r->peer,
                            r->purpose,
                            r->patient_key,
                            r->document_id,
                            r->decision,
                            r->reason,
                            r->consent,
                            r->detail,
                            version,
                            r->hash};
    for (size_t i = 0; rc == 0 && i < CDX_ARRAY_SIZE(names); i++)
        rc = sd_param(out, names[i], values[i]);
    if (rc == 0)
        rc = cdx_buf_printf(out, "] %s\n", def ? def->event_display : "Audit");
    return rc;
}

void cdx_audit_ts_of_key(const char *key, char out[24])
{
    /* "YYYYMMDDHHMMSS" -> "YYYY-MM-DDTHH:MM:SS"; the records' ".mmmZ"
     * sorts after it, so a record of that very second is at or after it. */
    snprintf(out, 24, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", key, key + 4, key + 6, key + 8, key + 10,
             key + 12);
}
