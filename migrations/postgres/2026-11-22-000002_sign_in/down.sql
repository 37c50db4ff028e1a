DROP TABLE IF EXISTS login_failures;
DROP TABLE IF EXISTS revoked_tokens;
DROP TABLE IF EXISTS code_tokens;
DROP TABLE IF EXISTS authorization_codes;
DROP TABLE IF EXISTS consents;
DROP TABLE IF EXISTS interactions;
DROP TABLE IF EXISTS sessions;
