# paynet — libpaynet, the Lua module, the sandbox, tests.
#
#   make            build build/paynet.so, build/libpaynet.a, build/paynet-sandbox,
#                   build/paynet-tui
#   make demo       install missing Debian packages, build, run the operator
#                   screen against a local sandbox
#   make check      install missing Debian packages, build, run every test
#   make install    PREFIX=/usr/local DESTDIR= (library, header, module, programs)
#   make deps       install missing Debian packages only

PREFIX   ?= /usr/local
DESTDIR  ?=
LUA_CMOD ?= $(PREFIX)/lib/lua/5.4
LUA      ?= lua5.4

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS  = -std=c11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wwrite-strings $(WERROR)
PKGS      = libcurl libcjson
# evaluated when used, so that `make check` can install the packages first
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) lua5.4 libmicrohttpd)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
MHD_LIBS   = $(shell pkg-config --libs libmicrohttpd libcjson)
TUI_CFLAGS = $(shell pkg-config --cflags ncursesw formw)
TUI_LIBS   = $(shell pkg-config --libs formw ncursesw)
ALL_CFLAGS = $(WARNINGS) $(CFLAGS) -fPIC -Icore $(PKG_CFLAGS)

CORE_SRC = core/client.c core/otp.c core/expire.c core/gsm.c core/codes.c core/clock.c
CORE_OBJ = $(CORE_SRC:%.c=build/obj/%.o)
TEST_SRC = test/main.c test/unit.c test/test_expire.c test/test_gsm.c test/test_codes.c \
           test/test_clock.c test/test_decode.c test/test_app.c
TEST_OBJ = $(TEST_SRC:%.c=build/obj/%.o)

TUI_SRC  = tui/main.c tui/app.c tui/view.c tui/keys.c
TUI_OBJ  = $(TUI_SRC:%.c=build/obj/%.o)

all: build/paynet.so build/libpaynet.a build/paynet-sandbox build/paynet-tui

build/obj/%.o: %.c core/paynet.h core/internal.h test/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/obj/tui/%.o: tui/%.c tui/app.h tui/view.h tui/keys.h core/paynet.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TUI_CFLAGS) -c $< -o $@

build/libpaynet.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

build/paynet.so: build/obj/lua/lpaynet.o $(CORE_OBJ)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(PKG_LIBS) -lpthread -lm

build/paynet-sandbox: build/obj/sandbox/sandbox.o build/libpaynet.a
	$(CC) $(CFLAGS) -o $@ $^ $(MHD_LIBS) -lpthread -lm

build/paynet-tui: $(TUI_OBJ) build/libpaynet.a
	$(CC) $(CFLAGS) -o $@ $^ $(TUI_LIBS) $(PKG_LIBS) -lpthread -lm

build/test-units: $(TEST_OBJ) build/obj/tui/app.o build/libpaynet.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

build/test-transport: build/obj/test/test_transport.o build/obj/test/unit.o build/libpaynet.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

deps:
	@sh tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all build/test-units build/test-transport WERROR=-Werror
	@sh tools/check.sh

# the operator screen against a local sandbox (DEMO_ARGS="--no-color" etc.)
demo: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

# the busted specs alone (used by `luarocks test`)
spec: all
	@sh tools/check.sh --specs-only

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LUA_CMOD)
	install -m 644 build/libpaynet.a $(DESTDIR)$(PREFIX)/lib/libpaynet.a
	install -m 644 core/paynet.h $(DESTDIR)$(PREFIX)/include/paynet.h
	install -m 755 build/paynet.so $(DESTDIR)$(LUA_CMOD)/paynet.so
	install -m 755 build/paynet-sandbox $(DESTDIR)$(PREFIX)/bin/paynet-sandbox
	install -m 755 build/paynet-tui $(DESTDIR)$(PREFIX)/bin/paynet-tui

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libpaynet.a $(DESTDIR)$(PREFIX)/include/paynet.h \
	      $(DESTDIR)$(LUA_CMOD)/paynet.so $(DESTDIR)$(PREFIX)/bin/paynet-sandbox \
	      $(DESTDIR)$(PREFIX)/bin/paynet-tui

clean:
	rm -rf build

.PHONY: all deps check demo spec install uninstall clean
