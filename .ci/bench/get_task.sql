-- pgbench twin of GET /tasks/{id} (get_task.lua). Mirrors Tasks::get
-- (domains/task/src/service.rs): store::find_task, one statement outside a transaction, as
-- Postgres logged it from the app. The id is one of the 1,000 seeded tasks at random, built from
-- n as seed.sql builds it (wrk's Lua does the same).
\set n random(1, 1000)
\set one 1
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at" FROM "tasks" WHERE (("tasks"."id" = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid) AND ("tasks"."user_id" = :user)) LIMIT :one;
