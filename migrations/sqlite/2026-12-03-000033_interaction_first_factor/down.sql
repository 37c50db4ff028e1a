ALTER TABLE interactions DROP COLUMN first_amr;
