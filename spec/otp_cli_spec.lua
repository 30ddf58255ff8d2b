-- paynet-otp, the command for scripts: every subcommand, every exit
-- status, --json parsed back, against real sandboxes.
local cjson = require "cjson"
local H = require "spec.helper"

-- paynet-otp ARGS with the build's module: standard output, standard
-- error, exit status
local function otp_split(args, env)
  local dir = H.tmpdir()
  local command = ("env -u PAYNET_SECRET_KEY LUA_CPATH=%s %s %s bin/paynet-otp %s > %s 2> %s"):format(
    H.quote("./" .. H.build .. "/?.so;;"), env or "PAYNET_SECRET_KEY=" .. H.key, H.lua, args,
    H.quote(dir .. "/out"), H.quote(dir .. "/err"))
  local _, code = H.capture(command)
  local out, err = H.read(dir .. "/out"), H.read(dir .. "/err")
  H.record("commands", err)
  H.record("commands", out)
  os.execute("rm -rf " .. H.quote(dir))
  return out, err, code
end

-- the same, both streams together
local function otp(args, env)
  local out, err, code = otp_split(args, env)
  return out .. err, code
end

describe("paynet-otp", function()
  local sandbox = H.shared()
  local function send(gsm, extra, env)
    return otp_split(("send --gsm %s --session %s --base-url %s %s"):format(
      H.quote(gsm), H.quote(H.session()), sandbox.url, extra or ""), env)
  end

  it("--help lists every option and the exit statuses; --version", function()
    local out, code = otp("--help")
    assert.are.equal(0, code)
    for _, s in ipairs { "--gsm", "--session", "--env", "--base-url", "--timeout", "--cainfo",
                         "--secret-key-file", "--json", "parse-expire", "codes", "Exit status" } do
      assert.truthy(out:find(s, 1, true), s)
    end
    assert.are.equal("paynet-otp 0.1.0\n", (otp("--version")))
  end)

  it("exit 0: sends, one line with the expiry in local time and the seconds left", function()
    local gsm = H.gsm()
    local out, err, code = send("0" .. gsm)
    assert.are.equal(0, code, err)
    assert.truthy(out:match("^sent: OTP to " .. gsm .. ", valid until %d%d%d%d%-%d%d%-%d%d " ..
                            "%d%d:%d%d:%d%d [+-]%d%d%d%d %(180 s left%): Başarılı İşlem\n$"), out)
    assert.are.equal("", err)
  end)

  it("exit 0 with --json: every field of the result", function()
    local gsm = H.gsm()
    local out, _, code = send(gsm, "--json")
    assert.are.equal(0, code)
    local r = cjson.decode(out)
    assert.is_true(r.ok)
    assert.are.equal("sent", r.outcome)
    assert.are.equal(0, r.exit_status)
    assert.are.equal(gsm, r.user_gsm)
    assert.are.equal(0, r.code)
    assert.are.equal(200, r.http_status)
    assert.are.equal("yes", r.delivered)
    assert.are.equal("Başarılı İşlem", r.message)
    assert.truthy(r.otp_expire:match("%+03:00$"))
    assert.is_true(r.expires_in > 179 and r.expires_in <= 180)
    assert.is_true(math.abs(r.expires_at - os.time() - 180) < 3)
  end)

  local statuses = {
    { 2, "an invalid number", "0212 123 45 67", "", "invalid" },
    { 2, "an invalid session id", nil, "", "invalid", session = "a\tb" },
    { 3, "a number Paynet says still has a valid code", "resend", "", "api" },
    { 4, "a Paynet refusal", "5000000012", "", "api" },
    { 4, "an HTTP error", "5000000109", "", "http" },
    { 6, "a gateway's 502 (the backend may have sent)", "5000000102", "", "http" },
    { 5, "a refused connection", "closed", "", "network" },
    { 6, "a reply that never comes", "5000000103", "--timeout 1", "timeout" },
    { 6, "an unusable reply to a 200", "5000000105", "", "protocol" },
  }
  for _, s in ipairs(statuses) do
    it(("exit %d for %s, in the line and in --json"):format(s[1], s[2]), function()
      local gsm = s[3] or H.gsm()
      if gsm == "resend" then
        gsm = H.gsm()
        assert.are.equal(0, select(3, send(gsm)))
      end
      local url = sandbox.url
      if gsm == "closed" then gsm, url = H.gsm(), "http://127.0.0.1:" .. H.closed_port() end
      local session = s.session or H.session()
      local args = ("send --gsm %s --session %s --base-url %s %s"):format(H.quote(gsm),
        H.quote(session), url, s[4])
      local out, err, code = otp_split(args)
      assert.are.equal(s[1], code, err)
      assert.are.equal("", out)
      assert.truthy(err:match("^paynet " .. s[5] .. ": .*; [^\n]+\n$"), err)
      out, err, code = otp_split(args .. " --json")
      assert.are.equal(s[1], code)
      local r = cjson.decode(out)
      assert.is_false(r.ok)
      assert.are.equal(s[5], r.kind)
      assert.are.equal(s[1], r.exit_status)
      assert.truthy(r.delivered == "no" or r.delivered == "yes" or r.delivered == "unknown")
      assert.truthy(#r.next_step > 10)
    end)
  end

  it("exit 2 for bad usage, and never takes the key from the command line", function()
    for _, args in ipairs { "", "frobnicate", "send", "send --gsm 5321234567",
                            "send --gsm 5321234567 --session s --env prod",
                            "send --gsm 5321234567 --session s --timeout 0",
                            "send --gsm 5321234567 --session s --bogus",
                            "parse-expire", "codes extra" } do
      local _, err, code = otp_split(args)
      assert.are.equal(2, code, args)
      assert.truthy(#err > 0, args)
    end
    local _, err, code = otp_split("send --gsm 5321234567 --session s --secret-key sck_cmdline_x")
    assert.are.equal(2, code)
    assert.truthy(err:find("never taken from the command line", 1, true), err)
    assert.falsy(err:find("sck_cmdline_x", 1, true))
    _, err, code = otp_split("send --gsm 5321234567 --session s", "X=1")
    assert.are.equal(2, code)
    assert.truthy(err:find("set PAYNET_SECRET_KEY or use --secret-key-file", 1, true), err)
  end)

  it("reads the key from a private file and refuses one others can read", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local file = dir .. "/key"
    H.write(file, H.key .. "\n")
    os.execute("chmod 600 " .. H.quote(file))
    local _, err, code = send(H.gsm(), "--secret-key-file " .. H.quote(file), "X=1")
    assert.are.equal(0, code, err)
    os.execute("chmod 644 " .. H.quote(file))
    _, err, code = send(H.gsm(), "--secret-key-file " .. H.quote(file), "X=1")
    assert.are.equal(2, code)
    assert.truthy(err:find("chmod 600", 1, true), err)
    assert.falsy(err:find(H.key, 1, true))
  end)

  it("parse-expire prints UTC epoch and local time", function()
    local out, code = otp("parse-expire 2017-07-17T15:30:15.0581408+03:00", "TZ=UTC")
    assert.are.equal(0, code)
    assert.are.equal("1500294615.0581408 2017-07-17 12:30:15 +0000\n", out)
    out, code = otp("parse-expire 2017-02-30T00:00:00Z")
    assert.are.equal(2, code)
    assert.truthy(out:find("day 30", 1, true))
  end)

  it("codes prints the whole table", function()
    local out, code = otp("codes")
    assert.are.equal(0, code)
    local lines = select(2, out:gsub("\n", ""))
    assert.are.equal(23, lines)
    assert.truthy(out:find("  7  unauthorized", 1, true))
    assert.truthy(out:find("100  oldsuccessful", 1, true))
  end)
end)
