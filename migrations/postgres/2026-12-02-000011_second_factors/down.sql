-- WARNING: this removes every person's authenticator app and recovery codes; once a
-- release enforces them, people who relied on them sign in with a password alone.
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
