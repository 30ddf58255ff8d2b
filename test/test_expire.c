/*
 * test_expire.c — the otp_expire parser and formatter.
 */
#include "paynet.h"
#include "unit.h"

static const struct {
    const char *text;
    int64_t sec;
    int32_t nsec;
} valid[] = {
    /* the example from Paynet's documentation */
    {"2017-07-17T15:30:15.0581408+03:00", 1500294615, 58140800},
    {"1970-01-01T00:00:00Z", 0, 0},
    {"1970-01-01T00:00:00z", 0, 0},
    {"1970-01-01t03:00:00+03:00", 0, 0},
    {"1969-12-31T23:59:59.999999999Z", -1, 999999999},
    {"2024-02-29T12:00:00.5-05:30", 1709227800, 500000000},
    {"2000-02-29T00:00:00Z", 951782400, 0},
    {"2038-01-19T03:14:08Z", 2147483648LL, 0},
    {"9999-12-31T23:59:59Z", 253402300799LL, 0},
    {"0000-01-01T00:00:00Z", -62167219200LL, 0},
    {"2026-11-25T22:56:05.1+03:00", 1795636565, 100000000},
    {"2026-11-25T22:56:05.123456789+23:59", 1795561025, 123456789},
};

static const char *const invalid[] = {
    "",
    "2017-07-17",
    "2017-07-17T15:30:15",            /* no zone */
    "2017-07-17 15:30:15Z",           /* space instead of T */
    "2017-07-17T15:30:15.Z",          /* dot without digits */
    "2017-07-17T15:30:15.0123456789Z",/* ten digits */
    "2017-02-29T00:00:00Z",           /* not a leap year */
    "1900-02-29T00:00:00Z",           /* century rule */
    "2017-04-31T00:00:00Z",
    "2017-13-01T00:00:00Z",
    "2017-00-01T00:00:00Z",
    "2017-01-00T00:00:00Z",
    "2017-01-01T24:00:00Z",
    "2017-01-01T23:60:00Z",
    "2016-12-31T23:59:60Z",           /* leap second */
    "2017-01-01T00:00:00+24:00",
    "2017-01-01T00:00:00+03:60",
    "2017-01-01T00:00:00+0300",
    "2017-01-01T00:00:00+03",
    "2017-01-01T00:00:00Z ",          /* trailing byte */
    "2017-01-01T00:00:00ZZ",
    "+017-01-01T00:00:00Z",
    "2017-1-01T00:00:00Z",
    "2017-01-01T0:00:00Z",
    " 2017-01-01T00:00:00Z",
    "2017-01-01T00:00:00.-1Z",
    "２０１７-01-01T00:00:00Z",        /* non-ASCII digits */
};

void suite_expire(void)
{
    char name[160];
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        paynet_instant t;
        paynet_error err;
        snprintf(name, sizeof name, "expire parses %s", valid[i].text);
        CASE(name);
        CHECK(paynet_expire_parse(valid[i].text, strlen(valid[i].text), &t, &err)
              == PAYNET_OK);
        CHECK(t.sec == valid[i].sec);
        CHECK(t.nsec == valid[i].nsec);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        paynet_instant t;
        paynet_error err;
        snprintf(name, sizeof name, "expire refuses '%s'", invalid[i]);
        CASE(name);
        CHECK(paynet_expire_parse(invalid[i], strlen(invalid[i]), &t, &err)
              == PAYNET_INVALID);
        CHECK(err.kind == PAYNET_INVALID);
        CHECK(strncmp(err.message, "otp_expire", 10) == 0);
    }

    CASE("expire stops at the given length (no NUL needed, none read past)");
    {
        const char text[] = "2017-07-17T15:30:15Zjunk";
        paynet_instant t;
        CHECK(paynet_expire_parse(text, 20, &t, NULL) == PAYNET_OK);
        CHECK(t.sec == 1500305415);
        CHECK(paynet_expire_parse("2017-07-17T15:30:15Z\0", 21, &t, NULL) != PAYNET_OK);
    }

    CASE("expire formats .NET style at +03:00 and parses back");
    {
        char buf[64];
        paynet_instant t = {1500294615, 58140800}, back;
        CHECK(paynet_expire_format(t, 180, 7, buf, sizeof buf) == 33);
        CHECK_STR(buf, "2017-07-17T15:30:15.0581408+03:00");
        CHECK(paynet_expire_parse(buf, strlen(buf), &back, NULL) == PAYNET_OK);
        CHECK(back.sec == t.sec && back.nsec == t.nsec);
    }

    CASE("expire formats UTC, negative offsets, no fraction, before 1970");
    {
        char buf[64];
        paynet_instant t = {0, 0};
        CHECK(paynet_expire_format(t, 0, 0, buf, sizeof buf) > 0);
        CHECK_STR(buf, "1970-01-01T00:00:00Z");
        CHECK(paynet_expire_format(t, -330, 3, buf, sizeof buf) > 0);
        CHECK_STR(buf, "1969-12-31T18:30:00.000-05:30");
        paynet_instant u = {-1, 999999999};
        CHECK(paynet_expire_format(u, 0, 9, buf, sizeof buf) > 0);
        CHECK_STR(buf, "1969-12-31T23:59:59.999999999Z");
    }

    CASE("expire format refuses bad arguments and small buffers");
    {
        char buf[64];
        paynet_instant t = {0, 0};
        CHECK(paynet_expire_format(t, 0, 10, buf, sizeof buf) == -1);
        CHECK(paynet_expire_format(t, 24 * 60, 0, buf, sizeof buf) == -1);
        CHECK(paynet_expire_format(t, 180, 7, buf, 10) == -1);
    }

    CASE("expire round-trips every day of 1999-2101 at +03:00");
    {
        char buf[64];
        int ok = 1;
        for (int64_t s = 915148800; s < 4136918400LL && ok; s += 86400 + 3599) {
            paynet_instant t = {s, 123456700}, back;
            ok = paynet_expire_format(t, 180, 7, buf, sizeof buf) > 0
                 && paynet_expire_parse(buf, strlen(buf), &back, NULL) == PAYNET_OK
                 && back.sec == s && back.nsec == 123456700;
        }
        CHECK(ok);
    }

    CASE("instant seconds as a double");
    {
        paynet_instant t = {1500294615, 58140800};
        double d = paynet_instant_seconds(t);
        CHECK(d > 1500294615.0581 && d < 1500294615.0582);
    }
}
