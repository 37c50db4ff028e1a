-- Refresh-token families for the embedded family store (the Redis store keeps the same
-- record in one hash per family). Timestamps are unix seconds. Tokens are stored only
-- as hashes; `sealed_child` is the grace window's child token, sealed under a key that
-- only the holder of the parent token can derive (docs/design/refresh-families.md).
-- No foreign keys: the Redis store cannot have them either, and the refresh grant
-- checks that the person and the client still exist.

CREATE TABLE refresh_families (
    id              TEXT   NOT NULL PRIMARY KEY,
    user_id         TEXT   NOT NULL,
    client_id       TEXT   NOT NULL,
    scopes          TEXT   NOT NULL,
    auth_time       BIGINT NOT NULL,
    session_id_hash TEXT,
    token_hash      TEXT   NOT NULL,
    parent_hash     TEXT,
    sealed_child    TEXT,
    grace_until     BIGINT,
    created_at      BIGINT NOT NULL,
    last_rotated_at BIGINT,
    expires_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_client_id ON refresh_families (client_id);
CREATE INDEX refresh_families_session ON refresh_families (session_id_hash);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);
