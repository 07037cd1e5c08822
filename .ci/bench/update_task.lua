-- PATCH /tasks/{id} of one of the 1,000 seeded tasks, at random, with one of four priorities
-- at random: no status change, so no outbox row (pgbench twin: update_task.sql). The 4,000
-- requests are formatted once per thread (get_task.lua says why).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer, ["Content-Type"] = "application/json" }
local priorities = { "LOW", "MEDIUM", "HIGH", "URGENT" }
local requests = {}
local seed = init
function init(args)
  seed(args)
  -- In init, not at load: wrk sets the Host header of its requests just before it.
  for n = 1, 1000 do
    for p = 1, 4 do
      local body = '{"priority":"' .. priorities[p] .. '"}'
      requests[(n - 1) * 4 + p] = wrk.format("PATCH", "/tasks/" .. task_id(n), headers, body)
    end
  end
end
function request()
  return requests[math.random(1, 4000)]
end
