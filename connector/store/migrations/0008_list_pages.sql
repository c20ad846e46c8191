-- Version 8: lists are read in pages (newest first, a cursor naming the last
-- row seen), so every list is ordered by a column that never changes: an
-- agreement gets created_at (agreements before this version take the time
-- they were last updated), and the three lists get an index on their order.
ALTER TABLE agreements ADD COLUMN created_at TEXT NOT NULL DEFAULT '';
UPDATE agreements SET created_at = updated_at;
CREATE INDEX agreements_created ON agreements(created_at, id);
CREATE INDEX negotiations_created ON negotiations(created_at, id);
CREATE INDEX transfers_created ON transfers(created_at, id);
