-- pgbench twin of PATCH /tasks/{id} with {"priority": ...} (update_task.lua). Mirrors
-- Tasks::update (domains/task/src/service.rs): a change that cannot complete the task is one
-- store::patch_task, an UPDATE ... RETURNING of the columns given, outside a transaction, as
-- Postgres logged it from the app (a status change to COMPLETED would add a lock and an outbox row
-- in a transaction; the bench sends none). The task is one of the 1,000 seeded at random.
\set n random(1, 1000)
\set p random(1, 4)
UPDATE "tasks" SET "priority" = (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[:p], "updated_at" = CURRENT_TIMESTAMP WHERE (("tasks"."id" = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid) AND ("tasks"."user_id" = :user)) RETURNING "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at";
