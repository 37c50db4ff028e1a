-- Signing algorithms (issue 19, docs/design/key-rotation.md "Algorithms"): RS256, ES256
-- and EdDSA each have their own key in the next -> active -> retired cycle, so one key
-- per algorithm may be active at a time (the old index allowed one in all). Existing
-- rows are RS256 keys: their alg column already says so.
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg, state) WHERE state = 'active';

-- The algorithm of a client's ID tokens and logout tokens (OpenID Connect Dynamic Client
-- Registration 1.0 §2); NULL: the server's default (id_token_alg).
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
