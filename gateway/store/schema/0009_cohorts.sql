-- name: research cohorts: each query's person set, for the differencing guard
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- One row per cohort query that was answered, keyed by a random public id;
-- its persons by person id (a link keeps the older person's id, so a
-- person's id stays the same while identities join it).  The answer is
-- the JSON sent (counts after suppression, never persons).
CREATE TABLE cohorts (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  institution_oid TEXT NOT NULL,
  definition_sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  answer TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX cohorts_by_institution ON cohorts(institution_oid, size);
CREATE TABLE cohort_persons (
  cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL,
  PRIMARY KEY (cohort_id, person_id)
) WITHOUT ROWID;
-- A cohort's code criterion reads facts by code and needs, of each, its
-- document, date, value and unit, and of that document's patient id its
-- person: both indexes cover those reads, so neither table row is read.
CREATE INDEX facts_by_code_cohort ON facts(kind, code_system, code, document_id, time_low, time_high, value_num, unit);
CREATE INDEX patients_person_of ON patients(root, extension, person_id);
-- The birth date and sex of a person's identities, for age and sex criteria.
CREATE INDEX patients_cohort_attrs ON patients(person_id, id, birth, sex);
