-- The bench user's 1,000 tasks, in a migrated task database (the app's, and pgbench's copy).
-- psql -v user=<uuid>. Ids are deterministic, built from n = 1..1000 as the last 12 hex digits
-- (00000000-0000-7000-8000-0000000003e8 is n = 1000), so wrk's Lua scripts and pgbench's
-- `\set n random(1, 1000)` pick random tasks the same way. Creation times are a minute apart,
-- so the default order (newest first) is fixed. The counter says 1,000 tasks were created: a
-- later POST /tasks is not the user's first (no welcome e-mail).
\set ON_ERROR_STOP on
INSERT INTO tasks (id, user_id, title, description, status, priority, due_date, created_at,
                   updated_at)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
       :'user'::uuid,
       'bench task ' || n,
       CASE WHEN n % 2 = 0 THEN 'the description of bench task ' || n END,
       (ARRAY['PENDING', 'IN_PROGRESS', 'CANCELLED'])[1 + n % 3],
       (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + n % 4],
       CASE WHEN n % 3 = 0 THEN now() + n * interval '1 hour' END,
       now() - n * interval '1 minute',
       now() - n * interval '1 minute'
  FROM generate_series(1, 1000) AS g(n);
INSERT INTO user_task_counters (user_id, created_count) VALUES (:'user'::uuid, 1000)
    ON CONFLICT (user_id) DO UPDATE SET created_count = EXCLUDED.created_count;
