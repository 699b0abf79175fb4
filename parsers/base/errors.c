/* errors: the problem-code catalogue (see include/cdx/base/errors.h). */
#include "cdx/base/errors.h"
#include "cdx/base/common.h"

#include <string.h>

/* One row per code: tests/check_errors.py reads this table as text, so a
 * row stays on one line in the form {status, "CODE", "Title"}. */
static const cdx_error_t table[] = {
    /* HTTP framing and limits, decided while the request is read. */
    {400, "HTTP_MALFORMED", "Malformed HTTP request"},
    {400, "HTTP_CL_TE_CONFLICT", "Both Content-Length and Transfer-Encoding"},
    {400, "HTTP_BAD_CONTENT_LENGTH", "Bad Content-Length"},
    {400, "HTTP_BAD_TE", "Unsupported transfer coding"},
    {400, "HTTP_BAD_CHUNK", "Broken chunked framing"},
    {408, "HTTP_HEADER_TIMEOUT", "Request head too slow"},
    {408, "HTTP_BODY_TIMEOUT", "Request body stalled"},
    {408, "HTTP_BODY_TOO_SLOW", "Request body too slow"},
    {413, "BODY_TOO_LARGE", "Body too large"},
    {414, "HTTP_REQUEST_LINE_TOO_LONG", "Request line too long"},
    {417, "HTTP_EXPECTATION_FAILED", "Expectation not supported"},
    {431, "HTTP_HEADERS_TOO_LARGE", "Request headers too large"},
    {505, "HTTP_VERSION_NOT_SUPPORTED", "HTTP version not supported"},
    /* Routing and access. */
    {404, "NOT_FOUND", "No such resource"},
    {405, "METHOD_NOT_ALLOWED", "Method not allowed"},
    {403, "FORBIDDEN", "Role not granted"},
    {400, "BAD_QUERY", "Bad query parameter"},
    {400, "PURPOSE_UNKNOWN", "Unknown purpose of use"},
    /* Consent, confidentiality and break-glass (gateway/domain/access.c, api/consents.c). */
    {400, "REASON_REQUIRED", "Emergency access without a reason"},
    {400, "REASON_INVALID", "Malformed access reason"},
    {403, "CONSENT_REQUIRED", "No consent allows this access"},
    {403, "CONFIDENTIALITY", "Confidentiality does not allow this access"},
    {403, "CONSENT_FORBIDDEN", "Patient of another institution"},
    {422, "CONSENT_INVALID", "Malformed consent"},
    {404, "DOCUMENT_NOT_FOUND", "Document not found"},
    /* The patient index (gateway/api/links.c, patients.c). */
    {404, "PATIENT_NOT_FOUND", "Patient not found"},
    {404, "LINK_NOT_FOUND", "Link not found"},
    {409, "LINK_SAME_PERSON", "Already one person"},
    {422, "LINK_SAME_IDENTITY", "Link of an identity to itself"},
    {422, "LINK_INVALID", "Malformed link"},
    {400, "CURSOR_INVALID", "Invalid paging cursor"},
    {400, "PATIENT_QUERY_INCOMPLETE", "Patient query too broad"},
    /* Research cohorts (gateway/api/cohorts.c). */
    {422, "COHORT_INVALID", "Invalid cohort definition"},
    {409, "COHORT_DIFFERENCING", "Cohort too close to an earlier one"},
    {409, "COHORT_BREAKDOWN_FIXED", "Cohort answered earlier with another breakdown"},
    {404, "COHORT_NOT_FOUND", "Cohort not found"},
    {403, "COHORT_TOO_SMALL", "Cohort too small to export"},
    {403, "EXPORT_NOT_CONFIGURED", "No research project for this institution"},
    /* Record requests and subscriptions (gateway/api/requests.c, subscriptions.c). */
    {400, "REQUEST_BODY_INVALID", "Malformed request or subscription"},
    {400, "PATIENT_REQUIRED", "Patient missing"},
    {400, "DOCUMENT_TYPE_INVALID", "Not a LOINC document type"},
    {400, "DATE_RANGE_INVALID", "Time range ends before it starts"},
    {409, "ENDPOINT_REQUIRED", "No delivery endpoint registered"},
    {404, "REQUEST_NOT_FOUND", "Record request not found"},
    {404, "SUBSCRIPTION_NOT_FOUND", "Subscription not found"},
    {409, "SUBSCRIPTION_LIMIT", "Too many subscriptions"},
    /* The audit trail (gateway/api/audit.c, audit_read.c). */
    {403, "ACCESS_LOG_NOT_HOME", "Not the home institution of the id"},
    /* Query strings of the read endpoints (gateway/api/params.c). */
    {400, "PARAMETER_UNKNOWN", "Unknown query parameter"},
    {400, "PARAMETER_INVALID", "Invalid query parameter"},
    {400, "PATIENT_ID_INVALID", "Malformed patient identifier"},
    {400, "DATE_INVALID", "Malformed date"},
    {404, "MEDIA_NOT_FOUND", "Embedded binary not found"},
    /* The body: media type and MIME. */
    {415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"},
    {415, "MIME_WRAPPED", "MIME message sent as XML"},
    {400, "MIME_MALFORMED", "Malformed MIME message"},
    {400, "MIME_BAD_ENCODING", "Bad MIME transfer encoding"},
    {415, "MIME_UNSUPPORTED", "Unsupported MIME content"},
    {422, "MIME_NO_CDA", "No CDA document in the MIME message"},
    {422, "MIME_MULTIPLE_CDA", "More than one CDA document in the MIME message"},
    /* The document: XML, CDA, policy, mapping. */
    {400, "XML_MALFORMED", "Malformed XML"},
    {400, "XML_DTD_FORBIDDEN", "DTD not allowed"},
    {400, "XML_TOO_DEEP", "XML nested too deep"},
    {400, "XML_LIMIT", "XML beyond the parser's limits"},
    {400, "XML_ENCODING", "Unreadable character encoding"},
    {400, "XML_EMPTY", "No XML document"},
    {422, "CDA_SCHEMA_INVALID", "Not a valid CDA R2 document"},
    {422, "CDA_REQUIRED_FIELD", "Required CDA header part missing"},
    {422, "CDA_PROFILE_INVALID", "CDA profile rule broken"},
    {422, "CDA_INVALID", "CDA document has errors"},
    {422, "CUSTODIAN_NO_ID", "Custodian without an id"},
    {422, "MAPPING_FAILED", "Mapping failed"},
    {422, "RENDER_FAILED", "Document cannot be rendered"},
    {403, "IDENTITY_MISMATCH", "Custodian is not the submitter"},
    {403, "DOCUMENT_ID_FOREIGN", "Document id outside the submitter's numbering"},
    {403, "REPLACEMENT_FORBIDDEN", "Replacement of another institution's document"},
    {409, "DOC_ID_CONFLICT", "Document id already used"},
    /* Capacity and storage. */
    {503, "OVERLOADED", "Gateway overloaded"},
    {503, "TOO_MANY_CONNECTIONS", "Too many connections for the institution"},
    {503, "STORAGE_UNAVAILABLE", "Registry unavailable"},
    {507, "STORAGE_FULL", "Registry disk full"},
};

const cdx_error_t *cdx_error_find(const char *code)
{
    if (code == NULL)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(table); i++)
        if (strcmp(table[i].code, code) == 0)
            return &table[i];
    return NULL;
}

const cdx_error_t *cdx_error_table(size_t *n)
{
    *n = CDX_ARRAY_SIZE(table);
    return table;
}
