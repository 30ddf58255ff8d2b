-- Installing: luarocks make (offline, into a tree) and make install.
local H = require "spec.helper"

describe("installing", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. H.quote(dir)) end)

  -- a copy of what a release tarball holds, so that the checkout keeps no
  -- objects of luarocks'
  local function source_copy(where)
    assert(os.execute(("mkdir -p %s && cp -r core lua bin rockspec po Makefile README.md LICENSE %s/"):format(
      H.quote(where), H.quote(where))))
  end

  it("both rockspecs pass luarocks lint and name a git+https source", function()
    for _, spec in ipairs { "rockspec/paynet-0.2.0-1.rockspec", "rockspec/paynet-scm-1.rockspec" } do
      local out, code = H.capture("luarocks --lua-version=5.4 lint " .. spec .. " 2>&1")
      assert.are.equal(0, code, out)
      assert.are.equal("", out)
      local text = H.read(spec)
      assert.truthy(text:find('\n   url = "git%+https://'), spec)
      assert.truthy(text:find('\n   license = "MIT",'), spec)
      for _, dep in ipairs { "CJSON", "SQLITE", "HIREDIS" } do
        assert.truthy(text:find("\n   " .. dep .. ' = { header = "[^"]+", library = "[^"]+" },'), dep)
      end
      -- curl/curl.h is under include/<multiarch>/ on Debian and Ubuntu,
      -- which luarocks' header check does not search: library only
      assert.truthy(text:find('\n   CURL = { library = "curl" },', 1, true), spec)
    end
    assert.truthy(H.read("rockspec/paynet-0.2.0-1.rockspec"):find('\n   tag = "v0.2.0",\n', 1, true))
    assert.truthy(H.read("LICENSE"):find("^MIT License"))
  end)

  it("luarocks make installs the module, paynet-otp and the catalogue into a fresh tree, nothing else", function()
    local src = dir .. "/src"
    source_copy(src)
    -- as the README writes it: no CURL_INCDIR or any other variable
    local out, code = H.capture(("cd %s && env -u CURL_INCDIR -u CURL_DIR luarocks --lua-version=5.4 " ..
      "make --tree=%s rockspec/paynet-0.2.0-1.rockspec 2>&1"):format(H.quote(src), H.quote(dir .. "/tree")))
    assert.are.equal(0, code, out)
    local files = H.capture(("cd %s && find . -type f | sed 's|^\\./||' | sort"):format(H.quote(dir .. "/tree")))
    assert.are.equal(table.concat({
      "bin/paynet-otp",
      "lib/lua/5.4/paynet.so",
      "lib/lua/5.4/paynet/locale/tr/LC_MESSAGES/paynet.mo",
      "lib/luarocks/rocks-5.4/manifest",
      "lib/luarocks/rocks-5.4/paynet/0.2.0-1/bin/paynet-otp",
      "lib/luarocks/rocks-5.4/paynet/0.2.0-1/doc/LICENSE",
      "lib/luarocks/rocks-5.4/paynet/0.2.0-1/doc/README.md",
      "lib/luarocks/rocks-5.4/paynet/0.2.0-1/paynet-0.2.0-1.rockspec",
      "lib/luarocks/rocks-5.4/paynet/0.2.0-1/rock_manifest",
    }, "\n") .. "\n", files)

    local script = dir .. "/use.lua"
    H.write(script, [[
      package.cpath = arg[1] .. "/lib/lua/5.4/?.so"
      local paynet = require "paynet"
      local client = paynet.new { secret_key = "sck_sandbox", base_url = arg[2] }
      local res = assert(client:send_otp { user_gsm = arg[3], otp_session_id = "installed" })
      print(paynet._VERSION, res.code, package.searchpath("paynet", package.cpath))
      paynet.use_locale()
      print(select(2, paynet.normalize_gsm("0532")).message)
    ]])
    local run = H.capture(("cd / && env -u LC_ALL -u LANGUAGE LANG=tr_TR.UTF-8 lua5.4 %s %s %s %s 2>&1"):format(
      H.quote(script), H.quote(dir .. "/tree"), H.quote(H.shared().url), H.gsm()))
    -- the Turkish catalogue came from the tree (paynet/locale beside the module)
    assert.are.equal("paynet 0.2.0\t0\t" .. dir .. "/tree/lib/lua/5.4/paynet.so\n" ..
      "telefon numarasında 7 rakam eksik (ön ekten sonra 10 rakam: 5XXXXXXXXX)\n", run)

    -- the rock installs paynet-otp too, wrapped to find its module
    local version = H.capture(("cd / && %s/tree/bin/paynet-otp --version 2>&1"):format(H.quote(dir)))
    assert.are.equal("paynet-otp 0.2.0\n", version)
    -- and its --json finds lua-cjson (Debian's, outside the tree)
    local json = H.capture(("cd / && %s/tree/bin/paynet-otp holds --json --ledger memory 2>&1"):format(H.quote(dir)))
    assert.are.equal('{"ledger":"memory","holds":[]}\n', json)
  end)

  it("luarocks make with no --tree installs into the default tree, with no variable", function()
    local src = dir .. "/src-plain"
    source_copy(src)
    -- luarocks' default tree, moved into the spec's folder by its config
    local config = dir .. "/default-tree.lua"
    H.write(config, ('rocks_trees = { { name = "system", root = %q } }\n'):format(dir .. "/tree-plain"))
    local out, code = H.capture(("cd %s && env -u CURL_INCDIR -u CURL_DIR LUAROCKS_CONFIG=%s " ..
      "luarocks --lua-version=5.4 make rockspec/paynet-0.2.0-1.rockspec 2>&1"):format(H.quote(src),
      H.quote(config)))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("paynet 0.2.0-1 is now installed in " .. dir .. "/tree-plain", 1, true), out)
    local loaded = H.capture(("cd / && lua5.4 -e %s 2>&1"):format(H.quote(
      ('package.cpath = %q; print(require("paynet")._VERSION)'):format(dir .. "/tree-plain/lib/lua/5.4/?.so"))))
    assert.are.equal("paynet 0.2.0\n", loaded)
  end)

  it("luarocks test resolves busted as a test dependency and runs the specs with busted from PATH #rock",
    function()
      local src = dir .. "/src-test"
      -- everything, with its times, and the native build: nothing to rebuild
      assert(os.execute(("mkdir -p %s %s && cp -rp core lua bin rockspec po Makefile README.md LICENSE " ..
        "spec tools test sandbox tui man bench fuzz build %s/"):format(H.quote(src), H.quote(dir .. "/bin"),
        H.quote(src))))
      -- Debian's lua-busted is no rock: the machine's luarocks is told so
      local version = H.capture("dpkg-query -W -f='${Version}' lua-busted")
      H.write(dir .. "/luarocks-config.lua", ('rocks_provided = { busted = "%s" }\n'):format(version))
      -- a PATH whose busted (a Lua script, as Debian's) says it ran, then
      -- runs Debian's
      H.write(dir .. "/bin/busted", "#!/usr/bin/env lua\nio.stderr:write('busted from PATH\\n')\n" ..
        "dofile('/usr/bin/busted')\n")
      os.execute("chmod +x " .. H.quote(dir .. "/bin/busted"))
      local out, code = H.capture(("cd %s && env -u PAYNET_BUILD -u PAYNET_LUA -u PAYNET_SPEC_TMP " ..
        "-u PAYNET_SANDBOX_URL -u PAYNET_SANDBOX_LOG PATH=%s:$PATH LUAROCKS_CONFIG=%s " ..
        "SPECS=spec/module_spec.lua luarocks --lua-version=5.4 test rockspec/paynet-0.2.0-1.rockspec 2>&1"):format(
        H.quote(src), H.quote(dir .. "/bin"), H.quote(dir .. "/luarocks-config.lua")))
      assert.are.equal(0, code, out)
      assert.truthy(out:find("busted from PATH", 1, true), out)
      assert.truthy(out:find("paynet 0.2.0-1 depends on busted >= 2.0 (" .. version .. " provided by VM)", 1, true),
        out)
      local passed = out:match("\n(%d+) passed, 0 failed\n")
      assert.truthy(passed and tonumber(passed) > 20, out)
    end)

  it("make install honours PREFIX and DESTDIR, and make uninstall takes it all back", function()
    local root = dir .. "/root"
    local out, code = H.capture(("make -s install BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(
      H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    local expected = {
      "/opt/pn/bin/paynet-otp", "/opt/pn/bin/paynet-sandbox", "/opt/pn/bin/paynet-tui",
      "/opt/pn/include/paynet.h", "/opt/pn/lib/libpaynet.a", "/opt/pn/lib/libpaynet.so.0.2.0",
      "/opt/pn/lib/lua/5.4/paynet.so",
      "/opt/pn/lib/pkgconfig/paynet.pc", "/opt/pn/share/locale/tr/LC_MESSAGES/paynet.mo",
      "/opt/pn/share/man/man1/paynet-otp.1",
      "/opt/pn/share/man/man1/paynet-sandbox.1", "/opt/pn/share/man/man1/paynet-tui.1",
    }
    -- section 3: each page, and a page that sources it for each other
    -- function its NAME section lists (man paynet_send_step)
    local aliases = 0
    for page in H.capture("ls man/*.3"):gmatch("[^\n]+") do
      local base = page:match("[^/]+$")
      expected[#expected + 1] = "/opt/pn/share/man/man3/" .. base
      for f in H.read(page):match("\n%.SH NAME\n(.-)\\%-"):gmatch("[%w_]+") do
        if f .. ".3" ~= base then
          expected[#expected + 1] = "/opt/pn/share/man/man3/" .. f .. ".3"
          assert.are.equal(".so man3/" .. base .. "\n", H.read(root .. "/opt/pn/share/man/man3/" .. f .. ".3"))
          aliases = aliases + 1
        end
      end
    end
    assert.are.equal(42, aliases) -- paynet_verdict, paynet_outcome_name, paynet_outcome_holds,
    -- paynet_holder_stale: 4 of them
    table.sort(expected)
    local tree = H.capture(("cd %s && find . -type f | sed 's|^\\.||' | LC_ALL=C sort"):format(H.quote(root)))
    assert.are.equal(table.concat(expected, "\n") .. "\n", tree)
    -- man finds a function's page by its name
    local page = H.capture(("MANPATH=%s MANWIDTH=80 man paynet_call_timeout 2>&1"):format(
      H.quote(root .. "/opt/pn/share/man")))
    assert.truthy(page:find("paynet_send_start, paynet_call_step", 1, true) or
      page:find("paynet_send_start,%s+paynet_call_step"), page)
    local links = H.capture(("cd %s && find . -type l -printf '%%p -> %%l\\n' | sed 's|^\\.||' | sort"):format(
      H.quote(root)))
    assert.are.equal("/opt/pn/lib/libpaynet.so -> libpaynet.so.0\n" ..
                     "/opt/pn/lib/libpaynet.so.0 -> libpaynet.so.0.2.0\n", links)
    for _, program in ipairs { "paynet-otp", "paynet-sandbox", "paynet-tui" } do
      assert.truthy(H.capture("test -x " .. H.quote(root .. "/opt/pn/bin/" .. program) .. " && echo yes")
                    :find("yes"), program .. " is executable")
    end
    assert.truthy(H.read(root .. "/opt/pn/lib/pkgconfig/paynet.pc"):find("prefix=/opt/pn\n", 1, true))
    -- the installed screen finds its Turkish catalogue beside it (../share/locale)
    local turkish = H.capture(("env -u LC_ALL -u LANGUAGE LANG=tr_TR.UTF-8 %s --help"):format(
      H.quote(root .. "/opt/pn/bin/paynet-tui")))
    assert.truthy(turkish:find("^Kullanım: paynet%-tui"), turkish)

    -- the installed module and paynet-otp work together
    out = H.capture(("LUA_CPATH=%s %s %s codes 2>&1"):format(
      H.quote(root .. "/opt/pn/lib/lua/5.4/?.so"), H.lua, H.quote(root .. "/opt/pn/bin/paynet-otp")))
    assert.truthy(out:find("  7  unauthorized", 1, true), out)

    -- a C program builds against it with pkg-config paynet and sends an OTP
    H.write(dir .. "/hello.c", [[
#include <stdio.h>
#include <paynet.h>
int main(int argc, char **argv)
{
    paynet_config config;
    paynet_client *client;
    paynet_result res;
    paynet_error err;
    paynet_config_init(&config);
    config.secret_key = "sck_sandbox";
    config.base_url = argv[1];
    if (argc != 3 || paynet_client_new(&config, &client, &err) != PAYNET_OK)
        return 2;
    if (paynet_send_otp(client, argv[2], "pkg-config", &res, &err) != PAYNET_OK) {
        printf("%s: %s\n", paynet_status_name(err.kind), err.message);
        return 1;
    }
    printf("%s %d %s %s\n", res.user_gsm, res.code, paynet_code_name(7), paynet_version());
    paynet_client_free(client);
    return 0;
}
]])
    local env = ("PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_PATH=%s"):format(H.quote(root),
      H.quote(root .. "/opt/pn/lib/pkgconfig"))
    -- (a sanitized build's library needs the same sanitizers at link time)
    -- the shared library through pkg-config; the static one by its path,
    -- with the libraries it needs
    local static = H.quote(root .. "/opt/pn/lib/libpaynet.a") ..
      " $(pkg-config --libs libcurl libcjson sqlite3 hiredis libcrypto) -lpthread -lm"
    for _, how in ipairs { "", "static" } do
      local libs = how == "" and "$(pkg-config --libs paynet)" or static
      out, code = H.capture(("%s sh -c 'cc %s -o %s %s $(pkg-config --cflags paynet) %s' 2>&1"):format(
        env, os.getenv("PAYNET_CFLAGS") or "", H.quote(dir .. "/hello"), H.quote(dir .. "/hello.c"), libs))
      assert.are.equal(0, code, out)
      local needed = H.capture("readelf -d " .. H.quote(dir .. "/hello"))
      assert.are.equal(how == "", needed:find("%[libpaynet%.so%.0%]") ~= nil, needed)
      local gsm = H.gsm()
      out, code = H.capture(("LD_LIBRARY_PATH=%s %s %s %s 2>&1"):format(H.quote(root .. "/opt/pn/lib"),
        H.quote(dir .. "/hello"), H.shared().url, gsm))
      assert.are.equal(0, code, out)
      assert.are.equal(gsm .. " 0 unauthorized 0.2.0\n", out)
    end

    out, code = H.capture(("make -s uninstall BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(
      H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    assert.are.equal("", H.capture(("cd %s && find . -type f -o -type l"):format(H.quote(root))))
  end)

  it("an installed paynet-otp finds the module installed with it, under any PREFIX", function()
    local prefix = dir .. "/prefix"
    local out, code = H.capture(("make -s install BUILD=%s PREFIX=%s 2>&1"):format(H.build, H.quote(prefix)))
    assert.are.equal(0, code, out)
    -- (through H.lua: a sanitized module needs the sanitizers' Lua host)
    local lua = H.lua:find("^/") and H.lua or (H.lua:find("/") and os.getenv("PWD") .. "/" .. H.lua or H.lua)
    out, code = H.capture(("cd / && env -u LUA_CPATH -u LUA_CPATH_5_4 %s %s/bin/paynet-otp codes 2>&1"):format(
      lua, H.quote(prefix)))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("  7  unauthorized", 1, true), out)
    out, code = H.capture(("make -s uninstall BUILD=%s PREFIX=%s 2>&1"):format(H.build, H.quote(prefix)))
    assert.are.equal(0, code, out)
    assert.are.equal("", H.capture(("find %s -type f -o -type l"):format(H.quote(prefix))))
  end)

  it("builds libpaynet.so.0: its SONAME, and only the functions of paynet.h exported", function()
    local lib = H.build .. "/libpaynet.so.0"
    local dynamic = H.capture("readelf -d " .. H.quote(lib))
    assert.truthy(dynamic:find("Library soname: [libpaynet.so.0]", 1, true), dynamic)
    local symbols = H.capture("nm -D --defined-only " .. H.quote(lib) .. " | awk '{print $3}' | sort")
    local header = H.read("core/paynet.h")
    local count = 0
    for name in symbols:gmatch("[^\n]+") do
      count = count + 1
      assert.truthy(name:match("^paynet_"), name .. " is exported")
      assert.truthy(header:find("PAYNET_EXPORT [^\n]-[ *]" .. name .. "%("), name .. " is not in paynet.h")
    end
    local declared = 0
    for _ in header:gmatch("\nPAYNET_EXPORT ") do declared = declared + 1 end
    assert.are.equal(declared, count, symbols) -- each declared function, and nothing internal
    assert.falsy(symbols:find("paynet_ledger_open", 1, true), "an internal symbol is exported")
  end)
end)
