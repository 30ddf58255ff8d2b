-- The README's Lua example runs as printed against build/paynet-sandbox.
local H = require "spec.helper"

describe("README example", function()
  local readme = H.read("README.md")
  local example = readme:match("<!%-%- readme%-example %-%->\n```lua\n(.-)```")

  it("is in the README", function()
    assert.truthy(example)
    assert.truthy(example:find('base_url = "http://127.0.0.1:8080"', 1, true))
  end)

  it("prints what the README says it prints, and the server's refusal on a rerun", function()
    local sandbox = H.start_sandbox()
    H.defer(finally, function() sandbox:remove() end)
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    -- the one change: the sandbox's port is not 8080 here
    local script = example:gsub("http://127%.0%.0%.1:8080", sandbox.url)
    H.write(dir .. "/send.lua", script)
    local command = "env -u PAYNET_SECRET_KEY LUA_CPATH='" .. H.build .. "/?.so;;' " .. H.lua .. " " ..
                    H.quote(dir .. "/send.lua") .. " 2>&1"
    local out, code = H.capture(command)
    assert.are.equal(0, code, out)
    local first, second = out:match("^([^\n]*)\n([^\n]*)\n$")
    assert.truthy(first and first:match(
      "^OTP sent to 5321234567: Başarılı İşlem, valid 180 s, until " ..
      "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+%+03:00$"), out)
    assert.are.equal("nil\tcooldown\t180 s left", second)

    out = H.capture(command)
    assert.truthy(out:match("^paynet api: OTP zaten gönderildi; [^\n]*%(refused by Paynet: an earlier code is " ..
                            "still valid; code 5 duplicatedata; HTTP 200; retry after 180 s%)\n"), out)
  end)

  it("the ledger example: a second process is refused, naming the first", function()
    local ledger_example = readme:match("<!%-%- readme%-ledger%-example %-%->\n```lua\n(.-)```")
    assert.truthy(ledger_example)
    local sandbox = H.start_sandbox()
    local dir = H.tmpdir()
    H.defer(finally, function() sandbox:remove(); os.execute("rm -rf " .. H.quote(dir)) end)
    local script = ledger_example:gsub("http://127%.0%.0%.1:8080", sandbox.url)
                                 :gsub("/tmp/paynet%-ledger%.db", dir .. "/ledger.db")
    H.write(dir .. "/ledger.lua", script)
    local command = "env -u PAYNET_LEDGER USER=ayse LUA_CPATH='" .. H.build .. "/?.so;;' " .. H.lua ..
                    " " .. H.quote(dir .. "/ledger.lua") .. " %s 2>&1"
    assert.are.equal("sent\n", (H.capture(command:format("order-1"))))
    local out = H.capture(command:format("order-2"))
    assert.truthy(out:match("^532%*%*%*%*%*43 is held: sent 0:0%d ago by ayse@%S+ %(session order%-1%); " ..
                            "valid [23]:%d%d more\n$"), out)
    assert.are.equal(1, sandbox:requests_settled(1))
  end)
end)

describe("README layout", function()
  it("names every file of the tree", function()
    local layout = H.read("README.md"):match("\n## Layout\n\n```\n(.-)```")
    assert.truthy(layout, "the README has a Layout section")
    local files = H.capture("find core lua tui sandbox bin test spec po rockspec man bench fuzz tools " ..
                            "-path fuzz/corpus -prune -o -type f -print", true)
    local count = 0
    for path in files:gmatch("[^\n]+") do
      count = count + 1
      local dir, name = path:match("^([^/]+)/(.+)$")
      -- a file is named by its name, or by its stem in "a.c/.h" pairs
      local named = layout:find(name, 1, true) or
                    layout:find(name:gsub("%.h$", "") .. ".c/.h", 1, true) or
                    (name:match("_spec%.lua$") and layout:find(name:gsub("_spec%.lua$", ""), 1, true))
      assert.truthy(named, path .. " is not in the README's layout")
      assert.truthy(layout:find("\n" .. dir .. "/", 1, true) or layout:find("^" .. dir .. "/"), dir)
    end
    assert.is_true(count > 60, count)
  end)
end)
