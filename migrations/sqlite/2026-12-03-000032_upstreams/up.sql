-- Upstream identity providers (issue 18; docs/design/upstream.md): other OpenID Connect
-- (or plain OAuth 2.0) providers whose people may sign in to Usher, managed with
-- `usher upstream …`.
--
-- upstreams: one row per provider, keyed by its short id (the path segment of its
-- callback, `/upstream/{id}/callback`). client_secret_sealed is the client secret sealed
-- under the KEK with the id as associated data (NULL: Usher is a public client, PKCE
-- alone); claim_mapping is the ClaimMapping as JSON; endpoints, the ManualEndpoints as
-- JSON for a plain OAuth 2.0 provider, NULL for OpenID Connect (discovery). Booleans are 0/1
-- integers (diesel's Bool on SQLite); timestamps are unix seconds.
CREATE TABLE upstreams (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    client_id            TEXT    NOT NULL,
    client_secret_sealed TEXT,
    scope                TEXT    NOT NULL,
    claim_mapping        TEXT    NOT NULL,
    endpoints            TEXT,
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    trusted_for_mfa      INTEGER NOT NULL CHECK (trusted_for_mfa IN (0, 1)),
    create_people        INTEGER NOT NULL CHECK (create_people IN (0, 1)),
    created_at           BIGINT  NOT NULL
);

-- upstream_identities: an upstream identity is the pair (upstream, sub), never an
-- address; the primary key makes linking one pair twice, even by two racing first
-- sign-ins, one row. A link goes with its upstream or its person (ON DELETE CASCADE).
CREATE TABLE upstream_identities (
    upstream_id TEXT   NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    subject     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, subject)
);
CREATE INDEX upstream_identities_user_id ON upstream_identities (user_id);

-- webauthn_ceremonies also holds upstream sign-ins in flight (kind 'upstream': the
-- state, nonce and PKCE verifier, sealed) and pending links of an upstream identity to
-- an existing person ('upstream_link'). SQLite cannot alter a CHECK constraint: the table
-- is rebuilt as in 2026-12-02-000013_sign_in_methods, with the same columns, indexes and
-- foreign key, and its rows copied.
CREATE TABLE webauthn_ceremonies_new (
    id_hash      TEXT   NOT NULL PRIMARY KEY,
    kind         TEXT   NOT NULL
        CHECK (kind IN ('register', 'authenticate', 'upstream', 'upstream_link')),
    user_id      TEXT   REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT   NOT NULL,
    browser_hash TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
INSERT INTO webauthn_ceremonies_new (id_hash, kind, user_id, state, browser_hash, expires_at)
SELECT id_hash, kind, user_id, state, browser_hash, expires_at FROM webauthn_ceremonies;
DROP TABLE webauthn_ceremonies;
ALTER TABLE webauthn_ceremonies_new RENAME TO webauthn_ceremonies;
CREATE INDEX webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
