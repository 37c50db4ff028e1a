-- Remembered consent names the resources (RFC 8707) it was given for (issue 16;
-- docs/design/resources.md, "Remembered consent"): space-separated identifiers, empty
-- when none. A consent stored before this column has none, so the next request that
-- names a resource shows the consent page once — the safe direction. Nodes without this
-- migration ignore the column and write the empty default.
ALTER TABLE consents ADD COLUMN resources TEXT NOT NULL DEFAULT '';
