-- A replayed code poisons the tokens its first redemption issues, even when the replay
-- lands before they are recorded: the redeemer checks this mark when it records them.
ALTER TABLE authorization_codes ADD COLUMN replayed_at BIGINT;
