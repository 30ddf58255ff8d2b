-- The exact request paynet puts on the wire, seen by a server of our own.
local paynet = require "paynet"
local H = require "spec.helper"

describe("the request on the wire", function()
  it("is the documented POST with its headers, a versioned User-Agent and the JSON body", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    os.execute("lua5.4 spec/capture_server.lua " .. H.quote(dir) .. " >/dev/null 2>&1 &")
    local deadline = H.now() + 5
    while not H.read(dir .. "/port") and H.now() < deadline do H.sleep(0.01) end
    local port = assert(tonumber(H.read(dir .. "/port")), "capture server did not start")

    local c = paynet.new { secret_key = "sck_pcs_wire", base_url = "http://127.0.0.1:" .. port }
    local res = assert(c:send_otp { user_gsm = "+90 532 123 45 67", otp_session_id = "sipariş-\"42\"" })
    assert.are.equal(0, res.code)
    deadline = H.now() + 5
    while not H.read(dir .. "/request") and H.now() < deadline do H.sleep(0.01) end
    local request = assert(H.read(dir .. "/request"))
    local head, body = request:match("^(.-)\n\n(.*)$")
    local lines = {}
    for line in head:gmatch("[^\n]+") do lines[#lines + 1] = line:gsub("\r$", "") end

    assert.are.equal("POST /v1/card/send_otp HTTP/1.1", lines[1])
    local headers = {}
    for i = 2, #lines do
      local name, value = lines[i]:match("^([^:]+):%s*(.*)$")
      headers[name:lower()] = value
    end
    assert.are.equal("application/json; charset=UTF-8", headers["content-type"])
    assert.are.equal("application/json; charset=UTF-8", headers["accept"])
    assert.are.equal("Basic sck_pcs_wire", headers["authorization"])
    assert.truthy(headers["user-agent"]:match("^paynet/0%.1%.0 libcurl/%d+%.%d+%.%d+$"), headers["user-agent"])
    assert.is_nil(headers["expect"])
    assert.are.equal(tostring(#body), headers["content-length"])
    assert.are.equal('{"user_gsm":"5321234567","otp_session_id":"sipariş-\\"42\\""}', body)
  end)
end)
