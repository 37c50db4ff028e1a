-- Interactions waiting for a second factor are dropped (a sign-in in progress starts
-- again); the others are kept.
DELETE FROM interactions WHERE step = 'second_factor';
ALTER TABLE interactions DROP CONSTRAINT interactions_step_check;
ALTER TABLE interactions ADD CONSTRAINT interactions_step_check
    CHECK (step IN ('login', 'consent'));
