# paynet — libpaynet, the Lua module, the sandbox, tests.
#
#   make            build build/paynet.so, build/libpaynet.a, build/paynet-sandbox,
#                   build/paynet-tui
#   make demo       install missing Debian packages, build, run the operator
#                   screen against a local sandbox
#   make check      install missing Debian packages, build, run every test
#   make install    PREFIX=/usr/local DESTDIR= (library, header, module, programs)
#   make check-asan      every test with AddressSanitizer + UBSan (build-asan/)
#   make check-valgrind  the C tests and the specs under valgrind
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (build-fuzz/)
#   make doc        the Lua API reference (LDoc) in build/doc/
#   make spec       the busted specs only (SPECS="spec/send_spec.lua ...": some)
#   make deps       install missing Debian packages only

# GNU directory variables (PREFIX is the same as prefix)
PREFIX      ?= /usr/local
prefix      ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir      ?= $(exec_prefix)/bin
libdir      ?= $(exec_prefix)/lib
includedir  ?= $(prefix)/include
datarootdir ?= $(prefix)/share
mandir      ?= $(datarootdir)/man
localedir   ?= $(datarootdir)/locale
pkgconfigdir ?= $(libdir)/pkgconfig
# the Lua 5.4 C module folder (LUA_CMOD is the older name)
LUA_CMOD    ?= $(libdir)/lua/5.4
luacdir     ?= $(LUA_CMOD)
DESTDIR     ?=
LUA         ?= lua5.4

VERSION  = 0.2.0
SONAME   = libpaynet.so.0

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS  = -std=c11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wwrite-strings $(WERROR)
PKGS      = libcurl libcjson sqlite3 hiredis libcrypto
# evaluated when used, so that `make check` can install the packages first
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) lua5.4 libmicrohttpd)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
MHD_LIBS   = $(shell pkg-config --libs libmicrohttpd libcjson)
TUI_CFLAGS = $(shell pkg-config --cflags ncursesw formw)
TUI_LIBS   = $(shell pkg-config --libs formw ncursesw)
# -MMD -MP: each object also records the headers it read (obj/*.d, below)
ALL_CFLAGS = $(WARNINGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -fPIC -Icore $(PKG_CFLAGS)

CORE_SRC = core/client.c core/transport.c core/hold.c core/send.c core/otp.c core/expire.c core/gsm.c core/codes.c core/clock.c \
           core/keyfile.c core/ledger.c core/ledger_memory.c core/ledger_sqlite.c \
           core/ledger_redis.c core/redis_link.c core/text.c core/i18n.c core/scope.c
# BUILD: where objects and programs go; build-asan/ holds the sanitized twin
BUILD    ?= build
B         = $(BUILD)
CORE_OBJ = $(CORE_SRC:%.c=$(B)/obj/%.o)
TEST_SRC = test/main.c test/unit.c test/test_expire.c test/test_gsm.c test/test_codes.c \
           test/test_clock.c test/test_decode.c test/test_app.c \
           test/test_ledger.c test/test_text.c test/test_scope.c
TEST_OBJ = $(TEST_SRC:%.c=$(B)/obj/%.o)

TUI_SRC  = tui/main.c tui/app.c tui/view.c tui/keys.c tui/audit.c tui/session.c tui/plain.c
TUI_OBJ  = $(TUI_SRC:%.c=$(B)/obj/%.o)

LANGUAGES = tr
MO_FILES  = $(LANGUAGES:%=$(B)/locale/%/LC_MESSAGES/paynet.mo)

all: $(B)/paynet.so $(B)/libpaynet.a $(B)/$(SONAME) $(B)/paynet-sandbox $(B)/paynet-tui $(MO_FILES)

# ---- translations: po/LANG.po -> build/locale/LANG/LC_MESSAGES/paynet.mo,
# found from the checkout (core/i18n.c) and installed under $(localedir)
$(B)/locale/%/LC_MESSAGES/paynet.mo: po/%.po
	@mkdir -p $(dir $@)
	msgfmt --check -o $@ $<

# the catalogue's source: every translatable string of the core, the screen
# and paynet-otp (maintainers: run after changing a message, then translate)
XGETTEXT_C = --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
             --keyword=paynet_fail:4 --keyword=paynet_ledger_fail:2 --keyword=BAD:1 \
             --keyword=invalid:2 --keyword=protocol_error:3 --keyword=db_fail:2 \
             --keyword=end_write:3 --keyword=paynet_gettext --keyword=paynet_ngettext:1,2 \
             --flag=paynet_fail:4:c-format --flag=paynet_ledger_fail:2:c-format \
             --flag=BAD:1:c-format --flag=paynet_ngettext:1:c-format \
             --flag=paynet_ngettext:2:c-format \
             --add-comments=TRANSLATORS: --sort-by-file --package-name=paynet \
             --msgid-bugs-address=paynet --no-location
POT ?= po/paynet.pot
pot:
	xgettext $(XGETTEXT_C) --keyword=X:3 -o $(POT) core/paynet.h $(CORE_SRC) $(TUI_SRC)
	xgettext --language=Lua --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=ngettext:1,2 \
	    --add-comments=TRANSLATORS: --no-location --join-existing -o $(POT) bin/paynet-otp
	if [ "$(POT)" = po/paynet.pot ]; then \
	    for l in $(LANGUAGES); do msgmerge --quiet --no-wrap --update --backup=none po/$$l.po po/paynet.pot; done; \
	fi

# every string the sources mark has a translation in each po/LANG.po (a spec
# runs this): msgcmp fails on a missing, empty or fuzzy one
po-check:
	@mkdir -p $(B)
	@$(MAKE) --no-print-directory -s pot POT=$(B)/paynet.pot 2>/dev/null
	@for l in $(LANGUAGES); do msgcmp po/$$l.po $(B)/paynet.pot || exit 1; done

$(B)/obj/%.o: %.c core/paynet.h core/internal.h core/ledger.h core/client.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/obj/core/i18n.o: ALL_CFLAGS += -DPAYNET_LOCALEDIR_DEFAULT='"$(localedir)"'

$(B)/obj/tui/%.o: tui/%.c tui/app.h tui/view.h tui/keys.h tui/audit.h tui/session.h tui/plain.h core/paynet.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TUI_CFLAGS) -c $< -o $@

