/* audit_events: the catalogue of audit events and outcomes (see
 * include/cdx/domain/audit_events.h). */
#include "cdx/domain/audit_events.h"
#include "cdx/base/common.h"

#include <string.h>

#define OK      CDX_AUDIT_OUTCOME_BIT(CDX_AUDIT_SUCCESS)
#define MINOR   CDX_AUDIT_OUTCOME_BIT(CDX_AUDIT_MINOR_FAILURE)
#define SERIOUS CDX_AUDIT_OUTCOME_BIT(CDX_AUDIT_SERIOUS_FAILURE)

/* The constant is named twice on purpose: once expanded (the event's
 * name), once as text, so that the source check can find its uses. */
#define EVENT(constant, outcomes, event_code, event_display, type_code, type_display, meaning) \
    {constant, #constant, outcomes, event_code, event_display, type_code, type_display, meaning}

/* The one table of audit events, in the order the README lists them. */
const cdx_audit_event_def_t cdx_audit_events[] = {
    EVENT(CDX_AUDIT_DOCUMENT_INGEST, OK, "110107", "Import", NULL, NULL,
          "a document was stored, or the same bytes were sent again (detail `result=identical`); "
          "actor the submitting institution, or `local:import`"),
    EVENT(CDX_AUDIT_DOCUMENT_REJECT, MINOR, "110107", "Import", NULL, NULL,
          "a document was refused: by the pipeline (the detail names the code), or before its "
          "body was read (framing, limits, media type, role, connection cap)"),
    EVENT(CDX_AUDIT_DOCUMENT_CONFLICT, MINOR, "110107", "Import", NULL, NULL,
          "a document was refused because another one with its `ClinicalDocument/id` is stored "
          "(409 `DOC_ID_CONFLICT`)"),
    EVENT(CDX_AUDIT_SECURITY_ALERT, SERIOUS, "110113", "Security Alert", "110132",
          "Use of Restricted Function",
          "a document was refused as attack-like or as another institution's: "
          "`XML_DTD_FORBIDDEN`, `XML_LIMIT`, `IDENTITY_MISMATCH`, `DOCUMENT_ID_FOREIGN`, "
          "`REPLACEMENT_FORBIDDEN`"),
    EVENT(CDX_AUDIT_DOCUMENT_READ, OK | MINOR | SERIOUS, "110106", "Export", NULL, NULL,
          "a document, its registry entry, its HTML rendering, an embedded binary or a "
          "patient's timeline was read (0; detail `form=original`, `normalized`, `metadata`, "
          "`html`, `media`, `timeline` or `summary`, with `status` and `code` when the rendering "
          "failed or the binary was not found), asked for by an unknown document id or patient "
          "identity (4), or refused for the institution's role (8)"),
    EVENT(CDX_AUDIT_DOCUMENT_QUERY, OK | MINOR | SERIOUS, "110112", "Query", NULL, NULL,
          "the documents of a patient were listed (0; detail the number returned and the "
          "filters used, by name), asked for by an identity the index lacks (4), or refused for "
          "the institution's role (8)"),
    EVENT(CDX_AUDIT_ACCESS_DENIED, SERIOUS, "110113", "Security Alert", "110132",
          "Use of Restricted Function",
          "a request to a route other than the document routes (such as `/metrics`) was refused "
          "for the institution's role (403)"),
    EVENT(CDX_AUDIT_INSTITUTION_UPSERT, OK, "110113", "Security Alert", "110137",
          "User Security Attributes Changed",
          "an institution was registered or updated from the configuration (actor "
          "`local:config`): its roles and the number of its credentials and id roots"),
    EVENT(CDX_AUDIT_PATIENT_LINK, OK | MINOR, "110110", "Patient Record", NULL, NULL,
          "two identities were linked into one person: automatically while storing a document "
          "(0; detail `rule=national` or `rule=match`, the link id and, for `match`, the score; "
          "the ids of one document link by its own statement, recorded by its "
          "`document.ingest`), or by an administrator (`POST /v1/links`; 0, detail "
          "`rule=admin`, the link id, its status and what it was before); or a link was not "
          "made (4): a person's earlier decision kept two ids apart (detail the rule and "
          "`blocked_by=` the decision's link id), or an administrator's link was refused "
          "(unknown identity, same identity or person, a malformed body; detail the status and "
          "code); actor the institution, or `local:reindex`; never a name or an id in clear"),
    EVENT(CDX_AUDIT_PATIENT_REVIEW, OK, "110110", "Patient Record", NULL, NULL,
          "demographic matching found a pair scoring between `match_review_threshold` and "
          "`match_link_threshold`: it waits for a person's decision (detail `rule=match`, score, "
          "link id)"),
    EVENT(CDX_AUDIT_PATIENT_UNLINK, OK | MINOR, "110110", "Patient Record", NULL, NULL,
          "an administrator recorded that a link's two identities are not the same person "
          "(`DELETE /v1/links/{id}`; 0, detail the link id, its rule, its new status and "
          "whether the person was split), or the unlink was refused (4, unknown link)"),
    EVENT(CDX_AUDIT_PATIENT_QUERY, OK | MINOR | SERIOUS, "110112", "Query", NULL, NULL,
          "the patient index was read: persons by identifier or demographics "
          "(`GET /v1/patients`), or the links (`GET /v1/links`); 0 with the keyed patient hash "
          "of the first person, 4 when nothing matched (or only persons the institution may "
          "see no document of, counted as `withheld`) or the query string was refused, 8 when "
          "refused for the institution's role; the detail gives the route and counts, never "
          "names or ids"),
    EVENT(CDX_AUDIT_CONSENT_RECORD, OK | MINOR | SERIOUS, "110110", "Patient Record", NULL, NULL,
          "a patient's consent decision was recorded by the home institution (`PUT "
          "/v1/consents/{patient}`, or a consent document stored; 0, detail the consent id, "
          "decision, source and scope sizes, consent `consent:ID`), refused (4: a malformed "
          "body, an identity no document carries; 8: an identity of another institution); "
          "never an id in clear"),
    EVENT(CDX_AUDIT_DELIVERY_SENT, OK, "110106", "Export", NULL, NULL,
          "a document was delivered to another institution and its receipt stored (actor the "
          "destination institution; detail the delivery id, the reason, the receipt's status, "
          "the attempts and the latency; for a record request or a subscription, the purpose "
          "of use it was sent for, the send-time decision `consent` or `breakglass` and the "
          "consent relied on)"),
    EVENT(CDX_AUDIT_DELIVERY_DEAD, SERIOUS, "110106", "Export", NULL, NULL,
          "a delivery was given up, once per delivery: a permanent refusal (a 4xx, a receiver "
          "certificate that does not verify or is not the destination's), no endpoint for the "
          "destination, the access check before an attempt refused it (not sent: the patient's "
          "consent or the document's confidentiality no longer allows the destination; the "
          "decision named, with the purpose of use it was decided with for a record request or "
          "a subscription), or the bound of `delivery_max_attempts` / `delivery_max_age_ms` "
          "reached (detail the delivery id, the reason and the last error)"),
    EVENT(CDX_AUDIT_DELIVERY_RETRY, OK, "110106", "Export", NULL, NULL,
          "an operator made deliveries pending again (`cdxgw deliveries retry`; detail the "
          "delivery id or `dead`, and how many changed)"),
    EVENT(CDX_AUDIT_COHORT_QUERY, OK | MINOR | SERIOUS, "110112", "Query", NULL, NULL,
          "a research cohort was counted (`POST /v1/cohorts`, `GET /v1/cohorts/{id}`; 0, detail "
          "the route, the definition's `sha256`, the `size` and breakdown cells as answered "
          "(`suppressed` below `research_min_cell`) and the values `skipped` for want of a unit "
          "conversion, and `repeats` with the earlier cohort's id when the answer is that "
          "cohort's kept answer), refused (4: an invalid definition or query string with its "
          "code, the differencing guard `COHORT_DIFFERENCING`, the breakdown guard "
          "`COHORT_BREAKDOWN_FIXED` with the earlier cohort's id, an unknown cohort id), or "
          "refused for the institution's role (8); never a person, a name or an id"),
    EVENT(CDX_AUDIT_COHORT_EXPORT, OK | MINOR | SERIOUS, "110106", "Export", NULL, NULL,
          "a research cohort's persons were exported de-identified (`GET /v1/cohorts/{id}/export`, "
          "`cdxgw cohort export`; 0, detail the definition's `sha256`, the `format`, the date "
          "`mode`, the `persons` and `facts` written, the facts `dropped` (local codes) and the "
          "persons left out for a research deny (`opted_out`)), refused (4: an unknown format, "
          "an unknown or another institution's cohort, `COHORT_TOO_SMALL`, "
          "`EXPORT_NOT_CONFIGURED`), or refused for the institution's role (8); never a person, "
          "a pseudonym, the project's key or an id"),
    EVENT(CDX_AUDIT_AUDIT_READ, OK | MINOR | SERIOUS, "110101", "Audit Log Used", NULL, NULL,
          "the audit trail was read: by an administrator (`GET /v1/audit`), or a patient's "
          "access log by the home institution of the patient's id "
          "(`GET /v1/patients/{id}/access-log`); 0 with the count returned and the filters used "
          "by name, 4 when the query string was refused, 8 when refused for the institution's "
          "role (an institution that is not the id's home gets `access.denied`)"),
    EVENT(CDX_AUDIT_REQUEST_CREATE, OK | MINOR | SERIOUS, "110106", "Export", NULL, NULL,
          "a record request was stored with a delivery of each document found that the institution "
          "may see (`POST /v1/requests`; 0 with the keyed patient hash, detail the request id, the "
          "documents found and withheld by class and the filters by name), the same for an identity"
          " the index lacks (4, no documents), refused (4: a malformed body, `ENDPOINT_REQUIRED`, "
          "with its code), or refused for the institution's role (8); never an id in clear"),
    EVENT(CDX_AUDIT_REQUEST_READ, OK | MINOR | SERIOUS, "110112", "Query", NULL, NULL,
          "a record request and the state of its deliveries were read by the institution that made "
          "it (`GET /v1/requests/{id}`; 0 with the keyed patient hash, detail the documents listed "
          "and those withheld on this read by class, consent/confidentiality; 4 for an id this "
          "institution has no request under; 8 when refused for the institution's role)"),
    EVENT(CDX_AUDIT_SUBSCRIPTION_CREATE, OK | MINOR | SERIOUS, "110106", "Export", NULL, NULL,
          "a subscription was stored (`POST /v1/subscriptions`; 0 with the keyed patient hash, "
          "detail the subscription id and the number of types), refused (4: a malformed body, "
          "`ENDPOINT_REQUIRED`, `SUBSCRIPTION_LIMIT`, with its code), or refused for the "
          "institution's role (8); never an id in clear"),
    EVENT(CDX_AUDIT_SUBSCRIPTION_DELETE, OK | MINOR | SERIOUS, "110106", "Export", NULL, NULL,
          "a subscription was ended by the institution that made it (`DELETE "
          "/v1/subscriptions/{id}`; 0, detail the subscription id), refused for an id this "
          "institution has no subscription under (4), or refused for the institution's role (8)"),
    EVENT(CDX_AUDIT_SUBSCRIPTION_READ, OK | MINOR | SERIOUS, "110112", "Query", NULL, NULL,
          "an institution listed its own subscriptions (`GET /v1/subscriptions`; 0, detail the "
          "count), or was refused for its role (8)"),
};
const size_t cdx_naudit_events = CDX_ARRAY_SIZE(cdx_audit_events);

static const struct {
    cdx_audit_outcome_t value;
    const char *name;
} outcomes[] = {
    {CDX_AUDIT_SUCCESS, "success"},
    {CDX_AUDIT_MINOR_FAILURE, "minor failure"},
    {CDX_AUDIT_SERIOUS_FAILURE, "serious failure"},
    {CDX_AUDIT_MAJOR_FAILURE, "major failure"},
};

const cdx_audit_event_def_t *cdx_audit_event_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < cdx_naudit_events; i++) {
        if (strcmp(cdx_audit_events[i].name, name) == 0)
            return &cdx_audit_events[i];
    }
    return NULL;
}

