DROP INDEX profiles_email_trgm_idx;
DROP INDEX profiles_name_trgm_idx;
DROP INDEX profiles_live_created_idx;
DROP TABLE profiles;
-- Created IF NOT EXISTS by up.sql; in this domain's own database nothing else uses it.
DROP EXTENSION IF EXISTS pg_trgm;
