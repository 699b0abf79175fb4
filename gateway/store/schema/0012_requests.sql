-- name: record requests and subscriptions
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- A record request asks once for the documents of a person that its
-- institution may see; each document found gets a delivery (reason
-- 'request', reason_id the request's uid) in the transaction that stores
-- the request.  The identity is kept as asked, in its stored form (a
-- national id keyed), with its keyed patient hash for the audit.
-- types: the LOINC codes asked for, comma-separated ('' for any); from_key
-- and to_key: creation time bounds as UTC keys ('' for none).
CREATE TABLE record_requests (
 id INTEGER PRIMARY KEY,
 uid TEXT NOT NULL UNIQUE,
 institution_oid TEXT NOT NULL,
 patient_root TEXT NOT NULL,
 patient_ext TEXT NOT NULL,
 patient_key TEXT NOT NULL,
 types TEXT NOT NULL DEFAULT '',
 from_key TEXT NOT NULL DEFAULT '',
 to_key TEXT NOT NULL DEFAULT '',
 purpose TEXT NOT NULL DEFAULT '',
 created_at TEXT NOT NULL
);
CREATE INDEX record_requests_institution ON record_requests(institution_oid, id);
-- The documents a request found, in the order found.
CREATE TABLE record_request_documents (
 request_id INTEGER NOT NULL REFERENCES record_requests(id) ON DELETE CASCADE,
 document_uid TEXT NOT NULL,
 PRIMARY KEY (request_id, document_uid)
) WITHOUT ROWID;
-- A subscription: every new document of the person of its identity (over
-- every linked identity) with one of its types that its institution may
-- see gets a delivery (reason 'subscription', reason_id the uid) in the
-- transaction that stores the document.  A deleted subscription is gone.
CREATE TABLE subscriptions (
 id INTEGER PRIMARY KEY,
 uid TEXT NOT NULL UNIQUE,
 institution_oid TEXT NOT NULL,
 patient_root TEXT NOT NULL,
 patient_ext TEXT NOT NULL,
 patient_key TEXT NOT NULL,
 types TEXT NOT NULL DEFAULT '',
 purpose TEXT NOT NULL DEFAULT '',
 created_at TEXT NOT NULL
);
CREATE INDEX subscriptions_identity ON subscriptions(patient_root, patient_ext);
CREATE INDEX subscriptions_institution ON subscriptions(institution_oid, id);
