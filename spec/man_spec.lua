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

-- Section 3: the C API, one page per function group.
local function exported_functions()
  local names = {}
  for line in H.read("core/paynet.h"):gmatch("[^\n]+") do
    if line:find("^PAYNET_EXPORT") then
      names[#names + 1] = assert(line:match("%*?(paynet_[%w_]+)%("), line)
    end
  end
  return names
end

local function section3_pages()
  local pages = {}
  for page in H.capture("ls man/*.3"):gmatch("[^\n]+") do pages[#pages + 1] = page end
  return pages
end

-- the functions a page's NAME section lists
local function named(page)
  local name = H.read(page):match("\n%.SH NAME\n(.-)\\%-")
  local list = {}
  for f in name:gmatch("[%w_]+") do list[#list + 1] = f end
  return list
end

describe("section 3 manual pages", function()
  it("there is one per function group, and each renders with man -l, without warnings", function()
    local pages = section3_pages()
    assert.are.equal(7, #pages)
    for _, page in ipairs(pages) do
      local out, code = H.capture("MANWIDTH=80 man --warnings -l " .. page .. " 2>&1 >/dev/null")
      assert.are.equal(0, code, page)
      assert.are.equal("", out, page)
      local text = H.capture("MANWIDTH=80 man -l " .. page .. " 2>/dev/null", true)
      for _, section in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "SEE ALSO" } do
        if section ~= "RETURN VALUE" or not page:find("gettext") then
          assert.truthy(text:find("\n" .. section .. "\n", 1, true), page .. " has no " .. section)
        end
      end
      assert.truthy(text:find("#include <paynet.h>", 1, true), page)
      for line in text:gmatch("[^\n]+") do
        assert.is_true(utf8.len(line) <= 80, page .. ": a line wider than the terminal: " .. line)
      end
    end
  end)

  it("name every function paynet.h exports exactly once, each in its page's synopsis", function()
    local where = {}
    for _, page in ipairs(section3_pages()) do
      local synopsis = H.read(page):match("\n%.SH SYNOPSIS\n(.-)\n%.SH ")
      for _, f in ipairs(named(page)) do
        assert.is_nil(where[f], f .. " is named in " .. tostring(where[f]) .. " and " .. page)
        where[f] = page
        assert.truthy(synopsis:find(f .. "(", 1, true), f .. " is not in the synopsis of " .. page)
      end
    end
    local exported = exported_functions()
    assert.is_true(#exported >= 40, #exported)
    for _, f in ipairs(exported) do
      assert.truthy(where[f], f .. " has no manual page")
      where[f] = nil
    end
    assert.are.same({}, where) -- and no page names a function that is not exported
  end)
end)

describe("make doc", function()
  it("builds the Lua API reference with LDoc, without a warning, naming every function and method", function()
    local out, code = H.capture(("make -s doc BUILD=%s 2>&1"):format(H.build))
    assert.are.equal(0, code, out)
    assert.is_nil(out:lower():find("warn"), out)
    local html = assert(H.read(H.build .. "/doc/index.html"), "no index.html")
    -- every function the module registers is documented
    local source = H.read("lua/lpaynet.c")
    local module = source:match("module_functions%[%] = {(.-)}, *\n?};") or
      source:match("module_functions%[%] = {(.-)NULL")
    local methods = source:match("client_methods%[%] = {(.-)NULL")
    local call_methods = source:match("call_methods%[%] = {(.-)NULL")
    local count = 0
    for name in module:gmatch('{"([%w_]+)"') do
      assert.truthy(html:find('<a name = "' .. name .. '">', 1, true), "paynet." .. name .. " is not documented")
      count = count + 1
    end
    for name in methods:gmatch('{"([%w_]+)"') do
      assert.truthy(html:find('<a name = "Client:' .. name .. '">', 1, true), "Client:" .. name .. " is not documented")
      count = count + 1
    end
    for name in call_methods:gmatch('{"([%w_]+)"') do
      assert.truthy(html:find('<a name = "Call:' .. name .. '">', 1, true), "Call:" .. name .. " is not documented")
      count = count + 1
    end
    assert.are.equal(26, count) -- 11 functions, 8 client methods, 7 call methods
  end)
end)

describe("paynet_send_start(3)'s example", function()
  it("compiles as printed and sends, ending at its first final status", function()
    local text = H.capture("MANWIDTH=200 man -l man/paynet_send_start.3 2>/dev/null", true)
    local example = assert(text:match("\nEXAMPLE\n(.-)\nSEE ALSO\n"))
    local dir = H.tmpdir()
    -- the example's own includes, then the test's main (printf)
    H.write(dir .. "/example.c", "#include <stdio.h>\n" ..
      ("\n" .. example):gsub("\n       ", "\n") .. [[

int main(int argc, char **argv)
{
    paynet_config config;
    paynet_client *c;
    paynet_result res;
    paynet_error err;
    paynet_config_init(&config);
    config.secret_key = "sck_sandbox";
    config.base_url = argv[1];
    if (argc != 3 || paynet_client_new(&config, &c, &err) != PAYNET_OK)
        return 2;
    paynet_status s = send_one(c, argv[2], "man-example", &res, &err);
    printf("%s %d %s\n", paynet_status_name(s), res.code, res.user_gsm);
    s = send_one(c, "5000000101", "man-example", &res, &err);
    printf("%s %d %s\n", paynet_status_name(s), err.code, paynet_delivered_name(err.delivered));
    s = send_one(c, "123", "man-example", &res, &err);
    printf("%s\n", paynet_status_name(s));
    paynet_client_free(c);
    return 0;
}
]])
    local out, code = H.capture(("cc %s -Icore -o %s %s %s/libpaynet.a " ..
      "$(pkg-config --libs libcurl libcjson sqlite3 hiredis libcrypto) -lpthread -lm 2>&1"):format(
      os.getenv("PAYNET_CFLAGS") or "", H.quote(dir .. "/example"), H.quote(dir .. "/example.c"), H.build))
    assert.are.equal(0, code, out)
    local gsm = H.gsm()
    out = H.capture(("%s %s %s 2>&1"):format(H.quote(dir .. "/example"), H.shared().url, gsm))
    os.execute("rm -rf " .. H.quote(dir))
    assert.are.equal("ok 0 " .. gsm .. "\napi 8 yes\ninvalid\n", out)
  end)
end)
