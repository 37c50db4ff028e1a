-- Upstream sign-ins in flight and pending links are dropped (they start again).
DELETE FROM webauthn_ceremonies WHERE kind IN ('upstream', 'upstream_link');
ALTER TABLE webauthn_ceremonies DROP CONSTRAINT webauthn_ceremonies_kind_check;
ALTER TABLE webauthn_ceremonies ADD CONSTRAINT webauthn_ceremonies_kind_check
    CHECK (kind IN ('register', 'authenticate'));

DROP TABLE upstream_identities;
DROP TABLE upstreams;
