/*
 * send.c — the state machine of a call (doc/design.md, "The send"), as
 * curl's CURLMstate is a transfer's: claim, attempts, settle, one verdict,
 * one deadline; the calls a client runs at once, the event-loop API and
 * the blocking send over it.
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

/* ---- the calls of a client ---------------------------------------------- */

/* A call for c: one it kept, else a new one with its own transfer and
 * epoll set; on the list of c's live calls.  NULL with err filled. */
static struct paynet_call *call_new(paynet_client *c, paynet_error *err)
{
    struct paynet_call *call = c->kept;
    if (call != NULL) {
        c->kept = call->next;
        c->kept_count--;
    } else {
        call = calloc(1, sizeof *call);
        if (call == NULL) {
            paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
            return NULL;
        }
        call->client = c;
        call->ledger_fd = -1;
        call->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (call->epfd < 0) { /* EMFILE, ENFILE: a runtime failure, like memory */
            int e = errno;
            free(call);
            paynet_fail(err, e == ENOMEM ? PAYNET_NOMEM : PAYNET_NETWORK, PAYNET_DELIVERED_NO,
                        "no descriptor to wait on: %s", strerror(e));
            return NULL;
        }
        if (transport_call_init(call) != PAYNET_OK) {
            send_destroy(call);
            free(call);
            paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
            return NULL;
        }
    }
    call->state = SEND_IDLE;
    call->prev = NULL;
    call->next = c->live;
    if (c->live != NULL)
        c->live->prev = call;
    c->live = call;
    return call;
}

/* What a call holds besides itself: its transfer, its epoll set, its
 * reply buffer. */
void send_destroy(struct paynet_call *call)
{
    if (call->easy != NULL)
        curl_easy_cleanup(call->easy);
    call->easy = NULL;
    if (call->epfd >= 0)
        close(call->epfd);
    call->epfd = -1;
    free(call->reply.data);
    call->reply.data = NULL;
    call->reply.length = call->reply.capacity = 0;
}

void paynet_call_free(paynet_call *call)
{
    if (call == NULL)
        return;
    paynet_client *c = call->client;
    if (c == NULL) { /* its client was freed: only the call is left */
        free(call);
        return;
    }
    if (getpid() != c->owner) /* a fork's child: the parent's; freed when it exits */
        return;
    if (call->state != SEND_IDLE) { /* settled as a cancel would */
        paynet_error ignored;
        paynet_call_cancel(call, &ignored);
    }
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->live = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    if (c->kept_count >= CALLS_KEPT) {
        send_destroy(call);
        free(call);
        return;
    }
    call->prev = NULL;
    call->next = c->kept;
    c->kept = call;
    c->kept_count++;
}

/* ---- the machine --------------------------------------------------------- */

/* The call's outcome is known and the ledger was busy recording it: it
 * waits (SEND_SETTLING) and is asked again until the deadline. */
static paynet_status wait_to_settle(struct paynet_call *call, paynet_status status,
                                    const paynet_result *result, const paynet_error *err,
                                    const char *state, double seconds)
{
    if (call->state == SEND_TRANSFER)
        curl_multi_remove_handle(call->client->multi, call->easy);
    call->final_status = status;
    if (status == PAYNET_OK)
        call->final_result = *result;
    else
        call->final_err = *err;
    paynet_copy_utf8(call->settle_state, sizeof call->settle_state, state);
    call->settle_seconds = seconds;
    call->state = SEND_SETTLING;
    call->retry_at = paynet_clock_mono() + LEDGER_RETRY;
    hold_watch(call);
    return PAYNET_PENDING;
}

void send_end(struct paynet_call *call)
{
    if (call->state == SEND_TRANSFER)
        curl_multi_remove_handle(call->client->multi, call->easy);
    hold_unwatch(call);
    call->state = SEND_IDLE;
    call->retry_at = 0;
}

