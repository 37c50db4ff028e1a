ALTER TABLE interactions DROP COLUMN browser_hash;
