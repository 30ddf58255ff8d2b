-- bench/module.lua — benchmark (c): client:send_otp in a loop, one client.
-- Usage: lua5.4 bench/module.lua BUILD URL CALLS [CAINFO] [--rss]
-- Prints "<calls> <seconds> <CPU seconds>"; with --rss also "rss <calls> <KiB>" after
-- call 10 000 and after the last one.
local build, url, calls, cainfo, rss = arg[1], arg[2], tonumber(arg[3]), arg[4], arg[5]
if cainfo == "--rss" then cainfo, rss = nil, "--rss" end
if cainfo == "" then cainfo = nil end
package.cpath = build .. "/?.so;" .. package.cpath
local paynet = require "paynet"
local socket = require "socket"

local function resident_kib()
  local f = assert(io.open("/proc/self/statm"))
  local pages = f:read("a"):match("^%d+ (%d+)")
  f:close()
  return tonumber(pages) * 4
end

local client = paynet.new { secret_key = "sck_sandbox", base_url = url, cainfo = cainfo }
-- each call to a new number, as real traffic is (532 and the call's 7 digits)
local request = { user_gsm = "5320000000", otp_session_id = "bench" }
local t0, cpu0 = socket.gettime(), os.clock() -- os.clock: this process's CPU time
for i = 1, calls do
  request.user_gsm = string.format("532%07d", i % 10000000)
  local res, err = client:send_otp(request)
  if not res then error("call " .. i .. ": " .. tostring(err)) end
  if rss and (i == 10000 or i == calls) then
    io.write("rss ", i, " ", resident_kib(), "\n")
  end
end
local wall = socket.gettime() - t0
io.write(calls, " ", string.format("%.6f %.6f", wall, os.clock() - cpu0), "\n")
