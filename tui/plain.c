/*
 * plain.c — paynet-tui --plain (see plain.h).
 *
 *   Phone number: 0532 123 45 67
 *   Session id [otp-1f0c...]: order-42
 *   Sending an OTP to 532*****67 ...
 *   OTP sent to 532*****67: "Başarılı İşlem". Valid until 14:03:10.
 *   Phone number: ?
 *   Code for 532*****67 valid   02:41
 *   ...
 *   The code for 532*****67 has expired: a new one may be sent.
 *
 * Every line is the screen's own text from the state machine (app.c), so
 * the two cannot disagree; a line that comes by itself (a code expired)
 * is written on a line of its own and the prompt asked again.  When
 * standard input is not a terminal, each answer is echoed after its prompt
 * so that the transcript reads as a dialogue.  Lines queue while a send is
 * in flight and are read in order after it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plain.h"

enum step { ASK_GSM, ASK_SESSION, SENDING };

struct plain {
    struct session *s;
    char input[4096];  /* read, not yet used */
    size_t used;
    int eof;
    int echo;          /* standard input is not a terminal */
    int prompt_open;   /* a prompt is on the line, waiting for its answer */
    enum step step;
    char suggested[32];
    char held[APP_COUNTDOWNS_MAX][PAYNET_GSM_SIZE]; /* numbers whose code is counting */
    size_t held_count;
    int sent_any;      /* a send was tried in this run */
    int tty;           /* standard input is a terminal: someone may be typing */
    int discarding;    /* the rest of an over-long line is being dropped */
    int broken;        /* standard output cannot be written: stop */
    char later[8][256]; /* lines that came by themselves while someone typed */
    size_t later_count;
};

