-- The Lua contract of `require "paynet"` that needs no server.
local paynet = require "paynet"
local H = require "spec.helper"

local documented_codes = {
  [0] = "successful", "unsuccessful", "companyblocked", "agentblocked",
  "agentnotfound", "duplicatedata", "noprocess", "unauthorized", "servererror",
  "notimplemented", "timeout", "badrequest", "nodata", "paynetjnosession",
  "paynetjwrongbin", "paynetjunmatchtran", "paynetj3derror", "paynetjusedsession",
  "wrongcarddata", "wrongtransactiontype", "wrongpostype", "wrongratioget",
  [100] = "oldsuccessful",
}

describe("paynet module", function()
  it("has a _VERSION", function()
    assert.are.equal("paynet 0.2.0", paynet._VERSION)
  end)

  it("maps every documented result code in both directions", function()
    local count = 0
    for number, name in pairs(documented_codes) do
      assert.are.equal(name, paynet.codes[number])
      assert.are.equal(number, paynet.codes[name])
      count = count + 1
    end
    local entries = 0
    for _ in pairs(paynet.codes) do entries = entries + 1 end
    assert.are.equal(23, count)
    assert.are.equal(2 * count, entries)
    assert.is_nil(paynet.codes[22])
  end)
end)

describe("paynet.normalize_gsm", function()
  local valid = {
    ["+90 (532) 123 45 67"] = "5321234567",
    ["05321234567"] = "5321234567",
    ["905321234567"] = "5321234567",
    ["5321234567"] = "5321234567",
    ["0532-123-45-67"] = "5321234567",
    ["0090 532 123 45 67"] = "5321234567",
  }
  for input, expected in pairs(valid) do
    it("normalises '" .. input .. "'", function()
      assert.are.equal(expected, paynet.normalize_gsm(input))
    end)
  end

  local invalid = {
    { "", "empty" },
    { "532123456", "needs 1 more digit (10 after the prefix: 5XXXXXXXXX)" },
    { "0532 123", "phone number needs 4 more digits" },
    { "0044 20 7946 0958", "after 00 it must continue with the country code 90" },
    { "4321234567", "start with 5" },
    { "+15321234567", "country code 90" },
    { "532 123 45 6x", "'x'" },
    { "532\n1234567", "control character" },
    { "532\0" .. "1234567", "NUL byte" },
    { "\u{0665}321234567", "non-ASCII" },
    { string.rep("5", 65), "too long" },
  }
  for _, case in ipairs(invalid) do
    it("refuses " .. string.format("%q", case[1]):sub(1, 30) .. " with a reason", function()
      local res, err = paynet.normalize_gsm(case[1])
      assert.is_nil(res)
      assert.are.equal("invalid", err.kind)
      assert.are.equal("no", err.delivered)
      assert.truthy(err.message:find(case[2], 1, true), err.message)
      assert.is_nil(err.code)
      assert.is_nil(err.http_status)
    end)
  end

  it("raises on a non-string: a number has lost its leading 0 or +", function()
    assert.has_error(function() paynet.normalize_gsm(5321234567) end,
                     "bad argument #1 to 'normalize_gsm' (string expected, got number)")
    assert.has_error(function() paynet.normalize_gsm(nil) end,
                     "bad argument #1 to 'normalize_gsm' (string expected, got nil)")
    assert.has_error(function() paynet.normalize_gsm({}) end,
                     "bad argument #1 to 'normalize_gsm' (string expected, got table)")
  end)
end)

