/*
 * test_scope.c — the Paynet system a URL names (core/scope.c): one scope
 * however a desk spells the address.
 */
#include "internal.h"
#include "unit.h"

static int scope_is(const char *url, const char *expected)
{
    char out[PAYNET_SCOPE_SIZE];
    return paynet_scope_of(url, out, sizeof out) && strcmp(out, expected) == 0;
}

void suite_scope(void)
{
    CASE("scope: scheme and host case, default ports and trailing slashes make no new scope");
    CHECK(scope_is("https://api.paynet.com.tr", "https://api.paynet.com.tr"));
    CHECK(scope_is("https://API.paynet.com.tr:443/", "https://api.paynet.com.tr"));
    CHECK(scope_is("HTTPS://Api.Paynet.Com.Tr:0443//", "https://api.paynet.com.tr"));
    CHECK(scope_is("http://127.0.0.1:80/", "http://127.0.0.1"));
    CHECK(scope_is("http://127.0.0.1:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://LOCALHOST:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://localhost:8080/", "http://127.0.0.1:8080"));
    /* 443 is the default of https only, 80 of http only */
    CHECK(scope_is("http://api.paynet.com.tr:443", "http://api.paynet.com.tr:443"));
    CHECK(scope_is("https://api.paynet.com.tr:80", "https://api.paynet.com.tr:80"));

    CASE("scope: credentials are left out, a path kept (its case too), IPv6 literals read whole");
    CHECK(scope_is("https://user:pw@gw.example:8443/Paynet/", "https://gw.example:8443/Paynet"));
    CHECK(scope_is("http://[::1]:8080/", "http://[::1]:8080"));
    CHECK(scope_is("http://[::1]", "http://[::1]"));
    CHECK(scope_is("http://[FE80::1]:80", "http://[fe80::1]"));
    CHECK(scope_is("http://localhostx:1", "http://localhostx:1"));

    CASE("scope: every spelling libcurl reaches one server by is one scope");
    CHECK(scope_is("http://%6Cocalhost:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://127.1:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://2130706433:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://0x7f.0.0.1:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://[::ffff:127.0.0.1]:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"));
    CHECK(scope_is("http://localhost.:8080", "http://127.0.0.1:8080"));
    CHECK(scope_is("https://api.paynet.com.tr.", "https://api.paynet.com.tr"));
    CHECK(scope_is("https://API.PAYNET.%43OM.tr", "https://api.paynet.com.tr"));
    CHECK(scope_is("http://a@b@c:8080", "http://c:8080")); /* the last @ ends the credentials */
    CHECK(scope_is("http://%zz:1", "http://%zz:1"));       /* not an escape: kept */

    CASE("scope: no URL, or one that does not fit, is refused");
    char small[12];
    CHECK(!paynet_scope_of("127.0.0.1:8080", small, sizeof small));
    CHECK(!paynet_scope_of("https://api.paynet.com.tr", small, sizeof small));
    CHECK(paynet_scope_of("http://a.b", small, sizeof small) && strcmp(small, "http://a.b") == 0);
}
