-- wrk script of `make bench` (bench/intake_load.py runs it).
-- RETOUR_WRK_MODE=register: POST /returnees, a new person each time (never a duplicate, 409).
-- RETOUR_WRK_MODE=namesakes: POST /returnees, a new person with a common name (given and family
--   names taken in turn from RETOUR_WRK_GIVEN and RETOUR_WRK_FAMILY, comma-separated), born on
--   a date of their own before everyone registered (RETOUR_WRK_BORN_BEFORE: the last year
--   allowed, outside duplicate detection's window around the registry's birth years): the
--   search for namesakes meets the whole crowd, and none of them is a match. Among themselves,
--   the benchmark's people never share a date of birth, so a namesake of theirs is at most a
--   weak match (a 201 listing it), never a strong one (a 409).
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

local function list(variable)
  local items = {}
  for item in string.gmatch(os.getenv(variable) or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end
local given_names, family_names = list("RETOUR_WRK_GIVEN"), list("RETOUR_WRK_FAMILY")
-- Noon UTC on the last day allowed; the n-th person is born n days earlier (about 50 years of
-- days before the dates come round again, far more requests than a run sends).
local last_birth = os.time({
  year = tonumber(os.getenv("RETOUR_WRK_BORN_BEFORE") or "1975"), month = 12, day = 31, hour = 12,
})
local DAYS_OF_BIRTH = 18000

local function namesake(n)
  local given = given_names[n % #given_names + 1]
  local family = family_names[math.floor(n / #given_names) % #family_names + 1]
  local born = os.date("!%Y-%m-%d", last_birth - (n % DAYS_OF_BIRTH) * 86400)
  return '"personal":{"given_name":"' .. given .. '","family_name":"' .. family .. '",'
    .. '"date_of_birth":"' .. born .. '"}}'
end

local function personal()
  if mode == "namesakes" then
    return namesake(sent)
  end
  local n = name()
  return '"personal":{"given_name":"' .. n .. '","family_name":"Bench' .. n .. '"},'
    .. '"age_estimate":30}'
end

request = function()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  local body = '{"reception_centre":"bamako","arrival_date":"2024-03-02","return_type":"avrr",'
    .. '"host_country":"LY","region_of_origin":"kayes","sex":"male","household_size":3,'
    .. '"consents":{"data_processing":true,"sms_contact":false,"partner_sharing":true},'
    .. personal()
  -- Required on every POST: unique per request (a new person each time), as a client sends.
  sent = sent + 1
  post_headers["Idempotency-Key"] = "bench-" .. name() .. "-" .. sent
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
