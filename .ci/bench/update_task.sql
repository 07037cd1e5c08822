-- pgbench twin of PATCH /tasks/{id} with {"priority": ...} (update_task.lua). Mirrors
-- Tasks::update (domains/task/src/service.rs): in one transaction store::lock_task (SELECT ...
-- FOR UPDATE) and store::update_task (UPDATE ... RETURNING, every editable column written back
-- as read, the priority changed), as Postgres logged them from the app; no status change, so no
-- outbox row. The task is one of the 1,000 seeded at random. \gset turns a NULL into '', hence
-- the NULLIFs (no seeded description or due date is '').
\set n random(1, 1000)
\set one 1
\set p random(1, 4)
BEGIN;
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at" FROM "tasks" WHERE (("tasks"."id" = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid) AND ("tasks"."user_id" = :user)) LIMIT :one FOR UPDATE \gset t_
UPDATE "tasks" SET "title" = :t_title, "description" = NULLIF(:t_description, ''), "status" = :t_status, "priority" = (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[:p], "due_date" = NULLIF(:t_due_date, '')::timestamptz, "updated_at" = CURRENT_TIMESTAMP WHERE ("tasks"."id" = :t_id) RETURNING "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at";
COMMIT;
