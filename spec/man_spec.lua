-- The manual pages: they render cleanly, and every option a program's
-- --help names is in its page.
local H = require "spec.helper"

local programs = {
  ["paynet-tui"] = H.tui_bin .. " --help",
  ["paynet-sandbox"] = H.sandbox_bin .. " --help",
  ["paynet-otp"] = "env LUA_CPATH='./" .. H.build .. "/?.so;;' " .. H.lua .. " bin/paynet-otp --help",
}

describe("manual pages", function()
  for name, help_command in pairs(programs) do
    local page = "man/" .. name .. ".1"

    it(name .. "(1) renders with man -l, without warnings", function()
      local out, code = H.capture("MANWIDTH=80 man --warnings -l " .. page .. " 2>&1 >/dev/null")
      assert.are.equal(0, code)
      assert.are.equal("", out)
      local text = H.capture("MANWIDTH=80 man -l " .. page .. " 2>/dev/null", true)
      assert.truthy(text:find("NAME", 1, true))
      assert.truthy(text:find(name, 1, true))
      for line in text:gmatch("[^\n]+") do
        assert.is_true(utf8.len(line) <= 80, "a line wider than the terminal: " .. line)
      end
    end)

    it(name .. "(1) documents every option of " .. name .. " --help", function()
      local help = H.capture(help_command)
      local text = H.capture("MANWIDTH=200 man -l " .. page .. " 2>/dev/null", true):gsub("\u{2010}", "-")
      local options = 0
      for option in help:gmatch("%-%-[%a][%w-]*") do
        options = options + 1
        assert.truthy(text:find(option, 1, true), option .. " is missing from " .. page)
      end
      assert.is_true(options >= 5)
    end)
  end
end)
