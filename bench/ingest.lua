-- wrk script for bench/ingest.py.
--
--   wrk -s bench/ingest.lua <url> -- BODIES [RATE [METHOD]]
--
-- BODIES is a file of request bodies, one per line (one per visit); requests cycle through
-- them so the load is spread over the visits. The headers come from wrk's -H options. With a
-- RATE (requests/s for the whole thread; 0 for none), the delay() hook paces requests to that
-- rate; without one, every connection sends as fast as it is answered. METHOD is POST unless
-- given; with GET, each line of BODIES is a path to get instead of a body.
--
-- done() prints the figures as one JSON line prefixed with WRK_RESULT, for ingest.py to parse.

local requests_ = {}
local next_request = 0

-- Pacing: each request takes the next free slot on a schedule of 1/RATE s apart and is held
-- until its slot. A slot is a point in time, so wrk's millisecond timer rounding does not add
-- up, and slots missed by a little (timer jitter, a late answer) are caught up at once; a
-- schedule more than MAX_LAG_MS behind (the server cannot keep up) drops the older slots
-- rather than bursting. wrk has no clock of its own: LuaJIT's ffi reads CLOCK_MONOTONIC.
local MAX_LAG_MS = 10
local interval_ms = nil
local next_slot = nil
local now_ms = nil

local function paced_delay()
  local now = now_ms()
  if next_slot == nil then
    next_slot = now
  elseif next_slot < now - MAX_LAG_MS then
    next_slot = now - MAX_LAG_MS
  end
  local wait = math.max(0, next_slot - now)
  next_slot = next_slot + interval_ms
  return math.floor(wait + 0.5)
end

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  local method = args[3] or "POST"
  for line in file:lines() do
    if #line > 0 then
      if method == "GET" then
        requests_[#requests_ + 1] = wrk.format("GET", line)
      else
        requests_[#requests_ + 1] = wrk.format(method, nil, nil, line)
      end
    end
  end
  file:close()
  assert(#requests_ > 0, "no request bodies in " .. path)

  local rate = tonumber(args[2] or "0")
  if rate and rate > 0 then
    local ffi = require("ffi")
    ffi.cdef([[
      typedef struct { long tv_sec; long tv_nsec; } ingest_timespec;
      int clock_gettime(int clk_id, ingest_timespec *tp);
    ]])
    local spec = ffi.new("ingest_timespec")
    now_ms = function()
      ffi.C.clock_gettime(1, spec) -- CLOCK_MONOTONIC
      return tonumber(spec.tv_sec) * 1000 + tonumber(spec.tv_nsec) / 1e6
    end
    interval_ms = 1000 / rate
    -- wrk checks for a delay() function after init(): defining it here makes pacing opt-in.
    delay = paced_delay
  end
end

function request()
  next_request = next_request % #requests_ + 1
  return requests_[next_request]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "WRK_RESULT {\"duration_us\": %d, \"requests\": %d, \"bytes\": %d, "
      .. "\"connect\": %d, \"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d, "
      .. "\"mean_us\": %.1f, \"p50_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.duration, summary.requests, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max
  ))
end
