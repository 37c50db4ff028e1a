DROP INDEX IF EXISTS signing_keys_one_active;
DROP TABLE IF EXISTS signing_keys;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS client_redirect_uris;
DROP TABLE IF EXISTS clients;
