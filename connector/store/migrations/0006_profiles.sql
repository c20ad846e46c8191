-- Version 6: the tdsc profiles the counterparty advertised in its contract
-- request (space-separated IRIs); the provider uses tdsc's countersigned
-- agreement only with a consumer that lists it.
ALTER TABLE negotiations ADD COLUMN profiles TEXT NOT NULL DEFAULT '';
