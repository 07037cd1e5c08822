-- GET /tasks/{id} of one of the 1,000 seeded tasks, at random (pgbench twin: get_task.sql).
-- The 1,000 requests are formatted once per thread, not once per request: wrk shares the two
-- cores with the platform and Postgres, and formatting a request in Lua cost it more CPU than
-- pgbench spends picking its id.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer }
local requests = {}
local seed = init
function init(args)
  seed(args)
  -- In init, not at load: wrk sets the Host header of its requests just before it.
  for n = 1, 1000 do
    requests[n] = wrk.format("GET", "/tasks/" .. task_id(n), headers)
  end
end
function request()
  return requests[math.random(1, 1000)]
end
