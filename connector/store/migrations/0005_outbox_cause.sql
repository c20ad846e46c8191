-- Version 5: a refused record keeps the ledger's refusal as it came over the
-- wire (kind, rule, field, record, reason as JSON), so the connector reads the
-- rule from the structure instead of parsing it back out of the message.
ALTER TABLE outbox ADD COLUMN cause TEXT NOT NULL DEFAULT '';
