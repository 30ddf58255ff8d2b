-- The exact request paynet puts on the wire, seen by a server of our own.
local paynet = require "paynet"
local H = require "spec.helper"

-- A one-shot server (spec/capture_server.lua) answering body: its folder
-- and port
local function serve(body)
  local dir = H.tmpdir()
  H.write(dir .. "/reply", body)
  os.execute("lua5.4 spec/capture_server.lua " .. H.quote(dir) .. " >/dev/null 2>&1 &")
  local port = H.wait_until(function() return tonumber(H.read(dir .. "/port") or "") end, 5,
                            "the capture server")
  return dir, port
end

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
    assert.truthy(headers["user-agent"]:match("^paynet/0%.2%.0 libcurl/%d+%.%d+%.%d+$"), headers["user-agent"])
    assert.is_nil(headers["expect"])
    assert.are.equal(tostring(#body), headers["content-length"])
    assert.are.equal('{"user_gsm":"5321234567","otp_session_id":"sipariş-\\"42\\""}', body)
  end)
end)

describe("otp_expire west of UTC", function()
  -- Turkey is +03:00, but a gateway or a test system may answer in any
  -- offset: a negative one counts from the same instant
  it("a -05:00 otp_expire gives the same instant, countdown and hold", function()
    -- two minutes from now, written five hours behind UTC
    local at = os.time() + 120
    local expire = os.date("!%Y-%m-%dT%H:%M:%S", at - 5 * 3600) .. ".2500000-05:00"
    local dir, port = serve(('{"otp_expire":"%s","code":0,"message":"ok"}'):format(expire))
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local c = paynet.new { secret_key = "k", base_url = "http://127.0.0.1:" .. port,
                           ledger = H.private_ledger() }
    local gsm = H.gsm()
    local res = assert(c:send_otp { user_gsm = gsm, otp_session_id = "west" })
    assert.are.equal(expire, res.otp_expire)
    assert.are.equal(at + 0.25, res.expires_at)
    local left = at + 0.25 - H.now()
    assert.is_true(math.abs(res.expires_in - left) < 1, res.expires_in .. " vs " .. left)
    assert.is_true(math.abs(res.held_for - left) < 1, res.held_for .. " vs " .. left)
    assert.is_true(math.abs(c:remaining(gsm) - left) < 1)
  end)
end)

describe("the reply cap", function()
  -- a success of exactly n bytes (blanks before its closing brace)
  local function success_of(n)
    local head = '{"otp_expire":"2030-01-01T00:00:00.0000000+03:00","code":0,"message":"ok"'
    return head .. (" "):rep(n - #head - 1) .. "}"
  end

  it("is 64 KiB exactly: a reply of 65536 bytes is read, one of 65537 is refused", function()
    for _, case in ipairs { { 65536, true }, { 65537, false } } do
      local body = success_of(case[1])
      assert.are.equal(case[1], #body)
      local dir, port = serve(body)
      H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
      local c = paynet.new { secret_key = "k", base_url = "http://127.0.0.1:" .. port,
                             ledger = H.private_ledger() }
      local res, err = c:send_otp { user_gsm = H.gsm(), otp_session_id = "cap" }
      if case[2] then
        assert.is_nil(err, err and err.message)
        assert.are.equal(0, res.code)
      else
        assert.is_nil(res)
        assert.are.equal("protocol", err.kind)
        assert.are.equal("unusable reply (HTTP 200): larger than 64 KiB", err.message)
      end
    end
  end)
end)

describe("a proxy", function()
  -- a one-shot server that records what it is sent: as a proxy, it sees
  -- the absolute URL in the request line
  local function capture()
    local dir = H.tmpdir()
    os.execute("lua5.4 spec/capture_server.lua " .. H.quote(dir) .. " >/dev/null 2>&1 &")
    local port = H.wait_until(function() return tonumber(H.read(dir .. "/port") or "") end, 5,
                              "the capture server")
    return dir, port
  end
  local function request_line(dir)
    local request = H.wait_until(function() return H.read(dir .. "/request") end, 5, "a request")
    return request:match("^([^\r\n]*)")
  end

  it("carries the request when the option names it, and nothing else does", function()
    local dir, port = capture()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local c = paynet.new { secret_key = "k", base_url = "http://127.0.0.1:1",
                           proxy = "http://127.0.0.1:" .. port, ledger = "memory" }
    local res = assert(c:send_otp { user_gsm = H.gsm(), otp_session_id = "via-proxy" })
    assert.are.equal(0, res.code)
    assert.are.equal("POST http://127.0.0.1:1/v1/card/send_otp HTTP/1.1", request_line(dir))
    for _, bad in ipairs { "ftp://x", "127.0.0.1:3128", "http://a b", "http://x\n" } do
      assert.has_error(function() paynet.new { secret_key = "k", proxy = bad } end,
        "paynet.new: proxy must be a URL: http://, https://, socks4://, socks4a://, socks5:// or " ..
        "socks5h:// and a host, without spaces")
    end
  end)

  it("comes from http_proxy when none is given to paynet-otp, and --proxy '' turns it off", function()
    local dir, port = capture()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local otp = ("env -u PAYNET_LEDGER LUA_CPATH=%s PAYNET_SECRET_KEY=k %s bin/paynet-otp send --gsm %s " ..
      "--session s --ledger memory --base-url http://127.0.0.1:1"):format(
      H.quote("./" .. H.build .. "/?.so;;"), H.lua, H.gsm())
    local out, code = H.capture(("http_proxy=http://127.0.0.1:%d %s 2>&1"):format(port, otp))
    assert.are.equal(0, code, out)
    assert.are.equal("POST http://127.0.0.1:1/v1/card/send_otp HTTP/1.1", request_line(dir))
    out, code = H.capture(("http_proxy=http://127.0.0.1:%d %s --proxy '' 2>&1"):format(port, otp))
    assert.are.equal(5, code, out) -- straight to port 1: refused, nothing sent
  end)
end)
