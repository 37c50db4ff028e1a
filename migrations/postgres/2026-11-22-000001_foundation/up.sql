-- Usher's first tables: clients and their redirect URIs, users, signing keys.
-- Timestamps are unix seconds (BIGINT).

CREATE TABLE clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_hash   TEXT,
    auth_method   TEXT    NOT NULL,
    grant_types   TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    audiences     TEXT    NOT NULL,
    pkce_required BOOLEAN NOT NULL,
    first_party   BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE client_redirect_uris (
    client_id TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('login', 'post_logout')),
    position  INTEGER NOT NULL,
    uri       TEXT    NOT NULL,
    PRIMARY KEY (client_id, kind, position)
);

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    name           TEXT,
    email          TEXT,
    email_verified BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE signing_keys (
    kid                   TEXT    NOT NULL PRIMARY KEY,
    state                 TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retired', 'removed')),
    alg                   TEXT    NOT NULL,
    bits                  INTEGER NOT NULL,
    public_jwk            TEXT    NOT NULL,
    private_key_encrypted TEXT    NOT NULL,
    created_at            BIGINT  NOT NULL,
    activate_after        BIGINT,
    activated_at          BIGINT,
    retire_after          BIGINT,
    retired_at            BIGINT,
    remove_after          BIGINT,
    removed_at            BIGINT
);

-- At most one key signs at any time.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
