/*
 * app.h — the operator screen's state machine.  No curses here: keys
 * arrive as actions, the core's outcomes as events, the clock as ticks;
 * every function returns flags that tell the loop what to do next, and
 * view.c draws a const struct app.  Unit-tested in test/test_app.c.
 */
#ifndef PAYNET_TUI_APP_H
#define PAYNET_TUI_APP_H

#include <stddef.h>

#include "paynet.h"

/* Text for the operator, in their language (the "paynet" catalogue): _()
 * translates now, N_() marks a string translated where it is shown. */
#define _(s) paynet_gettext(s)
#define N_(s) (s)

#define APP_GSM_INPUT_MAX 64
#define APP_SESSION_MAX 128
#define APP_HISTORY_MAX 100
#define APP_COUNTDOWNS_MAX 64

enum app_focus { FOCUS_GSM = 0, FOCUS_SESSION = 1 };

enum app_action {
    ACTION_NONE,
    ACTION_EDIT,       /* a key for the focused field (handled by the form) */
    ACTION_NEXT_FIELD,
    ACTION_PREV_FIELD,
    ACTION_SEND,
    ACTION_NEW_ID,
    ACTION_CANCEL,
    ACTION_HELP,
    ACTION_QUIT,
    ACTION_RESIZE,
    ACTION_REDRAW      /* Ctrl-L: draw everything again, from nothing */
};

/* What the loop must do after a call. */
enum {
    APP_REDRAW = 1 << 0,
    APP_START_SEND = 1 << 1,  /* call paynet_send_start with app's inputs */
    APP_CANCEL_SEND = 1 << 2, /* call paynet_send_cancel */
    APP_QUIT = 1 << 3,
    APP_NEW_ID = 1 << 4,      /* make a fresh session id, then app_set_session */
    APP_FOCUS = 1 << 5,       /* move the form's focus to app.focus */
    APP_CLEAR = 1 << 6        /* clear the terminal before the redraw */
};

enum app_tone { TONE_INFO, TONE_OK, TONE_WARN, TONE_ERROR };

struct app_entry {
    char time[16];
    char masked[PAYNET_GSM_SIZE];
    char session[APP_SESSION_MAX + 1];
    char outcome[200];
    enum app_tone tone;
};

struct app_countdown {
    char gsm[PAYNET_GSM_SIZE];
    double total;   /* seconds the countdown started from */
    int uncertain;  /* a hold after an outcome that may have delivered */
};

struct app {
    const char *env;   /* "test" or "live" */
    const char *host;  /* where requests go */
    int live;

    char gsm_input[APP_GSM_INPUT_MAX + 1];
    char session_input[APP_SESSION_MAX + 1];
    enum app_focus focus;

    /* the number as it will be sent, or why it cannot be */
    int gsm_valid;
    char gsm[PAYNET_GSM_SIZE];
    char gsm_problem[PAYNET_MESSAGE_SIZE];
    /* why the session id cannot be sent ("" when it can, or is empty) */
    char session_problem[PAYNET_MESSAGE_SIZE];

    /* a send in flight */
    int sending;
    double send_started;
    double send_elapsed; /* seconds, as of the last tick */
    char sending_gsm[PAYNET_GSM_SIZE];
    char sending_session[APP_SESSION_MAX + 1];
    int spinner_frame;

    /* the countdown of the number in the phone field */
    struct app_countdown countdowns[APP_COUNTDOWNS_MAX];
    size_t countdown_count;
    double remaining;  /* seconds, from the core */
    int ledger_down;   /* the ledger could not say whether the number is held */
    int ledger_asking; /* its first answer for this number is still on the wire */
    int has_holder;    /* the ledger holds the number in the phone field: */
    paynet_holder holder; /* who, for which session, since when */
    double holder_total;  /* seconds the hold lasts in all, for the bar */
    long shown_second; /* what the screen shows, to redraw only on change */

    enum app_tone tone;
    char status[1024];
    char detail[PAYNET_MESSAGE_SIZE * 2];

    struct app_entry history[APP_HISTORY_MAX]; /* newest first */
    size_t history_count;

    int help;
};

void app_init(struct app *app, const char *env, const char *host);

unsigned app_apply(struct app *app, enum app_action action, double now);
unsigned app_set_input(struct app *app, enum app_focus field, const char *text);
unsigned app_set_session(struct app *app, const char *id);

/* The loop calls paynet_send_start after APP_START_SEND; then one of: */
unsigned app_send_started(struct app *app, double now);
unsigned app_send_refused(struct app *app, const paynet_error *err);
/* ... and when the send ends (clock_text: local HH:MM:SS now; expire_text:
 * otp_expire in local time, for a success). */
unsigned app_send_finished(struct app *app, paynet_status status,
                           const paynet_result *res, const paynet_error *err,
                           const char *clock_text, const char *expire_text);

/* What the core's lookup says of the number in the phone field, for
 * app_tick: seconds left (0: free), HOLD_DOWN (the ledger cannot answer)
 * or HOLD_ASKING (a slow ledger has not answered yet for this number). */
#define HOLD_DOWN (-1.0)
#define HOLD_ASKING (-2.0)
unsigned app_tick(struct app *app, double now, double remaining);

/* Who holds the number in the phone field, as the ledger says now (NULL:
 * nobody, or the ledger cannot say); wall_now: Unix time.  Asked before
 * Enter is pressed, so the operator sees another desk's send in time. */
unsigned app_set_holder(struct app *app, const paynet_holder *holder, double wall_now);

/* Milliseconds until something visible changes on its own (-1: never). */
int app_next_wake_ms(const struct app *app, double now);

const struct app_countdown *app_countdown_of(const struct app *app, const char *gsm);

/* A status the loop sets itself (e.g. the audit log could not be written). */
unsigned app_set_status(struct app *app, enum app_tone tone, const char *status,
                        const char *detail);

/* One plain-language line for an error: what happened and what to do. */
const char *app_error_advice(const paynet_error *err);

/* Copies text for the screen through the core's cleaner
 * (paynet_text_clean).  Always terminates out. */
void app_clean_text(const char *in, char *out, size_t size);

#endif
