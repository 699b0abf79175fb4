-- name: fact extras per document
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- The fields of a document's facts that the facts columns do not hold, all
-- of the document's facts in one zstd frame (gateway/store/facts.c): a JSON
-- array with one object per fact, in the order of the facts' row ids.  A
-- fact whose data is '' finds its fields there; facts stored before keep
-- theirs in data.  A table of its own so that the facts table keeps the
-- text SQLite recorded for it.
CREATE TABLE fact_extras (
  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  data BLOB NOT NULL
);
