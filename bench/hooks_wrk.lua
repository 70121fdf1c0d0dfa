-- wrk script for bench/hooks.py: POST /hooks/v1/incoming-call, a new platform call ID and a
-- random caller per request (1 in 10 on the do-not-record list), bearer token from HOOK_TOKEN.
local token = os.getenv("HOOK_TOKEN")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
  run = tostring(os.time())
end

request = function()
  counter = counter + 1
  local caller
  if counter % 10 == 0 then
    caller = string.format("+4412774%05d", math.random(0, 999))  -- listed: 0..999
  else
    caller = string.format("+4412773%05d", math.random(0, 99999))
  end
  local body = string.format(
    '{"platform_call_id":"wrk-%s-%d-%d","caller":"%s","dialled":"0800 100 %03d"}',
    run, tid, counter, caller, counter % 1000)
  return wrk.format("POST", "/hooks/v1/incoming-call",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
