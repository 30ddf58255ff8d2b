-- Turkish and English: the catalogue is complete, and the screen,
-- paynet-otp and the module speak the locale's language (GNU gettext).
local H = require "spec.helper"
local cjson = require "cjson"

local TR = "tr_TR.UTF-8"

describe("the Turkish catalogue", function()
  it("translates every string the sources mark, with formats that match", function()
    local out, code = H.capture("make -s po-check BUILD=" .. H.build .. " 2>&1")
    assert.are.equal(0, code, out)
    local stats, ok = H.capture("msgfmt --check --statistics -o /dev/null po/tr.po 2>&1")
    assert.are.equal(0, ok, stats)
    assert.truthy(stats:match("^%d+ translated messages%.\n$"), stats) -- none fuzzy or untranslated
  end)

  it("is built and found from the checkout, and the machine has the Turkish locale", function()
    assert.truthy(H.read(H.build .. "/locale/tr/LC_MESSAGES/paynet.mo"), "make builds the .mo")
    assert.truthy(H.capture("locale -a"):lower():find("tr_tr%.utf%-?8"), "make deps generates tr_TR.UTF-8")
  end)
end)

describe("a wrong or hostile catalogue", function()
  it("costs a translation, never a crash or a read of the wrong argument", function()
    local dir = H.tmpdir()
    H.defer(finally, function() os.execute("rm -rf " .. H.quote(dir)) end)
    os.execute("mkdir -p " .. H.quote(dir .. "/tr/LC_MESSAGES"))
    -- msgfmt without --check takes formats that do not match their msgids
    H.write(dir .. "/evil.po", table.concat({
      'msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8\\n"', '',
      'msgid "phone number is empty"', 'msgstr "boş %p %p %p %s %s %n"', '',
      'msgid "phone number needs %zu more digit (10 after the prefix: 5XXXXXXXXX)"',
      'msgid_plural "phone number needs %zu more digits (10 after the prefix: 5XXXXXXXXX)"',
      'msgstr[0] "%s %s %s"', 'msgstr[1] "%s %s %s"', '',
      'msgid "Phone number"', 'msgstr "Numara"', '' }, "\n"))
    local out, code = H.capture(("msgfmt -o %s %s 2>&1"):format(H.quote(dir .. "/tr/LC_MESSAGES/paynet.mo"),
      H.quote(dir .. "/evil.po")))
    assert.are.equal(0, code, out)
    local function otp(gsm)
      return H.capture(("env -u LC_ALL -u LANGUAGE LANG=%s PAYNET_LOCALEDIR=%s LUA_CPATH=%s PAYNET_SECRET_KEY=k " ..
        "%s bin/paynet-otp send --gsm %s --session s --ledger memory --base-url http://127.0.0.1:1 2>&1"):format(
        TR, H.quote(dir), H.quote("./" .. H.build .. "/?.so;;"), H.lua, H.quote(gsm)))
    end
    out, code = otp("")
    assert.are.equal(2, code, out)
    assert.truthy(out:find("paynet invalid: phone number is empty", 1, true), out) -- English, whole
    out, code = otp("0532")
    assert.are.equal(2, code, out)
    assert.truthy(out:find("phone number needs 7 more digits", 1, true), out)
    -- a translation whose conversions match is used from the same catalogue
    out = H.capture(("printf '0532\\n' | env -u LC_ALL -u LANGUAGE LANG=%s PAYNET_LOCALEDIR=%s PAYNET_SECRET_KEY=k " ..
      "XDG_STATE_HOME=%s %s --plain --base-url http://127.0.0.1:1 2>&1"):format(TR, H.quote(dir),
      H.quote(dir), H.tui_bin))
    assert.truthy(out:find("Numara: 0532\n", 1, true), out)
    assert.truthy(out:find("phone number needs 7 more digits", 1, true), out)
  end)
end)

describe("paynet-tui in Turkish", function()
  local sandbox
  setup(function() sandbox = H.start_sandbox() end)
  teardown(function() sandbox:remove() end)

  local function screen(env)
    local tui = H.start_tui { args = { "--base-url", sandbox.url }, env = env }
    return tui
  end

  it("draws the key bar, the fields, the hints, a send and the help in Turkish", function()
    local tui = screen { LANG = TR }
    H.defer(finally, function() tui:stop() end)
    local first = tui:wait_for("F1 Yardım  Tab Sonraki  Enter Gönder  F2 Yeni kimlik  Esc İptal  F10 Çıkış")
    assert.truthy(first:find("Telefon no", 1, true), first)
    assert.truthy(first:find("ortam: TEST", 1, true), first)
    tui:type("0532 123")
    tui:wait_for("telefon numarasında 4 rakam eksik (ön ekten sonra 10 rakam")
    local gsm = H.gsm()
    local masked = gsm:sub(1, 3) .. "*****" .. gsm:sub(9)
    tui:keys("C-u")
    tui:type(gsm)
    tui:keys("Tab")
    tui:type("sipariş-7")
    tui:keys("Enter")
    -- the screen's words are Turkish; Paynet's own message stays as Paynet sent it
    tui:wait_for('OTP ' .. masked .. ' numarasına gönderildi: "Başarılı İşlem". Son geçerlilik:')
    tui:wait_for(masked .. " numarasının kodu geçerli   0")
    tui:wait_for("gönderildi, bitiş ")
    tui:keys("Enter")
    tui:wait_for("Gönderilmedi: " .. masked .. " numarasına gönderilen OTP")
    tui:keys("F1")
    local help = tui:wait_for(" Yardım (Esc ya da F1 kapatır) ")
    assert.truthy(help:find("F10, Esc 0, Ctrl-X, Ctrl-C  çıkış", 1, true), help)
    tui:keys("Escape")
    tui:wait_gone("Yardım (Esc ya da F1")
    tui:keys("F10")
    tui:wait_for("EXIT:0")
  end)

  it("follows LC_MESSAGES over LANG, and LC_ALL over both", function()
    local tui = screen { LANG = "C.UTF-8", LC_MESSAGES = TR }
    H.defer(finally, function() tui:stop() end)
    tui:wait_for("F10 Çıkış")
    local english = screen { LANG = TR, LC_ALL = "C.UTF-8" }
    H.defer(finally, function() english:stop() end)
    english:wait_for("F10 Quit")
  end)

  it("prints --help and its errors in Turkish", function()
    local out, code = H.capture(("env LANG=%s %s --help"):format(TR, H.tui_bin))
    assert.are.equal(0, code)
    assert.truthy(out:find("^Kullanım: paynet%-tui %[SEÇENEK%]"), out)
    assert.truthy(out:find("Tuşlar: Tab/Shift-Tab", 1, true), out)
    out, code = H.capture(("env LANG=%s PAYNET_SECRET_KEY=k %s --env prod 2>&1"):format(TR, H.tui_bin))
    assert.are.equal(2, code)
    assert.are.equal("paynet-tui: --env test ya da live olmalı\n", out)
  end)
end)

