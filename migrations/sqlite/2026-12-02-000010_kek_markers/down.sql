-- WARNING: without `client-secret-hash-id`, a node that finds no hashing key in
-- `sealed_values` derives one from its KEK; after a KEK change that key differs, and
-- every client secret and refresh token stops verifying. Revert only together with
-- the sealed_values migration, from a backup, or not at all (docs/operations.md).
DROP TABLE kek_markers;
