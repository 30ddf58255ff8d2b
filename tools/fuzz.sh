#!/bin/sh
# make fuzz: runs every libFuzzer target for FUZZ_SECONDS (default 60) from
# its committed seeds (fuzz/corpus/NAME); new inputs go to
# build-fuzz/corpus-NAME, crashes to build-fuzz/.  Any crash, leak or
# sanitizer report fails.  Ends with "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
seconds=${FUZZ_SECONDS:-60}
passed=0
failed=0
for target in decode expire gsm text formats; do
    bin=build-fuzz/fuzz_$target
    mkdir -p "build-fuzz/corpus-$target"
    "$bin" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/$target-" \
        "build-fuzz/corpus-$target" "fuzz/corpus/$target" > "build-fuzz/$target.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$target.log" | tail -n 1)
    if [ "$rc" = 0 ] && [ -n "$runs" ]; then
        echo "fuzz_$target: ${runs} executions in ${seconds} s, no crash, leak or report"
        passed=$((passed + 1))
    else
        echo "fuzz_$target: FAILED (exit $rc); the end of build-fuzz/$target.log:"
        tail -n 40 "build-fuzz/$target.log"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
