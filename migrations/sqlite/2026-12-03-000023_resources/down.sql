ALTER TABLE refresh_families DROP COLUMN resources;
ALTER TABLE authorization_codes DROP COLUMN resources;
DROP TABLE resources;
