#!/usr/bin/env bash
# Seeds a throwaway, migrated task database with 1.1 million tasks (100,000 for one user) and
# prints EXPLAIN (ANALYZE, BUFFERS) of every query shape GET /tasks issues, rendered by diesel
# itself (store::tests::write_bench_statements). Not run by the tests; the database is dropped
# at the end (KEEP_DB=1 keeps it for more experiments, and prints its URL).
# Usage: domains/task/bench/list_plans.sh [> plans.txt]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db="tessera_bench_task_$$"
url="${admin%/*}/$db"
statements=$(mktemp)

cleanup() {
  if [ "${KEEP_DB:-0}" = 1 ]; then
    echo "kept $url"
  else
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  fi
  rm -f "$statements"
}
trap cleanup EXIT

echo "== rendering the list queries with diesel"
(cd "$root" && TASK_BENCH_SQL="$statements" cargo test -q -p tessera-task --lib \
  write_bench_statements >/dev/null)

echo "== creating and migrating $db"
psql "$admin" -qc "CREATE DATABASE $db"
for f in "$root"/migrations/platform/*/up.sql "$root"/migrations/task/*/up.sql; do
  psql "$url" -q -v ON_ERROR_STOP=1 -f "$f"
done

echo "== seeding"
start=$(date +%s)
psql "$url" -q -v ON_ERROR_STOP=1 -f "$here/seed.sql"
echo "seeded in $(( $(date +%s) - start )) s"

echo "== plans"
# Each statement runs twice: the first warms the cache, the second is the one shown.
psql "$url" -q -v ON_ERROR_STOP=1 -f <(sed -e 's/^EXPLAIN (ANALYZE, BUFFERS) EXECUTE \(.*\);$/EXECUTE \1 \\g \/dev\/null\n&/' "$statements")
