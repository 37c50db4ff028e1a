-- WARNING: this drops the client-secret hashing key. After a `usher kek rotate` the row
-- is its only copy: the KEK no longer derives it, so every client secret and refresh
-- token would stop verifying. Usher refuses to start rather than derive a new one while
-- `kek_markers` remembers the old one (docs/operations.md, "The KEK"). Keep a copy of
-- the row (or a backup) before running this; put it back before starting Usher.
DROP TABLE sealed_values;
