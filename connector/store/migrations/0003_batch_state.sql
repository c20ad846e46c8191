-- Version 3: the ledger writer looks for the open batch on every step; index
-- it rather than scan every batch ever sent.
CREATE INDEX batches_state ON batches(state, created_at);