/* Ends a call that failed, as its verdict says: one that holds the number
 * (an SMS may have gone out, or Paynet says a code sent earlier by anyone
 * is still valid) holds it for unknown_hold; any other releases it.  A
 * busy ledger: with can_wait the failure waits to be recorded (PENDING);
 * without, the claim's own hold stands.  Else err->kind. */
static paynet_status fail_send(struct paynet_call *call, paynet_error *err, int can_wait)
{
    const paynet_client *c = call->client;
    const char *state = "released";
    double seconds = 0;
    if (paynet_outcome_holds(err->outcome) && c->unknown_hold > 0) {
        state = err->outcome == PAYNET_OUTCOME_DUPLICATE_HELD ? "duplicate" : "uncertain";
        seconds = c->unknown_hold;
        err->retry_after = c->unknown_hold;
        err->held = 1;
    }
    if (hold_settle(call, state, seconds, NULL, NULL, 0)) {
        if (can_wait)
            return wait_to_settle(call, err->kind, NULL, err, state, seconds);
        hold_abandon(call); /* a settle on the wire still lands */
        client_debug(c, "the ledger %s was busy at the end of the send: the number stays held "
                        "by its claim", c->ledger->name);
    }
    send_end(call);
    return err->kind;
}

/* Checks the input and claims the number: IDLE -> CLAIMED (or CLAIMING
 * when the ledger was busy), no attempt yet. */
static paynet_status open_send(struct paynet_call *call, const char *gsm,
                               const char *otp_session_id, paynet_error *err)
{
    paynet_client *c = call->client;
    call->body_length = paynet_request_body(gsm, otp_session_id, call->body, sizeof call->body);
    /* one deadline for the whole call, the ledger's work included */
    call->deadline = paynet_clock_mono() + c->timeout;
    /* no send without a claim in the ledger: one OTP per number per window */
    paynet_status status = hold_claim(call, gsm, otp_session_id, err);
    if (status != PAYNET_OK && status != PAYNET_PENDING)
        return status;
    memcpy(call->gsm, gsm, PAYNET_GSM_SIZE);
    call->body_left = 0;
    call->attempts_left = c->retries;
    call->retry_at = 0;
    call->state = SEND_CLAIMED;
    if (status == PAYNET_PENDING) { /* busy, or on the wire: asked again from the loop */
        call->state = SEND_CLAIMING;
        call->retry_at = paynet_clock_mono() + LEDGER_RETRY;
        hold_watch(call);
    }
    return PAYNET_OK;
}

paynet_status paynet_send_start(paynet_client *c, const char *user_gsm,
                                const char *otp_session_id, paynet_call **out,
                                paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE];
    *out = NULL;
    if (client_check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID;
    paynet_status status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = paynet_session_id_check(otp_session_id, err);
    if (status != PAYNET_OK)
        return status;
    struct paynet_call *call = call_new(c, err);
    if (call == NULL)
        return err->kind;
    status = open_send(call, gsm, otp_session_id, err);
    if (status == PAYNET_OK && call->state == SEND_CLAIMED) {
        status = transport_begin_attempt(call, err);
        if (status != PAYNET_OK)
            fail_send(call, err, 0);
    }
    if (status != PAYNET_OK) {
        call->state = SEND_IDLE;
        paynet_call_free(call);
        return status;
    }
    *out = call;
    return PAYNET_OK;
}

/* SEND_CLAIMING: the ledger is asked again; granted, the first attempt
 * starts.  Past the deadline nothing was claimed and nothing sent. */
static paynet_status step_claim(struct paynet_call *call, paynet_error *err)
{
    const paynet_client *c = call->client;
    double now = paynet_clock_mono();
    if (now >= call->deadline) {
        hold_abandon(call);
        send_end(call);
        return paynet_ledger_fail(err, "the ledger %s stayed busy for the whole call (%g s): "
                                       "nothing was sent", c->ledger->name, c->timeout);
    }
    if (now < call->retry_at && call->ledger_fd < 0)
        return PAYNET_PENDING;
    char session_id[PAYNET_SESSION_SIZE];
    memcpy(session_id, call->record.session_id, sizeof session_id);
    paynet_status status = hold_claim(call, call->gsm, session_id, err);
    if (status == PAYNET_PENDING) {
        call->retry_at = now + LEDGER_RETRY;
        hold_watch(call);
        return PAYNET_PENDING;
    }
    hold_unwatch(call);
    if (status != PAYNET_OK) {
        send_end(call);
        return status;
    }
    call->state = SEND_CLAIMED;
    call->retry_at = 0;
    status = transport_begin_attempt(call, err);
    return status == PAYNET_OK ? PAYNET_PENDING : fail_send(call, err, 1);
}

