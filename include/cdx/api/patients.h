/*
 * patients: GET /v1/patients, the persons of the patient index.
 *
 *   GET /v1/patients?identifier=ROOT|EXT
 *   GET /v1/patients?family=&birthdate=[&given=][&gender=]
 *
 * Responsible for: checking the parameters (an identifier, or at least a
 * family name and a birth date), reading the persons on a worker thread
 * through the disclosure sequence (disclose.h: decided, read, audited with
 * the keyed patient hash, then answered) and the JSON answer: each person
 * with its identities (a national identity by its root only) and the
 * demographics summaries its identities carry, newest first.  An unknown
 * identifier gets an empty list, not 404.
 * Not responsible for: match keys (domain/match.h) or storage.
 */
#ifndef CDX_API_PATIENTS_H
#define CDX_API_PATIENTS_H

#include <stddef.h>

#include "cdx/api/routes.h"
#include "cdx/store/registry.h"

/* JSON of one identity ({"root","extension","institution"}, or
 * {"root","national":true}); a new reference, NULL when out of memory. */
struct json_t;
struct json_t *cdx_identity_json(const cdx_identity_t *id);

extern const cdx_route_t cdx_patient_routes[];
extern const size_t cdx_patient_nroutes;

#endif
