-- Shared by the bench's wrk scripts (each loads it with dofile): wrk's summary as one line the
-- driver reads, `BENCH {json}`. Latencies in ms; `non2xx` is wrk's status errors (any answer
-- outside 2xx/3xx), `socket` its connect, read, write and timeout errors.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "rps": %.1f, "mean_ms": %.3f, "p50_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "non2xx": %d, "socket": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end

-- Each thread seeds its own generator (two threads with one sequence would lock the same rows
-- in step).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- The deterministic task ids of seed.sql: n = 1..1000 as the last 12 hex digits.
function task_id(n)
  return string.format("00000000-0000-7000-8000-%012x", n)
end

bearer = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

-- formatted_once(build): the script's requests, formatted once per thread by build() (a list of
-- wrk.format results), then one of them at random per request. wrk shares the two cores with the
-- platform and Postgres, and formatting every request in Lua cost it three times the
-- instructions per request. In init, after the seeding above, and not at load: wrk sets the Host
-- header of its requests just before init.
function formatted_once(build)
  local requests = {}
  local seed = init
  function init(args)
    seed(args)
    requests = build()
  end
  function request()
    return requests[math.random(1, #requests)]
  end
end
