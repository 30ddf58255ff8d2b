/*
 * hold.c — a send's claim and settle, and the lookups and releases of the
 * ledger (doc/design.md, "The ledger"), through the ledger interface only:
 * this client's private copy of its own sends is one more ledger.
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

const char *paynet_client_ledger(const paynet_client *c) { return c->ledger->name; }

/* The ledger key of a number (paynet_ledger_key: an HMAC, about 6k
 * instructions, for a ledger other processes share; SipHash, under 1k,
 * for the in-process table), kept for the last number asked about, which
 * is the next one sent (the screen asks each second while a number is
 * typed; a script resends). */
static paynet_status key_of(paynet_client *c, const char *gsm, char key[LEDGER_KEY_SIZE],
                            paynet_error *err)
{
    if (strcmp(c->last_gsm, gsm) == 0) {
        memcpy(key, c->last_key, LEDGER_KEY_SIZE);
        return PAYNET_OK;
    }
    if (!paynet_ledger_key(c->hasher, c->who.scope, gsm, key))
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "out of memory while hashing the number");
    memcpy(c->last_key, key, LEDGER_KEY_SIZE);
    memcpy(c->last_gsm, gsm, strlen(gsm) + 1); /* normalized: fits */
    return PAYNET_OK;
}

/* This client also remembers its own sends (c->local): when the shared
 * ledger cannot be reached, or says a number is free that this client
 * holds and nobody released (a Redis restarted without its data), this
 * client's memory still holds it: 1 when it does; a hold the ledger shows
 * released is forgotten.  -1: the ledger's answer to that is on the wire
 * (a patient lookup: ask again). */
static int own_hold(paynet_client *c, const char *key, int ledger_answered,
                    paynet_holder *holder)
{
    char token[LEDGER_TOKEN_SIZE];
    int held = 0, released = 0;
    paynet_error ignored;
    if (c->local == NULL || !paynet_ledger_memory_token(c->local, key, token))
        return 0;
    paynet_status asked = ledger_answered
        ? c->ledger->methods->released(c->ledger, key, token, &released, &ignored)
        : PAYNET_LEDGER;
    if (asked == PAYNET_PENDING)
        return -1;
    if (asked == PAYNET_OK && released) {
        paynet_holder who;
        memset(&who, 0, sizeof who);
        c->local->methods->release(c->local, key, &who, &released, &ignored);
        return 0;
    }
    c->local->methods->lookup(c->local, key, &held, holder, &ignored);
    if (held && ledger_answered)
        client_debug(c, "the ledger %s does not hold %s, which this client sent and nobody "
                        "released (did it lose its data?): this client still holds it",
                     c->ledger->name, holder->masked);
    return held;
}

/* Who holds key: the ledger, and this client's own memory of its sends. */
static paynet_status lookup_key(paynet_client *c, const char *key, int *held,
                                paynet_holder *holder, paynet_error *err)
{
    paynet_status status = c->ledger->methods->lookup(c->ledger, key, held, holder, err);
    if (status == PAYNET_PENDING || (status == PAYNET_OK && *held))
        return status;
    int own = own_hold(c, key, status == PAYNET_OK, holder);
    if (own < 0)
        return PAYNET_PENDING;
    if (own) {
        *held = 1;
        return PAYNET_OK;
    }
    return status;
}

paynet_status paynet_hold_lookup(paynet_client *c, const char *user_gsm, int *held,
                                 paynet_holder *holder, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE], key[LEDGER_KEY_SIZE];
    *held = 0;
    paynet_status status = client_check_process(c, err);
    if (status != PAYNET_OK)
        return status;
    status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = key_of(c, gsm, key, err);
    if (status == PAYNET_OK)
        status = lookup_key(c, key, held, holder, err);
    return status;
}

