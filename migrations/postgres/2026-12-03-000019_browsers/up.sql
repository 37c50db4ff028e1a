-- Where a person signed in from (issue 15; docs/design/accounts.md, "Browsers: where you
-- signed in from, and new-browser alerts"). Each session keeps the client address and
-- the user agent (a bounded label) of the sign-in that created it; nodes of the previous
-- version write neither (NULL: shown as unknown).
ALTER TABLE sessions ADD COLUMN client_address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;

-- The browsers each person signed in from: SHA-256 of a long-lived random cookie, never
-- the cookie. At most 50 per person (the least recently seen evicted), purged a year
-- after they were last seen.
CREATE TABLE known_browsers (
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_hash TEXT   NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (user_id, browser_hash)
);
CREATE INDEX known_browsers_last_seen ON known_browsers (last_seen);
