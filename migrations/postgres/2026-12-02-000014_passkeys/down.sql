-- WARNING: this removes every person's passkeys; people who signed in with them only
-- must use their password (and other factors) again.
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
