-- Browser-session lineages (docs/design/sign-in.md, "Sessions"): every session carries
-- the hash of its lineage, a random id inherited by the next session of the same person
-- in the same browser. Codes and refresh families are bound to the lineage; their
-- existing `session_id_hash` columns hold it from now on (for rows written before, the
-- session's own hash, which is also the lineage of the sessions backfilled here, so
-- nothing in flight loses its link). Nullable, so that a node of the previous version
-- can still insert sessions during a rolling upgrade: a session without a lineage is
-- its own lineage (`lineage_hash = id_hash`).
ALTER TABLE sessions ADD COLUMN lineage_hash TEXT;
UPDATE sessions SET lineage_hash = id_hash;
CREATE INDEX sessions_lineage_hash ON sessions (lineage_hash);