describe("paynet-otp in Turkish", function()
  local sandbox = H.shared()
  local function otp(args, lang)
    local dir = H.tmpdir()
    local out, code = H.capture(("env -u LC_ALL -u LANGUAGE LANG=%s XDG_STATE_HOME=%s LUA_CPATH=%s " ..
      "PAYNET_SECRET_KEY=%s %s bin/paynet-otp %s 2>&1"):format(lang or TR, H.quote(dir),
      H.quote("./" .. H.build .. "/?.so;;"), H.key, H.lua, args))
    os.execute("rm -rf " .. H.quote(dir))
    return out, code
  end

  it("says its usage, errors and next steps in Turkish; exit statuses and JSON keys stay", function()
    local out, code = otp("--help")
    assert.are.equal(0, code)
    assert.truthy(out:find("Kullanım: paynet-otp send --gsm NUMARA --session KİMLİK", 1, true), out)
    out, code = otp("send --gsm 0532 --session s --base-url " .. sandbox.url)
    assert.are.equal(2, code)
    assert.truthy(out:find("paynet invalid: telefon numarasında 7 rakam eksik", 1, true), out)
    assert.truthy(out:find("; girdiyi düzeltip yeniden çalıştırın\n$"), out)
    out, code = otp("send --json --gsm 5000000012 --session s --base-url " .. sandbox.url)
    assert.are.equal(4, code)
    local r = cjson.decode(out)
    assert.are.equal("api", r.kind)
    assert.are.equal("Paynet'in koduna ve iletisine bakın; körü körüne yeniden denemeyin", r.next_step)
    -- in English where the locale says so
    out = otp("send --gsm 0532 --session s --base-url " .. sandbox.url, "C.UTF-8")
    assert.truthy(out:find("phone number needs 7 more digits", 1, true), out)
  end)

  it("lists the result codes with Turkish meanings and holds with Turkish words", function()
    local out, code = otp("codes")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("  7  unauthorized           yetkisiz: gizli anahtar yanlış ya da eksik\n", 1, true), out)
    out, code = otp("holds --ledger memory")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("^0 kilit, gönderim kaydı: memory\n%(bellek gönderim kaydı tek bir sürece aittir"), out)
  end)

  it("sends and says so in Turkish", function()
    local gsm = H.gsm()
    local out, code = otp(("send --gsm %s --session tr-1 --base-url %s"):format(gsm, sandbox.url))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("^gönderildi: OTP " .. gsm .. " numarasına, .* saatine kadar geçerli %(%d+ sn kaldı%): Başarılı İşlem\n$"), out)
  end)
end)

describe("the module's language", function()
  it("is English until use_locale(); then the core's messages follow the locale", function()
    local out, code = H.lua_script([[
      local paynet = require "paynet"
      local _, before = paynet.normalize_gsm("0532 123")
      print(before.message)
      print(paynet.use_locale())
      local _, after = paynet.normalize_gsm("0532 123")
      print(after.message)
      print(paynet.gettext("Send"), paynet.gettext("%d held in %s"))
      print(paynet.ngettext("phone number needs %zu more digit (10 after the prefix: 5XXXXXXXXX)",
                            "phone number needs %zu more digits (10 after the prefix: 5XXXXXXXXX)", 3))
      print(tostring(1.5)) -- numbers keep their point
    ]], "-u LC_ALL -u LC_MESSAGES -u LANGUAGE LANG=" .. TR)
    assert.are.equal(0, code, out)
    assert.are.equal("phone number needs 4 more digits (10 after the prefix: 5XXXXXXXXX)\n" ..
                     TR .. "\n" ..
                     "telefon numarasında 4 rakam eksik (ön ekten sonra 10 rakam: 5XXXXXXXXX)\n" ..
                     "Gönder\t%d kilit, gönderim kaydı: %s\n" ..
                     "telefon numarasında %zu rakam eksik (ön ekten sonra 10 rakam: 5XXXXXXXXX)\n" ..
                     "1.5\n", out)
  end)
end)