/* SEND_SETTLING: the ledger is asked again to record the outcome; past
 * the deadline the outcome stands as it is, the claim's own hold covering
 * the number (a success says so in its warning). */
static paynet_status step_settle(struct paynet_call *call, paynet_result *result,
                                 paynet_error *err)
{
    double now = paynet_clock_mono(), settle_by = call->deadline + SETTLE_GRACE;
    if (now < call->retry_at && now < settle_by && call->ledger_fd < 0)
        return PAYNET_PENDING;
    int ok = call->final_status == PAYNET_OK;
    paynet_result *r = &call->final_result;
    if (hold_settle(call, call->settle_state, call->settle_seconds, ok ? r->otp_expire : NULL,
                    ok ? r->warning : NULL, sizeof r->warning)) {
        if (now < settle_by) {
            call->retry_at = now + LEDGER_RETRY;
            hold_watch(call);
            return PAYNET_PENDING;
        }
        hold_abandon(call); /* on the wire, it still lands */
        char text[PAYNET_MESSAGE_SIZE];
        snprintf(text, sizeof text, _("the ledger %s stayed busy to the end of the call: the "
                                      "number stays held by its claim"),
                 call->client->ledger->name);
        client_debug(call->client, "%s", text);
        if (ok)
            paynet_copy_utf8(r->warning, sizeof r->warning, text);
    }
    send_end(call);
    if (ok)
        *result = *r;
    else
        *err = call->final_err;
    return call->final_status;
}

int paynet_call_pending(const paynet_call *call)
{
    return call != NULL && call->client != NULL && call->state != SEND_IDLE;
}

int paynet_call_pollfd(const paynet_call *call) { return call != NULL ? call->epfd : -1; }

int paynet_call_events(const paynet_call *call)
{
    (void)call;
    return POLLIN;
}

int paynet_call_timeout(const paynet_call *call)
{
    double at;
    if (call == NULL || call->client == NULL)
        return -1;
    if (call->state == SEND_RETRY_WAIT)
        at = call->retry_at;
    else if (call->state == SEND_CLAIMING)
        at = call->retry_at < call->deadline ? call->retry_at : call->deadline;
    else if (call->state == SEND_SETTLING) /* its last ask may fall past the deadline */
        at = call->retry_at;
    else if (call->state == SEND_TRANSFER) {
        double timer_at = call->client->timer_at;
        /* another call's drive may have seen this one's transfer end */
        at = call->done ? 0 : timer_at >= 0 && timer_at < call->deadline ? timer_at
                                                                         : call->deadline;
    } else
        return -1;
    double ms = ceil((at - paynet_clock_mono()) * 1000);
    return ms <= 0 ? 0 : ms > 86400000 ? 86400000 : (int)ms;
}

