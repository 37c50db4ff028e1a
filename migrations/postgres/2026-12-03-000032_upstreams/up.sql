-- Upstream identity providers (issue 18; docs/design/upstream.md): other OpenID Connect
-- (or plain OAuth 2.0) providers whose people may sign in to Usher, managed with
-- `usher upstream …`.
--
-- upstreams: one row per provider, keyed by its short id (the path segment of its
-- callback, `/upstream/{id}/callback`). client_secret_sealed is the client secret sealed
-- under the KEK with the id as associated data (NULL: Usher is a public client, PKCE
-- alone); claim_mapping is the ClaimMapping as JSON; endpoints, the ManualEndpoints as
-- JSON for a plain OAuth 2.0 provider, NULL for OpenID Connect (discovery). Timestamps are
-- unix seconds.
CREATE TABLE upstreams (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    client_id            TEXT    NOT NULL,
    client_secret_sealed TEXT,
    scope                TEXT    NOT NULL,
    claim_mapping        TEXT    NOT NULL,
    endpoints            TEXT,
    enabled              BOOLEAN NOT NULL,
    trusted_for_mfa      BOOLEAN NOT NULL,
    create_people        BOOLEAN NOT NULL,
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
-- an existing person ('upstream_link'). The kinds must be storable before any node
-- writes them (a rolling upgrade). (webauthn_ceremonies_kind_check is the name
-- PostgreSQL gave the column's CHECK in 2026-12-02-000014_passkeys.)
ALTER TABLE webauthn_ceremonies DROP CONSTRAINT webauthn_ceremonies_kind_check;
ALTER TABLE webauthn_ceremonies ADD CONSTRAINT webauthn_ceremonies_kind_check
    CHECK (kind IN ('register', 'authenticate', 'upstream', 'upstream_link'));
