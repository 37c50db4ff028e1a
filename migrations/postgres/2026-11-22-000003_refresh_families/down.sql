DROP TABLE IF EXISTS refresh_families;
