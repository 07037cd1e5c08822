-- GET /tasks/{id} of one of the 1,000 seeded tasks, at random (pgbench twin: get_task.sql).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer }
function request()
  return wrk.format("GET", "/tasks/" .. task_id(math.random(1, 1000)), headers)
end
