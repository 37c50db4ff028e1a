-- Interactions showing recovery codes are dropped (that sign-in starts again).
DELETE FROM interactions WHERE step = 'recovery_codes';
ALTER TABLE interactions DROP CONSTRAINT interactions_step_check;
ALTER TABLE interactions ADD CONSTRAINT interactions_step_check
    CHECK (step IN ('login', 'consent', 'second_factor'));
ALTER TABLE clients DROP COLUMN require_mfa;
ALTER TABLE refresh_families DROP COLUMN amr;
ALTER TABLE authorization_codes DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN amr;
