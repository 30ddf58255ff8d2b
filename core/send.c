/*
 * send.c — the state machine of a send (doc/design.md, "The send"), as
 * curl's CURLMstate is a transfer's: claim, attempts, settle, one verdict,
 * one deadline; the event-loop API and the blocking send over it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* The send's outcome is known and the ledger was busy recording it: it
 * waits (SEND_SETTLING) and is asked again until the deadline. */
static paynet_status wait_to_settle(paynet_client *c, paynet_status status,
                                    const paynet_result *result, const paynet_error *err,
                                    const char *state, double seconds)
{
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->final_status = status;
    if (status == PAYNET_OK)
        c->final_result = *result;
    else
        c->final_err = *err;
    paynet_copy_utf8(c->settle_state, sizeof c->settle_state, state);
    c->settle_seconds = seconds;
    c->state = SEND_SETTLING;
    c->retry_at = paynet_clock_mono() + LEDGER_RETRY;
    return PAYNET_PENDING;
}

void send_end(paynet_client *c)
{
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->state = SEND_IDLE;
    c->retry_at = 0;
}

/* Ends a send that failed, as its verdict says: one that holds the number
 * (an SMS may have gone out, or Paynet says a code sent earlier by anyone
 * is still valid) holds it for unknown_hold; any other releases it.  A
 * busy ledger: with can_wait the failure waits to be recorded (PENDING);
 * without, the claim's own hold stands.  Else err->kind. */
static paynet_status fail_send(paynet_client *c, paynet_error *err, int can_wait)
{
    const char *state = "released";
    double seconds = 0;
    if (paynet_outcome_holds(err->outcome) && c->unknown_hold > 0) {
        state = err->outcome == PAYNET_OUTCOME_DUPLICATE_HELD ? "duplicate" : "uncertain";
        seconds = c->unknown_hold;
        err->retry_after = c->unknown_hold;
        err->held = 1;
    }
    if (hold_settle(c, state, seconds, NULL, NULL, 0)) {
        if (can_wait)
            return wait_to_settle(c, err->kind, NULL, err, state, seconds);
        client_debug(c, "the ledger %s was busy at the end of the send: the number stays held "
                        "by its claim", c->ledger->name);
    }
    send_end(c);
    return err->kind;
}

/* Checks the input and claims the number: IDLE -> CLAIMED, no attempt yet. */
static paynet_status open_send(paynet_client *c, const char *user_gsm,
                               const char *otp_session_id, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE];
    if (client_check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID;
    if (c->state != SEND_IDLE)
        return paynet_fail(err, PAYNET_BUSY, PAYNET_DELIVERED_NO,
                           "a send is already in flight on this client");
    paynet_status status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = paynet_session_id_check(otp_session_id, err);
    if (status != PAYNET_OK)
        return status;

    c->body_length = paynet_request_body(gsm, otp_session_id, c->body, sizeof c->body);
    /* one deadline for the whole call, the ledger's work included */
    c->deadline = paynet_clock_mono() + c->timeout;
    /* no send without a claim in the ledger: one OTP per number per window */
    status = hold_claim(c, gsm, otp_session_id, err);
    if (status != PAYNET_OK && status != PAYNET_PENDING) {
        send_end(c);
        return status;
    }
    memcpy(c->gsm, gsm, sizeof gsm);
    c->body_left = 0;
    c->attempts_left = c->retries;
    c->retry_at = 0;
    c->state = SEND_CLAIMED;
    if (status == PAYNET_PENDING) { /* busy: asked again from the loop */
        c->state = SEND_CLAIMING;
        c->retry_at = paynet_clock_mono() + LEDGER_RETRY;
    }
    return PAYNET_OK;
}

paynet_status paynet_send_start(paynet_client *c, const char *user_gsm,
                                const char *otp_session_id, paynet_error *err)
{
    paynet_status status = open_send(c, user_gsm, otp_session_id, err);
    if (status != PAYNET_OK || c->state == SEND_CLAIMING)
        return status;
    status = transport_begin_attempt(c, err);
    if (status != PAYNET_OK)
        fail_send(c, err, 0);
    return status;
}

/* SEND_CLAIMING: the ledger is asked again; granted, the first attempt
 * starts.  Past the deadline nothing was claimed and nothing sent. */
