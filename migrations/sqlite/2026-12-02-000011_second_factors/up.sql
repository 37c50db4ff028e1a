-- Second factors (issue 14, docs/design/mfa.md). Timestamps are unix seconds; booleans are 0/1 integers (diesel's Bool on SQLite).
-- Nothing in this release writes these tables: they are the groundwork the sign-in's
-- second step will read. A person's factors go with the person (ON DELETE CASCADE).
--
-- totp_factors: one authenticator app per person. The secret is sealed under a sub-key
-- of the KEK bound to the person's id; last_used_step is the latest RFC 6238 time step
-- accepted, and only a later one is accepted next (one compare-and-set UPDATE).
CREATE TABLE totp_factors (
    user_id        TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  TEXT   NOT NULL,
    confirmed      INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    last_used_step BIGINT,
    created_at     BIGINT NOT NULL
);

-- recovery_codes: keyed hashes (never the codes) of a person's single-use recovery
-- codes; spending one is one UPDATE ... WHERE used_at IS NULL. Replacing them deletes
-- every row of the person first, in the same transaction.
CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
