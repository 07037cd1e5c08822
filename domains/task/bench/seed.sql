-- Seeds a migrated task database for bench/list_plans.sh: 100,000 tasks for one user
-- (00000000-0000-4000-8000-000000000001) and 1,000,000 for 1,000 other users
-- (00000000-0000-4000-8000-000000001000 .. ...1999, 1,000 tasks each).
--
-- Titles and descriptions draw from a 40-word vocabulary (each word in about 5% of titles);
-- every 500th task mentions "invoice" (a rare search term); every 33rd task of the other users
-- mentions "errand", which the big user has on its 3 oldest tasks only (a term the statistics
-- call common but that is rare for this user). Statuses, priorities, creation times (two
-- years) and due dates (60% set) are random with a fixed seed.

\timing on
SET maintenance_work_mem = '512MB';
SELECT setseed(0.42);

-- Building the secondary indexes once after the load is far faster than maintaining them row
-- by row; the definitions come from the migration, so the plans use exactly its indexes.
CREATE TEMP TABLE task_indexes AS
    SELECT indexname, indexdef FROM pg_indexes
     WHERE schemaname = 'public' AND tablename = 'tasks' AND indexname <> 'tasks_pkey';
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexname FROM task_indexes LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
END $$;

INSERT INTO tasks (id, user_id, title, description, status, priority, due_date,
                   created_at, updated_at, completed_at)
SELECT gen_random_uuid(),
       user_id,
       title,
       description,
       status,
       priority,
       CASE WHEN random() < 0.6 THEN created_at + random() * interval '60 days' END,
       created_at,
       created_at,
       CASE WHEN status = 'COMPLETED' THEN created_at + random() * interval '30 days' END
  FROM (
    SELECT CASE WHEN n <= 100000 THEN '00000000-0000-4000-8000-000000000001'::uuid
                ELSE ('00000000-0000-4000-8000-' || lpad((1000 + n % 1000)::text, 12, '0'))::uuid
           END AS user_id,
           initcap(w[1 + floor(random() * 40)::int]) || ' ' || w[1 + floor(random() * 40)::int]
               || ' #' || n
               || CASE WHEN n <= 3 OR (n > 100000 AND n % 33 = 0) THEN ' errand' ELSE '' END
               AS title,
           CASE WHEN n % 500 = 0 THEN 'Send the invoice for ' || w[1 + floor(random() * 40)::int]
                WHEN random() < 0.5 THEN NULL
                ELSE w[1 + floor(random() * 40)::int] || ' ' || w[1 + floor(random() * 40)::int]
                     || ' ' || w[1 + floor(random() * 40)::int] || ' and '
                     || w[1 + floor(random() * 40)::int]
           END AS description,
           (ARRAY['PENDING', 'PENDING', 'IN_PROGRESS', 'COMPLETED', 'COMPLETED', 'CANCELLED'])
               [1 + floor(random() * 6)::int] AS status,
           (ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'])[1 + floor(random() * 4)::int] AS priority,
           CASE WHEN n <= 3 THEN now() - interval '800 days' - n * interval '1 hour'
                ELSE now() - random() * interval '730 days'
           END AS created_at
      FROM generate_series(1, 1100000) AS g(n),
           (SELECT ARRAY['report', 'meeting', 'budget', 'review', 'draft', 'plan', 'design',
                         'deploy', 'release', 'fix', 'bug', 'customer', 'email', 'call',
                         'slides', 'roadmap', 'hiring', 'interview', 'onboarding', 'docs',
                         'testing', 'migration', 'database', 'backup', 'security', 'audit',
                         'payroll', 'expenses', 'travel', 'booking', 'groceries', 'laundry',
                         'garden', 'dentist', 'birthday', 'gift', 'workout', 'reading',
                         'cleanup', 'refactor'] AS w) AS vocabulary
  ) AS seed;

INSERT INTO user_task_counters (user_id, created_count)
SELECT user_id, count(*) FROM tasks GROUP BY user_id;

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexdef FROM task_indexes LOOP
        EXECUTE r.indexdef;
    END LOOP;
END $$;

-- A table at rest: statistics current, visibility map set (as autovacuum would leave it).
VACUUM ANALYZE tasks;
VACUUM ANALYZE user_task_counters;

SELECT count(*) AS tasks, count(DISTINCT user_id) AS users,
       pg_size_pretty(pg_total_relation_size('tasks')) AS total_size
  FROM tasks;
SELECT indexrelname AS index, pg_size_pretty(pg_relation_size(indexrelid)) AS size
  FROM pg_stat_user_indexes WHERE relname = 'tasks' ORDER BY indexrelname;