static paynet_status step_claim(paynet_client *c, paynet_error *err)
{
    double now = paynet_clock_mono();
    if (now >= c->deadline) {
        send_end(c);
        return paynet_ledger_fail(err, "the ledger %s stayed busy for the whole call (%g s): "
                                       "nothing was sent", c->ledger->name, c->timeout);
    }
    if (now < c->retry_at)
        return PAYNET_PENDING;
    char session_id[PAYNET_SESSION_SIZE];
    memcpy(session_id, c->record.session_id, sizeof session_id);
    paynet_status status = hold_claim(c, c->gsm, session_id, err);
    if (status == PAYNET_PENDING) {
        c->retry_at = now + LEDGER_RETRY;
        return PAYNET_PENDING;
    }
    if (status != PAYNET_OK) {
        send_end(c);
        return status;
    }
    c->state = SEND_CLAIMED;
    c->retry_at = 0;
    status = transport_begin_attempt(c, err);
    return status == PAYNET_OK ? PAYNET_PENDING : fail_send(c, err, 1);
}

/* SEND_SETTLING: the ledger is asked again to record the outcome; past
 * the deadline the outcome stands as it is, the claim's own hold covering
 * the number (a success says so in its warning). */
static paynet_status step_settle(paynet_client *c, paynet_result *result, paynet_error *err)
{
    double now = paynet_clock_mono(), settle_by = c->deadline + SETTLE_GRACE;
    if (now < c->retry_at && now < settle_by)
        return PAYNET_PENDING;
    int ok = c->final_status == PAYNET_OK;
    paynet_result *r = &c->final_result;
    if (hold_settle(c, c->settle_state, c->settle_seconds, ok ? r->otp_expire : NULL,
               ok ? r->warning : NULL, sizeof r->warning)) {
        if (now < settle_by) {
            c->retry_at = now + LEDGER_RETRY;
            return PAYNET_PENDING;
        }
        char text[PAYNET_MESSAGE_SIZE];
        snprintf(text, sizeof text, _("the ledger %s stayed busy to the end of the call: the "
                                      "number stays held by its claim"), c->ledger->name);
        client_debug(c, "%s", text);
        if (ok)
            paynet_copy_utf8(r->warning, sizeof r->warning, text);
    }
    send_end(c);
    if (ok)
        *result = *r;
    else
        *err = c->final_err;
    return c->final_status;
}

int paynet_send_in_flight(const paynet_client *c) { return c->state != SEND_IDLE; }

int paynet_send_pollfd(const paynet_client *c) { return c->epfd; }

int paynet_send_events(const paynet_client *c)
{
    (void)c;
    return POLLIN;
}

int paynet_send_timeout(const paynet_client *c)
{
    double at;
    if (c->state == SEND_RETRY_WAIT)
        at = c->retry_at;
    else if (c->state == SEND_CLAIMING)
        at = c->retry_at < c->deadline ? c->retry_at : c->deadline;
    else if (c->state == SEND_SETTLING) /* its last ask may fall past the deadline */
        at = c->retry_at;
    else if (c->state == SEND_TRANSFER)
        at = c->timer_at >= 0 && c->timer_at < c->deadline ? c->timer_at : c->deadline;
    else
        return -1;
    double ms = ceil((at - paynet_clock_mono()) * 1000);
    return ms <= 0 ? 0 : ms > 86400000 ? 86400000 : (int)ms;
}

paynet_status paynet_wait(paynet_client *c, int extra_fd, int timeout_ms,
                          int *extra_ready, paynet_error *err)
{
    struct pollfd fds[2] = {{c->epfd, POLLIN, 0}, {extra_fd, POLLIN, 0}};
    if (timeout_ms < 0)
        timeout_ms = 1000;
    int due = paynet_send_timeout(c);
    if (due >= 0 && due < timeout_ms)
        timeout_ms = due;
    int n = poll(fds, extra_fd >= 0 ? 2 : 1, timeout_ms);
    if (extra_ready != NULL)
        *extra_ready = n > 0 && extra_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR));
    if (n < 0 && errno != EINTR)
        return paynet_fail(err, errno == ENOMEM ? PAYNET_NOMEM : PAYNET_NETWORK,
                           PAYNET_DELIVERED_NO, "waiting failed: %s", strerror(errno));
    return PAYNET_OK;
}

