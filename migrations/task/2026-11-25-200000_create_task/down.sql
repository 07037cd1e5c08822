DROP TABLE idempotency_keys;
DROP TABLE user_task_counters;
DROP TABLE tasks;
-- Each domain has its own database, and only this migration uses these extensions in it.
DROP EXTENSION IF EXISTS btree_gin;
DROP EXTENSION IF EXISTS pg_trgm;
