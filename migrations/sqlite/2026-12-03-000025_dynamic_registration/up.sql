-- Dynamic client registration (RFC 7591/7592, issue 16; docs/design/registration.md).
-- A client registered through POST /register is marked: it never skips the consent page
-- and is removed when unused for `registration_unused_after`. Only the keyed hash of its
-- registration access token is stored. `last_used_at` is written at most once an hour
-- per client (on a code exchange or a refresh); NULL: never used since registration.
-- Operators' clients keep the defaults, so nothing needs backfilling; nodes of the
-- previous version ignore the columns.
ALTER TABLE clients ADD COLUMN dynamically_registered BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
ALTER TABLE clients ADD COLUMN last_used_at BIGINT;
CREATE INDEX clients_dynamically_registered ON clients (dynamically_registered);

-- Initial access tokens (`usher registration token create`): only the keyed hash of a
-- token is stored; a registration spends one use with one UPDATE ... WHERE uses <
-- max_uses AND expires_at > now, in the transaction that stores the client.
CREATE TABLE initial_access_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0
);
