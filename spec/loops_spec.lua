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

  it("a cancel from another coroutine: the sender gets the cancel's outcome, at once", function()
    local cq = cqueues.new()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local got, cancelled, returned_at
    local t0 = H.now()
    local function arrived() return sandbox:arrivals("03") end
    local before = arrived()
    cq:wrap(function()
      got = { c:send_otp { user_gsm = SILENT, otp_session_id = "cancel-me" } }
      returned_at = H.now() - t0
    end)
    cq:wrap(function()
      while arrived() == before do cqueues.sleep(0.05) end
      cancelled = c:cancel()
    end)
    assert(cq:loop())
    assert.are.equal("cancelled", cancelled.kind)
    assert.is_nil(got[1])
    assert.are.equal("cancelled", got[2].kind)
    assert.are.equal("unknown", got[2].delivered)
    assert.is_true(got[2].may_have_sent)
    assert.is_true(returned_at < 2 * H.slow, returned_at)
    local left = c:remaining(SILENT)
    assert.is_true(left > 55 and left <= 60, left)
    assert.are.equal(before + 1, arrived())
  end)

  it("coroutine.close on a waiting sender cancels its send: the client is free, the number held", function()
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
    assert.is_true(c:pending())
    assert(coroutine.close(sender))
    assert.is_false(c:pending())
    local left = c:remaining(SILENT)
    assert.is_true(left > 55 and left <= 60, left)
    local holder = c:holder(SILENT)
    assert.are.equal("uncertain", holder.state)
    assert.are.equal(before + 1, arrived())
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

  it("a waiting cqueues send whose self is replaced (debug.setlocal): an error, the send cancelled, no crash", function()
    local before = sandbox:arrivals("15")
    for _, impostor in ipairs { "not a client", io.stdout, false } do
      local c <close> = client(sandbox.url)
      local other <close> = client(sandbox.url)
      local cq = cqueues.new()
      local sender, ok, why
      cq:wrap(function()
        sender = coroutine.running()
        ok, why = pcall(c.send_otp, c, { user_gsm = SLOW, otp_session_id = "swap" })
      end)
      cq:wrap(function()
        cqueues.sleep(0.3)
        local replaced = false
        for level = 0, 20 do
          local info = debug.getinfo(sender, level, "f")
          if not info then break end
          if info.func == c.send_otp then
            -- another live client too: its send is not this one's
            debug.setlocal(sender, level, 1, impostor or other)
            replaced = true
            break
          end
        end
        assert(replaced, "no send_otp frame found")
      end)
      assert(cq:loop())
      assert.is_false(ok)
      local expected = impostor and "the client was replaced during the send"
        or "the send was ended by another caller of this client"
      assert.truthy(tostring(why):find(expected, 1, true), why)
      -- the guard kept the real client and ended its send: nothing waits
      assert.is_false(c:pending())
      assert.is_false(other:pending())
    end
    assert.are.equal(before + 3, sandbox:arrivals("15")) -- one request a round, none again
  end)

  it("self replaced while the arguments are read, under cqueues: the guard ends the send that started", function()
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
    assert.is_true(b:pending())  -- the send started on the client that was there
    assert.is_false(a:pending())
    local deadline = H.now() + 5
    while sandbox:arrivals("15") == before and H.now() < deadline do
      b:step()
      H.sleep(0.02)
    end
    assert.are.equal(before + 1, sandbox:arrivals("15"))
    a, holder[1] = nil, nil
    collectgarbage()
    collectgarbage()
    assert.is_true(coroutine.close(co))
    assert.is_false(b:pending()) -- closing the coroutine cancelled it
    H.sleep(0.2)
    assert.are.equal(before + 1, sandbox:arrivals("15")) -- and nothing was sent again
  end)

  it("a cqueues send that ends in an error cancels its send, though the coroutine is not closed", function()
    local a <close> = client(sandbox.url)
    local before = sandbox:arrivals("03")
    local real = package.loaded.cqueues
    package.loaded.cqueues = { running = function() return true, true end,
                               poll = function() coroutine.yield("polled") end }
    local co = coroutine.create(function() return a:send_otp { user_gsm = SILENT, otp_session_id = "err" } end)
    local resumed, polled = coroutine.resume(co)
    package.loaded.cqueues = real
    assert.is_true(resumed, polled)
    assert.is_true(a:pending())
    local deadline = H.now() + 5
    while sandbox:arrivals("03") == before and H.now() < deadline do
      a:step()
      H.sleep(0.02)
    end
    assert.are.equal(before + 1, sandbox:arrivals("03"))
    local level
    for l = 0, 20 do
      local info = debug.getinfo(co, l, "f")
      if not info then break end
      if info.func == a.send_otp then level = l break end
    end
    assert.is_number(level)
    debug.setlocal(co, level, 1, false)
    local ok, why = coroutine.resume(co)
    assert.is_false(ok)
    assert.truthy(tostring(why):find("the client was replaced during the send", 1, true), why)
    assert.are.equal("dead", coroutine.status(co))
    assert.is_false(a:pending()) -- no coroutine.close needed
    H.sleep(0.2)
    assert.are.equal(before + 1, sandbox:arrivals("03")) -- the one request, none again
  end)

  it("a value given the client's metatable is not a client: an error, no crash", function()
    local c <close> = client(sandbox.url)
    local file_meta = debug.getmetatable(io.stdout)
    debug.setmetatable(io.stdout, debug.getmetatable(c))
    local ok, why = pcall(c.url, io.stdout)
    local ok2, why2 = pcall(c.pending, io.stdout)
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

describe("the pollable client", function()
  local sandbox = H.shared()

  it("start, pollfd, events, timeout and step carry one send to its result", function()
    local c <close> = client(sandbox.url)
    local fd = c:pollfd()
    assert.are.equal("number", math.type(fd) and "number")
    assert.is_true(fd > 2)
    assert.are.equal("r", c:events())
    assert.is_false(c:pending())
    assert.is_nil(c:timeout())
    local gsm = H.gsm()
    local answered = sandbox:requests_now()
    assert.is_true(c:start { user_gsm = gsm, otp_session_id = "poll" })
    assert.is_true(c:pending())
    assert.are.equal(fd, c:pollfd())
    local steps, res, err = 0, nil, nil
    while c:pending() do
      -- wait with cqueues' poll, outside a controller: pollfd/timeout only
      cqueues.poll(c)
      res, err = c:step()
      steps = steps + 1
    end
    assert.is_nil(err)
    assert.are.equal(0, res.code)
    assert.are.equal(gsm, res.user_gsm)
    assert.is_true(steps >= 2, steps)
    assert.is_nil(c:timeout())
    -- and the ledger holds it, as after a blocking send
    local _, why = c:send_otp { user_gsm = gsm, otp_session_id = "again" }
    assert.are.equal("cooldown", why.kind)
    assert.are.equal(answered + 1, sandbox:requests_now()) -- the send; the resend never left
  end)

  it("refuses a second start while one is in flight, and step with none", function()
    local c <close> = client(sandbox.url)
    local before, answered = sandbox:arrivals("03"), sandbox:requests_now()
    assert.is_true(c:start { user_gsm = SILENT, otp_session_id = "s" })
    local none, err = c:start { user_gsm = H.gsm(), otp_session_id = "s" }
    assert.is_nil(none)
    assert.are.equal("busy", err.kind)
    local _, busy = c:send_otp { user_gsm = H.gsm(), otp_session_id = "s" }
    assert.are.equal("busy", busy.kind)
    local cancelled = c:cancel()
    assert.are.equal("cancelled", cancelled.kind)
    assert.is_false(c:pending())
    assert.is_nil(c:cancel())
    assert.has_error(function() c:step() end, "step: no send is in flight on this client")
    -- the busy ones sent nothing; the cancelled one at most its one request
    assert.are.equal(answered, sandbox:requests_now())
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
    assert.is_false(c:pending())
    assert.has_error(function() c:start { user_gsm = 5321234567, otp_session_id = "s" } end)
    assert.are.equal(answered, sandbox:requests_now())
  end)

  it("cancel after the request left says an OTP may have gone out, and holds the number", function()
    local c <close> = client(sandbox.url, { unknown_hold = 60 })
    local function arrived() return sandbox:arrivals("03") end
    local before = arrived()
    assert.is_true(c:start { user_gsm = SILENT, otp_session_id = "s" })
    -- step until the body has gone to the sandbox (its log shows the fault)
    H.wait_until(function()
      c:step()
      return arrived() > before
    end, 5 * H.slow, "the request to reach the sandbox")
    assert.is_true(c:pending())
    local cancelled = c:cancel()
    assert.are.equal("cancelled", cancelled.kind)
    assert.are.equal("unknown", cancelled.delivered)
    assert.is_true(cancelled.may_have_sent)
    local left = c:remaining(SILENT)
    assert.is_true(left > 59 and left <= 60, left)
    assert.are.equal(before + 1, arrived())
  end)

  it("a closed client refuses the pollable calls", function()
    local c = client(sandbox.url)
    c:close()
    for _, name in ipairs { "pollfd", "events", "timeout", "pending", "step", "cancel" } do
      assert.has_error(function() c[name](c) end, "attempt to use a closed paynet.Client")
    end
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
