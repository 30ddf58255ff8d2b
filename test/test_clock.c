/*
 * test_clock.c — the "server now" rule behind the countdown.
 */
#include <string.h>

#include "internal.h"
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

    CASE("server now: a Date more than a day off is ignored");
    CHECK(paynet_server_now(1795636385.0, 1, 0) == 1795636385.0); /* 1970 */
    CHECK(paynet_server_now(1000000.0, 1, 1000000 + 86400) == 1000000.0);
    CHECK(paynet_server_now(1000000.0, 1, 1000000 + 86399) == 1000000 + 86399);
    CHECK(paynet_date_trusted(1000000.0, 1000000 - 86400) == 0);
    CHECK(paynet_date_trusted(1000000.0, 1000000 - 86399) == 1);

    CASE("hold: the longer of the two estimates of otp_expire - now");
    /* a front end whose Date runs 10 minutes fast: the desk's estimate */
    CHECK(paynet_hold_seconds(1000180, 1000000, 1, 1000600) == 180);
    /* the desk runs 10 minutes fast: the server's estimate */
    CHECK(paynet_hold_seconds(1000180, 1000600, 1, 1000000) == 180);
    /* both agree: the desk's finer clock */
    CHECK(paynet_hold_seconds(1000180, 1000000.5, 1, 1000000) == 179.5);
    /* no Date: the desk's */
    CHECK(paynet_hold_seconds(1000180, 1000000, 0, 0) == 180);
    /* a Date in 1970 is ignored: no decades-long hold */
    CHECK(paynet_hold_seconds(1000180, 1000000, 1, 0) == 180);

    CASE("Date header: IMF-fixdate, the obsolete forms, and refusals");
    {
        double d = 0;
        const char *fix = "Date: Wed, 25 Nov 2026 19:53:05 GMT\r\n";
        CHECK(paynet_date_header(fix, strlen(fix), &d) == 1 && d == 1795636385.0);
        const char *lower = "date:Sun, 06 Nov 1994 08:49:37 GMT";
        CHECK(paynet_date_header(lower, strlen(lower), &d) == 1 && d == 784111777.0);
        const char *rfc850 = "Date: Sunday, 06-Nov-94 08:49:37 GMT\r\n";
        CHECK(paynet_date_header(rfc850, strlen(rfc850), &d) == 1 && d == 784111777.0);
        const char *asctime_form = "Date: Sun Nov  6 08:49:37 1994\r\n";
        CHECK(paynet_date_header(asctime_form, strlen(asctime_form), &d) == 1 && d == 784111777.0);
        const char *bad[] = {"Date: yesterday\r\n", "Dated: Sun, 06 Nov 1994 08:49:37 GMT",
                             "Content-Type: text/plain", "Date:", "Date: Sun, 06 Xyz 1994 08:49:37 GMT"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK(paynet_date_header(bad[i], strlen(bad[i]), &d) == 0);
    }

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
