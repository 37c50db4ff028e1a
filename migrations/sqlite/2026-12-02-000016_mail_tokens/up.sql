-- Single-use links mailed to people (issue 15, docs/design/accounts.md): a password
-- reset, an address to verify. Only the SHA-256 of a token is stored; the token travels
-- only in the mail. A link is taken with one DELETE ... RETURNING, so it works once
-- however many requests race. `email` is the address the link was sent to: verifying
-- marks that address only while it is still the person's. Expired rows are purged with
-- the other sign-in records (usher-store purge.rs); a person's rows go with the person.
CREATE TABLE mail_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL,
    email      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mail_tokens_user ON mail_tokens (user_id, purpose);
CREATE INDEX mail_tokens_expires_at ON mail_tokens (expires_at);
-- Finding the people of an address (forgotten password) without regard to case.
CREATE INDEX users_email_lower ON users (lower(email));
