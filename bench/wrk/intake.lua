-- wrk script of `make bench` (bench/intake_load.py runs it).
-- RETOUR_WRK_MODE=register: POST /returnees, a new person each time (never a duplicate, 409).
-- RETOUR_WRK_MODE=healthz: GET /healthz, the same server doing the least work.
-- Prints one JSON line of results at the end.
local mode = os.getenv("RETOUR_WRK_MODE") or "register"
local letters = "abcdefghijklmnopqrstuvwxyz"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

local function name()
  local t = {}
  for i = 1, 12 do
    local n = math.random(1, 26)
    t[i] = letters:sub(n, n)
  end
  return table.concat(t)
end

-- wrk.format replaces wrk.headers by the table it is given: every header goes here.
local post_headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("RETOUR_BENCH_TOKEN") or ""),
  ["Content-Type"] = "application/json",
}
local sent = 0

request = function()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  local n = name()
  local body = '{"reception_centre":"bamako","arrival_date":"2024-03-02","return_type":"avrr",'
    .. '"host_country":"LY","region_of_origin":"kayes","sex":"male","household_size":3,'
    .. '"consents":{"data_processing":true,"sms_contact":false,"partner_sharing":true},'
    .. '"personal":{"given_name":"' .. n .. '","family_name":"Bench' .. n .. '"},'
    .. '"age_estimate":30}'
  -- Required on every POST: unique per request (a new person each time), as a client sends.
  sent = sent + 1
  post_headers["Idempotency-Key"] = "bench-" .. n .. "-" .. sent
  return wrk.format("POST", "/returnees", post_headers, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
