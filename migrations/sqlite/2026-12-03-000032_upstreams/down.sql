-- Upstream sign-ins in flight and pending links are dropped (they start again).
DELETE FROM webauthn_ceremonies WHERE kind IN ('upstream', 'upstream_link');
CREATE TABLE webauthn_ceremonies_old (
    id_hash      TEXT   NOT NULL PRIMARY KEY,
    kind         TEXT   NOT NULL CHECK (kind IN ('register', 'authenticate')),
    user_id      TEXT   REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT   NOT NULL,
    browser_hash TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
INSERT INTO webauthn_ceremonies_old (id_hash, kind, user_id, state, browser_hash, expires_at)
SELECT id_hash, kind, user_id, state, browser_hash, expires_at FROM webauthn_ceremonies;
DROP TABLE webauthn_ceremonies;
ALTER TABLE webauthn_ceremonies_old RENAME TO webauthn_ceremonies;
CREATE INDEX webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

DROP TABLE upstream_identities;
DROP TABLE upstreams;
