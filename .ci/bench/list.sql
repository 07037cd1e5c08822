-- pgbench twin of GET /tasks?page=1&limit=20 (list.lua). Mirrors Tasks::list
-- (domains/task/src/service.rs): store::list_page, the count and the page, two statements outside
-- a transaction, exactly as Postgres logged them from the app (log_min_duration_statement = 0;
-- diesel prepares them, and binds LIMIT and OFFSET too). The app sends both at once (pipelined);
-- pgbench sends one, waits, then the other.
-- :user is the seeded user (pgbench -D user=<uuid>).
\set limit 20
\set offset 0
SELECT COUNT(*) FROM "tasks" WHERE ("tasks"."user_id" = :user);
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at" FROM "tasks" WHERE ("tasks"."user_id" = :user) ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT :limit OFFSET :offset;
