-- wrk script for bench/compare.py: prints the latency percentiles wrk's
-- --latency table stops short of (p99.9, p99.99) in microseconds, from the
-- same histogram, as "p99.9 latency: N us" lines after wrk's own output.
-- A scenario's own script (e.g. keys.lua) is loaded first from the path in
-- the environment variable WRK_INNER_SCRIPT; its done(), if any, still runs.
--   WRK_INNER_SCRIPT=keys.lua wrk -s p999.lua URL 10
local inner = os.getenv("WRK_INNER_SCRIPT")
if inner and inner ~= "" then
  dofile(inner)
end
local inner_done = done

function done(summary, latency, requests)
  if inner_done then
    inner_done(summary, latency, requests)
  end
  for _, p in ipairs({99.9, 99.99}) do
    io.write(string.format("p%g latency: %d us\n", p, latency:percentile(p)))
  end
end
