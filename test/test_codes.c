/*
 * test_codes.c — the result-code table and the kind names.
 */
#include "paynet.h"
#include "unit.h"

void suite_codes(void)
{
    CASE("codes: the table holds 0-21 and 100, in order");
    CHECK(paynet_code_count() == 23);
    for (int i = 0; i <= 21; i++)
        CHECK(paynet_code_at((size_t)i) == i);
    CHECK(paynet_code_at(22) == 100);
    CHECK(paynet_code_at(23) == PAYNET_NO_CODE);

    CASE("codes: names from the documentation");
    CHECK_STR(paynet_code_name(0), "successful");
    CHECK_STR(paynet_code_name(7), "unauthorized");
    CHECK_STR(paynet_code_name(13), "paynetjnosession");
    CHECK_STR(paynet_code_name(21), "wrongratioget");
    CHECK_STR(paynet_code_name(100), "oldsuccessful");
    CHECK(paynet_code_name(22) == NULL);
    CHECK(paynet_code_name(-1) == NULL);
    CHECK(PAYNET_CODE_unauthorized == 7 && PAYNET_CODE_oldsuccessful == 100);

    CASE("codes: every name maps back to its number and has a meaning");
    for (size_t i = 0; i < paynet_code_count(); i++) {
        int code = paynet_code_at(i);
        CHECK(paynet_code_from_name(paynet_code_name(code)) == code);
        CHECK(paynet_code_meaning(code) != NULL && paynet_code_meaning(code)[0]);
    }
    CHECK(paynet_code_from_name("nosuch") == PAYNET_NO_CODE);
    CHECK(paynet_code_from_name(NULL) == PAYNET_NO_CODE);

    CASE("kinds and delivered have their contract names");
    CHECK_STR(paynet_status_name(PAYNET_INVALID), "invalid");
    CHECK_STR(paynet_status_name(PAYNET_COOLDOWN), "cooldown");
    CHECK_STR(paynet_status_name(PAYNET_NETWORK), "network");
    CHECK_STR(paynet_status_name(PAYNET_TIMEOUT), "timeout");
    CHECK_STR(paynet_status_name(PAYNET_TLS), "tls");
    CHECK_STR(paynet_status_name(PAYNET_HTTP), "http");
    CHECK_STR(paynet_status_name(PAYNET_API), "api");
    CHECK_STR(paynet_status_name(PAYNET_PROTOCOL), "protocol");
    CHECK_STR(paynet_status_name(PAYNET_NOMEM), "nomem");
    CHECK_STR(paynet_delivered_name(PAYNET_DELIVERED_NO), "no");
    CHECK_STR(paynet_delivered_name(PAYNET_DELIVERED_YES), "yes");
    CHECK_STR(paynet_delivered_name(PAYNET_DELIVERED_UNKNOWN), "unknown");
}