paynet_status paynet_hold_peek(paynet_client *c, const char *user_gsm, int *held,
                               paynet_holder *holder, paynet_error *err)
{
    /* unanswered asks (this number's or others': each new number drops
     * the earlier question) end together, by the ledger's timeout from
     * the first: loops that keep asking about two numbers in turn never
     * wait forever on a slow server */
    if (c->peek_since == 0)
        c->peek_since = paynet_clock_mono();
    double deadline = c->ledger->deadline;
    c->ledger->patience = PEEK_PATIENCE;
    c->ledger->deadline = c->peek_since + c->connect_timeout;
    paynet_status status = paynet_hold_lookup(c, user_gsm, held, holder, err);
    c->ledger->patience = 0;
    c->ledger->deadline = deadline;
    if (status != PAYNET_PENDING)
        c->peek_since = 0;
    return status;
}

double paynet_remaining(paynet_client *c, const char *gsm)
{
    paynet_holder holder;
    paynet_error err;
    int held = 0;
    if (paynet_hold_lookup(c, gsm, &held, &holder, &err) != PAYNET_OK)
        return err.kind == PAYNET_INVALID ? 0 : -1;
    return held && holder.remaining > 0 ? holder.remaining : 0;
}

static void describe_hold(const paynet_holder *h, paynet_error *err, paynet_status kind,
                          const char *what)
{
    char line[PAYNET_MESSAGE_SIZE - 64];
    paynet_holder_describe(h, line, sizeof line);
    paynet_fail(err, kind, PAYNET_DELIVERED_NO, "%s %s: %s", h->masked, what, line);
    err->retry_after = h->remaining;
    err->has_holder = 1;
    err->holder = *h;
}

/* A hold on gsm under another scope of the ledger (another Paynet system,
 * or a base_url that named one): found by the scopes of the live holds,
 * each asked with the key this client's secret gives the number there.
 * A release is rare: listing the holds is its cost. */
static int other_scope_hold(paynet_client *c, const char *gsm, paynet_holder *found)
{
    paynet_holder *list = NULL;
    size_t count = 0;
    paynet_error ignored;
    int held = 0;
    if (c->ledger->methods->list(c->ledger, 0, &list, &count, &ignored) != PAYNET_OK)
        return 0;
    for (size_t i = 0; i < count && !held; i++) {
        char key[LEDGER_KEY_SIZE];
        const char *scope = list[i].scope;
        int seen = strcmp(scope, c->who.scope) == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(list[j].scope, scope) == 0;
        if (!seen && paynet_ledger_key(c->hasher, scope, gsm, key))
            c->ledger->methods->lookup(c->ledger, key, &held, found, &ignored);
    }
    free(list);
    return held;
}

paynet_status paynet_release(paynet_client *c, const char *user_gsm, const char *reason,
                             int *released, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE], key[LEDGER_KEY_SIZE];
    paynet_holder held;
    int is_held = 0, local_released = 0;
    *released = 0;
    if (client_check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID;
    paynet_status status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = key_of(c, gsm, key, err);
    if (status == PAYNET_OK)
        status = c->ledger->methods->lookup(c->ledger, key, &is_held, &held, err);
    if (status != PAYNET_OK)
        return status;
    /* not held here but under another Paynet system: named, never taken
     * for "not held" (the supervisor gave the wrong --base-url or --env) */
    if (!is_held && other_scope_hold(c, gsm, &held)) {
        char line[PAYNET_MESSAGE_SIZE - 64];
        paynet_holder_describe(&held, line, sizeof line);
        paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                    "%s is not held for %s but for %s (%s): release it with that system's "
                    "base_url or env", held.masked, c->who.scope, held.scope, line);
        err->has_holder = 1;
        err->holder = held;
        return PAYNET_INVALID;
    }
    /* a send in flight would settle after the release and find its claim
     * gone: its sender's outcome decides; one past its call's end never
     * will (its sender stopped), and a supervisor may end its hold */
    if (is_held && strcmp(held.state, "pending") == 0 && !paynet_holder_stale(&held)) {
        describe_hold(&held, err, PAYNET_BUSY, _("cannot be released while a send is in flight"));
        return PAYNET_BUSY;
    }
    paynet_holder who = c->who;
    snprintf(who.state, sizeof who.state, "released");
    paynet_mask_gsm(gsm, who.masked);
    who.session_id[0] = '\0';
    who.sent_at = paynet_clock_wall();
    who.otp_expire[0] = '\0';
    who.claim_hold = 0;
    who.send_window = 0;
    paynet_ledger_copy_clean(who.reason, sizeof who.reason, reason);
    status = c->ledger->methods->release(c->ledger, key, &who, released, err);
    if (status == PAYNET_OK && c->local != NULL)
        c->local->methods->release(c->local, key, &who, &local_released, err);
    if (status == PAYNET_OK && local_released)
        *released = 1;
    return status;
}

