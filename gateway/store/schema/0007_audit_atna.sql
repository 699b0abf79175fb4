-- name: audit: ATNA fields, hash format version, signed checkpoints
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- What an IHE ATNA record carries about an access besides the event: the
-- client's network address, the access decision's reason name, the reason
-- asserted for a break-glass access, and the consent record relied on.  A
-- table of its own, one row per audit record written since this step, so
-- that the audit table keeps the text SQLite recorded for it.
-- hash_version says which fields a record's hash covers: 1 (no row here:
-- the records written before this step) the audit row's own, 2 these as
-- well, and the version itself, so that changing a record's version, or
-- removing its row here, breaks the chain.
CREATE TABLE audit_atna (
  seq INTEGER PRIMARY KEY REFERENCES audit(seq),
  hash_version INTEGER NOT NULL,
  peer TEXT,
  decision TEXT,
  reason TEXT,
  consent TEXT
);
-- A checkpoint: the gateway's Ed25519 signature (hex) over the chain's hash
-- at record seq and the checkpoint's time, by the key key_id names.  A
-- checkpoint naming a record that is gone, or a hash that is no longer the
-- chain's, shows the trail was cut or rewritten.
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  ts TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);
-- Reads of the trail by time and by patient (GET /v1/audit, the patient's
-- access log, the export).
CREATE INDEX audit_by_ts ON audit(ts);
CREATE INDEX audit_by_patient ON audit(patient_key, seq);
