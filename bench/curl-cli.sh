#!/bin/sh
# bench/curl-cli.sh — benchmark (d): the curl command line, once per call.
# Usage: sh bench/curl-cli.sh URL CALLS [CAINFO]   prints "<calls> <seconds>"
url=$1
calls=$2
cacert=""
[ -n "${3:-}" ] && cacert="--cacert $3"
start=$(date +%s.%N)
i=0
while [ $i -lt "$calls" ]; do
    # shellcheck disable=SC2086
    curl -s -f -o /dev/null -X POST $cacert \
        -H 'Content-Type: application/json; charset=UTF-8' \
        -H 'Accept: application/json; charset=UTF-8' \
        -H 'Authorization: Basic sck_sandbox' \
        --data-binary '{"user_gsm":"5321234567","otp_session_id":"bench"}' \
        "$url/v1/card/send_otp" || { echo "curl failed on call $i" >&2; exit 1; }
    i=$((i + 1))
done
end=$(date +%s.%N)
echo "$calls $(echo "$end - $start" | awk '{ printf "%.6f", $1 - $3 }')"
