-- paynet-tui, the real binary in a real terminal (tmux, 80x24, UTF-8),
-- against real sandboxes.
local H = require "spec.helper"

local function run(args, env)
  return H.capture(("env %s %s %s 2>&1"):format(env or "", H.tui_bin, args))
end

describe("paynet-tui command line", function()
  it("prints --help with every option and exits 0", function()
    local out, code = run("--help")
    assert.are.equal(0, code)
    for _, option in ipairs { "--env", "--base-url", "--secret-key-file", "--audit-log",
                              "--timeout", "--cainfo", "--ledger", "--no-color", "--plain", "--proxy", "--help",
                              "--version" } do
      assert.truthy(out:find(option, 1, true), option)
    end
  end)

  it("prints --version", function()
    assert.are.equal("paynet-tui 0.2.0\n", (run("--version")))
  end)

  for _, bad in ipairs { "--nope", "--env prod", "--timeout 0", "--timeout x", "extra" } do
    it("exits 2 on '" .. bad .. "'", function()
      local out, code = run(bad, "PAYNET_SECRET_KEY=k")
      assert.are.equal(2, code)
      assert.truthy(#out > 0)
    end)
  end

  it("refuses a FIFO as the key file at once, and standard input (the keyboard)", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    os.execute("mkfifo " .. H.quote(dir .. "/fifo"))
    local t0 = H.now()
    local out, code = run("--secret-key-file " .. H.quote(dir .. "/fifo"), "-u PAYNET_SECRET_KEY")
    assert.are.equal(2, code)
    assert.truthy(out:find("fifo is not a regular file", 1, true), out)
    assert.is_true(H.now() - t0 < 2 * H.slow)
    out, code = run("--secret-key-file -", "-u PAYNET_SECRET_KEY")
    assert.are.equal(2, code)
    assert.truthy(out:find("standard input is the operator's keyboard", 1, true), out)
  end)

  it("needs a secret key and says where to put it", function()
    local out, code = run("", "-u PAYNET_SECRET_KEY")
    assert.are.equal(2, code)
    assert.truthy(out:find("set PAYNET_SECRET_KEY or use --secret-key-file", 1, true), out)
  end)

  it("refuses a key file that group or others can read, like ssh, without showing it", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local file = dir .. "/key"
    H.write(file, "sck_file_secret_9\n")
    os.execute("chmod 640 " .. H.quote(file))
    local out, code = run("--secret-key-file " .. H.quote(file), "-u PAYNET_SECRET_KEY")
    assert.are.equal(2, code)
    assert.truthy(out:find("accessible by group or others (mode 0640)", 1, true), out)
    assert.truthy(out:find("chmod 600", 1, true))
    assert.falsy(out:find("sck_file_secret_9", 1, true))
    local _, missing = run("--secret-key-file " .. H.quote(dir .. "/none"), "-u PAYNET_SECRET_KEY")
    assert.are.equal(2, missing)
  end)
end)

describe("paynet-tui on screen", function()
  local sandbox
  setup(function() sandbox = H.start_sandbox() end)
  teardown(function() sandbox:remove() end)

  local function screen_for(args, env)
    local tui = H.start_tui { args = args or { "--base-url", sandbox.url }, env = env }
    tui:wait_for("F10 Quit")
    return tui
  end

  local function send(tui, number, session)
    tui:keys("C-u")
    tui:type(number)
    tui:keys("Tab", "C-u")
    tui:type(session or H.session())
    tui:keys("BTab", "Enter")
  end

  it("sends, shows Paynet's message and a countdown that goes down", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    assert.truthy(tui:screen():find("env: TEST", 1, true))
    local gsm = H.gsm()
    tui:type("0" .. gsm:sub(1, 3) .. " " .. gsm:sub(4, 6) .. " " .. gsm:sub(7))
    tui:wait_for("→ " .. gsm)
    tui:keys("Tab")
    tui:type("sipariş-42")
    tui:keys("Enter")
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    local screen = tui:wait_for('OTP sent to ' .. masked .. ': "Başarılı İşlem". Valid until')
    screen = tui:wait_for("Code for " .. masked .. " valid   0")
    local m1, s1 = screen:match("Code for " .. masked:gsub("%*", "%%*") .. " valid%s+(%d%d):(%d%d)")
    assert.truthy(m1, screen)
    tui:wait_for("sipariş-42")
    H.sleep(2.1)
    local m2, s2 = tui:screen():match("valid%s+(%d%d):(%d%d)")
    local before, after = m1 * 60 + s1, m2 * 60 + s2
    assert.is_true(before > 170 and after <= before - 2 and after >= before - 3, before .. " -> " .. after)
  end)

  it("says when the code has expired, and lets the number go again", function()
    local short = H.start_sandbox { ttl = 2 }
    local tui = screen_for { "--base-url", short.url }
    H.defer(finally, function() tui:stop(); short:remove() end)
    local gsm = H.gsm()
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    send(tui, gsm)
    tui:wait_for("Code for " .. masked .. " valid   00:0")
    tui:wait_for("The code for " .. masked .. " has expired: a new one may be sent.", 4)
    tui:keys("Enter")
    local deadline, sent = H.now() + 5, 0
    repeat
      sent = select(2, tui:screen():gsub("sent, valid until", ""))
      if sent < 2 then H.sleep(0.05) end
    until sent == 2 or H.now() > deadline
    assert.are.equal(2, sent, tui:screen())
  end)

  it("shows each number's own state when switching between numbers", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local a, b = H.gsm(), H.gsm()
    local ma, mb = a:sub(1, 3) .. "*****" .. a:sub(9), b:sub(1, 3) .. "*****" .. b:sub(9)
    send(tui, a)
    tui:wait_for("Code for " .. ma .. " valid")
    tui:keys("C-u")
    tui:type(b)
    tui:wait_for("No code for " .. mb .. " is valid: it may be sent.")
    tui:keys("C-u")
    tui:type(a)
    tui:wait_for("Code for " .. ma .. " valid")
  end)

  it("fills a fresh session id with F2 and shows help with F1", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:keys("F2")
    local first = tui:wait_for("otp-"):match("otp%-(%x+)")
    assert.are.equal(16, #first)
    tui:keys("F2")
    local second, deadline = nil, H.now() + 5 * H.slow
    repeat -- wait for the new id itself, not a fixed while
      second = tui:screen():match("otp%-(%x+)")
      if second == first then H.sleep(0.05) end
    until second ~= first or H.now() > deadline
    assert.truthy(second, "no session id on the screen")
    assert.are.equal(16, #second)
    assert.are_not.equal(first, second)
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)")
    tui:keys("Escape")
    tui:wait_gone("Help (Esc or F1 closes)")
  end)

  it("takes PuTTY's F1 (ESC[11~), Esc then a digit, and Ctrl keys for every F-key", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:tmux("send-keys -H 1b 5b 31 31 7e")
    tui:wait_for("Help (Esc or F1 closes)")
    tui:keys("Escape")
    local screen = tui:wait_gone("Help (Esc or F1 closes)")
    assert.falsy(screen:find("[11~", 1, true), screen) -- not typed into the field
    for _, open in ipairs { { "Escape", "1" }, { "C-g" } } do
      tui:keys(table.unpack(open))
      tui:wait_for("Help (Esc or F1 closes)")
      tui:keys("Escape")
      tui:wait_gone("Help (Esc or F1 closes)")
    end
    assert.falsy(tui:screen():find("otp-", 1, true))
    tui:keys("Escape", "2")
    local first = tui:wait_for("otp-"):match("otp%-(%x+)")
    tui:keys("C-n")
    H.wait_until(function() return tui:screen():match("otp%-(%x+)") ~= first end, 5, "another id")
    -- a digit long after Esc is typed as a digit
    tui:keys("Escape")
    H.sleep(1.2) -- longer than the Esc-digit window (1 s): the point of the test
    tui:type("5")
    tui:wait_for("needs 9 more digits")
    tui:keys("Escape", "0")
    tui:wait_for("EXIT:0")
  end)

  it("quits with Ctrl-X, and the key bar and the help name the same keys", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local bar = tui:screen():match("[^\n]*\n?$")
    tui:keys("F1")
    local help = tui:wait_for("Help (Esc or F1 closes)")
    local shown = 0
    for key, label in bar:gmatch("(%S+) (%u%l+)") do
      shown = shown + 1
      assert.truthy(help:find("│ " .. key, 1, true), key .. " (" .. label .. ") is not in the help")
    end
    assert.are.equal(6, shown, bar)
    for _, alternative in ipairs { "Esc 1, Ctrl-G", "Esc 2, Ctrl-N", "Esc 0, Ctrl-X", "Ctrl-L" } do
      assert.truthy(help:find(alternative, 1, true), alternative)
    end
    tui:keys("C-x")
    tui:wait_for("EXIT:0")
  end)

  it("closes help without a trace, and Ctrl-L redraws what the terminal lost", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:type("0532 123")
    tui:keys("Tab")
    tui:type("iz-bırakma")
    local before = tui:wait_for("iz-bırakma")
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)")
    tui:keys("Escape")
    local after = tui:wait_gone("Help (Esc or F1 closes)")
    assert.are.equal(before, after)
    -- something else writes on the terminal: Ctrl-L puts the screen back
    local tty = tui:format("#{pane_tty}")
    local f = assert(io.open(tty, "w"))
    f:write("\27[10;5HGARBAGE-ON-THE-TERMINAL")
    f:close()
    tui:wait_for("GARBAGE-ON-THE-TERMINAL")
    tui:keys("C-l")
    assert.are.equal(before, tui:wait_gone("GARBAGE-ON-THE-TERMINAL"))
  end)

  it("Backspace at the start of a field stays in that field", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:type("0532 123 45 67")
    tui:wait_for("→ 5321234567")
    tui:keys("Tab")
    tui:type("abc")
    tui:keys("Home", "BSpace", "BSpace", "C-h", "C-h")
    tui:keys("End", "BSpace")
    local screen = tui:wait_for("ab ")
    assert.truthy(screen:find("→ 5321234567", 1, true), screen) -- the number is whole
    tui:keys("C-u", "BSpace", "BSpace", "BSpace")
    tui:type("x")
    screen = tui:wait_for("Session id")
    H.wait_until(function() screen = tui:screen(); return screen:find("x ", 1, true) end, 5, "x typed")
    assert.truthy(screen:find("→ 5321234567", 1, true), screen)
  end)

  it("counts the digits a number still needs after its prefix, 0090 too", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:type("0532 123")
    tui:wait_for("phone number needs 4 more digits")
    tui:type(" 45 6")
    tui:wait_for("phone number needs 1 more digit (10 after the prefix")
    tui:keys("C-u")
    tui:type("0090 532 123 45 67")
    tui:wait_for("→ 5321234567")
    tui:keys("C-u")
    tui:type("+90 5")
    tui:wait_for("phone number needs 9 more digits")
  end)

  it("refuses standard input that is not a terminal at once, pointing to --plain", function()
    for _, stdin in ipairs { "/dev/null", "spec/helper.lua" } do
      local t0 = H.now()
      local tui = H.start_tui { args = { "--base-url", sandbox.url }, stdin = stdin }
      H.defer(finally, function() tui:stop() end)
      local screen = tui:wait_for("EXIT:2")
      assert.is_true(H.now() - t0 < 1 * H.slow + 0.5, H.now() - t0)
      assert.truthy(screen:find("paynet-tui: standard input is not a terminal: use --plain", 1, true), screen)
    end
    -- closed: it is not taken over by a socket of the program's own
    local out, code = H.capture(("env PAYNET_SECRET_KEY=%s %s --base-url %s <&- 2>&1"):format(
      H.key, H.tui_bin, sandbox.url))
    assert.are.equal(2, code, out)
    assert.truthy(out:find("standard input is not a terminal", 1, true), out)
  end)

  it("shows its opening line, and does nothing under help or when the terminal is too small", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local log = dir .. "/audit.jsonl"
    local tui = H.start_tui { args = { "--base-url", sandbox.url, "--audit-log", log } }
    H.defer(finally, function() tui:stop() end)
    tui:wait_for("Type the customer's phone number and a session id, then press Enter.")
    tui:type(H.gsm())
    tui:keys("Tab")
    tui:type("s-1")
    local before = tui:wait_for("s-1")
    local requests = sandbox:requests_settled()
    -- typing, Backspace, Enter and F2 under help change nothing and send nothing
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)")
    tui:type("o")
    tui:keys("BSpace", "Enter", "F2")
    tui:keys("F1")
    assert.are.equal(before, tui:wait_gone("Help (Esc or F1 closes)"))
    -- too small to show the fields: Enter sends nothing
    tui:resize(40, 10)
    tui:wait_for("Terminal too small")
    tui:keys("Enter", "F2")
    tui:resize(80, 24)
    tui:wait_for("s-1")
    assert.are.equal(requests, sandbox:requests_now())
    assert.are.equal("", H.read(log), "nothing was sent, nothing audited")
  end)

  -- another process holds the ledger file's write lock for 6 s: the send
  -- waits for its claim from the screen's loop, which keeps answering
  it("stays live while a locked SQLite ledger holds the claim back: keys, Sending, F10", function()
    local dir = H.tmpdir()
    local db = dir .. "/ledger.db"
    local tui = screen_for({ "--base-url", sandbox.url, "--ledger", "sqlite:" .. db, "--timeout", "10" })
    H.defer(finally, function() tui:stop(); os.execute("rm -rf " .. H.quote(dir)) end)
    local gsm = H.gsm()
    tui:type(gsm)
    tui:wait_for("→ " .. gsm) -- the number was looked up: the file and its tables exist
    local locker = io.popen(("(echo 'BEGIN IMMEDIATE;'; sleep 6; echo 'COMMIT;') | sqlite3 %s"):format(H.quote(db)))
    H.sleep(0.3)
    local before = sandbox:requests_settled()
    tui:keys("Tab", "C-u")
    tui:type("locked-1")
    tui:keys("BTab")
    local t0 = H.now()
    tui:keys("Enter")
    tui:wait_for("Sending to " .. gsm:sub(1, 3) .. "*****" .. gsm:sub(9), 0.5 * H.slow)
    assert.is_true(H.now() - t0 < 0.5 * H.slow, ("Sending after %.2f s"):format(H.now() - t0))
    -- a key typed while the claim waits shows at once (F1: the help)
    t0 = H.now()
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)", 0.5 * H.slow)
    assert.is_true(H.now() - t0 < 0.5 * H.slow, ("help after %.2f s"):format(H.now() - t0))
    tui:keys("Escape")
    t0 = H.now()
    tui:keys("F10")
    tui:wait_for("EXIT:0", 1.5 * H.slow)
    assert.is_true(H.now() - t0 < 1.5 * H.slow, ("quit after %.2f s"):format(H.now() - t0))
    locker:close()
    assert.are.equal(before, sandbox:requests_now()) -- nothing went out unclaimed
  end)

  -- Redis behind a relay that holds each chunk 1 s: the screen's lookups
  -- and the send's claim are on the wire while the loop keeps answering
  it("stays live on a Redis whose every answer takes 2 s: keys, Sending, help, F10", function()
    local r = H.start_redis()
    local relay = H.start_relay(r.port, 1)
    local tui = screen_for({ "--base-url", sandbox.url, "--ledger",
                             "redis://127.0.0.1:" .. relay.port, "--timeout", "10" })
    H.defer(finally, function() tui:stop(); relay.stop(); r:remove() end)
    local gsm = H.gsm()
    local before = sandbox:requests_settled()
    local t0 = H.now()
    tui:type(gsm) -- each digit asks the ledger who holds the number so far
    tui:wait_for("Phone number   " .. gsm, 0.5 * H.slow)
    assert.is_true(H.now() - t0 < 0.5 * H.slow, ("the number shown after %.2f s"):format(H.now() - t0))
    -- the ledger is being asked (not yet "it may be sent"), and its
    -- answer comes, one round trip (2 s) after the last digit: the
    -- question stays on the wire between turns
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    local screen = tui:wait_for("Asking the ledger whether a code for " .. masked .. " is still valid ...")
    assert.falsy(screen:find("it may be sent", 1, true), screen)
    tui:wait_for("No code for " .. masked .. " is valid: it may be sent.", 4 * H.slow)
    tui:keys("Tab", "C-u")
    tui:type("slow-redis-1")
    tui:keys("BTab")
    t0 = H.now()
    tui:keys("Enter")
    tui:wait_for("Sending to " .. masked, 0.5 * H.slow)
    assert.is_true(H.now() - t0 < 0.5 * H.slow, ("Sending after %.2f s"):format(H.now() - t0))
    t0 = H.now()
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)", 0.5 * H.slow)
    assert.is_true(H.now() - t0 < 0.5 * H.slow, ("help after %.2f s"):format(H.now() - t0))
    tui:keys("Escape")
    t0 = H.now()
    tui:keys("F10")
    tui:wait_for("EXIT:0", 1.5 * H.slow)
    assert.is_true(H.now() - t0 < 1.5 * H.slow, ("quit after %.2f s"):format(H.now() - t0))
    -- quit while the claim was on the wire: nothing went out; the number is
    -- free, or held by that claim alone (pending: its sender stopped)
    assert.are.equal(before, sandbox:requests_now())
    local c = require("paynet").new { secret_key = H.key, base_url = sandbox.url, ledger = r.url }
    local h = c:holder(gsm)
    assert.truthy(h == false or h.state == "pending", h and h.state)
    c:close()
  end)

  it("takes digits typed after an Esc that closed help or cancelled a send as digits", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:keys("F1")
    tui:wait_for("Help (Esc or F1 closes)")
    tui:keys("Escape")
    tui:type("0532")
    tui:wait_for("phone number needs 7 more digits")
    send(tui, "5000000115")
    tui:wait_for("Sending to 500*****15")
    tui:keys("Escape")
    tui:type("0")
    tui:wait_for("Cancelled after the request left")
    local screen = tui:wait_for("Phone number   50000001150\n") -- the 0 went into the field
    assert.falsy(screen:find("EXIT:", 1, true), screen)
  end)

  it("on SIGHUP cancels the send in flight, writes its audit line and exits 129", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local log = dir .. "/audit.jsonl"
    local tui = screen_for { "--base-url", sandbox.url, "--audit-log", log }
    H.defer(finally, function() tui:stop() end)
    local before = sandbox:requests_settled()
    send(tui, "5000000115", "hangup-1")
    tui:wait_for("Sending to 500*****15")
    sandbox:requests_settled(before + 1) -- in flight
    H.kill(tui:program_pid(), "HUP")
    local screen = tui:wait_for("EXIT:129")
    assert.truthy(screen:find("paynet-tui: stopped: the terminal hung up (SIGHUP)", 1, true), screen)
    local line = H.read(log)
    -- cancelled after the request left: the verdict is maybe_sent
    assert.truthy(line and line:find('"session_id":"hangup-1","outcome":"maybe_sent","kind":"cancelled"', 1, true),
                  line)
    assert.truthy(line:find('"delivered":"unknown"', 1, true), line)
  end)

  it("refuses a resend during the countdown without a request", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local gsm = H.gsm()
    send(tui, gsm)
    tui:wait_for("OTP sent to")
    local before = sandbox:requests_settled()
    tui:keys("Enter")
    tui:wait_for("Not sent: the OTP sent to " .. gsm:sub(1, 3) .. "*****" .. gsm:sub(9) .. " is valid for")
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("names its ledger, and refuses a number another process sent, naming the holder", function()
    local dir = H.tmpdir()
    local ledger = "sqlite:" .. dir .. "/desk.db"
    local tui = screen_for { "--base-url", sandbox.url, "--ledger", ledger }
    H.defer(finally, function() tui:stop(); os.execute("rm -rf " .. H.quote(dir)) end)
    tui:wait_for("Ledger: " .. ledger .. " (every send is recorded there")
    -- another desk's process (paynet-otp) sends the customer a code first
    local gsm = H.gsm()
    local out, code = H.capture(("env LUA_CPATH=%s PAYNET_SECRET_KEY=%s USER=mehmet %s bin/paynet-otp send " ..
      "--gsm %s --session other-desk-7 --base-url %s --ledger %s 2>&1"):format(
      H.quote("./" .. H.build .. "/?.so;;"), H.key, H.lua, gsm, sandbox.url, H.quote(ledger)))
    assert.are.equal(0, code, out)
    local before = sandbox:requests_settled()
    send(tui, gsm)
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    tui:wait_for("Not sent: the OTP sent to " .. masked .. " is valid for")
    tui:wait_for("sent 0:0")
    tui:wait_for("by mehmet@")
    tui:wait_for("(session other-desk-7)")
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("shows who holds a number as soon as it is typed, before Enter (a Redis ledger)", function()
    local r = H.start_redis()
    H.defer(finally, function() r:stop() end)
    local tui = screen_for { "--base-url", sandbox.url, "--ledger", r.url }
    H.defer(finally, function() tui:stop() end)
    local gsm = H.gsm()
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    tui:type(gsm)
    tui:wait_for("No code for " .. masked .. " is valid: it may be sent.")
    -- another desk sends to it: the screen says so without a key pressed
    local out, code = H.capture(("env LUA_CPATH=%s PAYNET_SECRET_KEY=%s USER=mehmet %s bin/paynet-otp send " ..
      "--gsm %s --session other-desk-9 --base-url %s --ledger %s 2>&1"):format(
      H.quote("./" .. H.build .. "/?.so;;"), H.key, H.lua, gsm, sandbox.url, H.quote(r.url)))
    assert.are.equal(0, code, out)
    local screen = tui:wait_for("by mehmet@")
    screen = tui:wait_for("(session other-desk-9); valid")
    assert.truthy(screen:find("Code for " .. masked .. " valid   0[23]:%d%d"), screen)
    assert.truthy(screen:find("  sent 0:0%d ago by mehmet@[^\n]+%(session other%-desk%-9%); valid [23]:%d%d more"),
                  screen)
    -- a number typed anew shows its own holder, or none
    tui:keys("C-u")
    tui:type(H.gsm())
    tui:wait_gone("by mehmet@")
  end)

  it("says when the ledger cannot be reached, and sends nothing", function()
    local dir = H.tmpdir()
    local tui = screen_for { "--base-url", sandbox.url, "--ledger", "redis+unix://" .. dir .. "/none.sock" }
    H.defer(finally, function() tui:stop(); os.execute("rm -rf " .. H.quote(dir)) end)
    local gsm = H.gsm()
    tui:type(gsm)
    tui:wait_for("The ledger cannot be reached: nothing is sent to " .. gsm:sub(1, 3) .. "*****")
    local before = sandbox:requests_settled()
    tui:keys("Tab")
    tui:type("s-1")
    tui:keys("Enter")
    tui:wait_for("The ledger of sent codes could not be used, so nothing was sent")
    tui:wait_for("cannot reach Redis at " .. dir .. "/none.sock")
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("keeps holds across a restart (its default ledger)", function()
    local state = H.tmpdir()
    local env = { XDG_STATE_HOME = state }
    local tui = screen_for(nil, env)
    H.defer(finally, function() tui:stop(); os.execute("rm -rf " .. H.quote(state)) end)
    tui:wait_for("Ledger: sqlite:" .. state .. "/paynet/ledger.db")
    local gsm = H.gsm()
    send(tui, gsm)
    tui:wait_for("OTP sent to")
    tui:keys("F10")
    tui:wait_for("EXIT:0")
    tui:stop()
    tui = screen_for(nil, env)
    local before = sandbox:requests_settled()
    send(tui, gsm)
    tui:wait_for("Not sent: the OTP sent to " .. gsm:sub(1, 3) .. "*****" .. gsm:sub(9) .. " is valid for")
    tui:wait_for("(session spec-")
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("refuses an invalid number before sending, and says why as you type", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local before = sandbox:requests_settled()
    tui:type("0212 123 45 67")
    tui:wait_for("phone number is not a Turkish mobile number: it must start")
    tui:keys("Tab")
    tui:type("s-1")
    tui:keys("Enter")
    tui:wait_for("Not sent: the phone number is not valid.")
    assert.are.equal(before, sandbox:requests_now())
  end)

  local kinds = {
    { "5000000012", "Paynet refused the request.", "nodata (code 12, HTTP 200)", "refused: nodata (code 12)" },
    -- a redirect is not Paynet's answer: it may have gone out (the verdict)
    { "5000000109", "A gateway in front of Paynet failed: a code may have gone out.", "HTTP 302",
      "http: HTTP 302, may have gone out" },
    { "5000000102", "A gateway in front of Paynet failed: a code may have gone out.", "HTTP 502",
      "http: HTTP 502, may have gone out" },
    { "5000000105", "Paynet's reply could not be read: a code may have gone out.", "not JSON",
      "protocol, may have gone out" },
    { "5000000104", "The connection broke after the request left", "transfer closed", "network, may have gone out" },
  }
  for _, k in ipairs(kinds) do
    it("shows its line for " .. k[1] .. ": " .. k[2], function()
      local tui = screen_for()
      H.defer(finally, function() tui:stop() end)
      send(tui, k[1])
      local screen = tui:wait_for(k[2])
      tui:wait_for(k[3])
      tui:wait_for(k[4])
    end)
  end

  it("tells the operator to check the secret key when Paynet refuses it", function()
    local tui = screen_for(nil, { PAYNET_SECRET_KEY = "sck_wrong_on_screen" })
    H.defer(finally, function() tui:stop() end)
    send(tui, H.gsm())
    local screen = tui:wait_for("Paynet refused the secret key. Check the secret key")
    tui:wait_for("unauthorized (code 7, HTTP 401): Geçersiz gizli anahtar")
  end)

  it("says a code may have gone out when Paynet does not answer in time", function()
    local tui = screen_for { "--base-url", sandbox.url, "--timeout", "1" }
    H.defer(finally, function() tui:stop() end)
    send(tui, "5000000103")
    local screen = tui:wait_for("Paynet did not answer in time: a code may have gone out.", 4)
    tui:wait_for("500*****03 is held")
  end)

  it("says nothing was sent when Paynet cannot be reached", function()
    local tui = screen_for { "--base-url", "http://127.0.0.1:" .. H.closed_port() }
    H.defer(finally, function() tui:stop() end)
    send(tui, H.gsm())
    tui:wait_for("Could not reach Paynet; nothing was sent.")
  end)

  it("says the secure connection failed for an untrusted certificate", function()
    local dir = H.tmpdir()
    local https = H.start_sandbox { tls = H.make_cert(dir) }
    H.defer(finally, function() https:remove(); os.execute("rm -rf " .. H.quote(dir)) end)
    local tui = screen_for { "--base-url", https.url }
    H.defer(finally, function() tui:stop() end)
    send(tui, H.gsm())
    tui:wait_for("The secure connection to Paynet failed; nothing was sent.")
  end)

  it("keeps counting while a slow send is in flight, and Esc cancels it", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local before = sandbox:requests_settled()
    send(tui, "5000000115")
    tui:wait_for("Sending to 500*****15")
    sandbox:requests_settled(before + 1) -- the request arrived: it is in flight
    local t0 = H.now()
    tui:keys("Escape")
    local screen = tui:wait_for("Cancelled after the request left: a code may have gone out")
    assert.is_true(H.now() - t0 < 1, "Esc acted at once")
    tui:wait_for("cancelled, may have gone out")
    tui:wait_for("500*****15 is held")
  end)

  it("draws the server's control characters as harmless text", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local title = tui:format("#{pane_title}")
    send(tui, "5000000117")
    local screen = tui:wait_for("OTP sent to 500*****17")
    tui:wait_for("Başarılı\u{FFFD}[2J\u{FFFD}]0;pwned\u{FFFD} İşlem")
    tui:wait_for("paynet-tui 0.2.0")
    assert.are.equal(title, tui:format("#{pane_title}"))
  end)

  it("draws an error's hostile text harmless too", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local title = tui:format("#{pane_title}")
    send(tui, "5000000123")
    tui:wait_for("kabul edilmedi\u{FFFD}[2J\u{FFFD}]0;pwned\u{FFFD} \u{FFFD}31m\u{FFFD}gnp.exe\u{FFFD}")
    local screen = tui:wait_for("paynet-tui 0.2.0")
    assert.are.equal(title, tui:format("#{pane_title}"))
    assert.falsy(screen:find("gnp.exe", 1, true) and screen:find("exe.png", 1, true))
  end)

  it("survives a resize down to 20x5 and back", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    tui:type("0532 111 22 33")
    tui:wait_for("→ 5321112233")
    tui:resize(20, 5)
    local small = tui:wait_for("Terminal too small")
    assert.truthy(small:find("20x5, needs 80x24", 1, true), small)
    tui:resize(80, 24)
    local screen = tui:wait_for("F10 Quit")
    tui:wait_for("0532 111 22 33")
    tui:resize(120, 40)
    tui:wait_for("F10 Quit")
    tui:keys("F10")
    tui:wait_for("EXIT:0")
  end)

  it("uses colour by default and attributes only with NO_COLOR or --no-color", function()
    local colour = screen_for()
    H.defer(finally, function() colour:stop() end)
    assert.truthy(colour:screen(true):find("\27%[[0-9;]*4[0-7]m") or
                  colour:screen(true):find("\27%[[0-9;]*44[;m]"), "a coloured header")
    for _, case in ipairs { { env = { NO_COLOR = "1" } }, { args = { "--no-color" } } } do
      local args = { "--base-url", sandbox.url }
      for _, a in ipairs(case.args or {}) do args[#args + 1] = a end
      local plain = screen_for(args, case.env)
      H.defer(finally, function() plain:stop() end)
      local text = plain:screen(true)
      assert.falsy(text:find("\27%[[0-9;]*[34][0-7]m"), "no colour")
      assert.falsy(text:find("\27%[[0-9;]*[34]8;5"), "no colour")
      assert.truthy(text:find("\27%[[0-9;]*7m"), "reverse video for the header")
    end
  end)

  it("shows LIVE unmistakably when asked for the live system", function()
    local tui = screen_for { "--env", "live", "--base-url", sandbox.url }
    H.defer(finally, function() tui:stop() end)
    tui:wait_for("*** LIVE: REAL SMS TO REAL CUSTOMERS ***")
  end)

  for _, key in ipairs { "F10", "C-c" } do
    it("exits 0 on " .. key .. " and gives the terminal back", function()
      local tui = screen_for()
      H.defer(finally, function() tui:stop() end)
      assert.are.equal("1", tui:format("#{alternate_on}"))
      tui:keys(key)
      tui:wait_for("EXIT:0")
      assert.are.equal("0", tui:format("#{alternate_on}"))
      assert.are.equal("1", tui:format("#{cursor_flag}"))
    end)
  end

  it("exits 0 on SIGTERM and gives the terminal back", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    local pid = assert(tui:program_pid(), "paynet-tui is running")
    os.execute("kill -TERM " .. pid)
    tui:wait_for("EXIT:0")
    assert.are.equal("0", tui:format("#{alternate_on}"))
  end)

  it("writes one JSON line per send to the audit log, never the secret", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local log = dir .. "/audit.jsonl"
    local tui = screen_for({ "--base-url", sandbox.url, "--audit-log", log },
                           { USER = "ayse", PAYNET_SECRET_KEY = "sck_sandbox" })
    H.defer(finally, function() tui:stop() end)
    local gsm = H.gsm()
    send(tui, gsm, "audit-1")
    tui:wait_for("OTP sent to")
    send(tui, "5000000007", "audit-2")
    tui:wait_for("Check the secret key")
    send(tui, "bad")
    tui:wait_for("Not sent: the phone number is not valid.")
    tui:keys("F10")
    tui:wait_for("EXIT:0")
    local text = assert(H.read(log))
    assert.falsy(text:find("sck_sandbox", 1, true))
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(2, #lines, text)
    local first, second = lines[1], lines[2]
    assert.truthy(first:match('^{"time":"%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[+-]%d%d:%d%d"'), first)
    assert.truthy(first:find('"operator":"ayse","env":"test","number":"' .. gsm:sub(1, 3) ..
                             '*****' .. gsm:sub(9) .. '","session_id":"audit-1","outcome":"sent","code":0', 1, true), first)
    assert.truthy(first:match('"otp_expire":"[^"]+%+03:00","delivered":"yes"}$'), first)
    assert.truthy(second:find('"session_id":"audit-2","outcome":"refused","kind":"api","code":7,"otp_expire":null,' ..
                              '"delivered":"yes"}', 1, true), second)
    local mode = H.capture("stat -c %a " .. H.quote(log))
    assert.are.equal("600\n", mode)
  end)

  it("is idle between clock ticks: the countdown redraws once a second", function()
    local tui = screen_for()
    H.defer(finally, function() tui:stop() end)
    send(tui, H.gsm())
    tui:wait_for("OTP sent to")
    local pid = assert(tui:program_pid(), "paynet-tui is running")
    local function ticks()
      local stat = H.read("/proc/" .. pid .. "/stat")
      local fields = {}
      for f in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = f end
      return tonumber(fields[12]) + tonumber(fields[13])  -- utime + stime
    end
    local t0 = ticks()
    H.sleep(3)
    -- 3 s of countdown: a busy loop would burn ~300 ticks; a handful is redraws
    assert.is_true(ticks() - t0 <= 5, "CPU ticks: " .. (ticks() - t0))
  end)
end)

describe("paynet-tui --plain (screen readers, pipes)", function()
  local sandbox
  setup(function() sandbox = H.start_sandbox() end)
  teardown(function() sandbox:remove() end)

  -- feeds `script` (a shell command writing the answers) to --plain; its
  -- output, exit status and state folder
  local function plain(script, env, args)
    local state = H.tmpdir()
    local out, code = H.capture(("(%s) | env -u LC_ALL -u LC_MESSAGES -u LANGUAGE -u PAYNET_LEDGER " ..
      "LANG=%s PAYNET_SECRET_KEY=%s XDG_STATE_HOME=%s %s %s --plain --base-url %s %s 2>&1"):format(
      script, (env and env.LANG) or "C.UTF-8", H.key, H.quote(state), (env and env.extra) or "",
      H.tui_bin, (args and args.url) or sandbox.url, (args and args.more) or ""))
    return out, code, state
  end

  it("asks, answers and says each outcome in one line, without a single escape byte", function()
    local gsm = H.gsm()
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local out, code = plain(("printf '0532 123\\n0%s\\norder-1\\n?\\n%s\\nq\\nnever-read\\n'"):format(gsm, gsm),
                            nil, { more = "--audit-log " .. H.quote(dir .. "/audit.jsonl") })
    assert.are.equal(0, code, out)
    assert.falsy(out:find("[\27\155]"), out) -- no ESC, no CSI: nothing but text
    local lines = {}
    for line in out:gmatch("[^\n]*\n") do lines[#lines + 1] = line end
    assert.truthy(lines[1]:match("^paynet%-tui 0%.2%.0  env: TEST  http://127%.0%.0%.1:%d+/v1/card/send_otp\n$"), lines[1])
    assert.truthy(lines[2]:match("^Ledger: sqlite:.*/paynet/ledger%.db %(every send is recorded there first%)%.\n$"), lines[2])
    assert.are.equal("Type a phone number, then a session id; ? tells the time left, q quits.\n", lines[3])
    assert.are.equal("Phone number: 0532 123\n", lines[4])
    assert.are.equal("Not sent: the phone number is not valid. phone number needs 4 more digits " ..
                     "(10 after the prefix: 5XXXXXXXXX)\n", lines[5])
    assert.are.equal("Phone number: 0" .. gsm .. "\n", lines[6])
    assert.truthy(lines[7]:match("^Session id %[otp%-%x+%]: order%-1\n$"), lines[7])
    assert.are.equal("Sending an OTP to " .. masked .. " ...\n", lines[8])
    assert.truthy(lines[9]:match('^OTP sent to ' .. masked:gsub("%*", "%%*") ..
                                 ': "Başarılı İşlem"%. Valid until %d%d:%d%d:%d%d%.\n$'), lines[9])
    assert.are.equal("Phone number: ?\n", lines[10])
    assert.truthy(lines[11]:match("^Code for " .. masked:gsub("%*", "%%*") .. " valid   0[23]:%d%d\n$"), lines[11])
    -- the same number again: refused at once, naming who holds it; no
    -- session id is asked for a send that cannot happen
    assert.are.equal("Phone number: " .. gsm .. "\n", lines[12])
    local m = masked:gsub("%*", "%%*")
    assert.truthy(lines[13]:match("^Not sent: the OTP sent to " .. m .. " is valid for 0[23]:%d%d more%. " ..
                                  "The customer can use the code they have%. " .. m ..
                                  ": sent 0:0%d ago by [^ ]+ %(session order%-1%); valid [23]:%d%d more\n$"), lines[13])
    assert.are.equal("Phone number: q\n", lines[14])
    assert.are.equal(14, #lines, out) -- q quits: the line after it is never read
    -- the audit log has the send, as the screen writes it (a refusal sent nothing)
    local audit = H.read(dir .. "/audit.jsonl")
    local _, sends = audit:gsub("\n", "")
    assert.are.equal(1, sends, audit)
    assert.truthy(audit:find('"number":"' .. masked .. '","session_id":"order-1","outcome":"sent","code":0', 1, true), audit)
  end)

  -- the ledger is slow to record the send (another process holds the
  -- SQLite file's write lock from before the reply until 3.5 s after it):
  -- "valid until" and the audit line's time are the reply's, not the end
  -- of the ledger's work
  it("takes 'valid until' and the audit time at the reply, not after a slow settle", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    local db = dir .. "/ledger.db"
    local t0 = os.time()
    -- 5000000115 answers after 3 s; the lock is taken at 1 s and held 5.5 s
    local locker = io.popen(("sleep 1; (echo 'BEGIN IMMEDIATE;'; sleep 5.5; echo 'COMMIT;') | sqlite3 %s"):format(
      H.quote(db)))
    local out, code = plain("printf '5000000115\\n\\n'", nil,
      { more = ("--ledger %s --audit-log %s --timeout 10"):format(H.quote("sqlite:" .. db),
                                                             H.quote(dir .. "/audit.jsonl")) })
    locker:close()
    local took = os.time() - t0
    assert.are.equal(0, code, out)
    assert.is_true(took >= 6, "the settle waited for the lock: " .. took .. " s")
    local audit = assert(H.read(dir .. "/audit.jsonl"))
    local y, mo, d, h, mi, s = audit:match('"time":"(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)')
    -- in local time, as this process reads a table (both have one TZ)
    local replied = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = s }
    assert.is_true(replied >= t0 + 2 and replied <= t0 + 4, ("audit time %d s after the start"):format(replied - t0))
    assert.truthy(audit:find('"outcome":"sent"', 1, true), audit)
    -- valid until: the reply's time plus the code's 180 s, on the desk's clock
    local vh, vm, vs = out:match("Valid until (%d%d):(%d%d):(%d%d)%.")
    assert.truthy(vh, out)
    local expected = os.date("*t", t0 + 3 + 180)
    local seconds = function(hh, mm, ss) return (tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)) end
    local diff = (seconds(vh, vm, vs) - seconds(expected.hour, expected.min, expected.sec)) % 86400
    if diff > 43200 then diff = diff - 86400 end
    assert.is_true(math.abs(diff) <= 1, ("valid until is %d s off the reply's time + 180"):format(diff))
  end)

  it("names the holder of a number another process sent, and exits 0 at the end of input", function()
    local state = H.tmpdir()
    local ledger = "sqlite:" .. state .. "/shared.db"
    local gsm = H.gsm()
    local out, code = H.capture(("env LUA_CPATH=%s PAYNET_SECRET_KEY=%s USER=mehmet %s bin/paynet-otp send " ..
      "--gsm %s --session other-desk-3 --base-url %s --ledger %s 2>&1"):format(
      H.quote("./" .. H.build .. "/?.so;;"), H.key, H.lua, gsm, sandbox.url, H.quote(ledger)))
    assert.are.equal(0, code, out)
    local before = sandbox:requests_settled()
    out, code = plain(("printf '%s'"):format(gsm), nil, { more = "--ledger " .. H.quote(ledger) })
    assert.are.equal(0, code, out) -- the last line had no newline: still read, then the end
    assert.truthy(out:find("\nNot sent: the OTP sent to [^\n]+: sent 0:0%d ago by mehmet@[^ ]+ " ..
                           "%(session other%-desk%-3%); valid [23]:%d%d more\nPhone number: \n$"), out)
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("refuses hostile lines whole: NUL bytes, over-long lines, escapes; stops when it cannot write", function()
    local before = sandbox:requests_settled()
    local out, code = plain("printf '05321234567\\0999\\n'; head -c 5000 /dev/zero | tr '\\0' x; " ..
      "printf '05321234568\\n\\033]0;PWNED\\a\\033[2J0532\\n'")
    assert.are.equal(0, code, out)
    assert.falsy(out:find("[\27\7]"), out)
    assert.truthy(out:find("phone number contains a control character at byte 12", 1, true), out)
    assert.truthy(out:find("phone number is too long", 1, true), out)
    -- the number after the long line's tail was part of that line: never sent
    assert.falsy(out:find("Sending", 1, true), out)
    assert.truthy(out:find("Phone number: \u{FFFD}]0;PWNED\u{FFFD}\u{FFFD}[2J0532\n", 1, true), out)
    assert.are.equal(before, sandbox:requests_now())
    -- a session id longer than 128 bytes is refused, not cut and sent
    out = plain(("printf '%s\\n%s\\n'"):format(H.gsm(), ("ş"):rep(100)))
    assert.truthy(out:find("Not sent: the session id is not valid. session id is too long (200 bytes; at most 128)", 1, true), out)
    assert.are.equal(before, sandbox:requests_now())
    -- standard output that cannot be written: it stops before sending anything
    out, code = H.capture(("printf '%s\\ns\\n' | env PAYNET_SECRET_KEY=%s XDG_STATE_HOME=%s %s --plain --base-url %s " ..
      "2>&1 >/dev/full"):format(H.gsm(), H.key, H.quote(H.tmpdir()), H.tui_bin, sandbox.url))
    assert.are.equal(1, code, out)
    assert.are.equal("paynet-tui: stopped: standard output cannot be written\n", out)
    assert.are.equal(before, sandbox:requests_now())
  end)

  it("says by itself when a code expires, and asks again", function()
    local short = H.start_sandbox { ttl = 2 }
    H.defer(finally, function() short:remove() end)
    local gsm = H.gsm()
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    local t0 = H.now()
    local out, code = plain(("printf '%s\\ns-1\\n'; sleep 3.5; printf '?\\n'"):format(gsm), nil, { url = short.url })
    assert.are.equal(0, code, out)
    assert.truthy(out:find("\nPhone number: \nThe code for " .. masked:gsub("%*", "%%*") ..
                           " has expired: a new one may be sent%.\nPhone number: %?\n" ..
                           "No code sent in this run is still valid%.\n"), out)
    assert.is_true(H.now() - t0 < 6 * H.slow, "it ended at the end of input")
  end)

  it("speaks Turkish where the locale says so", function()
    local gsm = H.gsm()
    local out, code = plain(("printf '0532\\n%s\\nsipariş-5\\n'"):format(gsm), { LANG = "tr_TR.UTF-8" })
    assert.are.equal(0, code, out)
    assert.truthy(out:find("Bir telefon numarası, sonra bir oturum kimliği yazın; ? kalan süreyi söyler, q çıkar.\n", 1, true), out)
    assert.truthy(out:find("Telefon no: 0532\nGönderilmedi: telefon numarası geçerli değil. " ..
                           "telefon numarasında 7 rakam eksik", 1, true), out)
    assert.truthy(out:find('OTP ' .. gsm:sub(1, 3) .. '*****' .. gsm:sub(9) ..
                           ' numarasına gönderildi: "Başarılı İşlem". Son geçerlilik: ', 1, true), out)
  end)
end)