static void say(struct plain *p, const char *text)
{
    if (p->prompt_open) /* a line by itself: off the prompt's line */
        fputc('\n', stdout);
    p->prompt_open = 0;
    fputs(text, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        p->broken = 1;
}

/* A line that comes by itself (a code expired): at once into a pipe; at a
 * terminal, before the next prompt, so that it never cuts into what the
 * operator is typing. */
static void say_by_itself(struct plain *p, const char *text)
{
    if (!p->tty || !p->prompt_open) {
        say(p, text);
        return;
    }
    if (p->later_count < sizeof p->later / sizeof p->later[0])
        snprintf(p->later[p->later_count++], sizeof p->later[0], "%s", text);
}

/* The status line, and its detail after it on the same line. */
static void say_status(struct plain *p)
{
    const struct app *app = &p->s->app;
    char line[sizeof app->status + sizeof app->detail + 2];
    if (app->detail[0])
        snprintf(line, sizeof line, "%s %s", app->status, app->detail);
    else
        snprintf(line, sizeof line, "%s", app->status);
    say(p, line);
}

/* Asks for what the step needs (again, after a line that came by itself). */
static void prompt(struct plain *p)
{
    if (p->prompt_open)
        return;
    for (size_t i = 0; i < p->later_count; i++)
        say(p, p->later[i]);
    p->later_count = 0;
    if (p->step == ASK_GSM)
        printf("%s: ", _("Phone number"));
    else if (p->step == ASK_SESSION)
        printf("%s [%s]: ", _("Session id"), p->suggested);
    else
        return;
    p->prompt_open = 1;
    if (fflush(stdout) != 0 || ferror(stdout))
        p->broken = 1;
}

/* The countdown line of one number, in the screen's words. */
static void say_left(struct plain *p, const char *gsm, double left)
{
    char masked[PAYNET_GSM_SIZE], text[256];
    const struct app_countdown *c = app_countdown_of(&p->s->app, gsm);
    long s = (long)ceil(left);
    paynet_mask_gsm(gsm, masked);
    if (c != NULL && c->uncertain)
        snprintf(text, sizeof text, _("%s is held   %02ld:%02ld"), masked, s / 60, s % 60);
    else
        snprintf(text, sizeof text, _("Code for %s valid   %02ld:%02ld"), masked, s / 60, s % 60);
    say(p, text);
}

static void remember(struct plain *p, const char *gsm)
{
    for (size_t i = 0; i < p->held_count; i++)
        if (strcmp(p->held[i], gsm) == 0)
            return;
    if (p->held_count == APP_COUNTDOWNS_MAX) {
        memmove(p->held[0], p->held[1], (APP_COUNTDOWNS_MAX - 1) * sizeof p->held[0]);
        p->held_count--;
    }
    snprintf(p->held[p->held_count++], PAYNET_GSM_SIZE, "%s", gsm);
}

/* Says which codes have run out since the last look; the milliseconds
 * until the next one will (-1: none is counting). */
static int check_expiry(struct plain *p)
{
    int wake = -1;
    size_t kept = 0;
    for (size_t i = 0; i < p->held_count; i++) {
        double left = paynet_remaining(p->s->client, p->held[i]);
        if (left == 0) {
            char masked[PAYNET_GSM_SIZE], text[256];
            paynet_mask_gsm(p->held[i], masked);
            snprintf(text, sizeof text, _("The code for %s has expired: a new one may be sent."),
                     masked);
            say_by_itself(p, text);
            continue;
        }
        if (left > 0) {
            int ms = (int)ceil(left * 1000) + 5;
            if (wake < 0 || ms < wake)
                wake = ms;
        }
        memmove(p->held[kept++], p->held[i], sizeof p->held[0]);
    }
    p->held_count = kept;
    return wake;
}

static void finished(struct plain *p, paynet_status status, const paynet_result *res,
                     const paynet_error *err)
{
    session_finish(p->s, status, res, err);
    say_status(p);
    const char *gsm = p->s->app.sending_gsm;
    if (paynet_remaining(p->s->client, gsm) > 0)
        remember(p, gsm);
    p->step = ASK_GSM;
}

static void start_send(struct plain *p)
{
    struct app *app = &p->s->app;
    paynet_error err;
    unsigned flags = app_apply(app, ACTION_SEND, session_now());
    if (!(flags & APP_START_SEND)) {
        say_status(p);
        p->step = ASK_GSM;
        return;
    }
    if (paynet_send_start(p->s->client, app->gsm, app->session_input, &p->s->call, &err)
        != PAYNET_OK) {
        app_send_refused(app, &err);
        say_status(p);
        p->step = ASK_GSM;
        return;
    }
    app_send_started(app, session_now());
    p->sent_any = 1;
    say_status(p);
    p->step = SENDING;
}

/* One answer to the prompt on the line. */
static int answer(struct plain *p, const char *line)
{
    struct app *app = &p->s->app;
    if (p->echo && p->prompt_open) { /* a terminal echoes by itself */
        char shown[APP_SESSION_MAX * 4 + 2];
        app_clean_text(line, shown, sizeof shown); /* never a byte of it raw */
        printf("%s\n", shown);
    }
    p->prompt_open = 0;
    if (p->step == ASK_GSM) {
        if (line[0] == '\0')
            return 0;
        if (strcmp(line, "q") == 0)
            return 1;
        if (strcmp(line, "?") == 0) {
            int any = 0;
            for (size_t i = 0; i < p->held_count; i++) {
                double left = paynet_remaining(p->s->client, p->held[i]);
                if (left > 0) {
                    say_left(p, p->held[i], left);
                    any = 1;
                }
            }
            if (!any)
                say(p, p->sent_any ? _("No code sent in this run is still valid.")
                                   : _("nothing sent yet"));
            return 0;
        }
        app_set_input(app, FOCUS_GSM, line);
        if (!app->gsm_valid) {
            app_apply(app, ACTION_SEND, session_now()); /* "Not sent: ... not valid." */
            say_status(p);
            return 0;
        }
        unsigned flags = 0;
        double left = session_hold(p->s, &flags);
        if (left > 0 && app->has_holder) {
            /* held: refused at once, in the words of a refused Enter, and
             * no session id is asked for a send that cannot happen */
            paynet_error held;
            memset(&held, 0, sizeof held);
            held.kind = PAYNET_COOLDOWN;
            held.outcome = PAYNET_OUTCOME_COOLDOWN;
            held.code = PAYNET_NO_CODE;
            held.delivered = PAYNET_DELIVERED_NO;
            held.retry_after = left;
            held.has_holder = 1;
            held.holder = app->holder;
            app_send_refused(app, &held);
            say_status(p);
            return 0;
        } else if (left == HOLD_DOWN) { /* HOLD_ASKING: the claim decides */
            char masked[PAYNET_GSM_SIZE], text[256];
            paynet_mask_gsm(app->gsm, masked);
            snprintf(text, sizeof text,
                     _("The ledger cannot be reached: nothing is sent to %s until it can."), masked);
            say(p, text);
        }
        p->step = ASK_SESSION;
        session_fresh_id(p->suggested, sizeof p->suggested);
        return 0;
    }
    /* ASK_SESSION */
    app_set_session(app, line[0] ? line : p->suggested);
    start_send(p);
    return 0;
}

/* Takes the next complete line off the input (the last one at its end
 * even without a newline); 0 when there is none yet. */
static int next_line(struct plain *p, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(p->input, '\n', p->used);
        if (p->discarding) { /* the tail of an over-long line: dropped */
            size_t drop = nl != NULL ? (size_t)(nl - p->input) + 1 : p->used;
            memmove(p->input, p->input + drop, p->used - drop);
            p->used -= drop;
            if (nl == NULL)
                return 0;
            p->discarding = 0;
            continue;
        }
        size_t n;
        if (nl != NULL)
            n = (size_t)(nl - p->input);
        else if (p->eof && p->used > 0)
            n = p->used;
        else if (p->used == sizeof p->input) /* longer than any answer can be */
            n = p->used;
        else
            return 0;
        /* the whole line, or enough of it that the core refuses it as too
         * long (size - 1 bytes: over any number's or session id's limit) */
        size_t copy = n < size - 1 ? n : size - 1;
        memcpy(out, p->input, copy);
        out[copy] = '\0';
        if (copy > 0 && out[copy - 1] == '\r' && copy == n)
            out[--copy] = '\0';
        /* a NUL byte never cuts a line short: it becomes a control
         * character, which the core refuses with its position */
        for (size_t i = 0; i < copy; i++)
            if (out[i] == '\0')
                out[i] = '\x01';
        size_t drop = nl != NULL ? n + 1 : n;
        memmove(p->input, p->input + drop, p->used - drop);
        p->used -= drop;
        if (nl == NULL && !p->eof)
            p->discarding = 1; /* the rest of this line comes later: drop it */
        return 1;
    }
}

