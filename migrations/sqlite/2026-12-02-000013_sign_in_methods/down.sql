-- Interactions showing recovery codes are dropped (that sign-in starts again).
DELETE FROM interactions WHERE step = 'recovery_codes';
CREATE TABLE interactions_old (
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
INSERT INTO interactions_old
    (id, csrf_hash, step, request, user_id, auth_time, created_at, expires_at, browser_hash)
SELECT id, csrf_hash, step, request, user_id, auth_time, created_at, expires_at, browser_hash
FROM interactions;
DROP TABLE interactions;
ALTER TABLE interactions_old RENAME TO interactions;
CREATE INDEX interactions_user_id ON interactions (user_id);
CREATE INDEX interactions_expires_at ON interactions (expires_at);

ALTER TABLE clients DROP COLUMN require_mfa;
ALTER TABLE refresh_families DROP COLUMN amr;
ALTER TABLE authorization_codes DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN amr;
