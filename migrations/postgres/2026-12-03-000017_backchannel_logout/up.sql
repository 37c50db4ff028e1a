-- OpenID Connect Back-Channel Logout 1.0 (issue 15; docs/design/accounts.md, "Back-channel
-- logout"). A client may register the URI it is told at; nodes of the previous version
-- ignore the two new columns.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Which clients got tokens through which browser-session lineage (recorded at the code
-- exchange), with the sid their ID tokens carry: the end of the lineage is told to them.
-- Taken (deleted) in the same transaction that queues the logouts.
CREATE TABLE session_clients (
    lineage_hash TEXT   NOT NULL,
    client_id    TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid          TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (lineage_hash, client_id)
);
CREATE INDEX session_clients_user_id ON session_clients (user_id);

-- The durable queue of logout tokens to deliver. A node claims due rows by moving
-- due_at to the end of its lease and writing its claim (PostgreSQL: FOR UPDATE SKIP
-- LOCKED; SQLite: one UPDATE ... RETURNING under the write lock); a node that dies
-- mid-delivery leaves the row due again when the lease ends. The token itself is minted
-- at each attempt and never stored.
CREATE TABLE backchannel_logouts (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    TEXT    NOT NULL,
    sid        TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    due_at     BIGINT  NOT NULL,
    claim      TEXT,
    created_at BIGINT  NOT NULL
);
CREATE INDEX backchannel_logouts_due_at ON backchannel_logouts (due_at);
