DELETE FROM clients WHERE metadata_document;
ALTER TABLE clients DROP COLUMN metadata_document;
