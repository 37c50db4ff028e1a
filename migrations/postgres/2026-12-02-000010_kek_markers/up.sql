-- Non-secret facts about the deployment's KEK (review of issue 12, item 17;
-- docs/security.md, "KEK hardening after review"). Two names:
--   `kek-target`: the fingerprint of the KEK a rolling KEK change goes to, written by
--     the first process started with a previous KEK, removed by `usher kek rotate` once
--     everything is sealed under it;
--   `client-secret-hash-id`: the fingerprint of the client-secret hashing key, written
--     once it is stored in `sealed_values`; while it is here, a missing hashing key is
--     never derived again.
CREATE TABLE kek_markers (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
