-- pgbench twin of POST /tasks with {"title": ...} (create_task.lua). Mirrors Tasks::create
-- (domains/task/src/service.rs) without an Idempotency-Key: in one transaction
-- store::insert_task (INSERT ... RETURNING), store::bump_created_count (the user's counter, an
-- upsert) and outbox::enqueue (app/src/outbox.rs: the task.created row, whose insert trigger
-- NOTIFYs the relay), as Postgres logged them from the app. The ids are random here (the app's
-- are UUIDv7, time-ordered, which Postgres 15 cannot make); the payload is the app's shape. No
-- relay listens on this database, so rows stay unsent. Left out: the relay's later work (claiming
-- and marking the row sent).
\set one 1
BEGIN;
INSERT INTO "tasks" ("id", "user_id", "title", "description", "priority", "due_date") VALUES (gen_random_uuid(), :user, 'bench created task', DEFAULT, 'MEDIUM', DEFAULT) RETURNING "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."completed_at";
INSERT INTO "user_task_counters" ("user_id", "created_count") VALUES (:user, :one) ON CONFLICT ("user_id") DO UPDATE SET "created_count" = ("user_task_counters"."created_count" + :one) RETURNING "user_task_counters"."created_count";
INSERT INTO "outbox" ("id", "topic", "payload", "request_id", "traceparent", "tracestate") VALUES (gen_random_uuid(), 'task.created', jsonb_build_object('title', 'bench created task', 'taskId', gen_random_uuid(), 'userId', :user::text, 'createdAt', now(), 'firstTask', false), gen_random_uuid()::text, NULL, NULL);
COMMIT;