static paynet_status claim_again(struct paynet_call *call, paynet_error *err);

/* Claims this call's number, in its client's memory and in the ledger;
 * PAYNET_COOLDOWN with the holder when another send holds it. */
paynet_status hold_claim(struct paynet_call *call, const char *gsm, const char *session_id,
                         paynet_error *err)
{
    paynet_client *c = call->client;
    paynet_holder *r = &call->record;
    paynet_status status = key_of(c, gsm, call->key, err);
    if (status != PAYNET_OK)
        return status;
    if (call->state == SEND_CLAIMING) /* asked again: the claim on the wire is this one */
        return claim_again(call, err);
    paynet_ledger_token_next(&c->tokens, call->token);
    *r = c->who;
    paynet_copy_utf8(r->state, sizeof r->state, "pending");
    paynet_mask_gsm(gsm, r->masked);
    paynet_copy_utf8(r->session_id, sizeof r->session_id, session_id);
    r->sent_at = paynet_clock_wall();
    r->otp_expire[0] = '\0';
    r->reason[0] = '\0';
    /* the claim covers the whole call and what may follow it that no
     * settle records: an uncertain outcome, or a code sent */
    r->claim_hold = c->timeout + fmax(c->unknown_hold, CLAIM_COVERS_CODE) + 1;
    /* its call runs at most `timeout` from the claim, and a last ledger
     * operation after it at most connect_timeout: past that and a margin
     * it is over (the window is counted from this claim, later than the
     * call's start) */
    r->send_window = c->timeout + c->connect_timeout + 2;
    return claim_again(call, err);
}

/* Asks the ledger for this call's claim (again, when it was busy or its
 * answer is on the wire: the same token and record). */
static paynet_status claim_again(struct paynet_call *call, paynet_error *err)
{
    paynet_client *c = call->client;
    paynet_holder *r = &call->record, holder;
    double pending = r->claim_hold;
    int granted = 0;
    paynet_status status;
    c->ledger->deadline = call->deadline; /* the call's time bounds the ledger's too */
    status = c->ledger->methods->claim(c->ledger, call->key, call->token, r, pending, &granted,
                                       &holder, err);
    c->ledger->deadline = 0;
    if (status == PAYNET_PENDING) /* busy: nothing claimed, asked again later */
        return status;
    if (status == PAYNET_OK && !granted) {
        describe_hold(&holder, err, PAYNET_COOLDOWN, _("is held"));
        return PAYNET_COOLDOWN;
    }
    if (own_hold(c, call->key, status == PAYNET_OK, &holder)) {
        if (status == PAYNET_OK) { /* give back the claim just made */
            int ours;
            paynet_error ignored;
            if (c->ledger->methods->settle(c->ledger, call->key, call->token, r, 0, &ours,
                                           &ignored) == PAYNET_PENDING)
                hold_abandon(call); /* it lands by itself */
        }
        describe_hold(&holder, err, PAYNET_COOLDOWN, _("is held (by this client's memory)"));
        return PAYNET_COOLDOWN;
    }
    if (status != PAYNET_OK)
        return status;
    if (c->local != NULL) {
        status = c->local->methods->claim(c->local, call->key, call->token, r, pending,
                                          &granted, &holder, err);
        if (status != PAYNET_OK) { /* nothing sent: give the number back */
            int ours;
            paynet_error ignored;
            if (c->ledger->methods->settle(c->ledger, call->key, call->token, r, 0, &ours,
                                           &ignored) == PAYNET_PENDING)
                hold_abandon(call);
        }
    }
    return status;
}

