-- name: consents: a person's consent decisions and break-glass time boxes
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- One row per decision, keyed by the identity (patients row) it was recorded for;
-- the person's decision is read through patients.person_id at read time, so
-- that a link or an unlink moves it with the identity. Scopes are lists
-- separated by single spaces ("" means all): institution OIDs, LOINC codes.
CREATE TABLE consents (
  id INTEGER PRIMARY KEY,
  patient_id INTEGER NOT NULL REFERENCES patients(id),
  decision TEXT NOT NULL CHECK (decision IN ('permit', 'deny')),
  scope_institutions TEXT NOT NULL DEFAULT '',
  scope_types TEXT NOT NULL DEFAULT '',
  research TEXT CHECK (research IN ('permit', 'deny')),
  expires TEXT,
  expires_key TEXT,
  source TEXT NOT NULL CHECK (source IN ('api', 'document')),
  document_id INTEGER REFERENCES documents(id),
  actor TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE INDEX consents_by_patient ON consents(patient_id, id);
-- An emergency access opens a time box per (institution, person).
CREATE TABLE breakglass (
  institution_oid TEXT NOT NULL,
  person_id INTEGER NOT NULL,
  until_key TEXT NOT NULL,
  PRIMARY KEY (institution_oid, person_id)
) WITHOUT ROWID;
