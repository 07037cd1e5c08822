-- PATCH /tasks/{id} of one of the 1,000 seeded tasks, at random, with one of four priorities
-- at random: no status change, so no outbox row (pgbench twin: update_task.sql). The 4,000
-- requests are formatted once per thread (report.lua's formatted_once says why).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local headers = { ["Authorization"] = bearer, ["Content-Type"] = "application/json" }
local priorities = { "LOW", "MEDIUM", "HIGH", "URGENT" }
formatted_once(function()
  local requests = {}
  for n = 1, 1000 do
    for _, priority in ipairs(priorities) do
      local body = '{"priority":"' .. priority .. '"}'
      requests[#requests + 1] = wrk.format("PATCH", "/tasks/" .. task_id(n), headers, body)
    end
  end
  return requests
end)
