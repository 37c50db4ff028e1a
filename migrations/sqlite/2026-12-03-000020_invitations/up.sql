-- Invitations to sign up (issue 15, docs/design/accounts.md "Sign-up and invitations"),
-- made with `usher user invite`. Only the SHA-256 of a token is stored; the token travels
-- only in the mail. Spending one and creating the person are one transaction (DELETE ...
-- RETURNING, then INSERT INTO users), so a link creates one person however many posts
-- race. The person does not exist yet, hence a table of its own rather than mail_tokens
-- (which needs a user id). Expired rows are purged with the other sign-in records.
CREATE TABLE invitations (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    email      TEXT   NOT NULL,
    name       TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX invitations_expires_at ON invitations (expires_at);
