-- wrk script of bench/throughput.py (--client wrk): GETs the paths listed in a file, one
-- after another, with the given headers (the session's cookie), and prints the run's
-- figures as one line of JSON.
--
--   wrk -t 1 -c 6 -d 15s -s bench/wrk_pages.lua http://127.0.0.1:PORT -- PATHS 'Cookie: …'
--
-- PATHS holds one path (with its query string) a line. Any answer but 200 counts as an
-- error: a page that redirects to the login form has not been served.

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

local paths = {}
local headers = {}
local counter = 0
not_ok = 0
first_status = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  assert(#paths > 0, "no paths in " .. args[1])
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    assert(name, "a header is 'Name: value', not " .. args[i])
    headers[name] = value
  end
  -- Threads start at different places in the list, as the Python clients do.
  counter = (thread_no or 0) * 7919
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1], headers)
end

function response(status, _, _)
  if status ~= 200 then
    not_ok = not_ok + 1
    if first_status == 0 then
      first_status = status
    end
  end
end

function done(summary, latency, _)
  local bad, status = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_ok")
    if status == 0 then
      status = thread:get("first_status")
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "not_ok": %d, '
      .. '"first_status": %d, "p50_us": %d, "p95_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    bad, status, latency:percentile(50), latency:percentile(95)
  ))
end