# the core exports only what paynet.h declares (PAYNET_API)
$(CORE_OBJ): ALL_CFLAGS += -fvisibility=hidden

$(B)/libpaynet.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

# the shared library: libpaynet.so.VERSION, SONAME libpaynet.so.0
$(B)/$(SONAME): $(CORE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $(B)/libpaynet.so.$(VERSION) \
	    $^ $(PKG_LIBS) -lpthread -lm
	ln -sf libpaynet.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/libpaynet.so

$(B)/paynet.so: $(B)/obj/lua/lpaynet.o $(CORE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $^ $(PKG_LIBS) -lpthread -lm

$(B)/paynet-sandbox: $(B)/obj/sandbox/sandbox.o $(B)/libpaynet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MHD_LIBS) $(PKG_LIBS) -lpthread -lm

$(B)/paynet-tui: $(TUI_OBJ) $(B)/libpaynet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TUI_LIBS) $(PKG_LIBS) -lpthread -lm

$(B)/test-units: $(TEST_OBJ) $(B)/obj/tui/app.o $(B)/obj/tui/keys.o $(B)/libpaynet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TUI_LIBS) $(PKG_LIBS) -lpthread -lm

$(B)/test-transport: $(B)/obj/test/test_transport.o $(B)/obj/test/unit.o $(B)/libpaynet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# Every allocation of the core, libcurl and cJSON through counting hooks.
$(B)/test-nomem: $(B)/obj/test/test_nomem.o $(B)/obj/test/unit.o $(CORE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

# Benchmarks (a) the transport limit and (b) the core, in C.
$(B)/bench-limit: bench/limit.c
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CFLAGS) $(LDFLAGS) $(PKG_LIBS)

$(B)/bench-core: bench/core.c $(B)/libpaynet.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(CFLAGS) $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

# What a send costs with many live holds (see the README's performance).
$(B)/bench-holds: bench/holds.c $(B)/libpaynet.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(CFLAGS) $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

# A Lua host for the sanitized module (see test/lua_host.c).
$(B)/lua: test/lua_host.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CFLAGS) $(LDFLAGS) $(shell pkg-config --libs lua5.4)

