ALTER TABLE users DROP COLUMN address;
ALTER TABLE users DROP COLUMN phone_number_verified;
ALTER TABLE users DROP COLUMN phone_number;
ALTER TABLE users DROP COLUMN preferred_username;
