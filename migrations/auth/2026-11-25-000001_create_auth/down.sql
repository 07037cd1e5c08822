DROP TABLE password_resets;
DROP TABLE refresh_tokens;
DROP TABLE users;
