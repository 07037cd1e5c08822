-- POST /tasks, a new task each time (pgbench twin: create_task.sql).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Authorization"] = bearer
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"bench created task"}'
