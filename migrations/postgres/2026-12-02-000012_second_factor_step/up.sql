-- Issue 14 (docs/design/mfa.md): an interaction may also wait for the second factor.
-- The step must be storable before any node writes it: during a rolling upgrade the
-- nodes still running the old release share this database, and the release that
-- writes 'second_factor' must find a database that already accepts it. Nothing
-- writes it yet. (interactions_step_check is the name PostgreSQL gave the column's
-- CHECK in 2026-11-22-000002_sign_in.)
ALTER TABLE interactions DROP CONSTRAINT interactions_step_check;
ALTER TABLE interactions ADD CONSTRAINT interactions_step_check
    CHECK (step IN ('login', 'consent', 'second_factor'));
