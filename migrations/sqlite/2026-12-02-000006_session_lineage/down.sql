DROP INDEX sessions_lineage_hash;
ALTER TABLE sessions DROP COLUMN lineage_hash;
