-- The secret key never appears in anything paynet prints: one canary key
-- through the module, the sandbox and the operator screen, every surface
-- gathered and searched.  (tools/check.sh also searches the output of the
-- whole suite for every key the specs use.)
local paynet = require "paynet"
local H = require "spec.helper"

local CANARY = "sck_CANARY_c4n4ry_7f3a9"
local WRONG = "sck_WRONG_CANARY_0b1d"

describe("the secret key", function()
  it("appears in no output of the module, the sandbox or the screen", function()
    local seen = {}
    local function keep(text) seen[#seen + 1] = tostring(text) end

    local sandbox = H.start_sandbox { secret_key = CANARY }
    local tui, wrong_tui, dir
    H.defer(finally, function()
      if tui then tui:stop() end
      if wrong_tui then wrong_tui:stop() end
      sandbox:remove()
      if dir then os.execute("rm -rf " .. H.quote(dir)) end
    end)

    -- the module: every outcome, with the right key and a wrong one
    local numbers = { H.gsm(), "5000000007", "5000000101", "5000000102", "5000000104",
                      "5000000105", "5000000106", "5000000109", "5000000113", "5000000118",
                      "12", "532\r\n1234567" }
    for _, key in ipairs { CANARY, WRONG } do
      local c = paynet.new { secret_key = key, base_url = sandbox.url, timeout = 3 }
      keep(c)
      for _, n in ipairs(numbers) do
        local res, err = c:send_otp { user_gsm = n, otp_session_id = H.session() }
        if res then
          for k, v in pairs(res) do keep(k .. "=" .. tostring(v)) end
        else
          keep(err)
          for k, v in pairs(err) do keep(k .. "=" .. tostring(v)) end
        end
      end
      local _, err = c:send_otp { user_gsm = numbers[1], otp_session_id = H.session() }
      keep(err)
      c:close()
      keep(c)
    end
    for _, bad in ipairs { { secret_key = CANARY .. "\n" }, { secret_key = CANARY, env = "x" },
                           { secret_key = CANARY, timeout = -1 } } do
      keep(select(2, pcall(paynet.new, bad)))
    end
    local _, refused = paynet.new { secret_key = CANARY,
      base_url = "http://127.0.0.1:" .. H.closed_port() }:send_otp { user_gsm = H.gsm(), otp_session_id = "x" }
    keep(refused)

    -- the screen, with the right key and a wrong one, and its audit log
    dir = H.tmpdir()
    local audit = dir .. "/audit.jsonl"
    tui = H.start_tui { args = { "--base-url", sandbox.url, "--audit-log", audit },
                        env = { PAYNET_SECRET_KEY = CANARY } }
    tui:wait_for("F10 Quit")
    for _, n in ipairs { H.gsm(), "5000000118", "5000000102" } do
      tui:keys("C-u"); tui:type(n); tui:keys("Tab", "C-u"); tui:type(H.session()); tui:keys("BTab", "Enter")
      -- the send's line in the history: its outcome is on the screen
      tui:wait_for("  " .. n:sub(1, 3) .. "*****" .. n:sub(9) .. "  ")
      keep(tui:screen()); keep(tui:screen(true))
    end
    local key_file = dir .. "/key"
    H.write(key_file, WRONG .. "\n")
    os.execute("chmod 600 " .. H.quote(key_file))
    wrong_tui = H.start_tui { args = { "--base-url", sandbox.url, "--secret-key-file", key_file },
                              env = { PAYNET_SECRET_KEY = false } }
    wrong_tui.secret = WRONG
    wrong_tui:wait_for("F10 Quit")
    wrong_tui:type(H.gsm()); wrong_tui:keys("Tab", "F2", "Enter")
    wrong_tui:wait_for("Check the secret key")
    keep(wrong_tui:screen()); keep(wrong_tui:screen(true))
    tui:keys("F10")
    tui:wait_for("EXIT:0")
    keep(tui:screen())
    keep(H.read(audit))
    os.execute("chmod 644 " .. H.quote(key_file))
    keep(H.capture(H.tui_bin .. " --secret-key-file " .. H.quote(key_file) .. " 2>&1"))
    keep(H.capture("PAYNET_SECRET_KEY=" .. CANARY .. " " .. H.tui_bin .. " --env nope 2>&1"))

    -- the sandbox: its stdout and its log, after it stops
    sandbox:stop()
    keep(sandbox.stdout)
    keep(sandbox:log())

    local everything = table.concat(seen, "\n")
    assert.is_true(#everything > 2000, "enough output was gathered")
    assert.truthy(everything:find("kabul edilmedi: Basic ", 1, true), "fault 118 echoed the header")
    assert.falsy(everything:find(CANARY, 1, true), "the canary key leaked")
    assert.falsy(everything:find(WRONG, 1, true), "the wrong key leaked")
    -- and not a long piece of it either
    assert.falsy(everything:find(CANARY:sub(5, 16), 1, true), "part of the canary key leaked")
  end)
end)
