-- client:send_otp against the real sandbox over loopback.
local paynet = require "paynet"
local H = require "spec.helper"

local client = H.client

describe("send_otp, success", function()
  local sandbox = H.shared()

  it("returns the documented result with a countdown from the server's clock", function()
    local c = client(sandbox.url)
    local gsm = H.gsm()
    local res, err = c:send_otp { user_gsm = "+90 " .. gsm, otp_session_id = "order-42" }
    assert.is_nil(err)
    assert.are.equal(0, res.code)
    assert.are.equal(200, res.http_status)
    assert.are.equal("Başarılı İşlem", res.message)
    assert.are.equal(gsm, res.user_gsm)
    assert.truthy(res.otp_expire:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%d%d%+03:00$"),
      res.otp_expire)
    assert.are.equal(paynet.parse_expire(res.otp_expire), res.expires_at)
    -- the sandbox's default ttl is 180 s; the reply took well under a second
    assert.is_true(res.expires_in > 179 and res.expires_in <= 180.001, res.expires_in)
    assert.is_true(math.abs(res.expires_at - os.time() - 180) < 3)
  end)

  it("a result has exactly its documented fields", function()
    local list = {}
    local c = client(sandbox.url)
    local res = assert(c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
    for k in pairs(res) do list[#list + 1] = k end
    table.sort(list)
    assert.are.equal("code expires_at expires_in held_for http_status message otp_expire user_gsm",
      table.concat(list, " "))
    assert.is_nil(getmetatable(res))
  end)

  it("the memory ledger: clients of one process with one secret and URL share a hold; another secret does not see it", function()
    local first = client(sandbox.url, { ledger = "memory" })
    local second = client(sandbox.url, { ledger = "memory" })
    local stranger = client(sandbox.url, { ledger = "memory", secret_key = "sck_another" })
    local gsm = H.gsm()
    local before = sandbox:requests_now()
    assert(first:send_otp { user_gsm = gsm, otp_session_id = H.session() })
    local res, err = second:send_otp { user_gsm = "0" .. gsm, otp_session_id = H.session() }
    assert.is_nil(res)
    assert.are.equal("cooldown", err.kind)
    assert.are.equal(before + 1, sandbox:requests_now()) -- the refused one never left
    assert.is_true(second:remaining(gsm) > 170)
    assert.are.equal(0, stranger:remaining(gsm))
    assert.is_true(first:release(gsm, "spec"))
    assert.are.equal(0, second:remaining(gsm))
    first:close(); second:close(); stranger:close()
  end)

  it("remembers the number: remaining() counts down, in any spelling", function()
    local c = client(sandbox.url)
    local gsm = H.gsm()
    local res = assert(c:send_otp { user_gsm = gsm, otp_session_id = H.session() })
    local left = c:remaining("0" .. gsm)
    assert.is_true(left > 179 and left <= res.expires_in, left)
    H.sleep(0.2)
    assert.is_true(c:remaining(gsm) < left - 0.15)
    assert.are.equal(0, c:remaining(H.gsm()))
  end)

  it("refuses a resend before otp_expire without any request", function()
    local c = client(sandbox.url)
    local gsm = H.gsm()
    assert(c:send_otp { user_gsm = gsm, otp_session_id = H.session() })
    local before = sandbox:requests_settled()
    local res, err = c:send_otp { user_gsm = "0" .. gsm, otp_session_id = H.session() }
    assert.is_nil(res)
    assert.are.equal("cooldown", err.kind)
    assert.are.equal("no", err.delivered)
    assert.is_true(err.retry_after > 179 and err.retry_after <= 180, err.retry_after)
    assert.truthy(tostring(err):find("retry after 180 s", 1, true), tostring(err))
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("lets another number go while one is cooling down", function()
    local c = client(sandbox.url)
    assert(c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
    assert(c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
  end)

  it("meets the server's own resend rule from a second client (code 5)", function()
    local gsm = H.gsm()
    assert(client(sandbox.url):send_otp { user_gsm = gsm, otp_session_id = H.session() })
    local res, err = client(sandbox.url):send_otp { user_gsm = gsm, otp_session_id = H.session() }
    assert.is_nil(res)
    assert.are.equal("api", err.kind)
    assert.are.equal(5, err.code)
    assert.are.equal("duplicatedata", err.name)
    assert.are.equal(200, err.http_status)
    assert.are.equal("yes", err.delivered)
  end)

  it("reuses one connection for many sends (keep-alive)", function()
    local own = H.start_sandbox { ttl = 0 }
    H.defer(finally, function() own:remove() end)
    local c = client(own.url)
    for _ = 1, 5 do
      assert(c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
    end
    assert.are.equal(5, own:requests_settled(5))
    assert.are.equal(1, own:connections())
  end)

  it("sends the same number again at once when the OTP has already expired", function()
    local own = H.start_sandbox { ttl = 0 }
    H.defer(finally, function() own:remove() end)
    local c = client(own.url)
    local gsm = H.gsm()
    for _ = 1, 3 do
      local res = assert(c:send_otp { user_gsm = gsm, otp_session_id = H.session() })
      -- the desk clock agrees with Date, so no phantom second of cooldown
      assert.is_true(res.expires_in <= 0, res.expires_in)
      assert.are.equal(0, c:remaining(gsm))
    end
  end)
end)

describe("send_otp, the countdown when the desk clock is wrong", function()
  for _, offset in ipairs { 3600, -3600 } do
    it("trusts Date when the server runs " .. offset .. " s away from us", function()
      local own = H.start_sandbox { clock_offset = offset }
      H.defer(finally, function() own:remove() end)
      local res = assert(client(own.url):send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
      -- naive local arithmetic would say 180 + offset
      assert.is_true(res.expires_in > 179 and res.expires_in <= 181, res.expires_in)
      -- the hold is the longer of the two estimates: 180 s by the server's
      -- clock, 180 + offset by ours; nobody knows which clock is right
      local longer = math.max(180, 180 + offset)
      assert.is_true(res.held_for > longer - 2 and res.held_for <= longer + 1, res.held_for)
    end)
  end

  it("ignores a Date more than a day off: no decades-long hold, and a debug line says so", function()
    local sandbox = H.shared()
    local lines = {}
    local c = paynet.new { secret_key = H.key, base_url = sandbox.url,
                           debug = function(line) lines[#lines + 1] = line end }
    -- fault 21: a correct otp_expire behind a gateway whose Date says 1970
    local res = assert(c:send_otp { user_gsm = "5000000121", otp_session_id = H.session() })
    assert.is_true(res.expires_in > 178 and res.expires_in <= 180, res.expires_in)
    assert.is_true(res.held_for > 178 and res.held_for <= 180, res.held_for)
    assert.is_true(c:remaining("5000000121") <= 180)
    assert.are.equal(1, #lines)
    assert.truthy(lines[1]:match("^the reply's Date header is %-%d+ s away from this machine's clock; it is ignored$"),
                  lines[1])
  end)

  it("a whole server two days behind: the hold falls back to unknown_hold, never to none", function()
    local own = H.start_sandbox { clock_offset = -2 * 86400 }
    H.defer(finally, function() own:remove() end)
    local lines = {}
    local c = paynet.new { secret_key = H.key, base_url = own.url, unknown_hold = 60,
                           debug = function(line) lines[#lines + 1] = line end }
    local gsm = H.gsm()
    local res = assert(c:send_otp { user_gsm = gsm, otp_session_id = H.session() })
    assert.is_true(res.expires_in < -172000, res.expires_in) -- by our clock, long past
    assert.are.equal(60, res.held_for)
    assert.is_true(c:remaining(gsm) > 59)
    assert.are.equal(2, #lines)
    assert.truthy(lines[2]:find("held 60 s", 1, true), lines[2])
  end)
end)

describe("send_otp, refusals", function()
  local sandbox = H.shared()

  it("reports a wrong secret key as api/unauthorized without repeating it", function()
    local c = client(sandbox.url, { secret_key = "sck_wrong_key_123" })
    local res, err = c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() }
    assert.is_nil(res)
    assert.are.equal("api", err.kind)
    assert.are.equal(7, err.code)
    assert.are.equal("unauthorized", err.name)
    assert.are.equal(401, err.http_status)
    assert.are.equal("yes", err.delivered)
    assert.are.equal("Geçersiz gizli anahtar", err.message)
    assert.falsy(tostring(err):find("sck_wrong_key_123", 1, true))
  end)

  for code = 1, 21 do
    it("turns scenario number 50000000" .. string.format("%02d", code) ..
       " into api error " .. code .. " " .. paynet.codes[code], function()
      local c = client(sandbox.url)
      local res, err = c:send_otp { user_gsm = string.format("50000000%02d", code),
                                    otp_session_id = H.session() }
      assert.is_nil(res)
      assert.are.equal("api", err.kind)
      assert.are.equal(code, err.code)
      assert.are.equal(paynet.codes[code], err.name)
      assert.are.equal("yes", err.delivered)
      -- Paynet's "a code is still valid" holds the number; the rest do not
      assert.are.equal(code == 5 and 180 or nil, err.retry_after)
      assert.are.equal(code == 5 and 180 or 0, math.ceil(c:remaining(string.format("50000000%02d", code))))
      -- the verdict: Paynet refused; its code 5 says an earlier code is valid
      assert.are.equal(code == 5 and "duplicate_held" or "refused", err.outcome)
      local line = tostring(err)
      local words = code == 5 and "refused by Paynet: an earlier code is still valid" or "refused by Paynet"
      assert.truthy(line:find(("(%s; code %d %s; HTTP 200"):format(words, code, paynet.codes[code]), 1, true), line)
    end)
  end

  local bad_inputs = {
    { "a short number", "532", "s" },
    { "a landline", "02121234567", "s" },
    { "CR LF in the number", "532\r\n1234567", "s" },
    { "NUL in the number", "532\0" .. "1234567", "s" },
    { "Arabic-Indic digits", "\u{0665}\u{0663}\u{0662}1234567", "s" },
    { "fullwidth digits", "\u{FF15}321234567", "s" },
    { "an over-long number", string.rep("5", 65), "s" },
    { "a number with a tab", "532\t1234567", "s" },
    { "a number with DEL", "5321234567\127", "s" },
    { "an empty session id", "5321234567", "" },
    { "CR LF in the session id", "5321234567", "a\r\nX-Injected: 1" },
    { "NUL in the session id", "5321234567", "a\0b" },
    { "escape in the session id", "5321234567", "a\27[2J" },
    { "a tab in the session id", "5321234567", "a\tb" },
    { "a C1 control in the session id", "5321234567", "a\xc2\x9bb" },
    { "a 129-byte session id", "5321234567", string.rep("x", 129) },
    { "broken UTF-8 in the session id", "5321234567", "a\xff" },
  }
  for _, case in ipairs(bad_inputs) do
    it("refuses " .. case[1] .. " before any I/O", function()
      local c = client(sandbox.url)
      local before = sandbox:requests_settled()
      local res, err = c:send_otp { user_gsm = case[2], otp_session_id = case[3] }
      assert.is_nil(res)
      assert.are.equal("invalid", err.kind)
      assert.are.equal("no", err.delivered)
      assert.are.equal(before, sandbox:requests_now())
    end)
  end
end)

describe("send_otp, transport failures", function()
  it("reports a refused connection as network, delivered no, after its retry", function()
    local url = "http://127.0.0.1:" .. H.closed_port()
    local t0 = H.now()
    local res, err = client(url, { retries = 0 }):send_otp { user_gsm = H.gsm(), otp_session_id = "x" }
    local once = H.now() - t0
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.equal("no", err.delivered)
    assert.is_nil(err.retry_after)
    t0 = H.now()
    local _, err2 = client(url, { retries = 2 }):send_otp { user_gsm = H.gsm(), otp_session_id = "x" }
    assert.are.equal("network", err2.kind)
    -- two retries, each 0.25 s after the last failure
    assert.is_true(H.now() - t0 >= 0.5, "retried twice")
    assert.is_true(once < 0.25 * H.slow, "no retry with retries = 0")
  end)

  it("times out on a server that never answers, and holds the number", function()
    local sandbox = H.shared()
    local c = client(sandbox.url, { timeout = 1 })
    local t0 = H.now()
    local res, err = c:send_otp { user_gsm = "5000000103", otp_session_id = H.session() }
    local took = H.now() - t0
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("unknown", err.delivered)
    assert.is_true(took >= 1 and took < 1 + H.slow, took)
    assert.are.equal(180, err.retry_after)
    local before = sandbox:requests_settled()
    local _, again = c:send_otp { user_gsm = "5000000103", otp_session_id = H.session() }
    assert.are.equal("cooldown", again.kind)
    assert.truthy(again.message:find("may have delivered", 1, true), again.message)
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("holds for unknown_hold seconds, or not at all with 0", function()
    local sandbox = H.shared()
    local c = client(sandbox.url, { timeout = 0.5, unknown_hold = 0 })
    local _, err = c:send_otp { user_gsm = "5000000103", otp_session_id = H.session() }
    assert.are.equal("timeout", err.kind)
    assert.is_nil(err.retry_after)
    assert.are.equal(0, c:remaining("5000000103"))
    local c2 = client(sandbox.url, { timeout = 0.5, unknown_hold = 30 })
    local _, err2 = c2:send_otp { user_gsm = "5000000103", otp_session_id = H.session() }
    assert.are.equal(30, err2.retry_after)
    assert.is_true(c2:remaining("5000000103") > 29)
  end)
end)

describe("send_otp over HTTPS", function()
  local dir, sandbox
  setup(function()
    dir = H.tmpdir()
    local cert = H.make_cert(dir)
    sandbox = H.start_sandbox { tls = cert }
    sandbox.cert = cert
  end)
  teardown(function()
    if sandbox then sandbox:remove() end
    os.execute("rm -rf " .. H.quote(dir))
  end)

  it("prints an https URL when serving TLS", function()
    assert.truthy(sandbox.url:match("^https://127%.0%.0%.1:%d+$"))
  end)

  it("succeeds when the certificate is trusted through cainfo", function()
    local c = client(sandbox.url:gsub("127.0.0.1", "localhost"), { cainfo = sandbox.cert.cert })
    local res, err = c:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() }
    assert.is_nil(err)
    assert.are.equal(0, res.code)
    local c2 = client(sandbox.url, { cainfo = sandbox.cert.cert })
    assert(c2:send_otp { user_gsm = H.gsm(), otp_session_id = H.session() })
  end)

  it("refuses an untrusted certificate: tls, delivered no, no request", function()
    local before = sandbox:requests_settled()
    local res, err = client(sandbox.url):send_otp { user_gsm = H.gsm(), otp_session_id = H.session() }
    assert.is_nil(res)
    assert.are.equal("tls", err.kind)
    assert.are.equal("no", err.delivered)
    assert.are.equal(before, sandbox:requests_now())
  end)

  -- Paynet's hosts accept TLS 1.1 and 1.2: paynet itself asks for 1.2 at
  -- least.  Both sides run under an OpenSSL configuration that allows 1.0
  -- and 1.1 (Debian's own sets 1.2 as the minimum, which would hide a
  -- client that stopped asking), and the server prints what it reads.
  it("refuses a server that speaks only TLS 1.1: tls, delivered no, no request", function()
    local conf = dir .. "/old-tls.cnf"
    H.write(conf, table.concat({ "openssl_conf = default_conf", "[default_conf]",
      "ssl_conf = ssl_sect", "[ssl_sect]", "system_default = system_default_sect",
      "[system_default_sect]", "MinProtocol = TLSv1", "CipherString = DEFAULT@SECLEVEL=0", "" }, "\n"))
    local port = H.closed_port()
    local out = dir .. "/s_server.out"
    -- s_server ends a connection when its standard input ends: a FIFO
    -- held open by a sleep keeps it open
    local fifo = dir .. "/s_server.in"
    os.execute("rm -f " .. H.quote(fifo) .. "; mkfifo " .. H.quote(fifo))
    local pids = H.capture(("sleep 60 > %s & echo $!; env OPENSSL_CONF=%s openssl s_server -tls1_1 " ..
      "-accept 127.0.0.1:%d -cert %s -key %s -quiet < %s > %s 2>&1 & echo $!"):format(H.quote(fifo),
      H.quote(conf), port, H.quote(sandbox.cert.cert), H.quote(sandbox.cert.key), H.quote(fifo), H.quote(out)))
    H.defer(finally, function()
      for pid in pids:gmatch("%d+") do os.execute("kill " .. pid .. " 2>/dev/null") end
    end)
    H.wait_until(function()
      return H.capture(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null && echo up"):format(port), true):find("up")
    end, 5, "openssl s_server to listen")
    local script = ([[
      local paynet = require "paynet"
      local c = assert(paynet.new { secret_key = "sck_sandbox", base_url = "https://127.0.0.1:%d",
                                    cainfo = %q, ledger = "memory", timeout = 5 })
      local res, err = c:send_otp { user_gsm = "5321234567", otp_session_id = "old-tls" }
      print(res and "sent" or (err.kind .. " " .. err.delivered))
    ]]):format(port, sandbox.cert.cert)
    local printed, code = H.lua_script(script, "OPENSSL_CONF=" .. H.quote(conf))
    assert.are.equal(0, code, printed)
    assert.are.equal("tls no\n", printed)
    -- the probe connection and the client's handshakes: no request came
    local seen = H.read(out) or ""
    assert.falsy(seen:find("POST", 1, true), seen)
    -- the same client asking for nothing but what the configuration
    -- allows would send: curl, as a check that the server would take one
    H.capture(("env OPENSSL_CONF=%s curl -s --tls-max 1.1 --cacert %s -d x --max-time 2 " ..
      "https://127.0.0.1:%d/v1/card/send_otp"):format(H.quote(conf), H.quote(sandbox.cert.cert), port))
    H.wait_until(function() return (H.read(out) or ""):find("POST /v1/card/send_otp", 1, true) end, 5,
                 "curl's request to reach the TLS 1.1 server")
  end)

  it("refuses a certificate for another host name", function()
    local other = H.make_cert(dir, "other.example")
    local own = H.start_sandbox { tls = other }
    H.defer(finally, function() own:remove() end)
    local _, err = client(own.url, { cainfo = other.cert }):send_otp {
      user_gsm = H.gsm(), otp_session_id = H.session() }
    assert.are.equal("tls", err.kind)
    assert.are.equal("no", err.delivered)
  end)
end)
