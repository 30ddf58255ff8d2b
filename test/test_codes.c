/*
 * test_codes.c — the result-code table, the kind names and the verdict.
 */
#include "internal.h"
#include "unit.h"

/* The verdict of a reply as the decoder reads it. */
static paynet_outcome reply_outcome(long status, const char *body)
{
    paynet_result res;
    paynet_error err;
    memset(&err, 0, sizeof err);
    if (paynet_decode_reply(status, body, strlen(body), &res, &err) == PAYNET_OK)
        return PAYNET_OUTCOME_SENT;
    CHECK(err.outcome == paynet_verdict(err.kind, err.delivered, err.code));
    return err.outcome;
}

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

    CASE("the verdict: outcome names, which outcomes hold, the rule for each kind");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_SENT), "sent");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_NOT_SENT), "not_sent");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_MAYBE_SENT), "maybe_sent");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_REFUSED), "refused");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_DUPLICATE_HELD), "duplicate_held");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_COOLDOWN), "cooldown");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_LEDGER), "ledger");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_INVALID), "invalid");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_CANCELLED), "cancelled");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_BUSY), "busy");
    CHECK_STR(paynet_outcome_name(PAYNET_OUTCOME_NOMEM), "nomem");
    CHECK_STR(paynet_outcome_name((paynet_outcome)99), "unknown");
    CHECK(paynet_outcome_holds(PAYNET_OUTCOME_SENT) && paynet_outcome_holds(PAYNET_OUTCOME_MAYBE_SENT)
          && paynet_outcome_holds(PAYNET_OUTCOME_DUPLICATE_HELD));
    CHECK(!paynet_outcome_holds(PAYNET_OUTCOME_NOT_SENT) && !paynet_outcome_holds(PAYNET_OUTCOME_REFUSED)
          && !paynet_outcome_holds(PAYNET_OUTCOME_CANCELLED) && !paynet_outcome_holds(PAYNET_OUTCOME_NOMEM));
    /* nothing left: not sent, whatever failed */
    paynet_status transport[] = {PAYNET_NETWORK, PAYNET_TIMEOUT, PAYNET_TLS, PAYNET_HTTP,
                                 PAYNET_PROTOCOL};
    for (size_t i = 0; i < sizeof transport / sizeof transport[0]; i++) {
        CHECK(paynet_verdict(transport[i], PAYNET_DELIVERED_NO, PAYNET_NO_CODE)
              == PAYNET_OUTCOME_NOT_SENT);
        CHECK(paynet_verdict(transport[i], PAYNET_DELIVERED_UNKNOWN, PAYNET_NO_CODE)
              == PAYNET_OUTCOME_MAYBE_SENT);
        CHECK(paynet_verdict(transport[i], PAYNET_DELIVERED_YES, PAYNET_NO_CODE)
              == PAYNET_OUTCOME_MAYBE_SENT);
    }
    CHECK(paynet_verdict(PAYNET_CANCELLED, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_CANCELLED);
    CHECK(paynet_verdict(PAYNET_CANCELLED, PAYNET_DELIVERED_UNKNOWN, PAYNET_NO_CODE)
          == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(paynet_verdict(PAYNET_NOMEM, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_NOMEM);
    CHECK(paynet_verdict(PAYNET_NOMEM, PAYNET_DELIVERED_UNKNOWN, PAYNET_NO_CODE) == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(paynet_verdict(PAYNET_API, PAYNET_DELIVERED_YES, 7) == PAYNET_OUTCOME_REFUSED);
    CHECK(paynet_verdict(PAYNET_API, PAYNET_DELIVERED_YES, 5) == PAYNET_OUTCOME_DUPLICATE_HELD);
    CHECK(paynet_verdict(PAYNET_API, PAYNET_DELIVERED_YES, 0) == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(paynet_verdict(PAYNET_COOLDOWN, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_COOLDOWN);
    CHECK(paynet_verdict(PAYNET_LEDGER, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_LEDGER);
    CHECK(paynet_verdict(PAYNET_INVALID, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_INVALID);
    CHECK(paynet_verdict(PAYNET_BUSY, PAYNET_DELIVERED_NO, PAYNET_NO_CODE) == PAYNET_OUTCOME_BUSY);

    CASE("the verdict of replies: only Paynet's own error with a non-zero code releases");
    CHECK(reply_outcome(500, "{\"type\":\"x\",\"message\":\"Sunucu\",\"code\":500,\"result_code\":8}")
          == PAYNET_OUTCOME_REFUSED);
    CHECK(reply_outcome(401, "{\"message\":\"key\",\"code\":401,\"result_code\":7}") == PAYNET_OUTCOME_REFUSED);
    CHECK(reply_outcome(200, "{\"code\":5,\"message\":\"dup\"}") == PAYNET_OUTCOME_DUPLICATE_HELD);
    CHECK(reply_outcome(200, "{\"code\":1,\"message\":\"no\"}") == PAYNET_OUTCOME_REFUSED);
    CHECK(reply_outcome(500, "{\"message\":\"ok?\",\"code\":500,\"result_code\":0}")
          == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(400, "{\"message\":\"ok?\",\"code\":400,\"result_code\":0}")
          == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(502, "<html>Bad Gateway</html>") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(503, "") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(403, "<html>Forbidden</html>") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(302, "") == PAYNET_OUTCOME_MAYBE_SENT);
    /* an error object under a redirect or a proxy's 407 is not Paynet's */
    CHECK(reply_outcome(302, "{\"message\":\"x\",\"result_code\":8}") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(407, "{\"message\":\"x\",\"result_code\":12}") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(200, "") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(200, "OK") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(200, "{\"code\":0,\"message\":\"x\"}") == PAYNET_OUTCOME_MAYBE_SENT);
    CHECK(reply_outcome(200, "{\"code\":0,\"message\":\"x\",\"otp_expire\":\"2030-01-01T00:00:00+03:00\"}")
          == PAYNET_OUTCOME_SENT);
}
