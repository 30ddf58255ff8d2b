/*
 * test_clock.c — the "server now" rule behind the countdown.
 */
#include "paynet.h"
#include "unit.h"

void suite_clock(void)
{
    CASE("server now: no Date header -> the local clock");
    CHECK(paynet_server_now(1000.25, 0, 0) == 1000.25);

    CASE("server now: Date agrees within its resolution -> the local clock");
    CHECK(paynet_server_now(1000.75, 1, 1000) == 1000.75);
    CHECK(paynet_server_now(1000.0, 1, 1000) == 1000.0);
    CHECK(paynet_server_now(1001.9, 1, 1000) == 1001.9);
    CHECK(paynet_server_now(999.5, 1, 1000) == 999.5);

    CASE("server now: the desk clock is wrong -> Date wins");
    CHECK(paynet_server_now(4600.0, 1, 1000) == 1000);
    CHECK(paynet_server_now(100.0, 1, 1000) == 1000);
    CHECK(paynet_server_now(1002.5, 1, 1000) == 1000);
    CHECK(paynet_server_now(998.5, 1, 1000) == 1000);

    CASE("countdown arithmetic: expires_in from otp_expire and server now");
    {
        paynet_instant expire = {1000180, 500000000};
        double desk_right = paynet_instant_seconds(expire)
                            - paynet_server_now(1000000.25, 1, 1000000);
        CHECK(desk_right > 180.249 && desk_right < 180.251);
        /* desk clock an hour fast: Date wins, and the countdown stays ~180 s */
        double desk_fast = paynet_instant_seconds(expire)
                           - paynet_server_now(1003600.25, 1, 1000000);
        CHECK(desk_fast > 180.49 && desk_fast < 180.51);
        /* an already expired OTP (--ttl 0) stays expired with a right clock */
        paynet_instant now = {1000000, 250000000};
        CHECK(paynet_instant_seconds(now) - paynet_server_now(1000000.26, 1, 1000000) <= 0);
    }
}
