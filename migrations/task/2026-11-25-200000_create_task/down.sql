DROP TABLE idempotency_keys;
DROP TABLE user_task_counters;
DROP TABLE tasks;
-- Each domain has its own database, and only this migration uses pg_trgm in it.
DROP EXTENSION IF EXISTS pg_trgm;
