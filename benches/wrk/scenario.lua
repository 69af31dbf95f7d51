-- One benchmark scenario for wrk, chosen by the harness (benches/http.py):
--   wrk -t<threads> ... -s scenario.lua URL -- <scenario> <data file> <threads> [<capture prefix>]
--
-- The data file holds one record a line: "user <name>", "order <name> <id>"
-- (an order to read) or "movable <name> <id>" (a PLACED order that this run
-- may move). Each wrk thread moves only its own share of the movable orders,
-- one status a pass (PROCESSING, then SHIPPED, then DELIVERED), so no two
-- requests race for one order and every move is allowed.
--
-- capture.lua runs this file with a response() hook that records order ids;
-- wrk parses response bodies only when a script defines response(), so the
-- measured scenarios keep wrk's fast path.

local threads = {}
local next_thread = 1

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local scenario, users, orders, movable = nil, {}, {}, {}
local move_index, move_pass = 0, 1
local placed = 0
-- Moves sent after this thread's orders had all reached DELIVERED.
exhausted = 0
local passes = { "PROCESSING", "SHIPPED", "DELIVERED" }
local json = { ["Content-Type"] = "application/json" }

function init(args)
  scenario = args[1]
  local thread_count = tonumber(args[3])
  local seen_movable = 0
  for line in io.lines(args[2]) do
    local kind, name, id = line:match("^(%S+) (%S+) ?(%S*)$")
    if kind == "user" then
      table.insert(users, name)
    elseif kind == "order" then
      table.insert(orders, { name, id })
    elseif kind == "movable" then
      if seen_movable % thread_count == thread_index - 1 then
        table.insert(movable, { name, id })
      end
      seen_movable = seen_movable + 1
    end
  end
  if args[4] then
    capture_file = io.open(args[4] .. "." .. thread_index, "w")
  end
  -- Different threads must not place identical bodies.
  math.randomseed(os.time() * 100 + thread_index)
end

local function get_user()
  return wrk.format("GET", "/users/" .. users[math.random(#users)])
end

local function get_order()
  local order = orders[math.random(#orders)]
  return wrk.format("GET", "/orders/" .. order[2] .. "?customer_id=" .. order[1])
end

local function get_order_by_id()
  local order = orders[math.random(#orders)]
  return wrk.format("GET", "/orders/" .. order[2])
end

local function edit_address()
  placed = placed + 1
  local address = "Flat%20" .. placed .. "%20Main%20St"
  return wrk.format("POST", "/edit-address?username=" .. users[math.random(#users)] .. "&new_address=" .. address)
end

-- New users, unique across runs: BENCH_RUN is a fresh tag per wrk process.
local function register()
  placed = placed + 1
  local name = "r" .. (os.getenv("BENCH_RUN") or "x") .. "-" .. thread_index .. "-" .. placed
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.com","name":"Bench"}'
  return wrk.format("POST", "/add_user", json, body)
end

local function list_orders()
  return wrk.format("GET", "/orders?limit=10&username=" .. users[math.random(#users)])
end

-- The fulfilment work queue's first page: 20 orders, oldest first, merged
-- from the status's 4 index shards.
local function queue_first_page()
  return wrk.format("GET", "/orders?status=PLACED")
end

local function place_order()
  placed = placed + 1
  -- A unique body per request: the amount carries the thread and a counter.
  local amount = string.format("%d.%04d", placed % 100000 + 1, thread_index)
  local body = '{"amount":' .. amount .. ',"numItems":' .. (placed % 9 + 1)
    .. ',"username":"' .. users[math.random(#users)] .. '"}'
  return wrk.format("POST", "/orders", json, body)
end

local function move_order()
  move_index = move_index + 1
  if move_index > #movable then
    move_index, move_pass = 1, move_pass + 1
  end
  local order = movable[move_index]
  -- Past the last pass a move repeats DELIVERED (a 200 that changes
  -- nothing) and is counted: the harness seeds enough movable orders for a
  -- run never to get there, and reports it if one does.
  local status = passes[move_pass]
  if status == nil then
    status = "DELIVERED"
    exhausted = exhausted + 1
  end
  local body = '{"username":"' .. order[1] .. '","status":"' .. status .. '"}'
  return wrk.format("PUT", "/orders/" .. order[2], json, body)
end

-- 70 % reads (split evenly among the three), 20 % placements, 10 % moves.
local function mix()
  local roll = math.random(100)
  if roll <= 24 then return get_user()
  elseif roll <= 47 then return get_order()
  elseif roll <= 70 then return list_orders()
  elseif roll <= 90 then return place_order()
  else return move_order() end
end

local scenarios = {
  get_user = get_user,
  get_order = get_order,
  get_order_by_id = get_order_by_id,
  edit_address = edit_address,
  register = register,
  list_orders = list_orders,
  queue_first_page = queue_first_page,
  place_order = place_order,
  move_order = move_order,
  mix = mix,
  capture = place_order,
}

function request()
  return scenarios[scenario]()
end

function done(summary, latency, requests)
  local errors = summary.errors
  local past_last_pass = 0
  for _, thread in ipairs(threads) do
    past_last_pass = past_last_pass + (thread:get("exhausted") or 0)
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},"moves_past_last_pass":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, past_last_pass))
end
