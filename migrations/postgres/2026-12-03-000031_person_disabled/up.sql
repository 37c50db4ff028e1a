-- A person an administrator disabled (issue 17; docs/design/accounts.md, "Disabled
-- people"): the time it was done, NULL while the person may sign in. Nullable with no
-- default, so a node of the previous version keeps working (it ignores the column, and
-- so does not refuse a disabled person: finish a rolling upgrade before disabling).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
