-- Issue 14 (docs/design/mfa.md): how each sign-in was made travels from the session to
-- its codes and refresh families (`amr`, RFC 8176; the `acr` follows from it), a client
-- may require a second factor, and an interaction may show freshly made recovery codes.
-- Rows written by a node of the previous release during a rolling upgrade get 'pwd':
-- that release signs in with a password alone.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE interactions DROP CONSTRAINT interactions_step_check;
ALTER TABLE interactions ADD CONSTRAINT interactions_step_check
    CHECK (step IN ('login', 'consent', 'second_factor', 'recovery_codes'));
