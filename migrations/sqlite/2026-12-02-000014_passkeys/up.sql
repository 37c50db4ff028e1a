-- Passkeys (issue 14, docs/design/mfa.md). Timestamps are unix seconds; booleans are 0/1 integers (diesel's Bool on SQLite).
-- A person's passkeys go with the person (ON DELETE CASCADE), and so do the ceremonies
-- they started.
--
-- passkeys: WebAuthn credentials. credential_id is the credential's id (base64url),
-- unique across people: an authenticator's credential names one person. credential is
-- the webauthn-rs Passkey as JSON (public key, signature counter, backup flags); after
-- each sign-in it is replaced by one compare-and-set on its old value. suspect is set
-- when a signature counter went backwards (a possibly cloned authenticator): such a
-- passkey is refused until it is removed.
CREATE TABLE passkeys (
    id            TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT   NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    credential    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    suspect       INTEGER NOT NULL DEFAULT 0 CHECK (suspect IN (0, 1))
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- webauthn_ceremonies: a registration or a sign-in between its start and its finish, so
-- any node can finish what another started. id_hash is the SHA-256 of the random
-- ceremony id the page carries; state is the webauthn-rs ceremony state (the challenge)
-- sealed under a KEK sub-key with the id and kind as associated data; browser_hash is
-- the hash of the browser-binding cookie of the browser that started it. Finishing
-- deletes the row with DELETE ... RETURNING (a challenge is answered once); expired rows
-- are purged with the other sign-in records.
CREATE TABLE webauthn_ceremonies (
    id_hash      TEXT   NOT NULL PRIMARY KEY,
    kind         TEXT   NOT NULL CHECK (kind IN ('register', 'authenticate')),
    user_id      TEXT   REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT   NOT NULL,
    browser_hash TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
