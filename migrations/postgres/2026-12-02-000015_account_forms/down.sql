DELETE FROM clients WHERE id = 'usher-account';
DROP TABLE form_tokens;
