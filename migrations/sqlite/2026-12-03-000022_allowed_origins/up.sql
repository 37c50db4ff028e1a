-- CORS for browser apps (issue 16; docs/design/cors.md): the web origins a client
-- registered with --allowed-origin, space-separated and normalised (an origin has no
-- space). Empty means the default: the origins of the client's https and loopback
-- redirect URIs, derived when read, so nothing needs backfilling. Nodes of the previous
-- version ignore the column.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '';
