-- make check's own count: tools/check.sh takes busted's totals from
-- busted's tally (tools/busted_counts.lua), so that a failing spec whose
-- message quotes a summary line cannot pass for a green run.
local H = require "spec.helper"

describe("make check's closing line", function()
  it("counts a failing spec that prints and quotes a busted summary as failed", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    H.write(dir .. "/quoting_spec.lua", [[
      describe("a spec that lies", function()
        it("passes", function() end)
        it("fails, quoting a summary", function()
          print("\n12 successes / 0 failures / 0 errors / 0 pending : 0.1 seconds")
          error("\n99 successes / 0 failures / 0 errors / 0 pending : 0.1 seconds\n")
        end)
      end)
    ]])
    local out, code = H.capture(("PAYNET_SPECS=%s sh tools/check.sh --specs-only 2>&1"):format(
      H.quote(dir .. "/quoting_spec.lua")))
    assert.are.equal(1, code, out)
    assert.truthy(out:find("\nbusted specs: 1 passed, 1 failed\n", 1, true), out)
    -- and the secret scan (no key in that output) is the other pass
    assert.are.equal("2 passed, 1 failed", out:match("([^\n]*)\n$"), out)
  end)
end)
