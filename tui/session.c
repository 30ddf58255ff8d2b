/*
 * session.c — a run of paynet-tui (see session.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "session.h"

double session_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double session_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void session_fresh_id(char *out, size_t size)
{
    unsigned char bytes[8];
    if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
        unsigned long t = (unsigned long)time(NULL) ^ (unsigned long)getpid();
        memcpy(bytes, &t, sizeof bytes < sizeof t ? sizeof bytes : sizeof t);
    }
    snprintf(out, size, "otp-%02x%02x%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1],
             bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
}

unsigned session_finish(struct session *s, paynet_status status, const paynet_result *res,
                        const paynet_error *err)
{
    char clock_text[16], expire_text[16] = "";
    paynet_call_free(s->call);
    s->call = NULL;
    /* the times are the reply's, not the end of the ledger's work after it */
    double at = status == PAYNET_OK ? res->replied_at : err->replied_at;
    time_t now = at > 0 ? (time_t)floor(at) : time(NULL);
    audit_local_time(now, "%H:%M:%S", clock_text, sizeof clock_text);
    if (status == PAYNET_OK) /* on the desk's clock, as the countdown is */
        audit_local_time((time_t)lround(at + res->expires_in), "%H:%M:%S", expire_text,
                        sizeof expire_text);
    const char *env = s->opt.env;
    int logged = audit_write(s->audit_fd, env, paynet_client_operator(s->client), &s->app, now,
                             status, res, err);
    int saved_errno = errno;
    unsigned flags = app_send_finished(&s->app, status, res, err, clock_text, expire_text);
    if (!logged)
        flags |= app_set_status(&s->app, TONE_ERROR, _("The audit log could not be written."),
                                strerror(saved_errno));
    return flags;
}

double session_hold(struct session *s, unsigned *flags)
{
    int held = 0;
    paynet_holder holder;
    paynet_error err;
    if (!s->app.gsm_valid) {
        *flags |= app_set_holder(&s->app, NULL, 0);
        return 0;
    }
    /* never a stall: a slow ledger's answer is asked for again next turn,
     * the line showing what the last answer for this number said */
    paynet_status status = paynet_hold_peek(s->client, s->app.gsm, &held, &holder, &err);
    double now = session_now();
    if (status == PAYNET_PENDING) {
        if (strcmp(s->peeked_gsm, s->app.gsm) != 0)
            return HOLD_ASKING; /* nothing known yet (the claim decides at Enter) */
        double left = s->peeked_left - (now - s->peeked_at);
        return s->peeked_left < 0 ? HOLD_DOWN : left > 0 ? left : 0;
    }
    snprintf(s->peeked_gsm, sizeof s->peeked_gsm, "%s", s->app.gsm);
    s->peeked_at = now;
    if (status != PAYNET_OK) {
        *flags |= app_set_holder(&s->app, NULL, 0);
        s->peeked_left = err.kind == PAYNET_INVALID ? 0 : HOLD_DOWN;
        return s->peeked_left;
    }
    *flags |= app_set_holder(&s->app, held ? &holder : NULL, session_wall());
    s->peeked_left = held && holder.remaining > 0 ? holder.remaining : 0;
    return s->peeked_left;
}
