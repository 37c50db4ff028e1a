-- The account page's single-use form tokens (CSRF; issue 14, docs/design/mfa.md).
-- A page stores one row per form it renders; posting the form takes the row with one
-- DELETE ... RETURNING, so a token is accepted once however many requests race. Only
-- hashes are stored: the token travels in the page, the session id in its cookie.
-- Expired rows are purged with the other sign-in records (usher-store purge.rs).
CREATE TABLE form_tokens (
    token_hash   TEXT   NOT NULL PRIMARY KEY,
    session_hash TEXT   NOT NULL,
    purpose      TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX form_tokens_expires_at ON form_tokens (expires_at);

-- Usher's built-in account client (usher-account) is synthesised by the core and never
-- read from here; this placeholder row exists only because authorization_codes.client_id
-- references clients (id). The store never returns, lists, deletes or updates it, and
-- creating another client with this id is a conflict. It has no secret and no redirect
-- URI rows: a node of the previous version reading it could issue nothing to it.
INSERT INTO clients (id, name, secret_hash, auth_method, grant_types, scopes, audiences,
                     pkce_required, first_party, created_at)
VALUES ('usher-account', 'Usher account (built in)', NULL, 'none', 'authorization_code',
        'openid', '', 1, 0, 0);
