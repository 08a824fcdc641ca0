-- wrk script: POST /api/bench with a unique JSON body per request.
-- Each wrk thread gets its own id so bodies never repeat across threads.
local counter = 0
local threads = {}
local tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"bench-%d-%d","n":%d,"tags":["a","b"],"ok":true}', tid, counter, counter)
  return wrk.format("POST", wrk.path, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    bad = (bad or 0) + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    e.status, e.connect, e.read, e.write, e.timeout))
end
