-- Resource servers (issue 16, RFC 8707; docs/design/resources.md), registered with
-- `usher resource create`: the identifier (an absolute URI without a fragment, the `aud`
-- of its tokens), an optional display name, and the scopes it defines, space-separated
-- (scope tokens hold no space).
CREATE TABLE resources (
    uri        TEXT   NOT NULL PRIMARY KEY,
    name       TEXT,
    scopes     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The resources a code and a refresh family were granted for, space-separated (a
-- resource identifier holds no space); empty when none was asked for. Nodes without
-- this migration ignore the columns and write the empty default: a grant without
-- resources, as before.
ALTER TABLE authorization_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN resources TEXT NOT NULL DEFAULT '';
