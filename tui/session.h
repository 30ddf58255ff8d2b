/*
 * session.h — what one run of paynet-tui holds, the screen or --plain
 * alike: the options, the client, the state machine (app.c, which also
 * owns every word the operator reads) and the audit log.
 */
#ifndef PAYNET_TUI_SESSION_H
#define PAYNET_TUI_SESSION_H

#include "app.h"
#include "keys.h"
#include "paynet.h"

struct view;

struct options {
    const char *env;
    const char *base_url;
    const char *secret_key_file;
    const char *audit_log;
    const char *cainfo;
    const char *ledger;
    double timeout;
    int no_color;
    int plain;
    const char *proxy;
};

struct session {
    struct options opt;
    paynet_client *client;
    paynet_call *call;   /* the send in flight, NULL when none */
    char peeked_gsm[PAYNET_GSM_SIZE]; /* the last number the ledger answered for */
    double peeked_at, peeked_left;    /* when (monotonic), and its seconds held */
    struct app app;      /* the state and the words, for the screen and --plain alike */
    int audit_fd;        /* -1: no audit log */
    const char *gone;    /* why it stopped without the operator: NULL if it did not */
    struct view *view;   /* the screen only */
    struct keys keys;    /* the screen only */
};

/* Seconds on the monotonic clock, and Unix time. */
double session_now(void);
double session_wall(void);

/* A fresh random session id, "otp-" and 16 hex digits. */
void session_fresh_id(char *out, size_t size);

/* A send ended: its call freed, the audit line, then the state machine's
 * outcome. */
unsigned session_finish(struct session *s, paynet_status status, const paynet_result *res,
                        const paynet_error *err);

/* Seconds the number in the phone field stays held (HOLD_DOWN: the ledger
 * cannot say; HOLD_ASKING: its answer is on the wire), telling the state
 * machine who holds it. */
double session_hold(struct session *s, unsigned *flags);

#endif
