-- wrk script: POST the URL given on the command line with a JSON body, Content-Type: application/json.
-- Used for InvokeAI's `POST /api/v1/queue/default/enqueue_batch`.
--
-- Script arguments (after `--`):
--   1. the JSON body (required)
--   2. EVERY: if > 0, every EVERY-th request (per wrk thread) is instead `PUT <3>` with no body
--   3. the path of that PUT (e.g. /api/v1/queue/default/clear, which empties the mock's queue)
--   4. a marker: if given, answers whose body contains it are counted, and the count is printed at
--      the end as `marked answers: N` (e.g. `"enqueued":0`, an enqueue the full queue refused)
local post, side
local every = 0
local sent = 0
marker = nil -- globals: done() reads them from each thread
marked = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if args[1] == nil or args[1] == "" then
    error("post_json.lua needs the JSON body as its first argument")
  end
  every = tonumber(args[2] or "0") or 0
  if args[4] ~= nil and args[4] ~= "" then
    marker = args[4]
    -- Defined only when there is a marker to count (wrk checks after init): wrk then hands every
    -- answer's body to Lua, which costs wrk some CPU.
    response = function(status, headers, body)
      if body ~= nil and string.find(body, marker, 1, true) then
        marked = marked + 1
      end
    end
  end
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  if every > 0 then
    side = wrk.format("PUT", args[3], headers, "")
  end
  headers["Content-Type"] = "application/json"
  post = wrk.format("POST", wrk.path, headers, args[1])
end

function request()
  sent = sent + 1
  if every > 0 and sent % every == 0 then
    return side
  end
  return post
end

function done(summary, latency, requests)
  local total = 0
  local counting = false
  for _, thread in ipairs(threads) do
    if thread:get("marker") ~= nil then
      counting = true
      total = total + (thread:get("marked") or 0)
    end
  end
  if counting then
    io.write(string.format("marked answers: %d\n", total))
  end
end
