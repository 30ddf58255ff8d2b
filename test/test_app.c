/*
 * test_app.c — the operator screen's state machine, and its key table
 * (curses only for the KEY_ codes).
 */
#include <curses.h>

#include "../tui/app.h"
#include "../tui/keys.h"
#include "unit.h"

static void fresh(struct app *app)
{
    app_init(app, "test", "http://127.0.0.1:1/v1/card/send_otp");
}

static paynet_error error_of(paynet_status kind, paynet_delivered delivered, int code,
                             long http_status, double retry_after, const char *message)
{
    paynet_error err;
    memset(&err, 0, sizeof err);
    err.kind = kind;
    err.delivered = delivered;
    err.code = code;
    err.outcome = paynet_verdict(kind, delivered, code); /* as the core sets it */
    err.http_status = http_status;
    err.retry_after = retry_after;
    snprintf(err.message, sizeof err.message, "%s", message);
    return err;
}

static void ready_to_send(struct app *app)
{
    fresh(app);
    app_set_input(app, FOCUS_GSM, "0532 123 45 67");
    app_set_input(app, FOCUS_SESSION, "order-42");
}

static void test_inputs(void)
{
    struct app app;
    CASE("app starts on the phone field with a hint, test env not live");
    fresh(&app);
    CHECK(app.focus == FOCUS_GSM && !app.live && !app.sending);
    CHECK(strstr(app.status, "phone number") != NULL);
    app_init(&app, "live", "https://api.paynet.com.tr/v1/card/send_otp");
    CHECK(app.live);

    CASE("app shows the number as it will be sent, or why not");
    fresh(&app);
    CHECK(app_set_input(&app, FOCUS_GSM, "+90 (532) 123 45 67") & APP_REDRAW);
    CHECK(app.gsm_valid);
    CHECK_STR(app.gsm, "5321234567");
    app_set_input(&app, FOCUS_GSM, "0532 123");
    CHECK(!app.gsm_valid && strstr(app.gsm_problem, "needs 4 more digits") != NULL);
    app_set_input(&app, FOCUS_GSM, "");
    CHECK(!app.gsm_valid && app.gsm_problem[0] == '\0');

    CASE("Tab and Shift-Tab move the focus and tell the form");
    fresh(&app);
    CHECK(app_apply(&app, ACTION_NEXT_FIELD, 0) == (APP_REDRAW | APP_FOCUS));
    CHECK(app.focus == FOCUS_SESSION);
    app_apply(&app, ACTION_PREV_FIELD, 0);
    CHECK(app.focus == FOCUS_GSM);

    CASE("F2 asks for a fresh id; F1 toggles help; Esc closes help");
    fresh(&app);
    CHECK(app_apply(&app, ACTION_NEW_ID, 0) & APP_NEW_ID);
    app_set_session(&app, "otp-0011223344556677");
    CHECK_STR(app.session_input, "otp-0011223344556677");
    app_apply(&app, ACTION_HELP, 0);
    CHECK(app.help);
    CHECK(app_apply(&app, ACTION_CANCEL, 0) == APP_REDRAW);
    CHECK(!app.help);
    CHECK(app_apply(&app, ACTION_CANCEL, 0) == 0);
}

static void test_send_refusals(void)
{
    struct app app;
    CASE("Enter without a number, with a bad number, without a session: no send");
    fresh(&app);
    CHECK(!(app_apply(&app, ACTION_SEND, 0) & APP_START_SEND));
    CHECK(app.tone == TONE_ERROR && strstr(app.status, "type the customer's phone") != NULL);
    app_set_input(&app, FOCUS_GSM, "4321234567");
    CHECK(!(app_apply(&app, ACTION_SEND, 0) & APP_START_SEND));
    CHECK(strstr(app.status, "not valid") != NULL);
    CHECK(strstr(app.detail, "start with 5") != NULL);
    app_set_input(&app, FOCUS_GSM, "5321234567");
    CHECK(!(app_apply(&app, ACTION_SEND, 0) & APP_START_SEND));
    CHECK(strstr(app.status, "F2") != NULL);

    CASE("Enter with both inputs asks the loop to start the send");
    ready_to_send(&app);
    CHECK(app_apply(&app, ACTION_SEND, 0) == APP_START_SEND);

    CASE("a cooldown refusal shows the time left and what the customer can do");
    ready_to_send(&app);
    paynet_error err = error_of(PAYNET_COOLDOWN, PAYNET_DELIVERED_NO, PAYNET_NO_CODE, 0,
                                151.2, "valid for 152 s more");
    app_send_refused(&app, &err);
    CHECK(app.tone == TONE_WARN);
    CHECK(strstr(app.status, "02:32") != NULL);
    CHECK(strstr(app.status, "532*****67") != NULL);
    CHECK(!app.sending && app.history_count == 0);
}

