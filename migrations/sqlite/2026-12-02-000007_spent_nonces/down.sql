DROP TABLE spent_nonces;
