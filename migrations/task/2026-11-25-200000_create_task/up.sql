-- Tasks, the per-user creation counter and the idempotency keys of the task domain.

-- Trigram indexes make `q` (a case-insensitive substring search) index-backed; btree_gin lets
-- the same GIN index hold the owner, so a search reads only the caller's matches.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE tasks (
    id            uuid        PRIMARY KEY,
    -- The owner (auth's user id); no foreign key, users live in another database.
    user_id       uuid        NOT NULL,
    -- Trimmed, 1 to 200 characters (checked by the application).
    title         text        NOT NULL,
    description   text        NULL,
    status        text        NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    priority      text        NOT NULL DEFAULT 'MEDIUM'
                  CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    -- Sorting and filtering by priority use this, so LOW < MEDIUM < HIGH < URGENT in an index.
    priority_rank smallint    NOT NULL GENERATED ALWAYS AS (
                      CASE priority
                          WHEN 'LOW' THEN 1
                          WHEN 'MEDIUM' THEN 2
                          WHEN 'HIGH' THEN 3
                          WHEN 'URGENT' THEN 4
                      END::smallint
                  ) STORED,
    due_date      timestamptz NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Set when the status moves into COMPLETED, cleared when it moves out.
    completed_at  timestamptz NULL
);

-- Every list query is one user's tasks; each index below leads with user_id and ends with the
-- sort keys and the id tie-breaker, so a page is an index range scan with no sort.

-- sort=-createdAt (the default) and, scanned backwards, sort=createdAt; also the count.
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC, id DESC);
-- status=... with the default sort (and its count).
CREATE INDEX tasks_user_status_created_idx ON tasks (user_id, status, created_at DESC, id DESC);
-- sort=priority and, backwards, sort=-priority; priority=... (as priority_rank) with the
-- created-at sorts.
CREATE INDEX tasks_user_priority_created_idx ON tasks (user_id, priority_rank, created_at, id);
-- sort=dueDate and sort=-dueDate: tasks without a due date come last both ways, so the two
-- orders are not mirror images and need one index each.
CREATE INDEX tasks_user_due_asc_idx ON tasks (user_id, due_date ASC NULLS LAST, id ASC);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, due_date DESC NULLS LAST, id DESC);
-- q: the query uses exactly this expression with LIKE '%...%'. With user_id in the index, a
-- rare term costs the caller's matches, not every user's (measured in bench/list_plans.sh).
CREATE INDEX tasks_user_search_trgm_idx ON tasks
    USING gin (user_id, lower(title || ' ' || coalesce(description, '')) gin_trgm_ops);

-- How many tasks each user ever created (deletions do not lower it). Bumped in the creating
-- transaction with an upsert, so "first task ever" is exact under concurrency.
CREATE TABLE user_task_counters (
    user_id       uuid   PRIMARY KEY,
    created_count bigint NOT NULL
);

-- Idempotency-Key of POST /tasks: the first response per (user, key), for 24 hours.
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL,
    key          text        NOT NULL,
    -- SHA-256 of the request body as parsed; the same key with another body is a conflict.
    request_hash bytea       NOT NULL,
    -- Filled in the same transaction that created the task.
    task_id      uuid        NULL,
    response     jsonb       NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
-- The periodic clean-up of expired keys.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
