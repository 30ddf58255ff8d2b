/*
 * test_decode.c — the reply decoder: status + body -> result or typed error.
 */
#include <cjson/cJSON.h>

#include "internal.h"
#include "unit.h"

static const struct {
    long status;
    const char *body;
    paynet_status kind;
    int code;
    const char *message_part;
} cases[] = {
    {200, "{\"otp_expire\":\"2017-07-17T15:30:15.0581408+03:00\",\"code\":0,"
          "\"message\":\"Başarılı İşlem\"}", PAYNET_OK, 0, NULL},
    {200, "{\"otp_expire\":\"2017-07-17T15:30:15Z\",\"code\":\"0\"}", PAYNET_OK, 0, NULL},
    {200, " {\"code\":0,\"otp_expire\":\"2017-07-17T15:30:15Z\"}\r\n", PAYNET_OK, 0, NULL},
    {200, "{\"code\":7,\"message\":\"yetkisiz\"}", PAYNET_API, 7, "yetkisiz"},
    {200, "{\"code\":\"13\"}", PAYNET_API, 13, "no such session"},
    {200, "{\"code\":55,\"message\":\"\"}", PAYNET_API, 55, "unknown result code"},
    {401, "{\"type\":\"unauthorized\",\"message\":\"Geçersiz\",\"code\":401,"
          "\"result_code\":7}", PAYNET_API, 7, "Geçersiz"},
    {400, "{\"type\":\"x\",\"message\":\"m\",\"code\":400,\"result_code\":\"11\"}",
     PAYNET_API, 11, "m"},
    {500, "{\"type\":\"x\",\"message\":\"m\",\"code\":500,\"result_code\":8}", PAYNET_API, 8, "m"},
    {302, "", PAYNET_HTTP, -1, "redirects are not followed"},
    {404, "[1,2]", PAYNET_HTTP, -1, "HTTP 404"},
    {200, "", PAYNET_PROTOCOL, -1, "empty"},
    {200, "OK", PAYNET_PROTOCOL, -1, "not JSON"},
    {200, "{\"code\":0", PAYNET_PROTOCOL, -1, "not JSON"},
    {200, "{\"code\":0} {}", PAYNET_PROTOCOL, -1, "not JSON"},
    {200, "[0]", PAYNET_PROTOCOL, -1, "not an object"},
    {200, "\"code\"", PAYNET_PROTOCOL, -1, "not an object"},
    {200, "{}", PAYNET_PROTOCOL, -1, "no \"code\""},
    {200, "{\"code\":true}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":-1}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":1.5}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":1e300}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":\"\"}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":\" 0\"}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":\"0x1\"}", PAYNET_PROTOCOL, -1, "\"code\" is neither"},
    {200, "{\"code\":0,\"message\":5}", PAYNET_PROTOCOL, -1, "\"message\" is not"},
    {200, "{\"code\":0}", PAYNET_PROTOCOL, -1, "without \"otp_expire\""},
    {200, "{\"code\":0,\"otp_expire\":17}", PAYNET_PROTOCOL, -1, "not a string"},
    {200, "{\"code\":0,\"otp_expire\":\"2017-02-30T00:00:00Z\"}", PAYNET_PROTOCOL, -1,
     "day 30"},
    {200, "{\"code\":0,\"otp_expire\":\"yesterday\"}", PAYNET_PROTOCOL, -1, "otp_expire"},
};

