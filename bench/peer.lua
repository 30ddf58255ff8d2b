-- bench/peer.lua — benchmark (d): what a Lua user would pick instead of
-- paynet: luasocket's socket.http.request over HTTP, luasec's
-- ssl.https.request over HTTPS (verifying the peer against CAINFO).
-- Usage: lua5.4 bench/peer.lua URL CALLS [CAINFO]   prints "<calls> <seconds>"
local url, calls, cainfo = arg[1], tonumber(arg[2]), arg[3]
local socket = require "socket"
local ltn12 = require "ltn12"
local https = url:match("^https:")
local client = https and require "ssl.https" or require "socket.http"

local body = '{"user_gsm":"5321234567","otp_session_id":"bench"}'
local t0 = socket.gettime()
for i = 1, calls do
  local sink = {}
  local request = {
    url = url .. "/v1/card/send_otp",
    method = "POST",
    headers = {
      ["content-type"] = "application/json; charset=UTF-8",
      ["accept"] = "application/json; charset=UTF-8",
      ["authorization"] = "Basic sck_sandbox",
      ["content-length"] = tostring(#body),
    },
    source = ltn12.source.string(body),
    sink = ltn12.sink.table(sink),
  }
  if https then
    request.cafile = cainfo
    request.verify = "peer"
    request.protocol = "tlsv1_2"
  end
  local ok, code = client.request(request)
  if not ok or code ~= 200 then error("call " .. i .. ": " .. tostring(code)) end
end
io.write(calls, " ", string.format("%.6f", socket.gettime() - t0), "\n")
