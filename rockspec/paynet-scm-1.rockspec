rockspec_format = "3.0"
package = "paynet"
version = "scm-1"
source = {
   url = "git+file:///dev/null", -- the project is built from a local checkout: luarocks make
}
description = {
   summary = "Send Paynet card-save OTPs (POST /v1/card/send_otp) from Lua",
   detailed = [[
A Lua 5.4 module over libpaynet, a C core on libcurl and cJSON: validated
input, one reused connection, strict parsing of otp_expire, typed errors that
say whether an SMS may have gone out, a per-number resend cooldown and a
countdown anchored on the server's clock.
]],
   license = "MIT",
   labels = { "payments", "otp", "http", "paynet" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   -- Debian keeps curl/curl.h under include/<triplet>/, where luarocks does
   -- not look for headers: only the library is checked.
   CURL = { library = "curl" },
   CJSON = { header = "cjson/cJSON.h", library = "cjson" },
   SQLITE = { header = "sqlite3.h", library = "sqlite3" },
   HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
   CRYPTO = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
   type = "builtin",
   modules = {
      paynet = {
         sources = {
            "lua/lpaynet.c",
            "core/client.c", "core/otp.c", "core/expire.c",
            "core/gsm.c", "core/codes.c", "core/clock.c", "core/keyfile.c",
            "core/ledger.c", "core/ledger_memory.c", "core/ledger_sqlite.c",
            "core/ledger_redis.c", "core/text.c", "core/i18n.c",
         },
         incdirs = { "core", "$(CJSON_INCDIR)", "$(SQLITE_INCDIR)", "$(HIREDIS_INCDIR)",
                     "$(CRYPTO_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)", "$(CJSON_LIBDIR)", "$(SQLITE_LIBDIR)",
                     "$(HIREDIS_LIBDIR)", "$(CRYPTO_LIBDIR)" },
         libraries = { "curl", "cjson", "sqlite3", "hiredis", "crypto", "pthread", "m" },
      },
   },
   install = {
      bin = { ["paynet-otp"] = "bin/paynet-otp" },
   },
}
test = {
   -- busted from Debian, under Lua 5.4, against the sandbox (see the README)
   type = "command",
   command = "make spec",
}