# luarocks (build.type = "make", see rockspec/): the module and the Turkish
# catalogue only, with the compiler flags and the dependencies' folders
# luarocks passes (PKG_CFLAGS, PKG_LIBS); the rockspec installs them
rock: $(B)/paynet.so $(MO_FILES)

# the Lua API reference (LDoc, from lua/lpaynet.c's comments): any
# warning fails
doc:
	@mkdir -p $(B)/doc
	cd doc && ldoc --fatalwarnings -d $(abspath $(B))/doc .

deps:
	@sh tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all $(B)/test-units $(B)/test-transport \
	    $(B)/test-nomem WERROR=-Werror
	@sh tools/check.sh

SAN_CFLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
SAN_ENV    = ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=86 \
             UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86

# every C test and spec with the core, the module and the programs built
# under AddressSanitizer + UndefinedBehaviorSanitizer; the first report halts
deps-hardening:
	@sh tools/deps.sh hardening

check-asan: deps-hardening
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(SAN_CFLAGS)" WERROR=-Werror \
	    all build-asan/test-units build-asan/test-transport \
	    build-asan/test-nomem build-asan/lua
	@$(SAN_ENV) PAYNET_BUILD=build-asan PAYNET_LUA=build-asan/lua PAYNET_NO_RSS=1 PAYNET_NO_PRELOAD=1 \
	    PAYNET_CFLAGS="$(SAN_CFLAGS)" sh tools/check.sh

VALGRIND = valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
           --show-leak-kinds=definite,indirect --error-exitcode=99

# the C tests and the specs (the Lua process, with the module and the core)
# under valgrind: no errors, nothing definitely or indirectly lost
check-valgrind: deps-hardening
	@$(MAKE) --no-print-directory all $(B)/test-units $(B)/test-transport \
	    $(B)/test-nomem WERROR=-Werror
	@PAYNET_WRAP="$(VALGRIND)" sh tools/check.sh

FUZZ_CC     = clang
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -std=c11 -Icore $(shell pkg-config --cflags libcjson libcurl)
FUZZ_CORE   = core/otp.c core/expire.c core/codes.c core/clock.c core/gsm.c core/text.c core/i18n.c
FUZZ_SECONDS ?= 60

build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_CORE) core/paynet.h core/internal.h
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_CORE) $(shell pkg-config --libs libcjson libcurl)

# every libFuzzer target for FUZZ_SECONDS from its committed seeds
fuzz: deps-hardening
	@$(MAKE) --no-print-directory build-fuzz/fuzz_decode build-fuzz/fuzz_expire build-fuzz/fuzz_gsm \
	    build-fuzz/fuzz_text build-fuzz/fuzz_formats
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tools/fuzz.sh

deps-bench:
	@sh tools/deps.sh bench

# paynet against the transport limit and the peers (see the README)
bench: deps-bench
	@$(MAKE) --no-print-directory all $(B)/bench-limit $(B)/bench-core $(B)/bench-holds WERROR=-Werror
	@$(LUA) bench/run.lua $(B)

# the operator screen against a local sandbox (DEMO_ARGS="--no-color" etc.)
demo: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

# the busted specs alone (used by `luarocks test`)
spec: all
	@PAYNET_SPECS="$(SPECS)" sh tools/check.sh --specs-only

# the sandbox's fault list, written into the README and its man page from
# the one table in sandbox/sandbox.c (a spec fails when they differ)
scenarios: $(B)/paynet-sandbox
	@$(B)/paynet-sandbox --scenarios | $(LUA) tools/scenarios.lua

MAN_PAGES = man/paynet-otp.1 man/paynet-tui.1 man/paynet-sandbox.1
# the C API, one page per function group; every other function its NAME
# section lists gets a one-line page that sources it (man paynet_send_step)
MAN3_PAGES = man/paynet_client_new.3 man/paynet_send_otp.3 man/paynet_send_start.3 \
             man/paynet_hold_lookup.3 man/paynet_gsm_normalize.3 \
             man/paynet_read_key_file.3 man/paynet_gettext.3
man3_names = $(shell sed -n '/^\.SH NAME/,/\\-/p' $(1) | sed '1d;s/\\-.*//' | tr ',' ' ')
MAN3_LINKS = $(foreach p,$(MAN3_PAGES),$(foreach f,$(call man3_names,$(p)),\
               $(if $(filter $(notdir $(p)),$(f).3),,$(f).3:$(notdir $(p)))))

