-- Places orders like scenario.lua's place_order and writes the id of every
-- order created (201) to <capture prefix>.<thread> as "movable <user> <id>",
-- flushed per line, so the harness can seed movable orders and check that
-- each 201 survives kill -9.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "scenario.lua")

function response(status, headers, body)
  if status == 201 then
    local user = body:match('"PK":"CUSTOMER#([^"]+)"')
    capture_file:write("movable ", user, " ", body:match('"OrderId":"(%w+)"'), "\n")
    capture_file:flush()
  end
end