describe("paynet.parse_expire", function()
  it("parses the documented example to a UTC epoch with the fraction", function()
    local t = paynet.parse_expire("2017-07-17T15:30:15.0581408+03:00")
    assert.is_true(math.abs(t - 1500294615.0581408) < 1e-6)
  end)

  it("parses Z, no fraction and nine fraction digits", function()
    assert.are.equal(0, paynet.parse_expire("1970-01-01T00:00:00Z"))
    assert.is_true(math.abs(paynet.parse_expire("1970-01-01T00:00:01.000000001Z") - 1.000000001) < 1e-9)
    assert.are.equal(951782400, paynet.parse_expire("2000-02-29T00:00:00Z"))
  end)

  for _, bad in ipairs { "", "2017-07-17T15:30:15", "2017-02-29T00:00:00Z",
                         "2017-07-17T15:30:15.0123456789Z", "2017-07-17T15:30:15+03:00x",
                         "2017-07-17T15:30:15\0Z" } do
    it("refuses " .. string.format("%q", bad), function()
      local t, err = paynet.parse_expire(bad)
      assert.is_nil(t)
      assert.are.equal("invalid", err.kind)
      assert.truthy(err.message:match("^otp_expire"))
    end)
  end

  it("raises on a non-string", function()
    assert.has_error(function() paynet.parse_expire(1500294615) end,
                     "bad argument #1 to 'parse_expire' (string expected, got number)")
  end)
end)