static void test_sending(void)
{
    struct app app;
    paynet_result res;
    memset(&res, 0, sizeof res);

    CASE("while sending: Enter is refused, Esc cancels, F10 cancels and quits");
    ready_to_send(&app);
    app_send_started(&app, 100.0);
    CHECK(app.sending);
    CHECK(strstr(app.status, "Sending an OTP to 532*****67") != NULL);
    CHECK(!(app_apply(&app, ACTION_SEND, 100.1) & APP_START_SEND));
    CHECK(app.tone == TONE_WARN);
    CHECK(app_apply(&app, ACTION_CANCEL, 100.2) == APP_CANCEL_SEND);
    CHECK(app_apply(&app, ACTION_QUIT, 100.2) == (APP_CANCEL_SEND | APP_QUIT));

    CASE("success: status with the cleaned message, countdown, history");
    snprintf(res.message, sizeof res.message, "Başarılı\x1b[2J İşlem");
    res.expires_in = 179.6;
    app_send_finished(&app, PAYNET_OK, &res, NULL, "20:01:02", "20:04:02");
    CHECK(!app.sending && app.tone == TONE_OK);
    CHECK(strstr(app.status, "Başarılı\xEF\xBF\xBD[2J İşlem") != NULL);
    CHECK(strstr(app.status, "Valid until 20:04:02") != NULL);
    CHECK(strchr(app.status, 0x1b) == NULL);
    const struct app_countdown *c = app_countdown_of(&app, "5321234567");
    CHECK(c != NULL && c->total == 179.6 && !c->uncertain);
    CHECK(app.history_count == 1);
    CHECK_STR(app.history[0].masked, "532*****67");
    CHECK_STR(app.history[0].session, "order-42");
    CHECK_STR(app.history[0].time, "20:01:02");
    CHECK(strstr(app.history[0].outcome, "sent, valid until 20:04:02") != NULL);

    CASE("a success whose OTP already expired says so");
    ready_to_send(&app);
    app_send_started(&app, 0);
    res.expires_in = -0.2;
    app_send_finished(&app, PAYNET_OK, &res, NULL, "20:01:02", "20:01:02");
    CHECK(strstr(app.status, "already expired") != NULL);
    CHECK(app_countdown_of(&app, "5321234567") == NULL);

    CASE("a timeout after sending: may have gone out, number held");
    ready_to_send(&app);
    app_send_started(&app, 0);
    paynet_error err = error_of(PAYNET_TIMEOUT, PAYNET_DELIVERED_UNKNOWN, PAYNET_NO_CODE, 0,
                                180, "no complete reply within 15 s");
    app_send_finished(&app, PAYNET_TIMEOUT, NULL, &err, "20:01:02", "");
    CHECK(app.tone == TONE_ERROR);
    CHECK(strstr(app.status, "may have gone out") != NULL);
    CHECK(strstr(app.detail, "no complete reply") != NULL);
    c = app_countdown_of(&app, "5321234567");
    CHECK(c != NULL && c->uncertain && c->total == 180);
    CHECK_STR(app.history[0].outcome, "timeout, may have gone out");

    CASE("a wrong key: check the secret key, with the code name and server message");
    ready_to_send(&app);
    app_send_started(&app, 0);
    err = error_of(PAYNET_API, PAYNET_DELIVERED_YES, 7, 401, 0, "Geçersiz gizli anahtar");
    app_send_finished(&app, PAYNET_API, NULL, &err, "20:01:02", "");
    CHECK(strstr(app.status, "Check the secret key") != NULL);
    CHECK_STR(app.detail, "unauthorized (code 7, HTTP 401): Geçersiz gizli anahtar");
    CHECK_STR(app.history[0].outcome, "refused: unauthorized (code 7)");
    CHECK(app_countdown_of(&app, "5321234567") == NULL);

    CASE("a cancel before sending is a warning, not an error");
    ready_to_send(&app);
    app_send_started(&app, 0);
    err = error_of(PAYNET_CANCELLED, PAYNET_DELIVERED_NO, PAYNET_NO_CODE, 0, 0, "cancelled");
    app_send_finished(&app, PAYNET_CANCELLED, NULL, &err, "20:01:02", "");
    CHECK(app.tone == TONE_WARN && strstr(app.status, "before anything was sent") != NULL);
    CHECK_STR(app.history[0].outcome, "cancelled, not sent");

    CASE("history keeps the newest first, at most APP_HISTORY_MAX");
    ready_to_send(&app);
    for (int i = 0; i < APP_HISTORY_MAX + 5; i++) {
        char clock_text[16];
        snprintf(clock_text, sizeof clock_text, "t%d", i);
        app_send_started(&app, 0);
        app_send_finished(&app, PAYNET_CANCELLED, NULL, &err, clock_text, "");
    }
    CHECK(app.history_count == APP_HISTORY_MAX);
    CHECK_STR(app.history[0].time, "t104");
    CHECK_STR(app.history[APP_HISTORY_MAX - 1].time, "t5");
}

