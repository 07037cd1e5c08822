-- PATCH /tasks/{id} of one of the 1,000 seeded tasks, at random, with a new priority: no status
-- change, so no outbox row (pgbench twin: update_task.sql).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer, ["Content-Type"] = "application/json" }
local priorities = { "LOW", "MEDIUM", "HIGH", "URGENT" }
function request()
  local body = '{"priority":"' .. priorities[math.random(1, 4)] .. '"}'
  return wrk.format("PATCH", "/tasks/" .. task_id(math.random(1, 1000)), headers, body)
end
