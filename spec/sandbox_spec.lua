-- paynet-sandbox's own contract, spoken to with the curl command line.
local H = require "spec.helper"

local function post(url, body, headers)
  local args = { "curl", "-s", "-i", "-X", "POST", "--max-time", "5" }
  for _, h in ipairs(headers or { "Authorization: Basic " .. H.key }) do
    args[#args + 1] = "-H"; args[#args + 1] = h
  end
  args[#args + 1] = "--data-binary"; args[#args + 1] = body
  args[#args + 1] = url
  for i, a in ipairs(args) do args[i] = H.quote(a) end
  local out = H.capture(table.concat(args, " "))
  local head, payload = out:match("^(.-)\r\n\r\n(.*)$")
  local status = tonumber((head or ""):match("^HTTP/1%.1 (%d+)"))
  return status, payload, head or ""
end

local function send(url, gsm, extra_headers)
  return post(url .. "/v1/card/send_otp",
    string.format('{"user_gsm":"%s","otp_session_id":"sess-1"}', gsm), extra_headers)
end

describe("paynet-sandbox command line", function()
  it("prints --help and exits 0", function()
    local out, code = H.capture(H.sandbox_bin .. " --help")
    assert.are.equal(0, code)
    for _, option in ipairs { "--port", "--secret-key", "--ttl", "--clock-offset",
                              "--tls-cert", "--tls-key", "--quiet", "--help", "--version" } do
      assert.truthy(out:find(option, 1, true), option)
    end
  end)

  it("prints --version", function()
    local out, code = H.capture(H.sandbox_bin .. " --version")
    assert.are.equal(0, code)
    assert.are.equal("paynet-sandbox 0.2.0\n", out)
  end)

  for _, bad in ipairs { "--nope", "--port 70000", "--port x", "--ttl -1",
                         "--tls-cert a.pem", "--secret-key ''", "extra" } do
    it("exits 2 with a message on '" .. bad .. "'", function()
      local out, code = H.capture(H.sandbox_bin .. " " .. bad .. " 2>&1")
      assert.are.equal(2, code)
      assert.truthy(#out > 0)
    end)
  end

  it("fails clearly on an unreadable certificate", function()
    local out, code = H.capture(H.sandbox_bin ..
      " --tls-cert /nonexistent.pem --tls-key /nonexistent.key 2>&1")
    assert.are.equal(1, code)
    assert.truthy(out:find("cannot read /nonexistent.pem", 1, true))
  end)

  it("prints exactly one line once ready and stops on SIGTERM", function()
    local s = H.start_sandbox()
    assert.truthy(s.stdout:match("^listening on http://127%.0%.0%.1:%d+\n$"))
    assert.is_true(s:stop("TERM"))
    assert.truthy(s:log():find("stopped", 1, true))
    s:remove()
  end)

  it("stops on SIGINT even with a client hanging on a never-answering fault", function()
    local s = H.start_sandbox()
    os.execute(string.format("curl -s --max-time 30 -H %s --data-binary %s %s >/dev/null 2>&1 &",
      H.quote("Authorization: Basic " .. H.key),
      H.quote('{"user_gsm":"5000000103","otp_session_id":"x"}'),
      H.quote(s.url .. "/v1/card/send_otp")))
    local deadline = H.now() + 3
    while not s:log():find("fault 03", 1, true) and H.now() < deadline do H.sleep(0.02) end
    local t0 = H.now()
    assert.is_true(s:stop("INT"))
    assert.is_true(H.now() - t0 < 2)
    s:remove()
  end)
end)

describe("paynet-sandbox answers", function()
  local s
  setup(function() s = H.start_sandbox { secret_key = "sck_spec_secret", ttl = 60 } end)
  teardown(function() s:remove() end)
  local auth = { "Authorization: Basic sck_spec_secret" }

  it("a send with a Date header, JSON, otp_expire = now + ttl at +03:00", function()
    local status, body, head = send(s.url, H.gsm(), auth)
    assert.are.equal(200, status)
    assert.truthy(head:match("\r\nDate: %a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT"), head)
    assert.truthy(head:find("Content-Type: application/json", 1, true))
    local expire = body:match('"otp_expire":"([^"]+)"')
    assert.truthy(expire:match("%.%d%d%d%d%d%d%d%+03:00$"), expire)
    -- GNU date is the oracle, not the library whose formatter the sandbox uses
    local epoch = tonumber((H.capture("date -u -d " .. H.quote(expire) .. " +%s.%N")))
    assert.truthy(epoch, expire)
    local left = epoch - os.time()
    assert.is_true(left > 58 and left < 62, left)
    local date = head:match("\r\nDate: ([^\r]+)")
    local by_date = tonumber((H.capture("date -u -d " .. H.quote(date) .. " +%s")))
    assert.is_true(epoch - by_date > 59 and epoch - by_date < 61, epoch - by_date)
    assert.truthy(body:find('"code":0', 1, true))
    assert.truthy(body:find('"message":"Başarılı İşlem"', 1, true))
  end)

  it("the resend rule per number with code 5, until otp_expire", function()
    local gsm = H.gsm()
    assert.are.equal(200, (send(s.url, gsm, auth)))
    local status, body = send(s.url, gsm, auth)
    assert.are.equal(200, status)
    assert.truthy(body:find('"code":5', 1, true), body)
    local other = send(s.url, H.gsm(), auth)
    assert.are.equal(200, other)
  end)

  it("a wrong key with 401 and the error object, result code 7", function()
    local status, body = send(s.url, H.gsm(), { "Authorization: Basic nope" })
    assert.are.equal(401, status)
    assert.truthy(body:find('"type":"unauthorized"', 1, true))
    assert.truthy(body:find('"code":401', 1, true))
    assert.truthy(body:find('"result_code":7', 1, true))
    assert.are.equal(401, (send(s.url, H.gsm(), { "X-None: 1" })))
  end)

  for _, body in ipairs { "", "{", "[]", '{"user_gsm":"5321234567"}',
                          '{"user_gsm":5321234567,"otp_session_id":"x"}',
                          '{"user_gsm":"05321234567","otp_session_id":"x"}',
                          '{"user_gsm":"5321234567","otp_session_id":""}' } do
    it("a bad body " .. string.format("%q", body) .. " with 400 and result code 11", function()
      local status, reply = post(s.url .. "/v1/card/send_otp", body, auth)
      assert.are.equal(400, status)
      assert.truthy(reply:find('"result_code":11', 1, true), reply)
    end)
  end

  it("other paths with 404 and other methods with 405", function()
    assert.are.equal(404, (post(s.url .. "/v1/card/save", "{}", auth)))
    local out = H.capture("curl -s -o /dev/null -w '%{http_code}' " .. H.quote(s.url .. "/v1/card/send_otp"))
    assert.are.equal("405", out)
  end)

  it("logs each request with the number masked and never the secret", function()
    local gsm = "5351234567"
    send(s.url, gsm, auth)
    local log = s:log()
    assert.truthy(log:find("535*****67", 1, true), log)
    assert.falsy(log:find(gsm, 1, true))
    assert.truthy(log:find("SMS code %d%d%d%d%d%d"))
    assert.falsy(log:find("sck_spec_secret", 1, true))
    assert.falsy(s.stdout:find("sck_spec_secret", 1, true))
  end)

  it("escapes control characters of a session id in its log", function()
    post(s.url .. "/v1/card/send_otp",
      '{"user_gsm":"' .. H.gsm() .. '","otp_session_id":"a\\u001b[2Jb"}', auth)
    local log = s:log()
    assert.truthy(log:find("a\\x1b[2Jb", 1, true), log)
    assert.falsy(log:find("\27", 1, true))
  end)

  it("escapes a hostile path and method: no escape byte, no forged log line", function()
    local socket = require "socket"
    local port = s.url:match(":(%d+)$")
    for _, request in ipairs {
      "GET /a%1b[2J%0a12:00:00%20sandbox:%20forged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "P%1bST /v1/card/send_otp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    } do
      local c = assert(socket.connect("127.0.0.1", tonumber(port)))
      c:settimeout(2)
      c:send(request)
      c:receive("*a")
      c:close()
    end
    local log = H.wait_until(function()
      local l = s:log()
      return l:find("-> 405", 1, true) and l:find("forged -> 404", 1, true) and l
    end, 5, "both requests in the log")
    assert.falsy(log:find("\27", 1, true), log)
    assert.falsy(log:find("\n12:00:00 sandbox: forged", 1, true), log)
    assert.truthy(log:find("/a\\x1b[2J\\x0a12:00:00 sandbox: forged -> 404", 1, true), log)
  end)
end)

describe("paynet-sandbox --ttl 0", function()
  it("answers already-expired OTPs, so a number can be sent again at once", function()
    local s = H.start_sandbox { ttl = 0 }
    H.defer(finally, function() s:remove() end)
    local gsm = H.gsm()
    for _ = 1, 3 do
      local status, body = send(s.url, gsm)
      assert.are.equal(200, status)
      assert.truthy(body:find('"code":0', 1, true), body)
    end
  end)
end)

describe("paynet-sandbox --scenarios", function()
  it("is the one list: the README's table and the man page are written from it", function()
    local out, code = H.capture(H.sandbox_bin .. " --scenarios")
    assert.are.equal(0, code)
    local list = H.tmpdir() .. "/list"
    H.write(list, out)
    local said, stale = H.capture(("%s tools/scenarios.lua --check < %s 2>&1"):format(H.lua, H.quote(list)))
    assert.are.equal(0, stale, said)
    -- what the generator wrote is what a reader sees, rendered
    local readme = H.read("README.md"):gsub("`", "")
    local man = H.capture("MANWIDTH=400 man -l man/paynet-sandbox.1 2>/dev/null", true)
      :gsub("\u{2010}", "-"):gsub("%s+", " ")
    local faults = 0
    for number, meaning in out:gmatch("(50000001%d%d)  ([^\n]+)") do
      faults = faults + 1
      assert.truthy(readme:find("| " .. number .. " | " .. meaning .. " |", 1, true),
                    number .. " is not in the README's table as: " .. meaning)
      assert.truthy(man:find(number:sub(9) .. " " .. meaning, 1, true),
                    number .. " is not in the man page as: " .. meaning)
    end
    assert.are.equal(25, faults)
    -- and each number behaves as listed: an unknown one is refused
    local s = H.shared()
    local status, body = send(s.url, "5000000199")
    assert.are.equal(400, status)
    assert.truthy(body:find("bilinmeyen senaryo", 1, true), body)
  end)
end)
