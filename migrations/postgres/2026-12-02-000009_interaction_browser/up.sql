-- Two sign-ins in one browser, and no row per unauthenticated GET /authorize: an
-- interaction row is written when its first form is posted, and records the hash of the
-- browser-binding cookie of the browser that started it (a form is accepted only from
-- that browser). Rows written by an older node have '' and are refused as expired.
ALTER TABLE interactions ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
