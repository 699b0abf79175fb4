-- name: patient index: persons, patient identities, links, match blocks
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
CREATE TABLE persons (
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL
);
CREATE TABLE patients (
  id INTEGER PRIMARY KEY,
  root TEXT NOT NULL,
  extension TEXT NOT NULL,
  person_id INTEGER NOT NULL REFERENCES persons(id),
  national INTEGER NOT NULL DEFAULT 0 CHECK (national IN (0, 1)),
  institution_oid TEXT,
  family TEXT NOT NULL DEFAULT '',
  given TEXT NOT NULL DEFAULT '',
  birth TEXT NOT NULL DEFAULT '',
  sex TEXT NOT NULL DEFAULT '',
  postal TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  summary TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (root, extension)
);
CREATE INDEX patients_by_person ON patients(person_id);
CREATE TABLE patient_blocks (
  key TEXT NOT NULL,
  patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  PRIMARY KEY (key, patient_id)
) WITHOUT ROWID;
CREATE INDEX patient_blocks_by_patient ON patient_blocks(patient_id);
CREATE TABLE patient_links (
  id INTEGER PRIMARY KEY,
  a INTEGER NOT NULL REFERENCES patients(id),
  b INTEGER NOT NULL REFERENCES patients(id),
  rule TEXT NOT NULL CHECK (rule IN ('document', 'national', 'match', 'admin')),
  status TEXT NOT NULL CHECK (status IN ('linked', 'review', 'unlinked', 'distinct')),
  score REAL,
  breakdown TEXT,
  reason TEXT,
  actor TEXT,
  created_at TEXT NOT NULL,
  decided_at TEXT,
  CHECK (a < b),
  UNIQUE (a, b)
);
CREATE INDEX patient_links_by_b ON patient_links(b);
CREATE INDEX patient_links_by_status ON patient_links(status, id);
CREATE INDEX documents_by_creation ON documents(creation_time, id);
