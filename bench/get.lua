-- wrk script: GET one document by id (the path is given on the command line).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    e.status, e.connect, e.read, e.write, e.timeout))
end
