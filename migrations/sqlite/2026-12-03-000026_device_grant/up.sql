-- Device authorizations (RFC 8628; issue 16, docs/design/device-grant.md). The device
-- code is stored only as its SHA-256, the user code only as a keyed hash (HMAC under a
-- key derived from the KEK: a user code has about 34.6 bits, too few for a plain hash).
-- Every state change is one compare-and-set UPDATE: pending -> approved|denied once,
-- approved -> claimed by exactly one poll. The polling interval grows with each
-- slow_down and is remembered here, so every node enforces it. Rows are purged once
-- expired (purge.rs).
CREATE TABLE device_grants (
    device_code_hash TEXT   NOT NULL PRIMARY KEY,
    user_code_hash   TEXT   NOT NULL UNIQUE,
    client_id        TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           TEXT   NOT NULL,
    resources        TEXT   NOT NULL DEFAULT '',
    status           TEXT   NOT NULL,
    user_id          TEXT   REFERENCES users (id) ON DELETE CASCADE,
    lineage_hash     TEXT,
    auth_time        BIGINT,
    amr              TEXT,
    poll_interval    BIGINT NOT NULL,
    last_poll_at     BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
