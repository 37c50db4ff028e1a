-- Client ID Metadata Documents (issue 16; docs/design/registration.md): a client whose
-- id is the URL of its metadata document gets a row when its document is first fetched
-- and validated, so that its codes, consents and back-channel rows satisfy their foreign
-- keys to clients(id). The row is refreshed on every fetch; the client itself is always
-- taken from the (cached) document, never from this row. Nodes of the previous version
-- ignore the column (and never look up a URL client id).
ALTER TABLE clients ADD COLUMN metadata_document BOOLEAN NOT NULL DEFAULT FALSE;
