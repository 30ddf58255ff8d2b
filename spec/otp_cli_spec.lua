-- paynet-otp, the command for scripts: every subcommand, every exit
-- status, --json parsed back, against real sandboxes.
local cjson = require "cjson"
local H = require "spec.helper"

-- Each test has a state folder of its own (XDG_STATE_HOME), where paynet-otp
-- keeps its default ledger: holds last across the runs of one test.
local state
before_each(function() state = H.tmpdir() end)
after_each(function() os.execute("rm -rf " .. H.quote(state)) end)
local function fresh_state()
  os.execute("rm -rf " .. H.quote(state))
  state = H.tmpdir()
end

-- paynet-otp ARGS with the build's module: standard output, standard
-- error, exit status
local function otp_split(args, env)
  local dir = H.tmpdir()
  local command = ("env -u PAYNET_SECRET_KEY -u PAYNET_LEDGER XDG_STATE_HOME=%s LUA_CPATH=%s %s %s bin/paynet-otp %s > %s 2> %s"):format(
    H.quote(state), H.quote("./" .. H.build .. "/?.so;;"), env or "PAYNET_SECRET_KEY=" .. H.key, H.lua, args,
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
    assert.are.equal("paynet-otp 0.2.0\n", (otp("--version")))
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
    { 3, "a number the ledger holds", "resend", "", "cooldown" },
    { 3, "a number Paynet says still has a valid code", "resend", "--ledger memory", "api" },
    { 4, "a Paynet refusal", "5000000012", "", "api" },
    { 6, "a redirect (not Paynet's answer)", "5000000109", "", "http" },
    { 6, "a gateway's 502 (the backend may have sent)", "5000000102", "", "http" },
    { 5, "a refused connection", "closed", "", "network" },
    { 6, "a reply that never comes", "5000000103", "--timeout 1", "timeout" },
    { 6, "an unusable reply to a 200", "5000000105", "", "protocol" },
  }
  -- what --json says for each, exactly: outcome, delivered, may_have_sent, held
  local expected = {
    ["an invalid number"] = { "invalid", "no", false, false },
    ["an invalid session id"] = { "invalid", "no", false, false },
    ["a number the ledger holds"] = { "cooldown", "no", false, true },
    ["a number Paynet says still has a valid code"] = { "duplicate_held", "yes", false, true },
    ["a Paynet refusal"] = { "refused", "yes", false, false },
    ["a redirect (not Paynet's answer)"] = { "maybe_sent", "yes", true, true },
    ["a gateway's 502 (the backend may have sent)"] = { "maybe_sent", "unknown", true, true },
    ["a refused connection"] = { "not_sent", "no", false, false },
    ["a reply that never comes"] = { "maybe_sent", "unknown", true, true },
    ["an unusable reply to a 200"] = { "maybe_sent", "yes", true, true },
  }
  local next_steps = {
    [2] = "correct the input and run again",
    [3] = "wait: the customer can use the code they have",
    [4] = "see Paynet's code and message; do not retry blindly",
    [5] = "nothing was sent: it is safe to run again",
    [6] = "an SMS may have gone out: ask the customer before sending again",
  }
  for _, s in ipairs(statuses) do
    it(("exit %d for %s, in the line and in --json"):format(s[1], s[2]), function()
      local gsm = s[3] or H.gsm()
      if gsm == "resend" then
        gsm = H.gsm()
        assert.are.equal(0, select(3, send(gsm, s[4])))
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
      if s[1] == 6 then fresh_state() end -- the number is held now
      out, err, code = otp_split(args .. " --json")
      assert.are.equal(s[1], code)
      local r = cjson.decode(out)
      assert.is_false(r.ok)
      assert.are.equal(s[5], r.kind)
      assert.are.equal(s[1], r.exit_status)
      local e = expected[s[2]]
      assert.are.equal(e[1], r.outcome)
      assert.are.equal(e[2], r.delivered)
      assert.are.equal(e[3], r.may_have_sent)
      assert.are.equal(e[4], r.held)
      assert.are.equal(next_steps[s[1]], r.next_step)
      assert.truthy(err == "" and r.next_step == next_steps[s[1]])
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

  it("with --json, a usage error is a JSON object too, and an absent field is null", function()
    for _, args in ipairs { "send --json --gsm", "send --json --gsm 5321234567 --session s --bogus",
                            "send --gsm 0212 --session s --env prod --json" } do
      local out, err, code = otp_split(args)
      assert.are.equal(2, code, args)
      local r = cjson.decode(out)
      assert.is_false(r.ok)
      assert.are.equal("usage", r.outcome)
      assert.are.equal(2, r.exit_status)
      assert.are.equal("no", r.delivered)
      assert.are.equal("correct the input and run again", r.next_step)
      assert.truthy(err:find(r.message, 1, true), err) -- the same message, for a person
    end
    assert.are.equal("--gsm needs a value", cjson.decode((otp_split("send --json --gsm"))).message)
    -- a refused connection has no Paynet code: the key is there, null
    local out = send(H.gsm(), "--json --base-url http://127.0.0.1:" .. H.closed_port())
    assert.truthy(out:find('"code":null', 1, true), out)
    assert.are.equal(cjson.null, cjson.decode(out).http_status)
    -- no holds is an empty list, not an empty object
    assert.are.equal('{"ledger":"memory","holds":[]}\n', (otp_split("holds --json --ledger memory", "X=1")))
    -- where lua-cjson is missing, --json says so before anything is sent
    local before = sandbox:requests_settled()
    local said, code = H.capture(("LUA_CPATH=%s PAYNET_SECRET_KEY=%s %s bin/paynet-otp send --json " ..
      "--gsm %s --session s --base-url %s --ledger memory 2>&1"):format(H.quote("./" .. H.build .. "/?.so"),
      H.key, H.lua, H.gsm(), sandbox.url))
    assert.are.equal(1, code, said)
    assert.truthy(said:find("--json needs lua-cjson", 1, true), said)
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("send --help tells send's options; PAYNET_ENV and PAYNET_BASE_URL stand in for the options", function()
    local out, _, code = otp_split("send --help")
    assert.are.equal(0, code)
    assert.truthy(out:find("^Usage: paynet%-otp send %-%-gsm NUMBER %-%-session ID"), out)
    for _, option in ipairs { "--gsm", "--session", "--env", "--base-url", "--proxy", "--json", "PAYNET_ENV",
                              "PAYNET_BASE_URL" } do
      assert.truthy(out:find(option, 1, true), option)
    end
    assert.are.equal(out, (otp_split("send --gsm 1 --help")))
    local gsm = H.gsm()
    local res
    out, _, code = otp_split(("send --gsm %s --session s --json"):format(gsm),
      ("PAYNET_SECRET_KEY=%s PAYNET_ENV=live PAYNET_BASE_URL=%s"):format(H.key, sandbox.url))
    assert.are.equal(0, code, out)
    res = cjson.decode(out)
    assert.are.equal("live", res.env)
    assert.are.equal(gsm, res.user_gsm)
    -- an option wins over the environment
    out, _, code = otp_split(("send --gsm %s --session s --json --env test"):format(H.gsm()),
      ("PAYNET_SECRET_KEY=%s PAYNET_ENV=live PAYNET_BASE_URL=%s"):format(H.key, sandbox.url))
    assert.are.equal(0, code, out)
    assert.are.equal("test", cjson.decode(out).env)
    local _, err = nil, nil
    _, err, code = otp_split("send --gsm 5321234567 --session s", ("PAYNET_SECRET_KEY=%s PAYNET_ENV=prod"):format(H.key))
    assert.are.equal(2, code)
    assert.truthy(err:find("--env must be test or live", 1, true), err)
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

  it("two runs for one number: the second is exit 3 with the holder, and one request", function()
    local gsm = H.gsm()
    local before = sandbox:requests_settled()
    local out, err, code = send(gsm)
    assert.are.equal(0, code, err)
    out, err, code = send(gsm, "--json")
    assert.are.equal(3, code, err)
    local r = cjson.decode(out)
    assert.are.equal("cooldown", r.kind)
    assert.are.equal("sent", r.holder.state)
    assert.are.equal("paynet-otp", r.holder.program)
    assert.are.equal(gsm:sub(1, 3) .. "*****" .. gsm:sub(9), r.holder.masked)
    assert.are.equal("sqlite:" .. state .. "/paynet/ledger.db", r.ledger)
    assert.are.equal(before + 1, sandbox:requests_settled(before + 1))
    -- the default ledger is private: the folder 700, the file 600
    assert.are.equal("700 600\n", H.capture(("stat -c %%a %s %s | tr '\\n' ' ' | sed 's/ $/\\n/'"):format(
      H.quote(state .. "/paynet"), H.quote(state .. "/paynet/ledger.db"))))
  end)

  it("eight runs racing for one number send one request", function()
    local gsm, dir = H.gsm(), H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local before = sandbox:requests_settled()
    local runs = {}
    for i = 1, 8 do
      runs[i] = ("(env -u PAYNET_LEDGER XDG_STATE_HOME=%s LUA_CPATH=%s PAYNET_SECRET_KEY=%s %s bin/paynet-otp " ..
                 "send --gsm %s --session r%d --base-url %s > %s/%d 2>&1; echo $? >> %s/%d) &"):format(
        H.quote(state), H.quote("./" .. H.build .. "/?.so;;"), H.key, H.lua, gsm, i, sandbox.url,
        H.quote(dir), i, H.quote(dir), i)
    end
    os.execute(table.concat(runs, " ") .. " wait")
    local sent, held, all = 0, 0, {}
    for i = 1, 8 do
      local out = H.read(dir .. "/" .. i)
      all[i] = out
      H.record("commands", out)
      if out:find("^sent: ") and out:find("\n0\n$") then sent = sent + 1 end
      if out:find("^paynet cooldown: ") and out:find("\n3\n$") then held = held + 1 end
      -- under valgrind a racer may wait past the ledger's 5 s busy timeout:
      -- refused, nothing sent (exit 7), which keeps the promise too
      if H.slow > 1 and out:find("^paynet ledger: .* is busy: ") and out:find("\n7\n$") then
        held = held + 1
      end
    end
    assert.are.equal(1, sent, table.concat(all))
    assert.are.equal(7, held, table.concat(all))
    assert.are.equal(before + 1, sandbox:requests_settled(before + 1))
  end)

  it("PAYNET_LEDGER and --ledger choose the ledger; one that cannot be used is exit 7", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local gsm = H.gsm()
    local env = ("PAYNET_SECRET_KEY=%s PAYNET_LEDGER=sqlite:%s/env.db"):format(H.key, dir)
    local out, err, code = send(gsm, "--json", env)
    assert.are.equal(0, code, err)
    assert.are.equal("sqlite:" .. dir .. "/env.db", cjson.decode(out).ledger)
    -- another ledger does not know the number; the default one neither
    out, err, code = send(gsm, "--json --ledger memory")
    assert.are.equal(3, code) -- Paynet's own rule (code 5), not the ledger
    assert.are.equal("api", cjson.decode(out).kind)
    local before = sandbox:requests_settled()
    H.write(dir .. "/file", "")
    for _, ledger in ipairs { "sqlite:" .. dir .. "/file/x.db", "redis://127.0.0.1:" .. H.closed_port(),
                              "redis+unix://" .. dir .. "/no.sock" } do
      out, err, code = send(H.gsm(), "--ledger " .. H.quote(ledger))
      assert.are.equal(7, code, ledger)
      assert.truthy(err:find("^paynet ledger: .*%(not sent: the ledger could not be used%); nothing was sent: fix the ledger"), err)
    end
    out, err, code = send(H.gsm(), "--ledger bogus:x")
    assert.are.equal(2, code)
    assert.truthy(err:find("ledger must be", 1, true), err)
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("holds lists the live holds; release ends one and records who and why", function()
    local gsm, session = H.gsm(), H.session()
    assert.are.equal(0, select(3, otp_split(("send --gsm %s --session %s --base-url %s"):format(gsm,
      session, sandbox.url), "PAYNET_SECRET_KEY=" .. H.key .. " USER=ayse")))
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    local out, err, code = otp_split("holds", "X=1") -- no secret key needed
    assert.are.equal(0, code, err)
    assert.truthy(out:find("^1 held in sqlite:"), out)
    assert.truthy(out:find(masked:gsub("%*", "%%*") .. "  sent +[23]:%d%d left  ayse@%S+  paynet%-otp  session " ..
                           session:gsub("%-", "%%-") .. "  to " .. sandbox.url:gsub("%p", "%%%0") ..
                           "\n$"), out)
    out, err, code = otp_split("holds --json", "X=1")
    assert.are.equal(0, code, err)
    local list = cjson.decode(out).holds
    assert.are.equal(1, #list)
    assert.are.equal(masked, list[1].masked)
    assert.are.equal("ayse", list[1].operator)

    out, err, code = otp_split(("release %s --base-url %s"):format(gsm, sandbox.url))
    assert.are.equal(2, code)
    assert.truthy(err:find("needs --reason", 1, true), err)
    -- the same number held for another Paynet system: named, not released,
    -- and not "was not held" (exit 2: this run named the wrong system)
    for _, other in ipairs { "", "--base-url http://localhost:1", "--env live" } do
      out, err, code = otp_split(("release %s --reason x %s"):format(gsm, other))
      assert.are.equal(2, code, err)
      assert.are.equal("", out)
      assert.truthy(err:find("^paynet%-otp: " .. masked:gsub("%*", "%%*") .. " is not held for [^\n]* but for " ..
                             sandbox.url:gsub("%p", "%%%0") .. " %(sent 0:0%d ago by ayse@"), err)
      assert.truthy(err:find("release it with that system's base_url or env\n", 1, true), err)
    end
    out, err, code = otp_split(("release %s --reason x --json"):format(gsm))
    assert.are.equal(2, code, err)
    local r = cjson.decode(out)
    assert.are.equal("invalid", r.outcome)
    assert.are.equal(sandbox.url, r.holder.scope)
    assert.truthy(otp_split("holds", "X=1"):find("^1 held in "))
    -- the system's own spelling, however written: released
    local spelled = sandbox.url:gsub("127%.0%.0%.1", "LOCALHOST") .. "//"
    out, err, code = otp_split(("release %s --reason %s --base-url %s"):format(gsm,
      H.quote("customer got no SMS"), spelled), "PAYNET_SECRET_KEY=" .. H.key .. " USER=supervisor")
    assert.are.equal(0, code, err)
    assert.are.equal("released: " .. masked .. " (recorded with the reason)\n", out)
    out = otp_split(("release %s --reason again --base-url %s"):format(gsm, sandbox.url))
    assert.are.equal(masked .. " was not held; nothing to release\n", out)
    out = otp_split("holds", "X=1")
    assert.truthy(out:find("^0 held in "), out)
    -- the release log, through the module
    local log = H.lua_script(("local r = require'paynet'.releases('sqlite:%s/paynet/ledger.db')[1]; " ..
      "print(r.masked, r.operator, r.reason, r.session_id)"):format(state))
    assert.are.equal(("%s\tsupervisor\tcustomer got no SMS\t%s\n"):format(masked, session), log)
    -- and the number can be sent again
    out, err, code = send(gsm)
    assert.are.equal(3, code) -- Paynet's own rule now: code 5, the request went out
    assert.truthy(err:find("duplicatedata", 1, true), err)
  end)

  it("falls back to ~/.local/state/paynet without XDG_STATE_HOME", function()
    local home = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(home)) end)
    local out, err, code = otp_split(("send --gsm %s --session s --base-url %s --json"):format(H.gsm(),
      sandbox.url), ("PAYNET_SECRET_KEY=%s XDG_STATE_HOME= HOME=%s"):format(H.key, home))
    assert.are.equal(0, code, err)
    assert.are.equal("sqlite:" .. home .. "/.local/state/paynet/ledger.db", cjson.decode(out).ledger)
  end)

  it("holds never prints a Redis password, and names a missing SQLite file", function()
    local r = H.start_redis { password = "hunter2-pw" }
    H.defer(finally, function() r:remove() end)
    local out, err, code = otp_split(("holds --ledger %s"):format(H.quote(r.url .. "/2")), "X=1")
    assert.are.equal(0, code, err)
    assert.are.equal(("0 held in redis://:***@127.0.0.1:%d/2\n"):format(r.port), out)
    out, err, code = otp_split(("holds --json --ledger %s"):format(H.quote(r.url)), "X=1")
    assert.are.equal(0, code, err)
    assert.falsy((out .. err):find("hunter2", 1, true))
    out, err, code = otp_split("holds", "X=1 PAYNET_LEDGER=" .. H.quote(r.url))
    assert.falsy((out .. err):find("hunter2", 1, true), out .. err)
    -- listing never creates a ledger: a typo is not an empty ledger
    out, err, code = otp_split("holds --ledger sqlite:" .. state .. "/typo.db", "X=1")
    assert.are.equal(7, code)
    assert.truthy(err:find("no ledger at " .. state .. "/typo.db", 1, true), err)
    assert.falsy(H.read(state .. "/typo.db"))
  end)

  it("a number held after a lost reply: the next step says to ask the customer", function()
    local out, err, code = send("5000000103", "--timeout 1")
    assert.are.equal(6, code, err)
    out, err, code = send("5000000103")
    assert.are.equal(3, code)
    assert.truthy(err:find("may have delivered an OTP", 1, true), err)
    local step = "; an earlier send may have delivered a code: ask the customer; if none came, " ..
                 "a supervisor can run 'paynet-otp release'\n"
    assert.are.equal(step, err:sub(-#step))
  end)

  it("hostile server text reaches the terminal and --json without a control byte", function()
    for _, gsm in ipairs { "5000000117", "5000000118" } do
      fresh_state()
      local out, err = send(gsm)
      fresh_state()
      local json = send(gsm, "--json")
      for _, text in ipairs { out, err, json } do
        assert.falsy(text:find("[%z\1-\9\11-\31\127]"), text) -- no control byte but the newline
        assert.falsy(text:find("\194[\128-\159]"), text)       -- no C1 control
        assert.truthy(utf8.len(text), "not UTF-8: " .. text)
        assert.falsy(text:find(H.key, 1, true))
      end
      local r = cjson.decode(json)
      assert.truthy(r.message:find("\u{FFFD}", 1, true) or r.message:find("***", 1, true), r.message)
    end
  end)

  it("--secret-key-file - reads standard input; a FIFO is refused at once", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    H.write(dir .. "/key", H.key .. "\n")
    os.execute("mkfifo " .. H.quote(dir .. "/fifo"))
    local out, err, code = send(H.gsm(), "--secret-key-file - < " .. H.quote(dir .. "/key"), "X=1")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("^sent: "), out)
    local t0 = H.now()
    out, err, code = send(H.gsm(), "--secret-key-file " .. H.quote(dir .. "/fifo"), "X=1")
    assert.are.equal(2, code)
    assert.truthy(err:find("fifo is not a regular file", 1, true), err)
    assert.is_true(H.now() - t0 < 2 * H.slow)
  end)
end)
