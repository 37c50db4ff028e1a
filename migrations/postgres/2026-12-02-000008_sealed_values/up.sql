-- Secrets of the whole deployment kept in the database sealed under the KEK (issue 12,
-- item 17). Today one row: `client-secret-hash`, the key that hashes client secrets and
-- refresh-token tags, so that it survives a KEK rotation (docs/operations.md).
CREATE TABLE sealed_values (
    name TEXT PRIMARY KEY NOT NULL,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
