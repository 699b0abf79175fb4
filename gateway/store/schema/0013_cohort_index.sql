-- name: cohort index: each positive coded fact of an eligible document by code and person
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- A fact recorded with negationInd="true" ("no known allergy", "not
-- administered") states that something is absent: its id here.  Facts
-- whose fields are still JSON text are found there; those stored as one
-- compressed frame (0010) are found by `cdxgw reindex`.
CREATE TABLE fact_negations (
  fact_id INTEGER PRIMARY KEY REFERENCES facts(id) ON DELETE CASCADE,
  document_id INTEGER NOT NULL
);
INSERT INTO fact_negations (fact_id, document_id)
 SELECT id, document_id FROM facts WHERE data <> '' AND json_valid(data)
 AND json_extract(data, '$.negated') = 1;
-- What a cohort's fact criterion reads: one row per fact that is coded,
-- not negated, of a current document that is neither R nor V, with the
-- person of that document (every id of a document belongs to one person),
-- its day (the fact's time, else the document's) and its value and unit.
-- Keyed by code then person: a criterion is one range of the key, its
-- persons come ascending within each code, and a person's facts of one
-- code are one seek.  Triggers below keep it in the same transaction as
-- every write it depends on, so no writer has to remember it.
CREATE TABLE cohort_facts (
  kind TEXT NOT NULL,
  code_system TEXT NOT NULL,
  code TEXT NOT NULL,
  person_id INTEGER NOT NULL,
  fact_id INTEGER NOT NULL,
  document_id INTEGER NOT NULL,
  day TEXT,
  value_num REAL,
  unit TEXT,
  PRIMARY KEY (kind, code_system, code, person_id, fact_id)
) WITHOUT ROWID;
CREATE INDEX cohort_facts_by_document ON cohort_facts(document_id, fact_id);
CREATE VIEW cohort_facts_source AS
 SELECT f.kind AS kind, f.code_system AS code_system, f.code AS code,
 (SELECT p.person_id FROM document_patient_ids l JOIN patients p
 ON p.root = l.root AND p.extension = l.extension
 WHERE l.document_id = d.id ORDER BY p.person_id LIMIT 1) AS person_id,
 f.id AS fact_id, f.document_id AS document_id,
 coalesce(f.time_low, f.time_high, d.service_start, d.creation_time) AS day,
 f.value_num AS value_num, f.unit AS unit
 FROM facts f JOIN documents d ON d.id = f.document_id
 WHERE f.code_system IS NOT NULL AND f.code IS NOT NULL
 AND d.status = 'current' AND coalesce(d.confidentiality, 'N') NOT IN ('R', 'V')
 AND NOT EXISTS (SELECT 1 FROM fact_negations n WHERE n.fact_id = f.id);
-- A row without a person (a document without a known patient id) fails
-- NOT NULL and is left out by OR IGNORE.
INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source;
CREATE TRIGGER cohort_facts_fact_in AFTER INSERT ON facts
 WHEN NEW.code_system IS NOT NULL AND NEW.code IS NOT NULL
 BEGIN
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source WHERE fact_id = NEW.id;
 END;
CREATE TRIGGER cohort_facts_fact_out AFTER DELETE ON facts
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = OLD.document_id AND fact_id = OLD.id;
 END;
CREATE TRIGGER cohort_facts_fact_change AFTER UPDATE ON facts
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = OLD.document_id AND fact_id = OLD.id;
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source WHERE fact_id = NEW.id;
 END;
-- A negation is written just after its fact: the fact leaves the index.
CREATE TRIGGER cohort_facts_negation_in AFTER INSERT ON fact_negations
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = NEW.document_id AND fact_id = NEW.fact_id;
 END;
-- A document's status, confidentiality or dates: its rows again.
CREATE TRIGGER cohort_facts_document_change
 AFTER UPDATE OF status, confidentiality, service_start, creation_time ON documents
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = NEW.id;
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source WHERE document_id = NEW.id;
 END;
CREATE TRIGGER cohort_facts_document_out AFTER DELETE ON documents
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = OLD.id;
 END;
-- A document's patient ids, or the person of an identity: the rows of
-- every document concerned again, with its person as it now is.
CREATE TRIGGER cohort_facts_ids_in AFTER INSERT ON document_patient_ids
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = NEW.document_id;
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source
 WHERE document_id = NEW.document_id;
 END;
CREATE TRIGGER cohort_facts_ids_out AFTER DELETE ON document_patient_ids
 BEGIN
 DELETE FROM cohort_facts WHERE document_id = OLD.document_id;
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source
 WHERE document_id = OLD.document_id;
 END;
CREATE TRIGGER cohort_facts_patient_in AFTER INSERT ON patients
 BEGIN
 DELETE FROM cohort_facts WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE root = NEW.root AND extension = NEW.extension);
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source
 WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE root = NEW.root AND extension = NEW.extension);
 END;
CREATE TRIGGER cohort_facts_patient_change AFTER UPDATE OF person_id, root, extension ON patients
 BEGIN
 DELETE FROM cohort_facts WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE (root = NEW.root AND extension = NEW.extension)
 OR (root = OLD.root AND extension = OLD.extension));
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source
 WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE (root = NEW.root AND extension = NEW.extension)
 OR (root = OLD.root AND extension = OLD.extension));
 END;
CREATE TRIGGER cohort_facts_patient_out AFTER DELETE ON patients
 BEGIN
 DELETE FROM cohort_facts WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE root = OLD.root AND extension = OLD.extension);
 INSERT OR IGNORE INTO cohort_facts SELECT * FROM cohort_facts_source
 WHERE document_id IN (SELECT document_id FROM document_patient_ids
 WHERE root = OLD.root AND extension = OLD.extension);
 END;
-- The facts' code index for cohorts (0009) has no reader left.
DROP INDEX facts_by_code_cohort;