/* What a caller receives: cleaned (libcurl's words may quote the server),
 * and without the secret, which a hostile or broken server could echo. */
static void for_caller(const paynet_client *c, char *message)
{
    char raw[PAYNET_MESSAGE_SIZE];
    memcpy(raw, message, PAYNET_MESSAGE_SIZE);
    raw[PAYNET_MESSAGE_SIZE - 1] = '\0';
    paynet_text_clean(raw, strlen(raw), message, PAYNET_MESSAGE_SIZE);
    paynet_text_mask_with(message, c->secret, &c->secret_pairs);
}

static int retryable(const paynet_client *c, paynet_status status, const paynet_error *err)
{
    return (status == PAYNET_NETWORK || status == PAYNET_TIMEOUT)
           && err->delivered == PAYNET_DELIVERED_NO && c->attempts_left > 0
           && paynet_clock_mono() + RETRY_DELAY < c->deadline;
}

/* An attempt ended with rc (the easy handle done or taken off the multi):
 * the result, PAYNET_PENDING when a retry waits
 * (RETRY_WAIT until retry_at), or the send's failure. */
static paynet_status end_attempt(paynet_client *c, CURLcode rc, paynet_result *result,
                                 paynet_error *err)
{
    if (transport_request_written(c))
        c->body_left = 1;
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->state = SEND_CLAIMED;
    double replied_at = paynet_clock_wall(); /* before any ledger work */
    paynet_status status = transport_finish(c, rc, result, err);
    if (status == PAYNET_OK)
        result->replied_at = replied_at;
    else
        err->replied_at = replied_at;
    if (status != PAYNET_OK && retryable(c, status, err)) {
        c->attempts_left--;
        c->state = SEND_RETRY_WAIT;
        c->retry_at = paynet_clock_mono() + RETRY_DELAY;
        return PAYNET_PENDING;
    }
    if (status == PAYNET_OK) {
        double wall = replied_at, expire = paynet_instant_seconds(result->expires_at);
        result->expires_in = expire - paynet_server_now(wall, c->have_date, c->date);
        result->held_for = paynet_hold_seconds(expire, wall, c->have_date, c->date);
        if (c->have_date && !paynet_date_trusted(wall, c->date)) {
            client_debug(c, "the reply's Date header is %.0f s away from this machine's "
                            "clock; it is ignored", c->date - wall);
            /* an SMS just went out, valid by the server's own clock: a hold
             * errs long, but never by more than unknown_hold */
            double by_date = expire - c->date;
            if (result->held_for <= 0 && by_date > 0) {
                result->held_for = by_date < c->unknown_hold ? by_date : c->unknown_hold;
                client_debug(c, "otp_expire is past by this machine's clock but %.0f s ahead "
                                "by the server's: the number is held %.0f s",
                             by_date, result->held_for);
            }
        }
        memcpy(result->user_gsm, c->gsm, PAYNET_GSM_SIZE);
        /* the decoder cleaned the server's words already: only the key */
        paynet_text_mask_with(result->message, c->secret, &c->secret_pairs);
        result->warning[0] = '\0';
        if (result->held_for <= 0)
            result->held_for = 0;
        if (hold_settle(c, "sent", result->held_for, result->otp_expire, result->warning,
                   sizeof result->warning))
            return wait_to_settle(c, PAYNET_OK, result, NULL, "sent", result->held_for);
        send_end(c);
        return PAYNET_OK;
    }
    for_caller(c, err->message);
    return fail_send(c, err, 1);
}

/* paynet_send_step, waiting up to wait_ms on libcurl's sockets when an
 * attempt is on the wire (the blocking send: one wait, not a poll and then
 * an epoll_wait). */
