-- Single-use values that are stored only once they are used: a logout confirmation
-- token is a MAC bound to the browser session, and its nonce is recorded here when the
-- form is posted. The primary key makes the insert the arbiter: exactly one request
-- spends a nonce, however many race. Rows are purged after `expires_at`.
CREATE TABLE spent_nonces (
    nonce_hash TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX spent_nonces_expires_at ON spent_nonces (expires_at);
