-- first_amr: the methods of a sign-in's first step when it was not a password (an
-- upstream provider's sign-in, docs/design/upstream.md), kept while Usher's second factor
-- is asked, so the session that follows says what was really used (`fed`, then `otp`,
-- `mfa`). NULL: the first step was a password.
ALTER TABLE interactions ADD COLUMN first_amr TEXT;