void suite_decode(void)
{
    char name[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        paynet_result res;
        paynet_error err;
        memset(&err, 0, sizeof err);
        snprintf(name, sizeof name, "decode case %zu: HTTP %ld -> %s", i,
                 cases[i].status, paynet_status_name(cases[i].kind));
        CASE(name);
        paynet_status s = paynet_decode_reply(cases[i].status, cases[i].body,
                                              strlen(cases[i].body), &res, &err);
        CHECK(s == cases[i].kind);
        if (s == PAYNET_OK) {
            CHECK(res.code == 0 && res.http_status == 200);
            CHECK(res.expires_at.sec == 1500294615 || res.expires_at.sec == 1500305415);
        } else {
            CHECK(err.kind == cases[i].kind);
            CHECK(err.code == cases[i].code);
            CHECK(err.delivered == PAYNET_DELIVERED_YES);
            CHECK(err.http_status == cases[i].status);
            CHECK(strstr(err.message, cases[i].message_part) != NULL);
        }
    }
    CASE("a 5xx without Paynet's error object: delivered unknown (a gateway "
         "answered; the backend behind it may have sent the SMS)");
    {
        static const struct {
            long status;
            const char *body, *message_part;
        } gateway[] = {
            {500, "{\"type\":\"x\",\"message\":\"down\",\"code\":500}", "HTTP 500: down"},
            {502, "<html>Bad Gateway</html>", "HTTP 502 without"},
            {503, "", "HTTP 503"},
            {504, "<html>Gateway Timeout</html>", "HTTP 504 without"},
        };
        for (size_t i = 0; i < sizeof gateway / sizeof gateway[0]; i++) {
            paynet_result res;
            paynet_error err;
            CHECK(paynet_decode_reply(gateway[i].status, gateway[i].body,
                                      strlen(gateway[i].body), &res, &err) == PAYNET_HTTP);
            CHECK(err.delivered == PAYNET_DELIVERED_UNKNOWN);
            CHECK(err.http_status == gateway[i].status && err.code == PAYNET_NO_CODE);
            CHECK(strstr(err.message, gateway[i].message_part) != NULL);
        }
    }
    CASE("decode keeps the server's UTF-8 message and the raw otp_expire");
    {
        paynet_result res;
        const char *body = "{\"otp_expire\":\"2017-07-17T15:30:15.0581408+03:00\","
                           "\"code\":0,\"message\":\"Başarılı İşlem\"}";
        CHECK(paynet_decode_reply(200, body, strlen(body), &res, NULL) == PAYNET_OK);
        CHECK_STR(res.message, "Başarılı İşlem");
        CHECK_STR(res.otp_expire, "2017-07-17T15:30:15.0581408+03:00");
        CHECK(res.expires_at.nsec == 58140800);
    }
    CASE("decode reads only the given length");
    {
        paynet_result res;
        paynet_error err;
        const char body[] = "{\"code\":0,\"otp_expire\":\"2017-07-17T15:30:15Z\"}garbage";
        CHECK(paynet_decode_reply(200, body, sizeof body - 1 - 7, &res, &err) == PAYNET_OK);
        CHECK(paynet_decode_reply(200, body, sizeof body - 1, &res, &err) == PAYNET_PROTOCOL);
    }
    CASE("decode cuts a long server message at a character boundary");
    {
        char body[2000];
        int n = snprintf(body, sizeof body, "{\"code\":1,\"message\":\"");
        for (int i = 0; i < 600; i++)
            n += snprintf(body + n, sizeof body - (size_t)n, "ş");
        snprintf(body + n, sizeof body - (size_t)n, "\"}");
        paynet_result res;
        paynet_error err;
        CHECK(paynet_decode_reply(200, body, strlen(body), &res, &err) == PAYNET_API);
        size_t len = strlen(err.message);
        CHECK(len < PAYNET_MESSAGE_SIZE && len % 2 == 0);
        CHECK(strncmp(err.message, "ş", 2) == 0);
    }

    CASE("one reader for every reply (cJSON's tree): plain, unusual and broken 200s");
    {
        static const struct {
            const char *body;
            paynet_status status;
            int code;
            const char *text; /* the result's otp_expire, or the error's message */
        } replies[] = {
            {"{\"otp_expire\": \"2017-07-17T15:30:15.0581408+03:00\", \"code\": 0, "
             "\"message\": \"Başarılı İşlem\"}", PAYNET_OK, 0, "2017-07-17T15:30:15.0581408+03:00"},
            {"{\"otp_expire\":\"2017-07-17T15:30:15Z\",\"code\":\"0\"}", PAYNET_OK, 0,
             "2017-07-17T15:30:15Z"},
            {" {\"code\":0,\"otp_expire\":\"2017-07-17T15:30:15Z\"}\r\n", PAYNET_OK, 0,
             "2017-07-17T15:30:15Z"},
            {"{\"code\":7,\"message\":\"yetkisiz\",\"extra\":\"x\",\"n\":12}", PAYNET_API, 7,
             "yetkisiz"},
            {"{\"code\":0,\"otp_expire\":\"2017-02-30T00:00:00Z\"}", PAYNET_PROTOCOL, -1,
             "unusable reply (HTTP 200): otp_expire has day 30, which 2017-02 does not have"},
            {"{}", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): no \"code\" field"},
            {"[0]", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): the JSON is not an object"},
            {"{\"code\":0,\"message\":\"a\\\"b\",\"otp_expire\":\"2030-01-01T00:00:00Z\"}",
             PAYNET_OK, 0, "2030-01-01T00:00:00Z"},
            /* a repeated field: the first one counts */
            {"{\"code\":0,\"code\":7,\"otp_expire\":\"2030-01-01T00:00:00Z\"}", PAYNET_OK, 0,
             "2030-01-01T00:00:00Z"},
            {"{\"code\":true}", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): \"code\" is "
             "neither a non-negative integer nor a string of digits"},
            {"{\"code\":1.5}", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): \"code\" is "
             "neither a non-negative integer nor a string of digits"},
            {"{\"code\":-1}", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): \"code\" is "
             "neither a non-negative integer nor a string of digits"},
            {"{\"code\":1e3}", PAYNET_API, 1000, "unknown result code"},
            {"{\"code\":0,\"x\":{\"y\":1},\"otp_expire\":\"2030-01-01T00:00:00Z\"}", PAYNET_OK, 0,
             "2030-01-01T00:00:00Z"},
            {"{\"code\":0,\"message\":null,\"otp_expire\":\"2030-01-01T00:00:00Z\"}", PAYNET_OK, 0,
             "2030-01-01T00:00:00Z"},
            {"{\"code\":0,\"otp_expire\":17}", PAYNET_PROTOCOL, -1,
             "unusable reply (HTTP 200): \"otp_expire\" is not a string"},
            {"{\"code\":\" 0\"}", PAYNET_PROTOCOL, -1, "unusable reply (HTTP 200): \"code\" is "
             "neither a non-negative integer nor a string of digits"},
            {"{\"code\":1234567890}", PAYNET_API, 1234567890, "unknown result code"},
            {"\xEF\xBB\xBF{\"code\":0,\"otp_expire\":\"2030-01-01T00:00:00Z\"}", PAYNET_OK, 0,
             "2030-01-01T00:00:00Z"},
            {"{\"code\":0,\"otp_expire\":\"2030-01-01T00:00:00Z\"} {}", PAYNET_PROTOCOL, -1,
             "unusable reply (HTTP 200): the body is not JSON"},
            {"{\"code\":0,\"message\":\"tab\there\",\"otp_expire\":\"2030-01-01T00:00:00Z\"}",
             PAYNET_OK, 0, "2030-01-01T00:00:00Z"},
        };
        int right = 0;
        for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
            paynet_result r;
            paynet_error e;
            paynet_status s = paynet_decode_reply(200, replies[i].body, strlen(replies[i].body),
                                                  &r, &e);
            if (s == replies[i].status
                && (s == PAYNET_OK ? r.code == replies[i].code
                                         && strcmp(r.otp_expire, replies[i].text) == 0
                                   : e.code == replies[i].code
                                         && strcmp(e.message, replies[i].text) == 0))
                right++;
            else
                fprintf(stderr, "  reply %zu: status %d\n", i, (int)s);
        }
        CHECK(right == (int)(sizeof replies / sizeof replies[0]));
    }

    CASE("the request body is the JSON cJSON would print, written in place");
    {
        char longest[129];
        memset(longest, '"', 128);
        longest[128] = '\0';
        const char *ids[] = {"order-42", "a\"b\\c/d", "sipariş-ğüİ €", longest, "\\"};
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            char body[PAYNET_BODY_SIZE];
            size_t n = paynet_request_body("5321234567", ids[i], body, sizeof body);
            cJSON *root = cJSON_CreateObject();
            cJSON_AddStringToObject(root, "user_gsm", "5321234567");
            cJSON_AddStringToObject(root, "otp_session_id", ids[i]);
            char *expected = cJSON_PrintUnformatted(root);
            CHECK_STR(body, expected);
            CHECK(n == strlen(expected));
            cJSON_free(expected);
            cJSON_Delete(root);
        }
    }
}
