-- Issue 14 (docs/design/mfa.md): how each sign-in was made travels from the session to
-- its codes and refresh families (`amr`, RFC 8176; the `acr` follows from it), a client
-- may require a second factor, and an interaction may show freshly made recovery codes.
-- Rows written by a node of the previous release during a rolling upgrade get 'pwd':
-- that release signs in with a password alone.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- SQLite cannot alter a CHECK constraint: the table is rebuilt as in
-- 2026-12-02-000012_second_factor_step.
CREATE TABLE interactions_new (
    id           TEXT   NOT NULL PRIMARY KEY,
    csrf_hash    TEXT   NOT NULL,
    step         TEXT   NOT NULL
        CHECK (step IN ('login', 'consent', 'second_factor', 'recovery_codes')),
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
