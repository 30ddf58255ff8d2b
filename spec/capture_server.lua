-- A one-shot HTTP server for spec/request_spec.lua: records the exact
-- request it receives and answers a documented success (or the body in
-- DIR/reply, when the spec wrote one before starting it).
-- Usage: lua5.4 spec/capture_server.lua DIR   (writes DIR/port, DIR/request)
local socket = require "socket"
local dir = assert(arg[1], "usage: capture_server.lua DIR")

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local f = assert(io.open(dir .. "/port.tmp", "w"))
f:write(port, "\n")
f:close()
os.rename(dir .. "/port.tmp", dir .. "/port")

server:settimeout(10)
local conn = assert(server:accept())
conn:settimeout(5)
local head, length = {}, 0
while true do
  local line = assert(conn:receive("*l"))
  if line == "" then break end
  head[#head + 1] = line
  local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
  if n then length = tonumber(n) end
end
local body = length > 0 and assert(conn:receive(length)) or ""
f = assert(io.open(dir .. "/request", "wb"))
f:write(table.concat(head, "\n"), "\n\n", body)
f:close()

local reply = '{"otp_expire":"2030-01-01T00:00:00.0000000+03:00","code":0,"message":"ok"}'
local custom = io.open(dir .. "/reply", "rb")
if custom then
  reply = custom:read("a")
  custom:close()
end
conn:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " ..
          #reply .. "\r\n\r\n" .. reply)
conn:close()
server:close()
