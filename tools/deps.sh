#!/bin/sh
# Installs the Debian packages paynet needs to build and test, if missing,
# and generates the tr_TR.UTF-8 locale the specs run the Turkish screen in.
# As root it runs apt-get; otherwise sudo when available; otherwise it
# prints the exact command and fails.
#   tools/deps.sh              building, the demo, make check
#   tools/deps.sh hardening    also valgrind, clang and its sanitizer runtime
#   tools/deps.sh bench        also luasec, a peer in the benchmarks
set -eu

packages="build-essential pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev
libcjson-dev libncurses-dev libmicrohttpd-dev lua-busted lua-socket lua-cjson
luarocks curl openssl tmux man-db libsqlite3-dev libhiredis-dev libssl-dev
redis-server libfaketime gettext locales sqlite3 lua-cqueues lua-luv lua-ldoc
lua-markdown"
case "${1:-}" in
    hardening) packages="$packages valgrind clang libclang-rt-14-dev" ;;
    bench) packages="$packages lua-sec" ;;
esac

missing=""
for p in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
# the specs run the screen and paynet-otp in Turkish too
has_turkish() { locale -a 2>/dev/null | grep -qi '^tr_TR\.utf-\?8$'; }
[ -z "$missing" ] && has_turkish && exit 0

if [ "$(id -u)" = 0 ]; then
    run=""
elif command -v sudo >/dev/null 2>&1; then
    run="sudo"
else
    echo "paynet: not root and no sudo; run this as root, then try again:" >&2
    [ -n "$missing" ] && echo "  apt-get update && apt-get install -y$missing" >&2
    has_turkish || echo "  localedef -i tr_TR -c -f UTF-8 tr_TR.UTF-8" >&2
    exit 1
fi
if [ -n "$missing" ]; then
    echo "paynet: installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $run apt-get update -q
    # shellcheck disable=SC2086
    $run apt-get install -y -q --no-install-recommends $missing
fi
if ! has_turkish; then
    echo "paynet: generating the tr_TR.UTF-8 locale"
    $run localedef -i tr_TR -c -f UTF-8 tr_TR.UTF-8
fi