paynet_status paynet_call_wait(paynet_call *call, int extra_fd, int timeout_ms,
                               int *extra_ready, paynet_error *err)
{
    int live = paynet_call_pending(call);
    struct pollfd fds[2] = {{live ? call->epfd : -1, POLLIN, 0}, {extra_fd, POLLIN, 0}};
    if (timeout_ms < 0)
        timeout_ms = 1000;
    int due = live ? paynet_call_timeout(call) : -1;
    if (due >= 0 && due < timeout_ms)
        timeout_ms = due;
    int n = poll(fds, 2, timeout_ms);
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

static int retryable(const struct paynet_call *call, paynet_status status,
                     const paynet_error *err)
{
    return (status == PAYNET_NETWORK || status == PAYNET_TIMEOUT)
           && err->delivered == PAYNET_DELIVERED_NO && call->attempts_left > 0
           && paynet_clock_mono() + RETRY_DELAY < call->deadline;
}

/* An attempt ended with rc (the easy handle done or taken off the multi):
 * the result, PAYNET_PENDING when a retry waits (RETRY_WAIT until
 * retry_at) or the ledger is busy recording it, or the call's failure. */
static paynet_status end_attempt(struct paynet_call *call, CURLcode rc, paynet_result *result,
                                 paynet_error *err)
{
    const paynet_client *c = call->client;
    if (transport_request_written(call))
        call->body_left = 1;
    if (call->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, call->easy);
    call->state = SEND_CLAIMED;
    call->done = 0; /* only ever this attempt's */
    double replied_at = paynet_clock_wall(); /* before any ledger work */
    paynet_status status = transport_finish(call, rc, result, err);
    if (status == PAYNET_OK)
        result->replied_at = replied_at;
    else
        err->replied_at = replied_at;
    if (status != PAYNET_OK && retryable(call, status, err)) {
        call->attempts_left--;
        call->state = SEND_RETRY_WAIT;
        call->retry_at = paynet_clock_mono() + RETRY_DELAY;
        return PAYNET_PENDING;
    }
    if (status != PAYNET_OK) {
        for_caller(c, err->message);
        return fail_send(call, err, 1);
    }
    double wall = replied_at, expire = paynet_instant_seconds(result->expires_at);
    result->expires_in = expire - paynet_server_now(wall, call->have_date, call->date);
    result->held_for = paynet_hold_seconds(expire, wall, call->have_date, call->date);
    if (call->have_date && !paynet_date_trusted(wall, call->date)) {
        client_debug(c, "the reply's Date header is %.0f s away from this machine's "
                        "clock; it is ignored", call->date - wall);
        /* an SMS just went out, valid by the server's own clock: a hold
         * errs long, but never by more than unknown_hold */
        double by_date = expire - call->date;
        if (result->held_for <= 0 && by_date > 0) {
            result->held_for = by_date < c->unknown_hold ? by_date : c->unknown_hold;
            client_debug(c, "otp_expire is past by this machine's clock but %.0f s ahead "
                            "by the server's: the number is held %.0f s",
                         by_date, result->held_for);
        }
    }
    memcpy(result->user_gsm, call->gsm, PAYNET_GSM_SIZE);
    /* the decoder cleaned the server's words already: only the key */
    paynet_text_mask_with(result->message, c->secret, &c->secret_pairs);
    result->warning[0] = '\0';
    if (result->held_for <= 0)
        result->held_for = 0;
    if (hold_settle(call, "sent", result->held_for, result->otp_expire, result->warning,
                    sizeof result->warning))
        return wait_to_settle(call, PAYNET_OK, result, NULL, "sent", result->held_for);
    send_end(call);
    return PAYNET_OK;
}

/* Whether a step on call may act: it is live, and this process's. */
static paynet_status check_call(const paynet_call *call, paynet_error *err)
{
    if (call == NULL)
        return client_invalid(err, "no call was given");
    if (call->client == NULL)
        return client_invalid(err, "the client of this call was freed: the call is over");
    if (client_check_process(call->client, err) != PAYNET_OK)
        return PAYNET_INVALID; /* the parent's call: not the child's to end */
    return PAYNET_OK;
}

/* paynet_call_step, waiting up to wait_ms on the call's sockets when an
 * attempt is on the wire (the blocking send: one wait, not a poll and then
 * an epoll_wait). */
static paynet_status step(struct paynet_call *call, paynet_result *result, paynet_error *err,
                          int wait_ms)
{
    if (check_call(call, err) != PAYNET_OK)
        return PAYNET_INVALID;
    if (call->state == SEND_IDLE)
        return client_invalid(err, "this call is over");
    if (call->state == SEND_CLAIMING)
        return step_claim(call, err);
    if (call->state == SEND_SETTLING)
        return step_settle(call, result, err);
    /* A step after the deadline (the loop was busy) starts nothing: no
     * retry, and no request libcurl has not begun writing.  One that may
     * have left is driven once more: its reply may be waiting. */
    int late = paynet_clock_mono() >= call->deadline;
    if (late && !call->done
        && (call->state == SEND_RETRY_WAIT || !transport_request_may_have_left(call))) {
        if (call->state == SEND_RETRY_WAIT)
            transport_reset_attempt(call); /* the last attempt's count is not this one's */
        call->ran_out = 1;
        return end_attempt(call, CURLE_OPERATION_TIMEDOUT, result, err);
    }
    if (call->state == SEND_RETRY_WAIT) {
        if (paynet_clock_mono() < call->retry_at)
            return PAYNET_PENDING;
        call->state = SEND_CLAIMED;
        call->retry_at = 0;
        if (transport_begin_attempt(call, err) != PAYNET_OK)
            return fail_send(call, err, 1);
    }
    if (!call->done) {
        CURLMcode mc = transport_drive(call, wait_ms);
        if (mc != CURLM_OK) {
            paynet_fail(err, mc == CURLM_OUT_OF_MEMORY ? PAYNET_NOMEM : PAYNET_NETWORK,
                        PAYNET_DELIVERED_UNKNOWN, "libcurl failed: %s",
                        curl_multi_strerror(mc));
            return fail_send(call, err, 1);
        }
    }
    CURLcode rc = call->done_rc;
    if (!call->done) {
        if (paynet_clock_mono() < call->deadline)
            return PAYNET_PENDING;
        rc = CURLE_OPERATION_TIMEDOUT;
        call->ran_out = 1;
    }
    return end_attempt(call, rc, result, err);
}

void paynet_call_cancel(paynet_call *call, paynet_error *err)
{
    if (check_call(call, err) != PAYNET_OK)
        return;
    if (call->state == SEND_IDLE) {
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO, "no send was in flight");
        return;
    }
    if (call->state == SEND_CLAIMING) { /* nothing sent; a claim on the wire is given back */
        hold_abandon(call);
        send_end(call);
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO,
                    "cancelled before the request was sent");
        return;
    }
    int left = transport_request_may_have_left(call);
    if (call->state == SEND_SETTLING) { /* the outcome is known: told once more */
        int sent = call->final_status == PAYNET_OK;
        if (hold_settle(call, call->settle_state, call->settle_seconds,
                        sent ? call->final_result.otp_expire : NULL, NULL, 0))
            hold_abandon(call);
        send_end(call);
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
    fail_send(call, err, 0);
}

