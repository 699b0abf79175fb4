-- name: institutions, credentials and audit
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
CREATE TABLE institutions (
  id INTEGER PRIMARY KEY,
  oid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  roles INTEGER NOT NULL DEFAULT 0 CHECK (roles >= 0),
  endpoint TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE institution_credentials (
  id INTEGER PRIMARY KEY,
  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('cert', 'spki')),
  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64)
);
CREATE INDEX institution_credentials_by_institution
  ON institution_credentials(institution_id);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  event TEXT NOT NULL,
  actor_oid TEXT,
  actor_user TEXT,
  purpose TEXT,
  outcome INTEGER NOT NULL,
  patient_key TEXT,
  document_id TEXT,
  detail TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
