#!/bin/sh
# make demo: the operator screen against a local sandbox on a free port.
# The sandbox's log goes to build/demo-sandbox.log; the sandbox stops when
# the screen exits, however it exits.
set -u
cd "$(dirname "$0")/.." || exit 1

log=build/demo-sandbox.log
out=$(mktemp)
build/paynet-sandbox --port 0 > "$out" 2> "$log" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null; rm -f "$out"' EXIT
trap 'exit 130' INT TERM HUP

i=0
until grep -q '^listening on ' "$out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $sandbox 2>/dev/null; then
        echo "paynet-sandbox did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$out")

# shellcheck disable=SC2086
PAYNET_SECRET_KEY=sck_sandbox build/paynet-tui --base-url "$url" ${DEMO_ARGS:-}
status=$?
echo "paynet-tui exited ($status); the sandbox's log is $log"
exit $status