/* Ends this call's claim: holds the number `seconds` more in `state`, or
 * releases it (seconds <= 0).  A ledger that fails here leaves the claim's
 * own hold standing (and the client's memory holds the number); a claim
 * that vanished during the send (it ran out, or the ledger was flushed) is
 * recorded again.  warning (if given) says either.  1 when the ledger was
 * busy and nothing was recorded there: ask again, or leave the claim's
 * own hold standing. */
int hold_settle(struct paynet_call *call, const char *state, double seconds,
                const char *otp_expire, char *warning, size_t warning_size)
{
    paynet_client *c = call->client;
    paynet_holder r = call->record;
    paynet_error e;
    int ours = 0, local_ours = 0;
    paynet_copy_utf8(r.state, sizeof r.state, state);
    paynet_copy_utf8(r.otp_expire, sizeof r.otp_expire, otp_expire != NULL ? otp_expire : "");
    if (c->local != NULL)
        c->local->methods->settle(c->local, call->key, call->token, &r, seconds, &local_ours,
                                  &e);
    const char *problem = NULL;
    char text[PAYNET_MESSAGE_SIZE];
    c->ledger->deadline = call->deadline + SETTLE_GRACE;
    paynet_status status = c->ledger->methods->settle(c->ledger, call->key, call->token, &r,
                                                      seconds, &ours, &e);
    c->ledger->deadline = 0;
    if (status == PAYNET_PENDING)
        return 1;
    if (status != PAYNET_OK) {
        paynet_copy_utf8(text, sizeof text - 96, e.message);
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s",
                 _("; the number stays held only until its claim runs out"));
        problem = text;
    } else if (ours == LEDGER_RECREATED && seconds > 0) {
        snprintf(text, sizeof text, _("the claim on %s had vanished from the ledger during the "
                                      "send (it ran out, or the ledger lost it); the hold was "
                                      "recorded again"), r.masked);
        problem = text;
    } else if (ours == 0 && seconds > 0) {
        snprintf(text, sizeof text, _("the claim on %s ran out during the send and another "
                                      "sender holds the number now"), r.masked);
        problem = text;
    }
    if (problem != NULL) {
        client_debug(c, "%s", problem);
        if (warning != NULL)
            paynet_copy_utf8(warning, warning_size, problem);
    }
    return 0;
}

void hold_watch(struct paynet_call *call)
{
    struct ledger *l = call->client->ledger;
    int events = 0, fd = l->methods->pollfd != NULL ? l->methods->pollfd(l, &events) : -1;
    if (fd != call->ledger_fd)
        hold_unwatch(call);
    if (fd < 0)
        return;
    struct epoll_event ev = {0};
    ev.events = (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0);
    ev.data.fd = fd;
    /* MOD may find it gone: a connection dropped and another opened on the
     * same number */
    if (epoll_ctl(call->epfd, fd == call->ledger_fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0
        || (errno == ENOENT && epoll_ctl(call->epfd, EPOLL_CTL_ADD, fd, &ev) == 0))
        call->ledger_fd = fd;
    else
        call->ledger_fd = -1; /* its LEDGER_RETRY timer alone wakes the call */
}

void hold_unwatch(struct paynet_call *call)
{
    if (call->ledger_fd >= 0)
        epoll_ctl(call->epfd, EPOLL_CTL_DEL, call->ledger_fd, NULL);
    call->ledger_fd = -1;
}

void hold_abandon(struct paynet_call *call)
{
    struct ledger *l = call->client->ledger;
    if (l->methods->abandon != NULL)
        l->methods->abandon(l, call->token);
    hold_unwatch(call);
}