static void test_clock(void)
{
    struct app app;
    CASE("tick redraws only when the displayed second changes");
    ready_to_send(&app);
    CHECK(app_tick(&app, 10.0, 179.5) == APP_REDRAW);
    CHECK(app.shown_second == 180);
    CHECK(app_tick(&app, 10.2, 179.3) == 0);
    CHECK(app_tick(&app, 10.6, 178.9) == APP_REDRAW);
    CHECK(app_tick(&app, 10.7, 178.8) == 0);

    CASE("the next wake is the next second boundary; idle never wakes");
    CHECK(app_next_wake_ms(&app, 10.7) >= 800 && app_next_wake_ms(&app, 10.7) <= 810);
    app_tick(&app, 200, 0);
    CHECK(app.shown_second == 0);
    CHECK(app_next_wake_ms(&app, 200) == 1000); /* the number is still typed */
    char typed[APP_GSM_INPUT_MAX + 1];
    snprintf(typed, sizeof typed, "%s", app.gsm_input);
    app_set_input(&app, FOCUS_GSM, "");
    CHECK(app_next_wake_ms(&app, 200) == -1);
    app_set_input(&app, FOCUS_GSM, typed);

    CASE("a typed number nobody holds is asked about each second; who holds it redraws once");
    {
        struct app idle;
        fresh(&idle);
        app_set_input(&idle, FOCUS_GSM, "0532 123 45 67");
        app_tick(&idle, 5, 0);
        CHECK(app_next_wake_ms(&idle, 5) == 1000);
        paynet_holder h;
        memset(&h, 0, sizeof h);
        snprintf(h.state, sizeof h.state, "sent");
        snprintf(h.operator_name, sizeof h.operator_name, "mehmet");
        h.sent_at = 1000;
        h.remaining = 120;
        CHECK(app_set_holder(&idle, &h, 1060) == APP_REDRAW);
        CHECK(idle.has_holder && idle.holder_total == 180);
        h.remaining = 119;
        CHECK(app_set_holder(&idle, &h, 1061) == 0); /* the same hold: the tick redraws */
        CHECK(app_set_holder(&idle, NULL, 1062) == APP_REDRAW);
        CHECK(!idle.has_holder);
        CHECK(app_set_holder(&idle, NULL, 1063) == 0);
    }

    CASE("another number shows its own countdown (redraw forced)");
    app_tick(&app, 10.0, 50.5);
    app_set_input(&app, FOCUS_GSM, "5329999999");
    CHECK(app_tick(&app, 10.0, 50.5) == APP_REDRAW);

    CASE("while sending: the spinner moves at 5 Hz and the elapsed time follows");
    ready_to_send(&app);
    app_tick(&app, 0, 0);
    app_send_started(&app, 100.0);
    CHECK(app_tick(&app, 100.1, 0) == 0);
    CHECK(app_tick(&app, 100.25, 0) == APP_REDRAW);
    CHECK(app.send_elapsed > 0.24 && app.send_elapsed < 0.26);
    int wake = app_next_wake_ms(&app, 100.25);
    CHECK(wake > 140 && wake <= 160);
}

static void test_text(void)
{
    CASE("the screen cleans text through the core");
    char out[64];
    app_clean_text("a\x1b[2Jb", out, sizeof out);
    CHECK_STR(out, "a\xEF\xBF\xBD[2Jb");

    CASE("mask shows the first three and last two digits");
    char masked[PAYNET_GSM_SIZE];
    paynet_mask_gsm("5321234567", masked);
    CHECK_STR(masked, "532*****67");

    CASE("every outcome has its own advice; the kind words it, the verdict decides it");
    {
        paynet_outcome outcomes[] = {PAYNET_OUTCOME_NOT_SENT, PAYNET_OUTCOME_MAYBE_SENT,
                                     PAYNET_OUTCOME_REFUSED, PAYNET_OUTCOME_DUPLICATE_HELD,
                                     PAYNET_OUTCOME_COOLDOWN, PAYNET_OUTCOME_LEDGER,
                                     PAYNET_OUTCOME_INVALID, PAYNET_OUTCOME_CANCELLED,
                                     PAYNET_OUTCOME_BUSY, PAYNET_OUTCOME_NOMEM};
        size_t n = sizeof outcomes / sizeof outcomes[0];
        paynet_error a, b;
        for (size_t i = 0; i < n; i++) {
            a = error_of(PAYNET_NETWORK, PAYNET_DELIVERED_NO, 1, 0, 0, "x");
            a.outcome = outcomes[i];
            const char *advice = app_error_advice(&a);
            CHECK(advice != NULL && strlen(advice) > 20);
            for (size_t j = 0; j < i; j++) {
                b = a;
                b.outcome = outcomes[j];
                CHECK(strcmp(advice, app_error_advice(&b)) != 0);
            }
        }
        /* the words follow the outcome, whatever delivered says */
        a = error_of(PAYNET_NETWORK, PAYNET_DELIVERED_UNKNOWN, PAYNET_NO_CODE, 0, 0, "x");
        a.outcome = PAYNET_OUTCOME_NOT_SENT;
        CHECK(strstr(app_error_advice(&a), "nothing was sent"));
        a.outcome = PAYNET_OUTCOME_MAYBE_SENT;
        CHECK(strstr(app_error_advice(&a), "may have gone out"));
        a = error_of(PAYNET_HTTP, PAYNET_DELIVERED_YES, PAYNET_NO_CODE, 302, 0, "x");
        CHECK(a.outcome == PAYNET_OUTCOME_MAYBE_SENT); /* a redirect: not Paynet's answer */
        CHECK(strstr(app_error_advice(&a), "may have gone out"));
        a = error_of(PAYNET_API, PAYNET_DELIVERED_YES, 7, 401, 0, "x");
        CHECK(a.outcome == PAYNET_OUTCOME_REFUSED);
        CHECK(strstr(app_error_advice(&a), "secret key"));
    }
}