# paynet.pc for pkg-config, written for these directories: C programs link
# the shared libpaynet (pkg-config --static: the static one and, through
# it, libcurl, cJSON, SQLite, hiredis and libcrypto)
PC_LINES = 'prefix=$(prefix)' 'includedir=$(includedir)' 'libdir=$(libdir)' '' \
    'Name: paynet' 'Description: send Paynet card-save OTPs (POST /v1/card/send_otp)' \
    'Version: $(VERSION)' 'Requires.private: libcurl libcjson sqlite3 hiredis libcrypto' \
    'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lpaynet' 'Libs.private: -lpthread -lm'

install: all
	install -d $(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(includedir) $(DESTDIR)$(bindir) \
	           $(DESTDIR)$(luacdir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3
	install -m 644 $(B)/libpaynet.a $(DESTDIR)$(libdir)/libpaynet.a
	install -m 755 $(B)/libpaynet.so.$(VERSION) $(DESTDIR)$(libdir)/libpaynet.so.$(VERSION)
	ln -sf libpaynet.so.$(VERSION) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libpaynet.so
	printf '%s\n' $(PC_LINES) > $(DESTDIR)$(pkgconfigdir)/paynet.pc
	install -m 644 core/paynet.h $(DESTDIR)$(includedir)/paynet.h
	install -m 755 $(B)/paynet.so $(DESTDIR)$(luacdir)/paynet.so
	install -m 755 $(B)/paynet-sandbox $(DESTDIR)$(bindir)/paynet-sandbox
	install -m 755 $(B)/paynet-tui $(DESTDIR)$(bindir)/paynet-tui
	# paynet-otp finds the module it was installed with, whatever PREFIX
	sed '1a package.cpath = "$(luacdir)/?.so;" .. package.cpath' bin/paynet-otp \
	    > $(DESTDIR)$(bindir)/paynet-otp
	chmod 755 $(DESTDIR)$(bindir)/paynet-otp
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(mandir)/man1/
	install -m 644 $(MAN3_PAGES) $(DESTDIR)$(mandir)/man3/
	@$(foreach l,$(MAN3_LINKS),printf '.so man3/%s\n' $(word 2,$(subst :, ,$(l))) \
	    > $(DESTDIR)$(mandir)/man3/$(word 1,$(subst :, ,$(l))) &&) true
	for l in $(LANGUAGES); do \
	    install -d $(DESTDIR)$(localedir)/$$l/LC_MESSAGES && \
	    install -m 644 $(B)/locale/$$l/LC_MESSAGES/paynet.mo $(DESTDIR)$(localedir)/$$l/LC_MESSAGES/; \
	done

uninstall:
	rm -f $(DESTDIR)$(libdir)/libpaynet.a $(DESTDIR)$(libdir)/libpaynet.so.$(VERSION) \
	      $(DESTDIR)$(libdir)/$(SONAME) $(DESTDIR)$(libdir)/libpaynet.so \
	      $(DESTDIR)$(pkgconfigdir)/paynet.pc \
	      $(DESTDIR)$(includedir)/paynet.h $(DESTDIR)$(luacdir)/paynet.so \
	      $(DESTDIR)$(bindir)/paynet-sandbox $(DESTDIR)$(bindir)/paynet-tui \
	      $(DESTDIR)$(bindir)/paynet-otp \
	      $(MAN_PAGES:man/%=$(DESTDIR)$(mandir)/man1/%) \
	      $(MAN3_PAGES:man/%=$(DESTDIR)$(mandir)/man3/%) \
	      $(foreach l,$(MAN3_LINKS),$(DESTDIR)$(mandir)/man3/$(word 1,$(subst :, ,$(l)))) \
	      $(LANGUAGES:%=$(DESTDIR)$(localedir)/%/LC_MESSAGES/paynet.mo)

clean:
	rm -rf build build-asan build-fuzz build-rock

# the header dependencies the compiler wrote (-MMD)
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

.PHONY: all rock doc bench deps deps-bench deps-hardening fuzz pot po-check scenarios check check-asan check-valgrind demo spec install uninstall clean
