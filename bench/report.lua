-- Shared by every bench script: prints one machine-readable line when a run ends.
-- Loaded with dofile() from the scripts; done() runs in wrk's main Lua state.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'KEYWARD_BENCH {"requests":%d,"durationUs":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latencyUs":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
