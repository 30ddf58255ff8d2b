-- A TCP relay that holds each chunk it reads DELAY seconds before passing
-- it on, both ways: a slow network or a slow server in front of a real one
-- (every blocking call behind it shows at once).
-- Usage: lua5.4 spec/relay.lua DIR TARGET_PORT DELAY   (writes DIR/port)
local socket = require "socket"
local dir, target_port, delay = arg[1], tonumber(arg[2]), tonumber(arg[3])

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local f = assert(io.open(dir .. "/port.tmp", "w"))
f:write(select(2, server:getsockname()), "\n")
f:close()
os.rename(dir .. "/port.tmp", dir .. "/port")

local peer, queue = {}, {} -- peer[s]: the other end; queue[s]: chunks due to s
local sockets = { server }

local function drop(s)
  for _, x in ipairs { s, peer[s] } do
    if x then
      x:close()
      for i = #sockets, 1, -1 do if sockets[i] == x then table.remove(sockets, i) end end
      queue[x], peer[x] = nil, nil
    end
  end
end

while true do
  local now, wait = socket.gettime(), 1
  for s, q in pairs(queue) do
    while q[1] and q[1].at <= now do
      local chunk = table.remove(q, 1)
      s:settimeout(5)
      s:send(chunk.data)
      s:settimeout(0) -- reads take what is there, never wait for more
    end
    if q[1] then wait = math.min(wait, q[1].at - now) end
  end
  local readable = socket.select(sockets, nil, math.max(wait, 0.001))
  for _, s in ipairs(readable) do
    if s == server then
      local client = server:accept()
      if client then
        local upstream = socket.tcp()
        upstream:settimeout(5)
        if upstream:connect("127.0.0.1", target_port) then
          client:settimeout(0)
          upstream:settimeout(0)
          peer[client], peer[upstream] = upstream, client
          queue[client], queue[upstream] = {}, {}
          sockets[#sockets + 1] = client
          sockets[#sockets + 1] = upstream
        else
          client:close()
        end
      end
    elseif peer[s] then
      local data, err, partial = s:receive(65536)
      data = data or partial
      if data and #data > 0 then
        local q = queue[peer[s]]
        q[#q + 1] = { at = socket.gettime() + delay, data = data }
      end
      if err == "closed" then drop(s) end
    end
  end
end
