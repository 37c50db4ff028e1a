-- Shared by every wrk script of the Usher benchmark (bench/run).
-- Environment (set by bench/usherbench.py):
--   BENCH_DELAY_MS  wait this long before each request (the "half rate" runs); 0 = none
--   BENCH_OUT       file to which done() writes one JSON object with the results
-- A script may set `ok` (units completed, e.g. token pairs) and `bad` (semantic
-- failures) as globals in each thread; done() adds them up.

ok, bad = 0, 0

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if delay_ms > 0 then
  function delay() return delay_ms end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- The value of a response header, whatever the case of its name.
function header(headers, name)
  local v = headers[name]
  if v then return v end
  local lower = string.lower(name)
  for k, val in pairs(headers) do
    if string.lower(k) == lower then return val end
  end
  return nil
end

function done(summary, latency, requests)
  local units, failures = 0, 0
  for _, t in ipairs(threads) do
    units = units + (tonumber(t:get("ok")) or 0)
    failures = failures + (tonumber(t:get("bad")) or 0)
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"units":%d,"bad":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}',
    summary.requests, summary.duration, summary.bytes, units, failures,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean)
  local path = os.getenv("BENCH_OUT")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(out, "\n")
    f:close()
  else
    io.write(out, "\n")
  end
end
