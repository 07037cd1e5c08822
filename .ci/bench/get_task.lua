-- GET /tasks/{id} of one of the 1,000 seeded tasks, at random (pgbench twin: get_task.sql),
-- formatted once per thread (report.lua's formatted_once says why).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer }
formatted_once(function()
  local requests = {}
  for n = 1, 1000 do
    requests[n] = wrk.format("GET", "/tasks/" .. task_id(n), headers)
  end
  return requests
end)
