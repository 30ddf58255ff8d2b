#!/bin/sh
# Runs the C unit tests and every busted spec against a sandbox started on
# a free port, stops every sandbox it or the specs started, and ends with
# one line "N passed, N failed".  Exit status 0 only when nothing failed.
#   --specs-only   skip the C tests
# Environment: PAYNET_BUILD (default build) holds the programs and the
# module; PAYNET_LUA runs busted (default lua5.4), the busted script found on
# PATH (BUSTED names another); PAYNET_WRAP prefixes the C tests and busted
# (valgrind).
set -u
cd "$(dirname "$0")/.." || exit 1

B=${PAYNET_BUILD:-build}
LUA=${PAYNET_LUA:-lua5.4}
WRAP=${PAYNET_WRAP:-}
export PAYNET_BUILD="$B" PAYNET_LUA="$LUA"
# Under valgrind every call is many times slower: specs widen their time
# bounds.  Resident memory is valgrind's there, and ASan's quarantine keeps
# freed memory resident: the specs that measure it (tagged rss) run only in
# the native build (PAYNET_NO_RSS is set by make check-asan).
# The sanitizers' Lua host must be the first library a process loads: the
# specs that preload libfaketime (tagged faketime) run in the other builds.
# The nested `luarocks test` (tagged rock) reuses the native build.
busted_filter=""
[ -n "$WRAP" ] && export PAYNET_SLOW=1
if [ -n "$WRAP" ] || [ -n "${PAYNET_NO_RSS:-}" ]; then
    busted_filter="--exclude-tags=rss,rock"
fi
if [ -n "${PAYNET_NO_PRELOAD:-}" ]; then
    busted_filter="--exclude-tags=rss,faketime,rock"
fi

# busted's own #! line names `lua`, whichever version that is: run its
# script under Lua 5.4
BUSTED=${BUSTED:-$(command -v busted)}
if [ -z "$BUSTED" ]; then
    echo "check: busted is not on PATH (Debian: apt-get install lua-busted)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

specs_only=0
[ "${1:-}" = "--specs-only" ] && specs_only=1

work=$(mktemp -d)
export PAYNET_SPEC_TMP="$work"
: > "$work/pids"
cleanup() {
    for pid in $(cat "$work/pids" 2>/dev/null); do
        kill "$pid" 2>/dev/null
    done
    [ -n "${PAYNET_KEEP_OUTPUT:-}" ] && cp -r "$work" "$PAYNET_KEEP_OUTPUT"; rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0

# "<label>: N passed, N failed" -> adds to the totals
add_counts() {
    p=$(echo "$1" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    f=$(echo "$1" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    passed=$((passed + p))
    failed=$((failed + f))
}

# run_c LABEL COMMAND...: a C test program that ends with "LABEL: N passed, N failed"
run_c() {
    label=$1
    shift
    # shellcheck disable=SC2086
    $WRAP "$@" > "$work/c.out" 2>&1
    rc=$?
    cat "$work/c.out" >> "$work/outputs-ctests.txt" # for the secret scan
    grep -v "^$label:" "$work/c.out"
    line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed\$" "$work/c.out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$label: no summary line (crashed?)"
        failed=$((failed + 1))
    else
        echo "$line"
        before=$failed
        add_counts "$line"
        if [ "$rc" != 0 ] && [ "$failed" = "$before" ]; then
            echo "$label: exit status $rc with no failed test: a sanitizer or valgrind report"
            failed=$((failed + 1))
        fi
    fi
}

[ "$specs_only" = 0 ] && run_c "C unit tests" "$B/test-units"

# the shared sandbox for the specs; specs that need another start their own
"$B/paynet-sandbox" --port 0 > "$work/sandbox.out" 2> "$work/sandbox.log" &
echo $! >> "$work/pids"
i=0
while ! grep -q '^listening on ' "$work/sandbox.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "paynet-sandbox did not start:"; cat "$work/sandbox.log"
        echo "$passed passed, $((failed + 1)) failed"
        exit 1
    fi
    sleep 0.05
done
PAYNET_SANDBOX_URL=$(sed -n 's/^listening on //p' "$work/sandbox.out")
PAYNET_SANDBOX_LOG="$work/sandbox.log"
export PAYNET_SANDBOX_URL PAYNET_SANDBOX_LOG

if [ "$specs_only" = 0 ]; then
    run_c "C transport tests" "$B/test-transport" "$PAYNET_SANDBOX_URL" "$PAYNET_SANDBOX_LOG"
    run_c "C allocation-failure tests" "$B/test-nomem" "$PAYNET_SANDBOX_URL"
fi

# the counts come from busted's own tally (tools/busted_counts.lua), not
# from its printed summary, which a failing spec's message may quote
export PAYNET_BUSTED_COUNTS="$work/busted.counts"
# shellcheck disable=SC2086
$WRAP "$LUA" "$BUSTED" -o tools/busted_counts.lua --cpath="./$B/?.so" $busted_filter ${PAYNET_SPECS:-} > "$work/busted.out" 2>&1
busted_rc=$?
cat "$work/busted.out"
if [ -s "$work/busted.counts" ]; then
    # successes failures errors pending: a pending spec is not a pass
    set -- $(cat "$work/busted.counts")
    spec_failed=$(($2 + $3 + $4))
    if [ "$busted_rc" != 0 ] && [ "$spec_failed" = 0 ]; then
        echo "busted: exit status $busted_rc with no failed spec: a sanitizer or valgrind report"
        spec_failed=1
    fi
    echo "busted specs: $1 passed, $spec_failed failed"
    passed=$((passed + $1))
    failed=$((failed + spec_failed))
else
    echo "busted specs: no counts (busted did not finish)"
    failed=$((failed + 1))
fi

# Every secret key the specs use, looked for in everything the programs
# printed: the sandboxes' logs, the screens, the commands' output, busted's.
# (The sandbox's --help names its default key, sck_sandbox, which is public.)
cat "$work/sandbox.log" "$work/busted.out" > "$work/outputs-check.txt"
cat "$work"/outputs-*.txt | grep -vF "(default sck_sandbox)" > "$work/all-output"
leaks=""
for key in $(grep -ohE 'sck_[A-Za-z0-9_]+' spec/*.lua test/*.c | sort -u); do
    if grep -qF "$key" "$work/all-output"; then
        leaks="$leaks $key"
    fi
done
# (some specs only, SPECS=...: the screens' may rightly be missing)
if [ -z "$leaks" ] && { [ -n "${PAYNET_SPECS:-}" ] || [ -s "$work/outputs-screens.txt" ]; } \
   && { [ "$specs_only" = 1 ] || [ -s "$work/outputs-ctests.txt" ]; }; then
    echo "secret scan: $(wc -l < "$work/all-output") lines of output hold no secret key: 1 passed, 0 failed"
    passed=$((passed + 1))
elif [ -z "$leaks" ]; then
    echo "secret scan: the screens' or the C tests' output was not recorded: 0 passed, 1 failed"
    failed=$((failed + 1))
else
    echo "secret scan: secret keys found in the output:$leaks: 0 passed, 1 failed"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