const char *cdx_audit_outcome_name(int outcome)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(outcomes); i++) {
        if ((int)outcomes[i].value == outcome)
            return outcomes[i].name;
    }
    return NULL;
}

int cdx_audit_outcome_valid(int outcome)
{
    return cdx_audit_outcome_name(outcome) != NULL;
}

void cdx_audit_events_markdown(FILE *out)
{
    fputs("| event | outcomes | DICOM EventID | DICOM EventTypeCode | written when |\n"
          "|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < cdx_naudit_events; i++) {
        const cdx_audit_event_def_t *e = &cdx_audit_events[i];
        fprintf(out, "| `%s` | ", e->name);
        const char *sep = "";
        for (size_t o = 0; o < CDX_ARRAY_SIZE(outcomes); o++) {
            if (e->outcomes & CDX_AUDIT_OUTCOME_BIT(outcomes[o].value)) {
                fprintf(out, "%s%d", sep, (int)outcomes[o].value);
                sep = ", ";
            }
        }
        fprintf(out, " | %s %s | ", e->event_code, e->event_display);
        if (e->type_code != NULL)
            fprintf(out, "%s %s", e->type_code, e->type_display);
        fprintf(out, " | %s |\n", e->meaning);
    }
    fputs("\nOutcomes (DICOM EventOutcomeIndicator):", out);
    for (size_t o = 0; o < CDX_ARRAY_SIZE(outcomes); o++)
        fprintf(out, "%s %d %s", o ? "," : "", (int)outcomes[o].value, outcomes[o].name);
    fputs(".\n", out);
}
