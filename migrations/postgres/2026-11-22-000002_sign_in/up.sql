-- Sign-in: browser sessions, pending login/consent interactions, remembered consent,
-- authorization codes and the access tokens issued from them, revoked access tokens,
-- and failed-login counters. Timestamps are unix seconds (BIGINT). Every secret that
-- identifies a row (session cookie, CSRF token, code) is stored only as its hash.

CREATE TABLE sessions (
    id_hash    TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE interactions (
    id         TEXT   NOT NULL PRIMARY KEY,
    csrf_hash  TEXT   NOT NULL,
    step       TEXT   NOT NULL CHECK (step IN ('login', 'consent')),
    request    TEXT   NOT NULL,
    user_id    TEXT   REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX interactions_user_id ON interactions (user_id);
CREATE INDEX interactions_expires_at ON interactions (expires_at);

CREATE TABLE consents (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE authorization_codes (
    code_hash         TEXT    NOT NULL PRIMARY KEY,
    client_id         TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri      TEXT    NOT NULL,
    redirect_uri_sent BOOLEAN NOT NULL,
    user_id           TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id_hash   TEXT    NOT NULL,
    scopes            TEXT    NOT NULL,
    nonce             TEXT,
    code_challenge    TEXT,
    auth_time         BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    consumed_at       BIGINT
);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id ON authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- The access tokens issued from a code, to revoke them if the code is replayed.
CREATE TABLE code_tokens (
    code_hash  TEXT   NOT NULL REFERENCES authorization_codes (code_hash) ON DELETE CASCADE,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (code_hash, jti)
);

CREATE TABLE revoked_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE login_failures (
    key          TEXT    NOT NULL PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start BIGINT  NOT NULL,
    locked_until BIGINT
);
