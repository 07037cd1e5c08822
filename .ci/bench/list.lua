-- GET /tasks?page=1&limit=20 as the bench user (pgbench twin: list.sql).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = "/tasks?page=1&limit=20"
wrk.headers["Authorization"] = bearer