static paynet_status step(paynet_client *c, paynet_result *result, paynet_error *err,
                          int wait_ms)
{
    if (c->state == SEND_IDLE)
        return client_invalid(err, "no send is in flight");
    if (client_check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID; /* the parent's send: not the child's to end */
    if (c->state == SEND_CLAIMING)
        return step_claim(c, err);
    if (c->state == SEND_SETTLING)
        return step_settle(c, result, err);
    /* A step after the deadline (the loop was busy) starts nothing: no
     * retry, and no request libcurl has not begun writing.  One that may
     * have left is driven once more: its reply may be waiting. */
    int late = paynet_clock_mono() >= c->deadline;
    if (late && (c->state == SEND_RETRY_WAIT || !transport_request_may_have_left(c))) {
        if (c->state == SEND_RETRY_WAIT)
            transport_reset_attempt(c); /* the last attempt's count is not this one's */
        c->ran_out = 1;
        return end_attempt(c, CURLE_OPERATION_TIMEDOUT, result, err);
    }
    if (c->state == SEND_RETRY_WAIT) {
        if (paynet_clock_mono() < c->retry_at)
            return PAYNET_PENDING;
        c->state = SEND_CLAIMED;
        c->retry_at = 0;
        if (transport_begin_attempt(c, err) != PAYNET_OK)
            return fail_send(c, err, 1);
    }
    CURLMcode mc = transport_drive(c, wait_ms);
    if (mc != CURLM_OK) {
        paynet_fail(err, mc == CURLM_OUT_OF_MEMORY ? PAYNET_NOMEM : PAYNET_NETWORK,
                    PAYNET_DELIVERED_UNKNOWN, "libcurl failed: %s",
                    curl_multi_strerror(mc));
        return fail_send(c, err, 1);
    }
    int queued;
    CURLMsg *msg;
    CURLcode rc = CURLE_OK;
    int done = 0;
    while ((msg = curl_multi_info_read(c->multi, &queued)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
            rc = msg->data.result;
            done = 1;
        }
    if (!done) {
        if (paynet_clock_mono() < c->deadline)
            return PAYNET_PENDING;
        rc = CURLE_OPERATION_TIMEDOUT;
        c->ran_out = 1;
    }

    return end_attempt(c, rc, result, err);
}

void paynet_send_cancel(paynet_client *c, paynet_error *err)
{
    if (client_check_process(c, err) != PAYNET_OK)
        return;
    if (c->state == SEND_IDLE) {
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO, "no send was in flight");
        return;
    }
    if (c->state == SEND_CLAIMING) { /* nothing claimed, nothing sent */
        send_end(c);
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO,
                    "cancelled before the request was sent");
        return;
    }
    int left = transport_request_may_have_left(c);
    if (c->state == SEND_SETTLING) { /* the outcome is known: told once more */
        int sent = c->final_status == PAYNET_OK;
        hold_settle(c, c->settle_state, c->settle_seconds, sent ? c->final_result.otp_expire : NULL,
               NULL, 0);
        send_end(c);
        paynet_fail(err, PAYNET_CANCELLED, left ? PAYNET_DELIVERED_UNKNOWN : PAYNET_DELIVERED_NO,
                    sent ? N_("cancelled while the ledger recorded the send: the OTP was sent")
                         : N_("cancelled while the ledger recorded the send's outcome"));
        return;
    }
    paynet_fail(err, PAYNET_CANCELLED,
                left ? PAYNET_DELIVERED_UNKNOWN : PAYNET_DELIVERED_NO,
                left ? N_("cancelled after the request was sent: an OTP may "
                          "have been delivered")
                     : N_("cancelled before the request was sent"));
    fail_send(c, err, 0);
}

paynet_status paynet_send_step(paynet_client *c, paynet_result *result,
                               paynet_error *err)
{
    return step(c, result, err, 0);
}

/* The blocking send is the event-loop send and a loop that waits on it:
 * one driver, one connection cache, one deadline. */
paynet_status paynet_send_otp(paynet_client *c, const char *user_gsm,
                              const char *otp_session_id, paynet_result *result,
                              paynet_error *err)
{
    paynet_status status = paynet_send_start(c, user_gsm, otp_session_id, err);
    if (status != PAYNET_OK)
        return status;
    for (status = PAYNET_PENDING; status == PAYNET_PENDING;) {
        if (c->state == SEND_TRANSFER) { /* the wait is the step's own */
            status = step(c, result, err, paynet_send_timeout(c));
            continue;
        }
        status = paynet_wait(c, -1, paynet_send_timeout(c), NULL, err);
        if (status == PAYNET_OK)
            status = step(c, result, err, 0);
        else { /* poll itself failed: the send ends as a cancel would, saying why */
            char why[PAYNET_MESSAGE_SIZE];
            memcpy(why, err->message, sizeof why);
            paynet_send_cancel(c, err);
            memcpy(err->message, why, sizeof why);
            status = err->kind;
        }
    }
    return status;
}
