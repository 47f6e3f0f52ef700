-- KPI load probe: GET /reports/kpis with the query strings an outside fuzzer sends (valid
-- filters, impossible dates, unknown values, repeated and oversized parameters), and prints
-- latency percentiles and the answers by status. RETOUR_WRK_UNIQUE=1 makes every valid query
-- unique (a period ending on a different day), so that no two requests can share a query.
--   RETOUR_BENCH_TOKEN=$(make token ROLE=analyst) wrk -t2 -c64 -d30s --timeout 60s \
--     -s bench/wrk/kpis.lua http://127.0.0.1:8004
local token = os.getenv("RETOUR_BENCH_TOKEN") or ""
local unique = os.getenv("RETOUR_WRK_UNIQUE") == "1"
local queries = {
  "", "?from=2024-01-01&to=2024-06-30", "?centre=gao", "?sex=female&age_group=18-44",
  "?from=0001-01-01", "?to=9999-12-31", "?from=2030-01-01&to=2020-01-01", "?centre=%00",
  "?vulnerability=medical_need&host_country=ci", "?region=mopti", "?from=2024-02-30",
  "?sex=male&sex=female", "?centre=" .. string.rep("x", 300),
}
local i = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  i = i + 1
  local query = queries[(i % #queries) + 1]
  if unique and i % 3 ~= 0 then
    query = string.format("?from=2023-01-01&to=2024-%02d-%02d", math.random(1, 12), math.random(1, 28))
  end
  return wrk.format("GET", "/reports/kpis" .. query, { ["Authorization"] = "Bearer " .. token })
end
-- Globals per thread (numbers cross to `done`, which runs in its own state).
ok, invalid, busy, other = 0, 0, 0, 0
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
response = function(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 422 then invalid = invalid + 1
  elseif status == 503 then busy = busy + 1 else other = other + 1 end
end
done = function(summary, latency, requests)
  local totals = { 0, 0, 0, 0 }
  for _, t in ipairs(threads) do
    totals[1] = totals[1] + t:get("ok"); totals[2] = totals[2] + t:get("invalid")
    totals[3] = totals[3] + t:get("busy"); totals[4] = totals[4] + t:get("other")
  end
  local parts = { "200=" .. totals[1], "422=" .. totals[2], "503=" .. totals[3], "other=" .. totals[4] }
  io.write(string.format("p50=%.2fs p90=%.2fs p99=%.2fs max=%.2fs requests=%d timeouts=%d statuses: %s\n",
    latency:percentile(50) / 1e6, latency:percentile(90) / 1e6, latency:percentile(99) / 1e6,
    latency.max / 1e6, summary.requests, summary.errors.timeout, table.concat(parts, " ")))
end
