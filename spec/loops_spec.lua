-- Sends inside event loops: cqueues coroutines yield instead of blocking,
-- the pollable client (start, pollfd, events, timeout, step) and the
-- README's luv example, against the real sandbox.
local paynet = require "paynet"
local cqueues = require "cqueues"
local H = require "spec.helper"

local SLOW = "5000000115"   -- the sandbox answers after 3 seconds
local SILENT = "5000000103" -- the sandbox never answers

-- the fault numbers are sent again and again: each client gets a ledger
-- of its own unless a case names one (H.client)
local client = H.client

describe("send_otp in a cqueues coroutine", function()
  local sandbox = H.shared()

  it("yields to the controller: four sends to a 3-second reply end in about 3 s", function()
    local cq = cqueues.new()
    local results, ended = {}, {}
    local before = sandbox:arrivals("15")
    local t0 = H.now()
    -- one ledger each (client()): the process's memory ledger would
    -- (rightly) let only one of four sends to one number go
    for i = 1, 4 do
      cq:wrap(function()
        local c <close> = client(sandbox.url)
        local res, err = c:send_otp { user_gsm = SLOW, otp_session_id = "loop-" .. i }
        results[i] = res or err
        ended[i] = H.now() - t0
      end)
    end
    assert(cq:loop())
    local elapsed = H.now() - t0
    for i = 1, 4 do
      assert.are.equal(0, results[i].code, tostring(results[i].message))
      assert.are.equal(SLOW, results[i].user_gsm)
      assert.is_true(ended[i] >= 2.9, ended[i])
    end
    -- one after the other would take 12 s
    assert.is_true(elapsed < math.min(3 + 2 * H.slow, 8), elapsed)
    assert.are.equal(before + 4, sandbox:arrivals("15")) -- one request each
  end)

  it("lets the other coroutines run while it waits", function()
    local cq = cqueues.new()
    local ticks, res = 0, nil
    local before = sandbox:arrivals("15")
    cq:wrap(function()
      local c <close> = client(sandbox.url)
      res = c:send_otp { user_gsm = SLOW, otp_session_id = "ticks" }
    end)
    cq:wrap(function()
      while res == nil do
        ticks = ticks + 1
        cqueues.sleep(0.5)
      end
    end)
    assert(cq:loop())
    assert.are.equal(0, res.code)
    assert.is_true(ticks >= 5, ticks)
    assert.are.equal(before + 1, sandbox:arrivals("15"))
  end)

  it("returns the same errors as a blocking send", function()
    local cq = cqueues.new()
    local out = {}
    local api_before, answered = sandbox:arrivals("01"), sandbox:requests_now()
    cq:wrap(function()
      local c <close> = client(sandbox.url)
      out.api = { c:send_otp { user_gsm = "5000000101", otp_session_id = "s" } }
      out.bad = { c:send_otp { user_gsm = "123", otp_session_id = "s" } }
      local gsm = H.gsm()
      out.first = c:send_otp { user_gsm = gsm, otp_session_id = "s" }
      out.again = { c:send_otp { user_gsm = gsm, otp_session_id = "s" } }
    end)
    assert(cq:loop())
    assert.is_nil(out.api[1])
    assert.are.equal("api", out.api[2].kind)
    assert.are.equal(8, out.api[2].code)
    assert.are.equal(500, out.api[2].http_status)
    assert.are.equal("invalid", out.bad[2].kind)
    assert.are.equal(0, out.first.code)
    assert.are.equal("cooldown", out.again[2].kind)
    -- the fault and the first send reached the sandbox; the invalid number
    -- and the held one did not
    assert.are.equal(api_before + 1, sandbox:arrivals("01"))
    assert.are.equal(answered + 2, sandbox:requests_now())
  end)

  it("times out as configured, holding the number", function()
    local cq = cqueues.new()
    local err
    local before = sandbox:arrivals("03")
    local t0 = H.now()
    cq:wrap(function()
      local c <close> = client(sandbox.url, { timeout = 1, retries = 0 })
      _, err = c:send_otp { user_gsm = SILENT, otp_session_id = "s" }
    end)
    assert(cq:loop())
    assert.are.equal("timeout", err.kind)
    assert.are.equal("unknown", err.delivered)
    assert.is_true(err.held)
    local elapsed = H.now() - t0
    assert.is_true(elapsed >= 0.95 and elapsed < 1 + 2 * H.slow, elapsed)
    assert.are.equal(before + 1, sandbox:arrivals("03"))
  end)

  it("raises in the sender when another coroutine closes the client, whose hold stays", function()
    local dir = H.tmpdir()
    local ledger = "sqlite:" .. dir .. "/ledger.db"
    local cq = cqueues.new()
    local c = client(sandbox.url, { ledger = ledger, unknown_hold = 60 })
    local ok, why
    local before = sandbox:arrivals("03")
    cq:wrap(function()
      ok, why = pcall(c.send_otp, c, { user_gsm = SILENT, otp_session_id = "closed" })
    end)
    cq:wrap(function()
      while sandbox:arrivals("03") == before do cqueues.sleep(0.05) end
      c:close()
    end)
    assert(cq:loop())
    assert.is_false(ok)
    assert.truthy(tostring(why):find("closed during send_otp", 1, true), why)
    -- the close cancelled the send after its request left: held, uncertain
    local holds = assert(paynet.holds(ledger))
    os.execute("rm -rf " .. H.quote(dir))
    assert.are.equal(1, #holds)
    assert.are.equal("uncertain", holds[1].state)
    assert.are.equal("closed", holds[1].session_id)
    assert.is_true(holds[1].remaining > 55 and holds[1].remaining <= 60, holds[1].remaining)
    assert.are.equal(before + 1, sandbox:arrivals("03"))
  end)

  it("many coroutines on one client: 3 rounds of 7 sends at once open 7 connections, not 21", function()
    local own = H.start_sandbox()
    -- each chunk held 0.2 s on the way: the seven are surely in flight together
    local relay = H.start_relay(tonumber(own.url:match(":(%d+)$")), 0.2)
    local c <close> = client("http://127.0.0.1:" .. relay.port)
    local numbers, sent = {}, {}
    for round = 1, 3 do
      local cq = cqueues.new()
      local started = 0
      for i = 1, 7 do
        local gsm = H.gsm()
        numbers[#numbers + 1] = gsm
        cq:wrap(function()
          started = started + 1
          local res, err = c:send_otp { user_gsm = gsm, otp_session_id = ("r%d-%d"):format(round, i) }
          -- every one of the seven had started before any ended: at once
          sent[#sent + 1] = res and res.user_gsm == gsm and started == 7 and "ok" or tostring(err)
        end)
      end
      assert(cq:loop())
    end
    local log = own:log()
    relay.stop()
    own:stop()
    assert.are.equal(21, #sent)
    for i = 1, 21 do assert.are.equal("ok", sent[i]) end
    assert.are.equal(21, select(2, log:gsub(" %-> 0 successful", "")), log)
    -- seven at once need seven connections; the next rounds reuse them
    local opened = 0
    for _ in log:gmatch("connection %d+ opened") do opened = opened + 1 end
    assert.are.equal(7, opened, log)
    for _, gsm in ipairs(numbers) do assert.are.equal("sent", c:holder(gsm).state) end
  end)

  it("coroutine.close on a waiting sender cancels its send: the number held, the client sends on", function()
    local cq = cqueues.new()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local sender
    local function arrived() return sandbox:arrivals("03") end
    local before = arrived()
    cq:wrap(function()
      sender = coroutine.running()
      return c:send_otp { user_gsm = SILENT, otp_session_id = "closed-coroutine" }
    end)
    -- drive the controller until the request arrived; the sender waits in it
    local deadline = H.now() + 5 * H.slow
    while arrived() == before and H.now() < deadline do cq:step(0.05) end
    assert.are.equal("suspended", coroutine.status(sender))
    assert.are.equal("pending", c:holder(SILENT).state)
    assert(coroutine.close(sender))
    local left = c:remaining(SILENT)
    assert.is_true(left > 55 and left <= 60, left)
    local holder = c:holder(SILENT)
    assert.are.equal("uncertain", holder.state)
    assert.are.equal(before + 1, arrived())
    -- and the client sends on
    local res = c:send_otp { user_gsm = H.gsm(), otp_session_id = "after-close" }
    assert.are.equal(0, res.code)
  end)

  it("a plain coroutine inside a controller's coroutine blocks, and gets the result", function()
    local cq = cqueues.new()
    local res
    local answered = sandbox:requests_now()
    cq:wrap(function()
      local c <close> = client(sandbox.url)
      res = coroutine.wrap(function()
        return c:send_otp { user_gsm = H.gsm(), otp_session_id = "nested" }
      end)()
    end)
    assert(cq:loop())
    assert.are.equal("table", type(res))
    assert.are.equal(0, res.code)
    assert.are.equal(answered + 1, sandbox:requests_now())
  end)

  it("a debug function that fails or yields costs nothing: the result comes back", function()
    local cq = cqueues.new()
    local out = {}
    local before = sandbox:arrivals("21")
    cq:wrap(function()
      local c <close> = client(sandbox.url, { debug = function() coroutine.yield() end })
      -- fault 21: a Date header of 1970, which the library notes in a debug line
      out[1] = c:send_otp { user_gsm = "5000000121", otp_session_id = "dbg" }
      local d <close> = client(sandbox.url, { debug = function() error("logger down") end })
      out[2] = d:send_otp { user_gsm = "5000000121", otp_session_id = "dbg" }
    end)
    assert(cq:loop())
    assert.are.equal(0, out[1].code)
    assert.are.equal(0, out[2].code)
    assert.are.equal(before + 2, sandbox:arrivals("21"))
  end)

  it("two clients of one process share the memory ledger: one POST to a number", function()
    local cq = cqueues.new()
    local out = {}
    local gsm = H.gsm()
    -- masked numbers keep 5 digits: another spec's number can share one, so
    -- the holds and the log lines are picked by this case's own session ids
    local tag = H.session() .. "-desk-"
    for i = 1, 2 do
      cq:wrap(function()
        local c <close> = paynet.new { secret_key = H.key, base_url = sandbox.url, ledger = "memory" }
        out[i] = { c:send_otp { user_gsm = gsm, otp_session_id = tag .. i } }
      end)
    end
    assert(cq:loop())
    local sent, refused = 0, 0
    for i = 1, 2 do
      if out[i][1] then sent = sent + 1 elseif out[i][2].kind == "cooldown" then refused = refused + 1 end
    end
    assert.are.equal(1, sent)
    assert.are.equal(1, refused)
    local listed = 0
    for _, h in ipairs(assert(paynet.holds("memory"))) do
      if h.session_id:find(tag, 1, true) == 1 and h.masked == gsm:sub(1, 3) .. "*****" .. gsm:sub(9) then
        listed = listed + 1
      end
    end
    assert.are.equal(1, listed) -- the process's table, after both clients closed
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    sandbox:requests_now()
    local lines = {}
    for l in sandbox:log():gmatch("[^\n]+") do
      if l:find(masked .. " session '" .. tag, 1, true) then lines[#lines + 1] = l end
    end
    assert.are.equal(1, #lines, table.concat(lines, "\n"))
  end)

  it("an argument table whose __index closes the client: an error, never a freed client used", function()
    local answered = sandbox:requests_now()
    for _, method in ipairs { "send_otp", "start" } do
      local c = client(sandbox.url)
      local args = setmetatable({}, { __index = function(_, k)
        c:close()
        return k == "user_gsm" and H.gsm() or "s"
      end })
      assert.has_error(function() c[method](c, args) end, "attempt to use a closed paynet.Client")
    end
    local c = client(sandbox.url)
    -- a cqueues impostor whose running() closes the client: an error, no crash
    local real = package.loaded.cqueues
    package.loaded.cqueues = { running = function() c:close(); return true, true end,
                               poll = function() end }
    local ok, why = pcall(coroutine.wrap(function()
      return c:send_otp { user_gsm = H.gsm(), otp_session_id = "s" }
    end))
    package.loaded.cqueues = real
    assert.is_false(ok)
    assert.truthy(tostring(why):find("closed paynet.Client", 1, true), why)
    assert.are.equal(answered, sandbox:requests_now()) -- nothing was sent
  end)

  it("an argument table whose __index replaces self (debug.setlocal): an error, never a crash", function()
    local answered = sandbox:requests_now()
    for _, method in ipairs { "send_otp", "start" } do
      for _, impostor in ipairs { "not a client", io.stdout } do
        local c <close> = client(sandbox.url)
        local args = setmetatable({}, { __index = function(_, k)
          if k == "user_gsm" then debug.setlocal(2, 1, impostor) end
          return k == "user_gsm" and H.gsm() or "s"
        end })
        local ok, why = pcall(c[method], c, args)
        assert.is_false(ok)
        assert.truthy(tostring(why):find("paynet.Client expected, got " ..
          (type(impostor) == "string" and "string" or "FILE*"), 1, true), why)
      end
    end
    assert.are.equal(answered, sandbox:requests_now()) -- nothing was sent
  end)

  it("a waiting cqueues send whose self is replaced (debug.setlocal): the send runs on its own call", function()
    local before = sandbox:arrivals("15")
    for _, impostor in ipairs { "not a client", io.stdout, false } do
      local c <close> = client(sandbox.url)
      local other <close> = client(sandbox.url)
      local cq = cqueues.new()
      local sender, ok, res
      cq:wrap(function()
        sender = coroutine.running()
        ok, res = pcall(c.send_otp, c, { user_gsm = SLOW, otp_session_id = "swap" })
      end)
      cq:wrap(function()
        cqueues.sleep(0.3)
        local replaced = false
        for level = 0, 20 do
          local info = debug.getinfo(sender, level, "f")
          if not info then break end
          if info.func == c.send_otp then
            debug.setlocal(sender, level, 1, impostor or other)
            replaced = true
            break
          end
        end
        assert(replaced, "no send_otp frame found")
      end)
      assert(cq:loop())
      assert.is_true(ok, tostring(res))
      assert.are.equal(0, res.code)
      assert.are.equal("sent", c:holder(SLOW).state)
      assert.is_false(other:holder(SLOW)) -- the other client's ledger never saw it
    end
    assert.are.equal(before + 3, sandbox:arrivals("15")) -- one request a round, none again
  end)

  it("a waiting cqueues send whose call is replaced (debug.setlocal): an error, the call cancelled when collected", function()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local before = sandbox:arrivals("03")
    local cq = cqueues.new()
    local sender, ok, why
    cq:wrap(function()
      sender = coroutine.running()
      ok, why = pcall(c.send_otp, c, { user_gsm = SILENT, otp_session_id = "swap-call" })
    end)
    cq:wrap(function()
      while sandbox:arrivals("03") == before do cqueues.sleep(0.05) end
      for level = 0, 20 do
        local info = debug.getinfo(sender, level, "f")
        if not info then break end
        if info.func == c.send_otp then debug.setlocal(sender, level, 4, false) break end
      end
    end)
    assert(cq:loop())
    -- Lua itself refuses to close a slot that lost its value's __close
    -- ("attempt to call a nil value"); either way an error, never a crash
    assert.is_false(ok)
    assert.are.equal("string", type(why))
    collectgarbage()
    collectgarbage()
    assert.are.equal("uncertain", c:holder(SILENT).state) -- cancelled after it left: held
    assert.are.equal(before + 1, sandbox:arrivals("03"))
  end)

  it("self replaced while the arguments are read, under cqueues: the send runs on the client that was there", function()
    local a = client(sandbox.url)
    local b <close> = client(sandbox.url)
    local before = sandbox:arrivals("15")
    local real = package.loaded.cqueues
    package.loaded.cqueues = { running = function() return true, true end,
                               poll = function() coroutine.yield("polled") end }
    local args = setmetatable({}, { __index = function(_, k)
      if k == "user_gsm" then debug.setlocal(2, 1, b) return SLOW end
      return "swap-args"
    end })
    local holder = { a }
    local co = coroutine.create(function() return holder[1]:send_otp(args) end)
    local resumed, polled = coroutine.resume(co)
    package.loaded.cqueues = real
    assert.is_true(resumed, polled)
    assert.are.equal("polled", polled)
    assert.are.equal("pending", b:holder(SLOW).state) -- the send started on b
    assert.is_false(a:holder(SLOW))
    a, holder[1] = nil, nil
    collectgarbage()
    collectgarbage()
    local deadline, res = H.now() + 10
    while coroutine.status(co) == "suspended" and H.now() < deadline do
      local _, value = coroutine.resume(co)
      res = value
      H.sleep(0.02)
    end
    assert.are.equal("table", type(res))
    assert.are.equal(0, res.code)
    assert.are.equal("sent", b:holder(SLOW).state)
    assert.are.equal(before + 1, sandbox:arrivals("15"))
  end)

  it("a cqueues send that ends in an error cancels its send, though the coroutine is not closed", function()
    local a <close> = client(sandbox.url, { unknown_hold = 60 })
    local before = sandbox:arrivals("03")
    local real = package.loaded.cqueues
    local broken = false
    package.loaded.cqueues = { running = function() return true, true end,
                               poll = function()
                                 if broken then error("poll broke") end
                                 coroutine.yield("polled")
                               end }
    local co = coroutine.create(function() return a:send_otp { user_gsm = SILENT, otp_session_id = "err" } end)
    local deadline = H.now() + 5
    while sandbox:arrivals("03") == before and H.now() < deadline do
      assert(coroutine.resume(co))
      H.sleep(0.02)
    end
    assert.are.equal(before + 1, sandbox:arrivals("03"))
    assert.are.equal("pending", a:holder(SILENT).state)
    broken = true
    local ok, why = coroutine.resume(co)
    package.loaded.cqueues = real
    assert.is_false(ok)
    assert.truthy(tostring(why):find("poll broke", 1, true), why)
    assert.are.equal("dead", coroutine.status(co))
    -- no coroutine.close needed: cancelled after it left, so held
    assert.are.equal("uncertain", a:holder(SILENT).state)
    H.sleep(0.2)
    assert.are.equal(before + 1, sandbox:arrivals("03")) -- the one request, none again
  end)

  it("a value given the client's metatable is not a client: an error, no crash", function()
    local c <close> = client(sandbox.url)
    local file_meta = debug.getmetatable(io.stdout)
    debug.setmetatable(io.stdout, debug.getmetatable(c))
    local ok, why = pcall(c.url, io.stdout)
    local ok2, why2 = pcall(c.ledger, io.stdout)
    debug.setmetatable(io.stdout, file_meta)
    assert.is_false(ok)
    assert.is_false(ok2)
    assert.truthy(tostring(why):find("paynet.Client expected, got a userdata with its metatable", 1, true), why)
    assert.truthy(tostring(why2):find("paynet.Client expected", 1, true), why2)
    -- a light userdata: every one shares one metatable
    local light = debug.upvalueid(function() return c end, 1)
    local light_meta = debug.getmetatable(light)
    debug.setmetatable(light, debug.getmetatable(c))
    local ok3, why3 = pcall(c.url, light)
    debug.setmetatable(light, light_meta)
    assert.is_false(ok3)
    assert.truthy(tostring(why3):find("paynet.Client expected, got a userdata with its metatable", 1, true), why3)
    -- close, __gc and __tostring too: a file given the metatable is not freed as a client
    local f = io.tmpfile()
    debug.setmetatable(f, debug.getmetatable(c))
    local ok4, why4 = pcall(c.close, f)
    local ok5 = pcall(tostring, f)
    debug.setmetatable(f, file_meta)
    assert.is_false(ok4)
    assert.truthy(tostring(why4):find("paynet.Client expected, got a userdata with its metatable", 1, true), why4)
    assert.is_false(ok5)
    f:close()
    assert.are.equal(sandbox.url .. "/v1/card/send_otp", c:url())
  end)

  it("blocks outside a controller's coroutine, also in a plain coroutine", function()
    local c <close> = client(sandbox.url)
    local co = coroutine.wrap(function()
      return c:send_otp { user_gsm = H.gsm(), otp_session_id = "plain" }
    end)
    local res = co()  -- one resume: it never yielded
    assert.are.equal(0, res.code)
  end)
end)

describe("the pollable client: client:start and its call", function()
  local sandbox = H.shared()

  it("start returns a call whose pollfd, events, timeout and step carry one send to its result", function()
    local c <close> = client(sandbox.url)
    local gsm = H.gsm()
    local answered = sandbox:requests_now()
    local call <close> = assert(c:start { user_gsm = gsm, otp_session_id = "poll" })
    assert.are.equal("paynet.Call (in flight)", tostring(call))
    local fd = call:pollfd()
    assert.are.equal("integer", math.type(fd))
    assert.is_true(fd > 2)
    assert.are.equal("r", call:events())
    assert.is_true(call:pending())
    local steps, res, err = 0, nil, nil
    while call:pending() do
      -- wait with cqueues' poll, outside a controller: pollfd/timeout only
      cqueues.poll(call)
      res, err = call:step()
      steps = steps + 1
      assert.are.equal(fd, call:pollfd()) -- the call's for its life
    end
    assert.is_nil(err)
    assert.are.equal(0, res.code)
    assert.are.equal(gsm, res.user_gsm)
    assert.is_true(steps >= 2, steps)
    assert.is_nil(call:timeout())
    assert.are.equal("paynet.Call (over)", tostring(call))
    assert.has_error(function() call:step() end, "step: this call is over")
    assert.is_nil(call:cancel())
    -- and the ledger holds it, as after a blocking send
    local _, why = c:send_otp { user_gsm = gsm, otp_session_id = "again" }
    assert.are.equal("cooldown", why.kind)
    assert.are.equal(answered + 1, sandbox:requests_now()) -- the send; the resend never left
  end)

  it("seven calls at once on one client, 3 rounds, on one poll loop: 7 connections, 21 sends", function()
    local own = H.start_sandbox()
    local relay = H.start_relay(tonumber(own.url:match(":(%d+)$")), 0.2)
    local c <close> = client("http://127.0.0.1:" .. relay.port)
    local results = {}
    for round = 1, 3 do
      local calls = {}
      for i = 1, 7 do
        local gsm = H.gsm()
        calls[i] = { gsm = gsm, call = assert(c:start { user_gsm = gsm, otp_session_id = "p" .. round .. i }) }
      end
      local deadline = H.now() + 10
      local left = 7
      while left > 0 and H.now() < deadline do
        for _, entry in ipairs(calls) do
          if entry.call:pending() then
            local res, err = entry.call:step()
            if not entry.call:pending() then
              results[#results + 1] = res and res.user_gsm == entry.gsm and "ok" or tostring(err)
              entry.call:close()
              left = left - 1
            end
          end
        end
        H.sleep(0.002)
      end
    end
    local log = own:log()
    relay.stop()
    own:stop()
    assert.are.equal(21, #results)
    for i = 1, 21 do assert.are.equal("ok", results[i]) end
    local opened = 0
    for _ in log:gmatch("connection %d+ opened") do opened = opened + 1 end
    assert.are.equal(7, opened, log)
    assert.are.equal(21, select(2, log:gsub(" %-> 0 successful", "")), log)
  end)

  it("two calls at once for one number: the second is refused (cooldown), with no request", function()
    local c <close> = client(sandbox.url)
    local before = sandbox:arrivals("03")
    local first <close> = assert(c:start { user_gsm = SILENT, otp_session_id = "one" })
    local none, err = c:start { user_gsm = SILENT, otp_session_id = "two" }
    assert.is_nil(none)
    assert.are.equal("cooldown", err.kind)
    assert.are.equal("pending", err.holder.state)
    local _, again = c:send_otp { user_gsm = SILENT, otp_session_id = "three" }
    assert.are.equal("cooldown", again.kind)
    local cancelled = first:cancel()
    assert.are.equal("cancelled", cancelled.kind)
    assert.is_false(first:pending())
    assert.is_nil(first:cancel())
    local arrived = sandbox:arrivals("03") - before
    if cancelled.delivered == "no" then
      assert.are.equal(0, arrived)
    else
      assert.is_true(arrived <= 1, arrived)
    end
  end)

  it("start fails at once on input the send would refuse", function()
    local c <close> = client(sandbox.url)
    local answered = sandbox:requests_now()
    local none, err = c:start { user_gsm = "0532", otp_session_id = "s" }
    assert.is_nil(none)
    assert.are.equal("invalid", err.kind)
    assert.has_error(function() c:start { user_gsm = 5321234567, otp_session_id = "s" } end)
    assert.are.equal(answered, sandbox:requests_now())
  end)

  it("cancel after the request left says an OTP may have gone out, and holds the number", function()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local function arrived() return sandbox:arrivals("03") end
    local before = arrived()
    local call = assert(c:start { user_gsm = SILENT, otp_session_id = "s" })
    -- step until the body has gone to the sandbox (its log shows the fault)
    H.wait_until(function()
      call:step()
      return arrived() > before
    end, 5 * H.slow, "the request to reach the sandbox")
    assert.is_true(call:pending())
    local cancelled = call:cancel()
    assert.are.equal("cancelled", cancelled.kind)
    assert.are.equal("unknown", cancelled.delivered)
    assert.is_true(cancelled.may_have_sent)
    local left = c:remaining(SILENT)
    assert.is_true(left > 59 and left <= 60, left)
    assert.are.equal(before + 1, arrived())
    call:close()
    call:close() -- twice is fine
  end)

  it("a call dropped in flight is cancelled when collected; its number held", function()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local before = sandbox:arrivals("03")
    local call = assert(c:start { user_gsm = SILENT, otp_session_id = "dropped" })
    H.wait_until(function()
      call:step()
      return sandbox:arrivals("03") > before
    end, 5 * H.slow, "the request to reach the sandbox")
    call = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.are.equal("uncertain", c:holder(SILENT).state)
    assert.are.equal(before + 1, sandbox:arrivals("03"))
  end)

  it("closing the client wakes coroutines polling its calls (cqueues.poll(call)); the loop goes on", function()
    local c = client(sandbox.url, { unknown_hold = 60 })
    local cq = cqueues.new()
    local woke, t0 = {}, H.now()
    for i, number in ipairs { "5000000103", "5000000107" } do
      cq:wrap(function()
        local call <close> = assert(c:start { user_gsm = number, otp_session_id = "poll-close" })
        while call:pending() do
          cqueues.poll(call)
          if not pcall(call.step, call) then break end -- its client closed
        end
        woke[i] = H.now() - t0
      end)
    end
    cq:wrap(function()
      cqueues.sleep(0.5)
      c:close()
    end)
    local ok, why = cq:loop()
    assert.is_true(ok, tostring(why))
    for i = 1, 2 do assert.is_true(woke[i] and woke[i] < 0.5 + H.slow, tostring(woke[i])) end
  end)

  it("a value given the call's metatable, or a call whose client was swapped, is refused: an error, no crash", function()
    local c <close> = client(sandbox.url)
    local call <close> = assert(c:start { user_gsm = H.gsm(), otp_session_id = "meta" })
    local f = io.tmpfile()
    local file_meta = debug.getmetatable(f)
    debug.setmetatable(f, debug.getmetatable(call))
    local ok1, why1 = pcall(f.step, f)
    local ok2 = pcall(f.close, f)
    debug.setmetatable(f, file_meta)
    f:close()
    assert.is_false(ok1)
    assert.truthy(tostring(why1):find("paynet.Call expected", 1, true), why1)
    assert.is_false(ok2)
    -- its user value (the client) replaced by another userdata
    local other = assert(c:start { user_gsm = H.gsm(), otp_session_id = "uv" })
    debug.setuservalue(other, io.stdout, 1)
    local ok3, why3 = pcall(other.step, other)
    assert.is_false(ok3)
    assert.truthy(tostring(why3):find("call of a closed paynet.Client", 1, true), why3)
    other:close()
    while call:pending() do cqueues.poll(call); call:step() end
  end)

  it("closing the client ends its calls: step raises, pending is false, close is safe", function()
    local c = client(sandbox.url, { unknown_hold = 60 })
    local before = sandbox:arrivals("03")
    local call = assert(c:start { user_gsm = SILENT, otp_session_id = "closed" })
    H.wait_until(function()
      call:step()
      return sandbox:arrivals("03") > before
    end, 5 * H.slow, "the request to reach the sandbox")
    c:close()
    assert.is_false(call:pending())
    assert.has_error(function() call:step() end, "attempt to use a call of a closed paynet.Client")
    assert.is_nil(call:timeout())
    call:close()
    assert.has_error(function() c:start { user_gsm = H.gsm(), otp_session_id = "s" } end,
      "attempt to use a closed paynet.Client")
  end)
end)

describe("the README's luv example", function()
  local sandbox = H.shared()

  local function example()
    local readme = H.read("README.md")
    return assert(readme:match("<!%-%- readme%-example: luv %-%->\n```lua\n(.-)```"))
  end

  it("sends while the loop's ticker keeps running", function()
    local before = sandbox:arrivals("15")
    local t0 = H.now()
    local out, code = H.lua_script(example(), "PAYNET_BASE_URL=" .. H.quote(sandbox.url))
    local elapsed = H.now() - t0
    assert.are.equal(0, code, out)
    local ticks = select(2, out:gsub("tick\n", ""))
    assert.is_true(ticks >= 2, out)
    assert.truthy(out:match("\nsent, valid until %d%d%d%d%-%d%d%-%d%dT[%d:.]+%+03:00\n$"), out)
    assert.is_true(elapsed >= 2.9, elapsed)
    assert.are.equal(before + 1, sandbox:arrivals("15"))
  end)

  it("reports an error from the loop", function()
    local dir = H.tmpdir()
    local before = sandbox:arrivals("01")
    H.write(dir .. "/luv.lua", example())
    local out = H.capture(("PAYNET_BASE_URL=%s LUA_CPATH=%s %s %s 5000000101 2>&1"):format(
      H.quote(sandbox.url), H.quote("./" .. H.build .. "/?.so;;"), H.lua, H.quote(dir .. "/luv.lua")))
    os.execute("rm -rf " .. H.quote(dir))
    assert.truthy(out:find("paynet api: ", 1, true), out)
    assert.truthy(out:find("(refused by Paynet; code 8 servererror; HTTP 500)", 1, true), out)
    assert.are.equal(before + 1, sandbox:arrivals("01"))
  end)
end)
