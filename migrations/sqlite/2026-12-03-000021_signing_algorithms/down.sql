ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
DELETE FROM signing_keys WHERE alg <> 'RS256';
DROP INDEX signing_keys_one_active_per_alg;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';