int plain_run(struct session *s, volatile sig_atomic_t *stop_signal)
{
    struct plain p;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.tty = isatty(STDIN_FILENO);
    p.echo = !p.tty;
    char header[PAYNET_SCOPE_SIZE + 128];
    snprintf(header, sizeof header,
             s->app.live ? _(" paynet-tui %s  *** LIVE: REAL SMS TO REAL CUSTOMERS ***  %s")
                         : _(" paynet-tui %s  env: TEST  %s"),
             PAYNET_VERSION, s->app.host);
    say(&p, header + 1);
    say(&p, s->app.detail); /* the ledger's line */
    say(&p, _("Type a phone number, then a session id; ? tells the time left, q quits."));
    paynet_error err;
    paynet_result res;
    int quit = 0;
    prompt(&p);
    while (!quit) {
        char line[APP_SESSION_MAX * 4 + 2];
        while (!quit && !*stop_signal && !p.broken && p.step != SENDING &&
               next_line(&p, line, sizeof line)) {
            quit = answer(&p, line);
            if (!quit)
                prompt(&p);
        }
        if (quit || (p.eof && p.used == 0 && p.step != SENDING))
            break;
        int open = p.prompt_open;
        int wake = check_expiry(&p);
        if (open && !p.prompt_open)
            prompt(&p); /* a code expired while the prompt waited: ask again */
        if (p.step == SENDING && (wake < 0 || wake > 200))
            wake = 200;
        if (p.broken && p.step != SENDING) {
            s->gone = _("standard output cannot be written");
            break;
        }
        /* a full buffer waits for the send in flight: it is read, not lost */
        int listen = !p.eof && p.used < sizeof p.input;
        int ready = 0;
        paynet_call_wait(s->call, listen ? STDIN_FILENO : -1,
                    wake < 0 || wake > 1000 ? 1000 : wake, &ready, &err);
        if (*stop_signal) {
            if (*stop_signal == SIGHUP)
                s->gone = _("the terminal hung up (SIGHUP)");
            if (p.step == SENDING) {
                paynet_call_cancel(s->call, &err);
                finished(&p, PAYNET_CANCELLED, NULL, &err);
            }
            break;
        }
        if (ready && listen) {
            ssize_t n = read(STDIN_FILENO, p.input + p.used, sizeof p.input - p.used);
            if (n > 0)
                p.used += (size_t)n;
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                p.eof = 1;
        }
        if (p.step == SENDING) {
            paynet_status status = paynet_call_step(s->call, &res, &err);
            if (status != PAYNET_PENDING) {
                finished(&p, status, &res, &err);
                prompt(&p);
            }
        }
    }
    if (p.prompt_open)
        fputc('\n', stdout);
    fflush(stdout);
    if (s->gone != NULL)
        return *stop_signal == SIGHUP ? 128 + SIGHUP : 1;
    return 0;
}
