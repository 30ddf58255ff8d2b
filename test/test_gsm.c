/*
 * test_gsm.c — phone numbers and session ids.
 */
#include "paynet.h"
#include "unit.h"

static const struct {
    const char *input;
    const char *expected;
} valid[] = {
    {"5321234567", "5321234567"},
    {"05321234567", "5321234567"},
    {"905321234567", "5321234567"},
    {"+905321234567", "5321234567"},
    {"+90 (532) 123 45 67", "5321234567"},
    {"0532-123-45-67", "5321234567"},
    {"0 (532) 123 4567", "5321234567"},
    {"+90-532-123-45-67", "5321234567"},
    {"  5321234567  ", "5321234567"},
    {"0090 532 123 45 67", "5321234567"},
    {"00905321234567", "5321234567"},
};

static const struct {
    const char *input;
    const char *why;
} invalid[] = {
    {"", "empty"},
    {"   ", "needs 10 more digits (10 after the prefix: 5XXXXXXXXX)"},
    {"532123456", "needs 1 more digit (10 after"},
    {"0532 123", "needs 4 more digits"},
    {"+90 532", "needs 7 more digits"},
    {"0090 53", "needs 8 more digits"},
    {"009", "needs 10 more digits"},
    {"0", "needs 10 more digits"},
    {"9", "needs 10 more digits"},
    {"+", "needs 10 more digits"},
    {"0044 7911 123456", "after 00 it must continue with the country code 90"},
    {"53212345678", "has 11 digits after its prefix"},
    {"4321234567", "must start with 5"},
    {"02121234567", "must start with 5"},
    {"+15321234567", "country code 90"},
    {"+9053212345", "needs 2 more digits"},
    {"+8", "country code 90"},
    {"905321234567 8", "has 11 digits after its prefix"},
    {"5321234567+", "'+'"},
    {"++905321234567", "'+'"},
    {"532.123.4567", "'.'"},
    {"532123456a", "'a'"},
    {"532\r\n1234567", "control character at byte 4"},
    {"532\x1b[2J1234567", "control character at byte 4"},
    {"\xd9\xa5\xd9\xa3\xd9\xa2", "non-ASCII character at byte 1"},
    {"0090532123456", "needs 1 more digit"},
    {"00905321234567890", "has 13 digits after its prefix"},
    {"5555555555555555555555555555555555555555555555555555555555555555555",
     "too long"},
};

void suite_gsm(void)
{
    char name[160];
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char out[PAYNET_GSM_SIZE];
        paynet_error err;
        snprintf(name, sizeof name, "gsm normalises '%s'", valid[i].input);
        CASE(name);
        CHECK(paynet_gsm_normalize(valid[i].input, out, &err) == PAYNET_OK);
        CHECK_STR(out, valid[i].expected);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char out[PAYNET_GSM_SIZE];
        paynet_error err;
        snprintf(name, sizeof name, "gsm refuses case %zu (%s)", i, invalid[i].why);
        CASE(name);
        CHECK(paynet_gsm_normalize(invalid[i].input, out, &err) == PAYNET_INVALID);
        CHECK(err.kind == PAYNET_INVALID && err.delivered == PAYNET_DELIVERED_NO);
        CHECK(strstr(err.message, invalid[i].why) != NULL);
        /* the message never echoes control characters */
        int clean = 1;
        for (const char *p = err.message; *p; p++)
            clean &= (unsigned char)*p >= 0x20;
        CHECK(clean);
    }
    CASE("gsm refuses NULL");
    {
        char out[PAYNET_GSM_SIZE];
        CHECK(paynet_gsm_normalize(NULL, out, NULL) == PAYNET_INVALID);
    }

    static const struct {
        const char *id;
        int ok;
    } ids[] = {
        {"order-42", 1},
        {"sipariş-42", 1},
        {"x", 1},
        {"", 0},
        {"a\nb", 0},
        {"a\rb", 0},
        {"a\tb", 0},
        {"a\x7f", 0},
        {"\xc3\x28", 0},    /* broken UTF-8 */
        {"\xed\xa0\x80", 0}, /* a surrogate */
        {"\xc0\xaf", 0},     /* overlong */
        {"a\xc2\x9b" "b", 0}, /* U+009B, a C1 control */
        {"a\xc2\xa0" "b", 1}, /* U+00A0, a no-break space */
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        paynet_error err;
        snprintf(name, sizeof name, "session id case %zu is %s", i,
                 ids[i].ok ? "accepted" : "refused");
        CASE(name);
        CHECK((paynet_session_id_check(ids[i].id, &err) == PAYNET_OK) == ids[i].ok);
    }
    CASE("session id: 128 bytes accepted, 129 refused");
    {
        char id[130];
        memset(id, 'a', 129);
        id[128] = '\0';
        CHECK(paynet_session_id_check(id, NULL) == PAYNET_OK);
        id[128] = 'a';
        id[129] = '\0';
        paynet_error err;
        CHECK(paynet_session_id_check(id, &err) == PAYNET_INVALID);
        CHECK(strstr(err.message, "too long") != NULL);
    }
}