static void test_keys(void)
{
    struct keys k = {0};

    CASE("Esc then a digit within a second is that F-key; later it is a digit");
    CHECK(keys_action(&k, 0, 27, 10.0) == ACTION_CANCEL);
    CHECK(keys_action(&k, 0, '1', 10.5) == ACTION_HELP);
    CHECK(keys_action(&k, 0, 27, 20.0) == ACTION_CANCEL);
    CHECK(keys_action(&k, 0, '2', 20.2) == ACTION_NEW_ID);
    CHECK(keys_action(&k, 0, 27, 30.0) == ACTION_CANCEL);
    CHECK(keys_action(&k, 0, '0', 30.9) == ACTION_QUIT);
    CHECK(keys_action(&k, 0, 27, 40.0) == ACTION_CANCEL);
    CHECK(keys_action(&k, 0, '1', 41.5) == ACTION_EDIT);
    CHECK(keys_action(&k, 0, 27, 50.0) == ACTION_CANCEL);
    CHECK(keys_action(&k, 0, '5', 50.1) == ACTION_NONE); /* no F5: swallowed */
    CHECK(keys_action(&k, 0, '5', 50.2) == ACTION_EDIT); /* one digit only */

    CASE("F-keys, their Ctrl alternatives, Ctrl-L and Ctrl-C");
    CHECK(keys_action(&k, 1, (unsigned)KEY_F(1), 0) == ACTION_HELP);
    CHECK(keys_action(&k, 1, (unsigned)KEY_F(2), 0) == ACTION_NEW_ID);
    CHECK(keys_action(&k, 1, (unsigned)KEY_F(10), 0) == ACTION_QUIT);
    CHECK(keys_action(&k, 0, 'G' & 0x1F, 0) == ACTION_HELP);
    CHECK(keys_action(&k, 0, 'N' & 0x1F, 0) == ACTION_NEW_ID);
    CHECK(keys_action(&k, 0, 'X' & 0x1F, 0) == ACTION_QUIT);
    CHECK(keys_action(&k, 0, 'C' & 0x1F, 0) == ACTION_QUIT);
    CHECK(keys_action(&k, 0, 'L' & 0x1F, 0) == ACTION_REDRAW);
    CHECK(keys_action(&k, 0, '\t', 0) == ACTION_NEXT_FIELD);
    CHECK(keys_action(&k, 0, '\r', 0) == ACTION_SEND);
    CHECK(keys_action(&k, 0, 'a', 0) == ACTION_EDIT);

    CASE("every key of the bar has a word and a help line; every F-key an alternative");
    int on_bar = 0;
    for (const struct key_binding *b = keys_table; b->action != ACTION_NONE; b++) {
        CHECK(b->keys != NULL && b->help != NULL);
        if (b->bar != NULL) {
            on_bar++;
            CHECK(b->label != NULL && strstr(b->keys, b->bar) == b->keys);
        }
        if (b->fkey > 0)
            CHECK(b->ctrl != 0 && strstr(b->keys, "Esc ") != NULL && strstr(b->keys, "Ctrl-"));
    }
    CHECK(on_bar == 6);

    CASE("Ctrl-L redraws from nothing");
    struct app app;
    fresh(&app);
    CHECK(app_apply(&app, ACTION_REDRAW, 0) == (APP_REDRAW | APP_CLEAR));
}

void suite_app(void)
{
    test_keys();
    test_inputs();
    test_send_refusals();
    test_sending();
    test_clock();
    test_text();
}