describe("paynet.new", function()
  it("makes a client for the documented hosts", function()
    local test = paynet.new { secret_key = "k" }
    assert.are.equal("paynet.Client (https://pts-api.paynet.com.tr/v1/card/send_otp)", tostring(test))
    local live = paynet.new { secret_key = "k", env = "live" }
    assert.are.equal("paynet.Client (https://api.paynet.com.tr/v1/card/send_otp)", tostring(live))
    local local_ = paynet.new { secret_key = "k", base_url = "http://127.0.0.1:8080/" }
    assert.are.equal("paynet.Client (http://127.0.0.1:8080/v1/card/send_otp)", tostring(local_))
  end)

  it("out of descriptors (EMFILE): a client needs none until it sends, and the send is nil and an error value, not a raise", function()
    local H = require "spec.helper"
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    H.write(dir .. "/script.lua", [[
      local paynet = require "paynet"
      local files = {}
      while true do
        local f = io.open("/dev/null")
        if not f then break end
        files[#files + 1] = f
      end
      local c = paynet.new { secret_key = "k", ledger = "memory", base_url = "http://127.0.0.1:9" }
      local res, err = c:send_otp { user_gsm = "5321234567", otp_session_id = "emfile" }
      print(res, err.kind, err.outcome, err.message)
      local call, err2 = c:start { user_gsm = "5321234567", otp_session_id = "emfile" }
      print(call, err2.kind, c:holder("5321234567"))
      for _, f in ipairs(files) do f:close() end
      print(paynet.new { secret_key = "k", ledger = "memory" } ~= nil)
    ]])
    local out, code = H.capture(("ulimit -n 64; env LUA_CPATH=%s %s %s 2>&1"):format(
      H.quote("./" .. H.build .. "/?.so;;"), H.lua, H.quote(dir .. "/script.lua")))
    assert.are.equal(0, code, out)
    -- nothing claimed, nothing sent: the number is free
    assert.are.equal("nil\tnetwork\tnot_sent\tno descriptor to wait on: Too many open files\n" ..
      "nil\tnetwork\tfalse\ntrue\n", out)
  end)

  it("accepts every documented option", function()
    local c = paynet.new {
      secret_key = "k", env = "test", base_url = "http://127.0.0.1:1", timeout = 2,
      connect_timeout = 1, cainfo = "/nonexistent", retries = 0, unknown_hold = 10,
    }
    assert.truthy(tostring(c):match("^paynet.Client"))
  end)

  local misuse = {
    { "no table", nil, "table expected" },
    { "no secret_key", {}, "secret_key must be a string" },
    { "an empty secret_key", { secret_key = "" }, "secret_key is required" },
    { "a numeric secret_key", { secret_key = 12 }, "secret_key must be a string" },
    { "a secret_key with a newline", { secret_key = "sck_a\r\nX: y" }, "printable ASCII" },
    { "an unknown env", { secret_key = "k", env = "prod" }, 'env must be "test" or "live"' },
    { "an unknown option", { secret_key = "k", timeot = 3 }, "unknown option 'timeot'" },
    { "a non-string option name", { secret_key = "k", [1] = true }, "option names must be strings" },
    { "a string timeout", { secret_key = "k", timeout = "15" }, "timeout must be a number" },
    { "a zero timeout", { secret_key = "k", timeout = 0 }, "timeout must be more than 0" },
    { "a NaN timeout", { secret_key = "k", timeout = 0 / 0 }, "timeout must be more than 0" },
    { "retries above 3", { secret_key = "k", retries = 4 }, "retries must be 0 to 3" },
    { "fractional retries", { secret_key = "k", retries = 1.5 }, "retries must be an integer" },
    { "an ftp base_url", { secret_key = "k", base_url = "ftp://x" }, "http:// or https://" },
    { "a base_url with a space", { secret_key = "k", base_url = "http://a b" }, "spaces" },
    { "a negative unknown_hold", { secret_key = "k", unknown_hold = -1 }, "unknown_hold" },
    -- C would cut a string at a NUL byte: "k\0x" would authenticate as "k"
    { "a secret_key with a NUL", { secret_key = "k\0x" }, "secret_key contains a NUL byte" },
    { "an env with a NUL", { secret_key = "k", env = "live\0x" }, "env contains a NUL byte" },
    { "a base_url with a NUL", { secret_key = "k", base_url = "http://a\0b" }, "base_url contains a NUL" },
    { "a ledger with a NUL", { secret_key = "k", ledger = "sqlite:/tmp/a.db\0/etc/passwd" },
      "ledger contains a NUL byte" },
    { "an operator with a NUL", { secret_key = "k", operator = "a\0b" }, "operator contains a NUL" },
    { "a numeric ledger", { secret_key = "k", ledger = 1 }, "ledger must be a string" },
    { "an unknown ledger", { secret_key = "k", ledger = "mysql://x" }, "ledger must be" },
    { "an operator with a newline", { secret_key = "k", operator = "a\nb" }, "operator must be" },
    { "a program too long", { secret_key = "k", program = ("p"):rep(64) }, "program must be" },
    { "a string debug", { secret_key = "k", debug = "yes" }, "debug must be a function" },
    { "an unknown env next to base_url", { secret_key = "k", env = "prod", base_url = "http://a" },
      'env must be "test" or "live"' },
    { "a base_url with a query", { secret_key = "k", base_url = "http://a/?x=" }, "query (?)" },
    { "a base_url with a fragment", { secret_key = "k", base_url = "http://a/#x" }, "fragment (#)" },
  }
  for _, case in ipairs(misuse) do
    it("raises on " .. case[1], function()
      local ok, message = pcall(paynet.new, case[2])
      assert.is_false(ok)
      assert.truthy(message:find(case[3], 1, true), message)
    end)
  end

  it("never repeats the secret key in its errors", function()
    local ok, message = pcall(paynet.new, { secret_key = "sck_SECRET\n" })
    assert.is_false(ok)
    assert.falsy(message:find("sck_SECRET", 1, true))
  end)
end)

describe("paynet.Client lifetime", function()
  it("closes, twice, and then refuses to be used", function()
    local c = paynet.new { secret_key = "k" }
    c:close()
    c:close()
    assert.are.equal("paynet.Client (closed)", tostring(c))
    assert.has_error(function() c:send_otp { user_gsm = "5321234567", otp_session_id = "x" } end,
      "attempt to use a closed paynet.Client")
    assert.has_error(function() c:remaining("5321234567") end,
      "attempt to use a closed paynet.Client")
  end)

  it("closes at the end of a <close> block", function()
    local kept
    do
      local c <close> = paynet.new { secret_key = "k" }
      kept = c
    end
    assert.are.equal("paynet.Client (closed)", tostring(kept))
  end)

  it("is collected without being closed", function()
    for _ = 1, 50 do paynet.new { secret_key = "k" } end
    collectgarbage()
    collectgarbage()
  end)

  it("names its type in argument errors", function()
    local c = paynet.new { secret_key = "k" }
    local ok, message = pcall(c.send_otp, {}, {})
    assert.is_false(ok)
    assert.truthy(message:find("paynet.Client expected", 1, true), message)
  end)

  it("has remaining() = 0 for a number never sent, nil, err for a bad one", function()
    local c = paynet.new { secret_key = "k" }
    assert.are.equal(0, c:remaining("05321234567"))
    local r, err = c:remaining("12")
    assert.is_nil(r)
    assert.are.equal("invalid", err.kind)
    assert.has_error(function() c:remaining(5321234567) end,
                     "bad argument #1 to 'remaining' (string expected, got number)")
  end)
end)

describe("values computed by __index", function()
  it("stay alive while C uses them: the OTP goes to the number asked for", function()
    local sandbox = H.shared()
    local c = paynet.new { secret_key = H.key, base_url = sandbox.url }
    for trial = 1, 6 do
      -- the number is kept as an integer: the string __index makes is the
      -- only one with those bytes, referenced by nothing once returned
      local keep, number = {}, math.tointeger(tonumber(H.gsm()))
      local args = setmetatable({}, { __index = function(_, k)
        if k == "user_gsm" then return ("%d"):format(number) end
        -- the collector runs, and new strings may take the freed memory
        collectgarbage(); collectgarbage()
        for i = 1, trial * 3 do keep[i] = ("555%07d"):format(math.random(1e6)) end
        return "order-" .. trial
      end })
      local res = assert(c:send_otp(args))
      assert.are.equal(("%d"):format(number), res.user_gsm)
    end
    local options = setmetatable({}, { __index = function(_, k)
      collectgarbage(); collectgarbage()
      if k == "secret_key" then return table.concat { "sck_", "sandbox" } end
      if k == "base_url" then return table.concat { sandbox.url, "" } end
      if k == "ledger" then return table.concat { "mem", "ory" } end
    end })
    local c2 = paynet.new(options)
    assert.are.equal("memory", c2:ledger())
    assert(c2:send_otp { user_gsm = H.gsm(), otp_session_id = "computed-options" })
  end)
end)

describe("client:send_otp misuse", function()
  local c = paynet.new { secret_key = "k", base_url = "http://127.0.0.1:1" }
  local misuse = {
    { "no table", nil, "table expected, got nil" },
    { "a string", "5321234567", "table expected, got string" },
    { "no user_gsm", { otp_session_id = "x" }, "user_gsm must be a string, got nil" },
    { "no otp_session_id", { user_gsm = "5321234567" }, "otp_session_id must be a string, got nil" },
    { "a numeric user_gsm", { user_gsm = 5321234567, otp_session_id = "x" },
      "user_gsm must be a string, got number" },
    { "a numeric otp_session_id", { user_gsm = "5321234567", otp_session_id = 42 },
      "otp_session_id must be a string, got number" },
    { "a table user_gsm", { user_gsm = {}, otp_session_id = "x" }, "user_gsm must be a string, got table" },
    { "an unknown field", { user_gsm = "5321234567", otp_session_id = "x", gsm = 1 },
      "send_otp: unknown option 'gsm'" },
  }
  for _, case in ipairs(misuse) do
    it("raises on " .. case[1], function()
      local ok, message = pcall(c.send_otp, c, case[2])
      assert.is_false(ok)
      assert.truthy(tostring(message):find(case[3], 1, true), message)
    end)
  end

  it("names the method the unknown option was given to", function()
    local ok, message = pcall(c.start, c, { user_gsm = "5321234567", otp_session_id = "x", timeout = 1 })
    assert.is_false(ok)
    assert.truthy(tostring(message):find("start: unknown option 'timeout'", 1, true), message)
  end)
end)

describe("error values", function()
  it("print as one readable line", function()
    local _, err = paynet.normalize_gsm("12")
    local line = tostring(err)
    assert.are.equal("paynet invalid: " .. err.message .. " (not sent: invalid input)", line)
    assert.are.equal("invalid", err.outcome)
    assert.falsy(line:find("\n"))
  end)

  it("share one metatable", function()
    local _, a = paynet.normalize_gsm("12")
    local _, b = paynet.parse_expire("x")
    assert.are.equal(getmetatable(a), getmetatable(b))
  end)
end)

describe("paynet.meanings and paynet.read_key_file", function()
  local H = require "spec.helper"

  it("gives a meaning for every code", function()
    for number, name in pairs(paynet.codes) do
      if math.type(number) == "integer" then
        assert.are.equal("string", type(paynet.meanings[number]), name)
      end
    end
    assert.are.equal("unauthorized: wrong or missing secret key", paynet.meanings[7])
  end)

  it("reads the first line of a private key file and refuses a shared one", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local file = dir .. "/key"
    H.write(file, "  sck_file_key_42 \r\nsecond line\n")
    os.execute("chmod 600 " .. H.quote(file))
    assert.are.equal("sck_file_key_42", paynet.read_key_file(file))
    os.execute("chmod 640 " .. H.quote(file))
    local key, err = paynet.read_key_file(file)
    assert.is_nil(key)
    assert.are.equal("invalid", err.kind)
    assert.truthy(err.message:find("mode 0640", 1, true))
    assert.falsy(err.message:find("sck_file_key_42", 1, true))
    -- any bit for others counts, even with none for the group, and so
    -- does any bit for the group alone
    for _, mode in ipairs { "0604", "0602", "0601", "0610", "0620" } do
      os.execute("chmod " .. mode .. " " .. H.quote(file))
      local none, why = paynet.read_key_file(file)
      assert.is_true(none == nil, mode) -- (the key itself is never printed)
      assert.are.equal("invalid", why.kind)
      assert.truthy(why.message:find("(mode " .. mode .. ")", 1, true), why.message)
    end
    H.write(dir .. "/empty", "\n")
    os.execute("chmod 600 " .. H.quote(dir .. "/empty"))
    assert.truthy(select(2, paynet.read_key_file(dir .. "/empty")).message:find("holds no secret key"))
    assert.truthy(select(2, paynet.read_key_file(dir)).message:find("not a regular file"))
    assert.truthy(select(2, paynet.read_key_file(dir .. "/none")).message:find("cannot open"))
  end)

  it("load_secret takes the key from the environment and removes it there", function()
    local out, code = H.lua_script([[
      local paynet = require "paynet"
      print(paynet.load_secret())
      print(os.getenv("PAYNET_SECRET_KEY"))
      os.execute("env | grep -c PAYNET_SECRET_KEY")
      local _, err = paynet.load_secret()
      print(err.kind, err.message)
    ]], "PAYNET_SECRET_KEY=" .. H.quote("  key_from_env \n second line"))
    assert.are.equal(0, code, out)
    assert.are.equal("key_from_env\nnil\n0\ninvalid\tno secret key: set PAYNET_SECRET_KEY or use " ..
                     "--secret-key-file FILE (- for standard input)\n", out)
  end)

  it("load_secret reads a private file or standard input, and refuses a FIFO at once", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    H.write(dir .. "/key", "\tkey_in_file  \r\n")
    os.execute("chmod 600 " .. H.quote(dir .. "/key") .. "; mkfifo " .. H.quote(dir .. "/fifo"))
    assert.are.equal("key_in_file", paynet.load_secret(dir .. "/key"))
    local t0 = H.now()
    local key, err = paynet.load_secret(dir .. "/fifo")
    assert.is_nil(key)
    assert.are.equal(dir .. "/fifo is not a regular file", err.message)
    assert.is_true(H.now() - t0 < 1)
    local out = H.lua_script("print(require'paynet'.load_secret('-'))", "X=1 < " .. H.quote(dir .. "/key"))
    assert.are.equal("key_in_file\n", out)
    local long = ("k"):rep(513)
    H.write(dir .. "/long", long)
    os.execute("chmod 600 " .. H.quote(dir .. "/long"))
    local _, too_long = paynet.load_secret(dir .. "/long")
    assert.truthy(too_long.message:find("longer than 512 bytes", 1, true), too_long.message)
  end)
end)
