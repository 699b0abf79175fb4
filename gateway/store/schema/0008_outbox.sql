-- name: outbox: deliveries of documents to other institutions, relayed documents
-- One row per (document, destination institution), written in the same
-- transaction as what causes it (a referral, a request, a subscription).
-- state: pending until a receipt (delivered) or a permanent failure or the
-- retry bound (dead).  Times that the worker compares are milliseconds
-- since the epoch (next_attempt_ms, created_ms); the others are text.
-- in_flight is 1 from the start of an attempt until its outcome is
-- written: after a restart such rows are resumed first.
CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY,
  document_uid TEXT NOT NULL,
  destination TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  reason TEXT NOT NULL CHECK (reason IN ('referral', 'request', 'subscription')),
  reason_id TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  in_flight INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  last_error TEXT,
  receipt_status INTEGER,
  receipt_sha256 TEXT,
  receipt_summary TEXT,
  latency_ms INTEGER,
  UNIQUE (document_uid, destination)
);
CREATE INDEX deliveries_due ON deliveries(state, destination, in_flight, next_attempt_ms);
-- Which gateway (an institution with the relay role) handed in a document
-- on behalf of its custodian.
CREATE TABLE document_relays (
  document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  relay_oid TEXT NOT NULL,
  relayed_at TEXT NOT NULL
);
