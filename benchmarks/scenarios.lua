-- wrk driver for the cartgroups benchmark scenarios (run by benchmarks/run.py).
--
--   wrk -t2 -c64 -d10s -s benchmarks/scenarios.lua http://127.0.0.1:PORT -- SCENARIO CLIENTS_FILE [EXPECTED]
--
-- CLIENTS_FILE has one tab-separated line per store the load is spread over:
--   kind <TAB> SecureURL <TAB> PrivateKey <TAB> Token <TAB> number of groups (ids 1..n)
-- kind is "regular" (the default-sized stores) or "wide" (stores holding >= 100 groups,
-- used for the list limit=100 and bulk PUT scenarios), or "customers" (a store of customers,
-- the number being how many; benchmarks/customers.py: customer i has the e-mail
-- c<i>@bench.example, and group 1 holds the members).
--
-- Each thread pre-builds a few thousand requests (random stores, random ids) in init() and
-- cycles through them, so request() costs almost nothing. response() counts every status that
-- is not the expected one; done() prints one line "BENCH_RESULT {json}" that run.py parses.

local PREFIX = "/3dCartWebAPI/v1/CustomerGroups"
local PREBUILT = 4096

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
ok = 0
bad = 0
first_bad = ""
local expected = 200
local requests = {}
local count = 0
local cursor = 0

local shoppers = {}

local function load_clients(path)
  local regular, wide = {}, {}
  for line in io.lines(path) do
    local kind, url, key, token, groups = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%d+)$")
    if kind then
      local client = { url = url, key = key, token = token, groups = tonumber(groups) }
      if kind == "wide" then
        table.insert(wide, client)
      elseif kind == "customers" then
        table.insert(shoppers, client)
      else
        table.insert(regular, client)
      end
    end
  end
  return regular, wide
end

local function pick(list)
  return list[math.random(#list)]
end

local function headers(client, body)
  local h = {
    ["SecureURL"] = client.url,
    ["PrivateKey"] = client.key,
    ["Token"] = client.token,
    ["Accept"] = "application/json",
  }
  if body then h["Content-Type"] = "application/json" end
  return h
end

local regular, wide
local CUSTOMERS = "/3dCartWebAPI/v1/Customers"
local posted = 0

local function get_by_id()
  local c = pick(regular)
  return wrk.format("GET", PREFIX .. "/" .. math.random(c.groups), headers(c))
end

local function put_by_id(n)
  local c = pick(regular)
  local body = string.format('{"Description":"updated by the benchmark %d","PriceLevel":%d}',
    n, 1 + n % 10)
  return wrk.format("PUT", PREFIX .. "/" .. math.random(c.groups), headers(c, true), body)
end

local builders = {
  get = function(n) return get_by_id() end,
  list = function(n)
    local c = pick(wide)
    return wrk.format("GET", PREFIX .. "?limit=100", headers(c))
  end,
  count = function(n)
    local c = pick(regular)
    return wrk.format("GET", PREFIX .. "?countonly=1", headers(c))
  end,
  post = function(n)
    local c = pick(regular)
    local body = string.format('{"Name":"Benchmark group %d","Description":"created by the benchmark",'
      .. '"MinimumOrder":12.50,"NonTaxable":false,"AllowRegistration":true,"PriceLevel":%d}',
      n, 1 + n % 10)
    return wrk.format("POST", PREFIX, headers(c, true), body)
  end,
  put = function(n) return put_by_id(n) end,
  bulk = function(n)
    local c = pick(wide)
    local items = {}
    for id = 1, 100 do
      items[id] = string.format('{"CustomerGroupID":%d,"Description":"bulk %d","PriceLevel":%d}',
        id, n, 1 + (n + id) % 10)
    end
    return wrk.format("PUT", PREFIX, headers(c, true), "[" .. table.concat(items, ",") .. "]")
  end,
  -- Customers (benchmarks/customers.py)
  cget = function(n)
    local c = pick(shoppers)
    return wrk.format("GET", CUSTOMERS .. "/" .. math.random(c.groups), headers(c))
  end,
  members = function(n)
    local c = pick(shoppers)
    return wrk.format("GET", "/3dCartWebAPI/v1/CustomerGroups/1/Customers?limit=100", headers(c))
  end,
  email = function(n)
    local c = pick(shoppers)
    return wrk.format("GET", CUSTOMERS .. "?email=c" .. math.random(c.groups) .. "%40bench.example", headers(c))
  end,
  -- 90 % GET by id, 10 % PUT by id, interleaved
  mixed = function(n)
    if n % 10 == 0 then return put_by_id(n) end
    return get_by_id()
  end,
}

-- POST /Customers: each request a new e-mail (an e-mail is one customer's), so built as sent.
local function post_customer()
  posted = posted + 1
  local c = shoppers[1 + posted % #shoppers]
  local body = string.format('{"Email":"p%d-%d-%d@post.example","Password":"","BillingFirstName":"Jane",'
    .. '"BillingLastName":"Doe","BillingCity":"Boston","BillingCountry":"US","CustomerGroupID":%d,'
    .. '"Enabled":true,"ResetPassword":true}', tid or 0, posted, math.random(1000000000), 1 + posted % 10)
  return wrk.format("POST", CUSTOMERS, headers(c, true), body)
end

local live = nil

function init(args)
  local scenario, path = args[1], args[2]
  if args[3] then expected = tonumber(args[3]) end
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  regular, wide = load_clients(path)
  if scenario == "cpost" then
    live = post_customer
    return
  end
  local build = builders[scenario]
  if not build then error("unknown scenario " .. tostring(scenario)) end
  if #regular == 0 then regular = wide end
  if #wide == 0 then wide = regular end
  local n = PREBUILT
  if scenario == "bulk" then n = 64 end
  for i = 1, n do
    requests[i] = build(i + (tid or 0) * PREBUILT)
  end
  count = n
  cursor = math.random(n) - 1
end

function request()
  if live then return live() end
  cursor = cursor % count + 1
  return requests[cursor]
end

function response(status, headers, body)
  if status == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function clean(text)
  return (string.gsub(text or "", '[%c"\\]', " "))
end

function done(summary, latency, requests)
  local total_ok, total_bad, sample = 0, 0, ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_bad = total_bad + (t:get("bad") or 0)
    local f = t:get("first_bad")
    if sample == "" and f and f ~= "" then sample = f end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"ok":%d,"bad":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,"p50":%d,"p90":%d,"p99":%d},'
    .. '"first_bad":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, total_ok, total_bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    clean(sample)))
end
