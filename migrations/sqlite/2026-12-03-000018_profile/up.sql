-- The account page's Profile (issue 15; docs/design/accounts.md, "Profile"): the
-- standard claims preferred_username, phone_number (E.164, "+" and digits),
-- phone_number_verified and address (the OIDC Core 5.1.1 JSON object, as text). All
-- optional; nodes of the previous version ignore the new columns. preferred_username
-- is not unique (OIDC Core 5.7): tokens carry the login username when it is NULL.
ALTER TABLE users ADD COLUMN preferred_username TEXT;
ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN phone_number_verified BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN address TEXT;
