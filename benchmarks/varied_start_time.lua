-- wrk script for the "varied" scenario: every request asks for a different
-- UTC-day-aligned start_time, cycling through a range of days, so a server
-- that caches on the exact query string cannot answer from one cache entry.
--
-- Arguments (after `--` on the wrk command line), all computed by run_bench.py
-- so that the day arithmetic lives in one place:
--   1. first start_time (Unix seconds, aligned to a UTC day)
--   2. number of consecutive days to cycle through
--   3. the rest of the query string, e.g. "bucket_width=1d&limit=30"
-- The URL given to wrk carries the path only; its query is built here.

local DAY = 86400
local first_start_time
local day_count
local rest_of_query
local sent = 0

function init(args)
  first_start_time = tonumber(args[1])
  day_count = tonumber(args[2])
  rest_of_query = args[3]
end

function request()
  local start_time = first_start_time + (sent % day_count) * DAY
  sent = sent + 1
  -- wrk.format adds the -H headers given on the command line (Authorization).
  return wrk.format(nil, wrk.path .. "?start_time=" .. start_time .. "&" .. rest_of_query)
end
