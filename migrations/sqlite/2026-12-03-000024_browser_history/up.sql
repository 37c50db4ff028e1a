-- Whether a person has ever signed in from a browser Usher remembers (issue 15;
-- docs/design/accounts.md, "New-browser alerts"). The new-browser alert is not mailed on
-- a person's very first sign-in; "first" used to mean "no known browser", which was also
-- true a year after the last sign-in (browsers are purged) and after the known browsers
-- were forgotten on purpose (a password reset, "sign out everywhere"). One row per
-- person, written with their first known browser and kept until the person is deleted.
CREATE TABLE browser_history (
    user_id TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    since   BIGINT NOT NULL
);
-- Everyone who exists when this runs has a history: their next sign-in from a browser
-- not known is mailed about (at worst one alert too many for a person who never signed
-- in), rather than a dormant account's first sign-in in a year passing unmentioned.
INSERT INTO browser_history (user_id, since) SELECT id, created_at FROM users;
