-- name: documents, content, patient ids, facts, state
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
ALTER TABLE institutions ADD COLUMN policy INTEGER NOT NULL DEFAULT 0;
CREATE TABLE documents (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  unique_id TEXT NOT NULL UNIQUE,
  set_id TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  replaces TEXT,
  status TEXT NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'superseded')),
  submitter_id INTEGER NOT NULL REFERENCES institutions(id),
  custodian_oid TEXT,
  author_oid TEXT,
  type_code TEXT,
  type_system TEXT,
  title TEXT,
  creation_time TEXT,
  service_start TEXT,
  service_stop TEXT,
  confidentiality TEXT,
  language TEXT,
  patient_root TEXT,
  patient_ext TEXT,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  normalized_sha256 TEXT,
  mapping_version TEXT,
  meta_json TEXT NOT NULL,
  warnings_json TEXT,
  stored_at TEXT NOT NULL
);
CREATE INDEX documents_by_patient ON documents(patient_root, patient_ext);
CREATE INDEX documents_by_sha256 ON documents(sha256);
CREATE INDEX documents_by_set ON documents(set_id, version);
CREATE TABLE document_content (
  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  original BLOB NOT NULL,
  normalized BLOB
);
CREATE TABLE document_patient_ids (
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  root TEXT NOT NULL,
  extension TEXT NOT NULL DEFAULT '',
  UNIQUE (document_id, root, extension)
);
CREATE INDEX document_patient_ids_by_id ON document_patient_ids(root, extension);
CREATE TABLE facts (
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  code_system TEXT,
  code TEXT,
  display TEXT,
  value TEXT,
  value_num REAL,
  unit TEXT,
  time_low TEXT,
  time_high TEXT,
  status TEXT,
  data TEXT NOT NULL
);
CREATE INDEX facts_by_document ON facts(document_id);
CREATE INDEX facts_by_code ON facts(kind, code_system, code);
CREATE TABLE state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
