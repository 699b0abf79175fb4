-- name: institution id roots, replacements index
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
CREATE TABLE institution_id_roots (
  id INTEGER PRIMARY KEY,
  institution_id INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  root TEXT NOT NULL UNIQUE
);
CREATE INDEX institution_id_roots_by_institution ON institution_id_roots(institution_id);
CREATE INDEX documents_by_replaces ON documents(replaces);
