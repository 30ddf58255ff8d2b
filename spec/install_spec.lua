-- Installing: luarocks make (offline, into a tree) and make install.
local H = require "spec.helper"

describe("installing", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. H.quote(dir)) end)

  it("luarocks make installs a module that works from another directory", function()
    -- build from a copy, so that the checkout keeps no objects of luarocks'
    local src = dir .. "/src"
    assert(os.execute(("mkdir -p %s && cp -r core lua bin rockspec %s/"):format(H.quote(src), H.quote(src))))
    local out, code = H.capture(("cd %s && luarocks --lua-version=5.4 make --tree=%s " ..
      "rockspec/paynet-scm-1.rockspec 2>&1"):format(H.quote(src), H.quote(dir .. "/tree")))
    assert.are.equal(0, code, out)
    assert.truthy(H.read(dir .. "/tree/lib/lua/5.4/paynet.so"), "paynet.so installed")

    local script = dir .. "/use.lua"
    H.write(script, [[
      package.cpath = arg[1] .. "/lib/lua/5.4/?.so"
      local paynet = require "paynet"
      local client = paynet.new { secret_key = "sck_sandbox", base_url = arg[2] }
      local res = assert(client:send_otp { user_gsm = arg[3], otp_session_id = "installed" })
      print(paynet._VERSION, res.code, package.searchpath("paynet", package.cpath))
    ]])
    local run = H.capture(("cd / && lua5.4 %s %s %s %s 2>&1"):format(H.quote(script),
      H.quote(dir .. "/tree"), H.quote(H.shared().url), H.gsm()))
    assert.are.equal("paynet 0.1.0\t0\t" .. dir .. "/tree/lib/lua/5.4/paynet.so\n", run)

    -- the rock installs paynet-otp too, wrapped to find its module
    local version = H.capture(("cd / && %s/tree/bin/paynet-otp --version 2>&1"):format(H.quote(dir)))
    assert.are.equal("paynet-otp 0.1.0\n", version)
    -- and its --json finds lua-cjson (Debian's, outside the tree)
    local json = H.capture(("cd / && %s/tree/bin/paynet-otp holds --json --ledger memory 2>&1"):format(H.quote(dir)))
    assert.are.equal('{"ledger":"memory","holds":[]}\n', json)
  end)

  it("make install honours PREFIX and DESTDIR, and make uninstall takes it all back", function()
    local root = dir .. "/root"
    local out, code = H.capture(("make -s install BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(
      H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    local expected = {
      "/opt/pn/bin/paynet-otp", "/opt/pn/bin/paynet-sandbox", "/opt/pn/bin/paynet-tui",
      "/opt/pn/include/paynet.h", "/opt/pn/lib/libpaynet.a", "/opt/pn/lib/libpaynet.so.0.1.0",
      "/opt/pn/lib/lua/5.4/paynet.so",
      "/opt/pn/lib/pkgconfig/paynet.pc", "/opt/pn/share/locale/tr/LC_MESSAGES/paynet.mo",
      "/opt/pn/share/man/man1/paynet-otp.1",
      "/opt/pn/share/man/man1/paynet-sandbox.1", "/opt/pn/share/man/man1/paynet-tui.1",
    }
    local tree = H.capture(("cd %s && find . -type f | sed 's|^\\.||' | sort"):format(H.quote(root)))
    assert.are.equal(table.concat(expected, "\n") .. "\n", tree)
    local links = H.capture(("cd %s && find . -type l -printf '%%p -> %%l\\n' | sed 's|^\\.||' | sort"):format(
      H.quote(root)))
    assert.are.equal("/opt/pn/lib/libpaynet.so -> libpaynet.so.0\n" ..
                     "/opt/pn/lib/libpaynet.so.0 -> libpaynet.so.0.1.0\n", links)
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
      assert.are.equal(gsm .. " 0 unauthorized 0.1.0\n", out)
    end

    out, code = H.capture(("make -s uninstall BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(
      H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    assert.are.equal("", H.capture(("cd %s && find . -type f -o -type l"):format(H.quote(root))))
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
