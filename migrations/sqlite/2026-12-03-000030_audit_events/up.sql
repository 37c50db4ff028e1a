-- The audit trail (issue 17; docs/design/audit.md): every administrative change and every
-- security event, one row each. Rows are only ever inserted and, past the retention
-- (`audit_retention_days`), deleted by the purge; never updated.
-- id: AUTOINCREMENT, so an id is never reused even after the newest rows are purged,
-- and a listing can page by id (`before`/`after` the last id seen). SQLite serialises
-- writers, so ids also follow commit order.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    person_id  TEXT,
    client_id  TEXT,
    target     TEXT,
    address    TEXT,
    detail     TEXT   NOT NULL DEFAULT '{}'
);
-- at (unix seconds): when it happened, by the clock of the node that wrote it.
-- kind: what happened, a dotted name (`person.created`, `sign_in.failed`, …): the list
--   is `AuditKind` in usher-domain (crates/usher-domain/src/audit.rs).
-- actor: who did it: `person:<id>`, `client:<id>`, `cli`, `system` or `anonymous`.
-- person_id, client_id: the person and the client the event is about, for filtering.
--   No foreign keys: the trail outlives what it tells of (a deleted person's events
--   stay until the retention purge).
-- target: what else it is about, when that is neither (a group name, a key id, a family).
-- address: the client address of the request, when there was one.
-- detail: a JSON object (before/after of a change, the reason of a failure); never a
--   secret, a hash, a token or a password (AuditDetail drops such keys).
-- Indexes serve the filters of `usher audit list` and the API (person, client, kind,
-- time) and the retention purge (`at`); each ends with id, the order of every listing.
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_person ON audit_events (person_id, id);
CREATE INDEX audit_events_client ON audit_events (client_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
