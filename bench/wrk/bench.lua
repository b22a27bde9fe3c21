-- wrk script for npm run bench: optional POST body of BODY_BYTES bytes, and a JSON summary on stdout
-- (wrk's own text report is not machine-readable). No response() hook: defining one makes wrk parse every
-- response into Lua, which would slow the load generator; status >= 400 is counted by wrk itself.
local bytes = tonumber(os.getenv("BODY_BYTES") or "0")
if bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
