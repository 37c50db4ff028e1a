DROP TABLE initial_access_tokens;
DROP INDEX clients_dynamically_registered;
ALTER TABLE clients DROP COLUMN last_used_at;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE clients DROP COLUMN dynamically_registered;
