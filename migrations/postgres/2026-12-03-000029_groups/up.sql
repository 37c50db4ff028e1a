-- Groups of people (issue 17; docs/design/groups.md), managed with `usher group …`.
-- A group is known by its name (letters, digits and -_.: only, at most 64 characters;
-- the name is what tokens carry, so there is no separate id and no renaming). A
-- membership goes with its group or its person (ON DELETE CASCADE); the primary key
-- makes adding a member twice, even at the same moment, one row.
CREATE TABLE groups (
    name        TEXT   NOT NULL PRIMARY KEY,
    description TEXT,
    created_at  BIGINT NOT NULL
);
CREATE TABLE group_members (
    group_name TEXT   NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);
-- The built-in group: the admin console (a later change) is open only to its members.
-- The store never deletes it.
INSERT INTO groups (name, description, created_at)
VALUES ('usher-admins', 'Usher administrators (built in)', 0);
-- `--allowed-group`: the groups whose members alone may use a client, space-separated
-- (a group name holds no space); empty: anyone. Nodes of the previous version ignore the
-- column, so during a rolling upgrade they do not enforce it.
ALTER TABLE clients ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '';