paynet_status paynet_call_step(paynet_call *call, paynet_result *result, paynet_error *err)
{
    return step(call, result, err, 0);
}

/* The blocking send is the event-loop send and a loop that waits on it:
 * one driver, one connection cache, one deadline. */
paynet_status paynet_send_otp(paynet_client *c, const char *user_gsm,
                              const char *otp_session_id, paynet_result *result,
                              paynet_error *err)
{
    paynet_call *call;
    paynet_status status = paynet_send_start(c, user_gsm, otp_session_id, &call, err);
    if (status != PAYNET_OK)
        return status;
    for (status = PAYNET_PENDING; status == PAYNET_PENDING;) {
        if (call->state == SEND_TRANSFER) { /* the wait is the step's own */
            status = step(call, result, err, paynet_call_timeout(call));
            continue;
        }
        status = paynet_call_wait(call, -1, paynet_call_timeout(call), NULL, err);
        if (status == PAYNET_OK)
            status = step(call, result, err, 0);
        else { /* poll itself failed: the call ends as a cancel would, saying why */
            char why[PAYNET_MESSAGE_SIZE];
            memcpy(why, err->message, sizeof why);
            paynet_call_cancel(call, err);
            memcpy(err->message, why, sizeof why);
            status = err->kind;
        }
    }
    paynet_call_free(call);
    return status;
}
