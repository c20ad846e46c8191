-- tdsc connector store, version 1. Portable SQL: runs on SQLite and PostgreSQL
-- (TEXT times in RFC 3339 UTC, BIGINT counters, no AUTOINCREMENT, no SQLite-only types).
CREATE TABLE datasets (
  id              TEXT PRIMARY KEY,
  title           TEXT NOT NULL,
  description     TEXT NOT NULL,
  classification  TEXT NOT NULL,
  category        TEXT NOT NULL,
  rights          TEXT NOT NULL,
  content_hash    TEXT NOT NULL,
  source          TEXT NOT NULL,
  manual_approval INTEGER NOT NULL,
  created_at      TEXT NOT NULL
);
CREATE TABLE offers (
  id          TEXT PRIMARY KEY,
  dataset_id  TEXT NOT NULL REFERENCES datasets(id),
  policy      TEXT NOT NULL,
  policy_hash TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX offers_dataset ON offers(dataset_id);
CREATE TABLE negotiations (
  id             TEXT PRIMARY KEY,
  role           TEXT NOT NULL,
  peer_pid       TEXT NOT NULL,
  counterparty   TEXT NOT NULL,
  peer_url       TEXT NOT NULL,
  dataset_id     TEXT NOT NULL,
  offer_id       TEXT NOT NULL,
  offer          TEXT NOT NULL,
  state          TEXT NOT NULL,
  awaiting       TEXT NOT NULL,
  agreement_id   TEXT NOT NULL,
  code           TEXT NOT NULL,
  rule           TEXT NOT NULL,
  reason         TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);
CREATE INDEX negotiations_peer ON negotiations(peer_pid);
CREATE TABLE transitions (
  entity_id  TEXT NOT NULL,
  seq        BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state   TEXT NOT NULL,
  actor      TEXT NOT NULL,
  reason     TEXT NOT NULL,
  at         TEXT NOT NULL,
  PRIMARY KEY (entity_id, seq)
);
CREATE TABLE agreements (
  id             TEXT PRIMARY KEY,
  negotiation_id TEXT NOT NULL,
  role           TEXT NOT NULL,
  provider       TEXT NOT NULL,
  consumer       TEXT NOT NULL,
  provider_url   TEXT NOT NULL,
  dataset_id     TEXT NOT NULL,
  policy         TEXT NOT NULL,
  policy_hash    TEXT NOT NULL,
  terms          TEXT NOT NULL,
  state          TEXT NOT NULL,
  uses           BIGINT NOT NULL,
  record_id      TEXT NOT NULL,
  reason         TEXT NOT NULL,
  signed_at      TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);
CREATE TABLE transfers (
  id           TEXT PRIMARY KEY,
  role         TEXT NOT NULL,
  peer_pid     TEXT NOT NULL,
  counterparty TEXT NOT NULL,
  peer_url     TEXT NOT NULL,
  agreement_id TEXT NOT NULL,
  dataset_id   TEXT NOT NULL,
  format       TEXT NOT NULL,
  state        TEXT NOT NULL,
  data_address TEXT NOT NULL,
  token_id     TEXT NOT NULL,
  code         TEXT NOT NULL,
  rule         TEXT NOT NULL,
  reason       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX transfers_agreement ON transfers(agreement_id);
CREATE TABLE duties (
  agreement_id TEXT NOT NULL,
  duty_id      TEXT NOT NULL,
  action       TEXT NOT NULL,
  due          TEXT NOT NULL,
  state        TEXT NOT NULL,
  record_id    TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  PRIMARY KEY (agreement_id, duty_id)
);
CREATE TABLE outbox (
  record_id  TEXT PRIMARY KEY,
  seq        BIGINT NOT NULL,
  record     TEXT NOT NULL,
  state      TEXT NOT NULL,
  batch_root TEXT NOT NULL,
  solo       INTEGER NOT NULL,
  error      TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE TABLE batches (
  root       TEXT PRIMARY KEY,
  body       TEXT NOT NULL,
  state      TEXT NOT NULL,
  attempts   BIGINT NOT NULL,
  error      TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE tasks (
  kind       TEXT NOT NULL,
  ref        TEXT NOT NULL,
  attempts   BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (kind, ref)
);
