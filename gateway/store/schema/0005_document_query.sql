-- name: document query: UTC sort and filter keys, class code
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- A document's times as "YYYYMMDDHHMMSS" in UTC (include/cdx/parsers/time_key.h),
-- so that they compare as text whatever offset the document was written
-- with, and its class code when the extraction gives one.  A table of its
-- own, one row per document, so that the documents table keeps the text
-- SQLite recorded for it.  The registry writes the row when it stores a
-- document; this step writes it for the documents already stored with
-- cdx_ts_utc_key, a function every registry connection defines
-- (gateway/store/query.c).
CREATE TABLE document_keys (
  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  creation_key TEXT NOT NULL,
  service_start_key TEXT,
  service_stop_key TEXT,
  class_code TEXT
);
CREATE INDEX document_keys_by_creation ON document_keys(creation_key, document_id);
INSERT INTO document_keys (document_id, creation_key, service_start_key, service_stop_key)
 SELECT id, coalesce(cdx_ts_utc_key(creation_time), ''), cdx_ts_utc_key(service_start),
 cdx_ts_utc_key(service_stop) FROM documents;
