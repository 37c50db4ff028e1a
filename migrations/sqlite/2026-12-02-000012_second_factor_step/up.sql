-- Issue 14 (docs/design/mfa.md): an interaction may also wait for the second factor.
-- The step must be storable before any node writes it: during a rolling upgrade the
-- nodes still running the old release share this database, and the release that
-- writes 'second_factor' must find a database that already accepts it. Nothing
-- writes it yet.
--
-- SQLite cannot alter a CHECK constraint: the table is rebuilt (new table, copy, drop,
-- rename, indexes recreated), with the same columns in the same order, the same
-- foreign key and the same indexes. No table references interactions.
CREATE TABLE interactions_new (
    id           TEXT   NOT NULL PRIMARY KEY,
    csrf_hash    TEXT   NOT NULL,
    step         TEXT   NOT NULL CHECK (step IN ('login', 'consent', 'second_factor')),
    request      TEXT   NOT NULL,
    user_id      TEXT   REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    browser_hash TEXT   NOT NULL DEFAULT ''
);
INSERT INTO interactions_new
    (id, csrf_hash, step, request, user_id, auth_time, created_at, expires_at, browser_hash)
SELECT id, csrf_hash, step, request, user_id, auth_time, created_at, expires_at, browser_hash
FROM interactions;
DROP TABLE interactions;
ALTER TABLE interactions_new RENAME TO interactions;
CREATE INDEX interactions_user_id ON interactions (user_id);
CREATE INDEX interactions_expires_at ON interactions (expires_at);
