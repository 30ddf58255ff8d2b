-- Installing: luarocks make (offline, into a tree) and make install.
local H = require "spec.helper"

describe("installing", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. H.quote(dir)) end)

  it("luarocks make installs a module that works from another directory", function()
    -- build from a copy, so that the checkout keeps no objects of luarocks'
    local src = dir .. "/src"
    assert(os.execute(("mkdir -p %s && cp -r core lua rockspec %s/"):format(H.quote(src), H.quote(src))))
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
  end)

  it("make install honours PREFIX and DESTDIR", function()
    local root = dir .. "/root"
    local out, code = H.capture(("make -s install BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    for _, path in ipairs { "/opt/pn/lib/libpaynet.a", "/opt/pn/include/paynet.h",
                            "/opt/pn/lib/lua/5.4/paynet.so", "/opt/pn/bin/paynet-sandbox",
                            "/opt/pn/bin/paynet-tui" } do
      assert.truthy(H.read(root .. path), path)
    end
    out, code = H.capture(("make -s uninstall BUILD=%s PREFIX=/opt/pn DESTDIR=%s 2>&1"):format(H.build, H.quote(root)))
    assert.are.equal(0, code, out)
    assert.falsy(H.read(root .. "/opt/pn/include/paynet.h"))
  end)
end)
