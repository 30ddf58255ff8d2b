rockspec_format = "3.0"
package = "paynet"
version = "0.2.0-1"
source = {
   -- the published repository; .invalid until it has a public address
   url = "git+https://paynet.invalid/paynet.git",
   tag = "v0.2.0",
}
description = {
   summary = "Send Paynet card-save OTPs (POST /v1/card/send_otp) from Lua",
   detailed = [[
A Lua 5.4 module over libpaynet, a C core on libcurl and cJSON: validated
input, one reused connection, strict parsing of otp_expire, typed errors that
say whether an SMS may have gone out, a ledger (memory, SQLite or Redis) that
never lets a second OTP go to a number before otp_expire, a countdown
anchored on the server's clock, and sends that yield inside cqueues or any
other event loop. Installs paynet-otp, a command for scripts, too.
]],
   homepage = "https://paynet.invalid/",
   license = "MIT",
   labels = { "payments", "otp", "http", "paynet" },
   maintainer = "paynet maintainers",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
-- paynet-otp --json uses lua-cjson when it is there (it says so when not);
-- the module needs no other rock.
external_dependencies = {
   -- libcurl 7.80.0 or newer.  Only its library is declared: Debian and
   -- Ubuntu keep curl/curl.h under include/<multiarch>/, where the
   -- compiler looks by itself and luarocks' header check does not
   CURL = { library = "curl" },
   CJSON = { header = "cjson/cJSON.h", library = "cjson" },
   SQLITE = { header = "sqlite3.h", library = "sqlite3" },
   HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
   CRYPTO = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
   -- the Makefile's `rock` target builds build-rock/paynet.so and the
   -- Turkish catalogue with luarocks' compiler flags and the folders found
   -- above (in a folder of its own: never what `make` built); only what
   -- `install` names below is installed
   type = "make",
   build_target = "rock",
   build_variables = {
      BUILD = "build-rock",
      CFLAGS = "$(CFLAGS)",
      PKG_CFLAGS = "-I$(LUA_INCDIR) -I$(CURL_INCDIR) -I$(CJSON_INCDIR) -I$(SQLITE_INCDIR) "
         .. "-I$(HIREDIS_INCDIR) -I$(CRYPTO_INCDIR)",
      PKG_LIBS = "-L$(CURL_LIBDIR) -L$(CJSON_LIBDIR) -L$(SQLITE_LIBDIR) -L$(HIREDIS_LIBDIR) "
         .. "-L$(CRYPTO_LIBDIR) -lcurl -lcjson -lsqlite3 -lhiredis -lcrypto",
   },
   install_pass = false,
   install = {
      lib = {
         paynet = "build-rock/paynet.so",
         -- found beside the module (core/i18n.c)
         ["paynet.locale.tr.LC_MESSAGES.paynet"] = "build-rock/locale/tr/LC_MESSAGES/paynet.mo",
      },
      bin = { ["paynet-otp"] = "bin/paynet-otp" },
   },
   copy_directories = {},
}
test_dependencies = {
   "busted >= 2.0",
}
test = {
   -- every spec against the sandbox (tools/check.sh runs the busted found
   -- on PATH under Lua 5.4); Debian's lua-busted is not a rock: tell
   -- luarocks with rocks_provided (see the README's "Installing")
   type = "command",
   command = "make spec",
}
