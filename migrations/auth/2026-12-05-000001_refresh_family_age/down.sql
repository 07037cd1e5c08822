ALTER TABLE refresh_tokens DROP COLUMN family_created_at;
