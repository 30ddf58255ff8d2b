/*
 * app.c — the operator screen's state machine (see app.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static void set_status(struct app *app, enum app_tone tone, const char *text)
{
    app->tone = tone;
    snprintf(app->status, sizeof app->status, "%s", text);
    app->detail[0] = '\0';
}

void app_init(struct app *app, const char *env, const char *host)
{
    memset(app, 0, sizeof *app);
    app->env = env;
    app->host = host;
    app->live = strcmp(env, "live") == 0;
    app->focus = FOCUS_GSM;
    app->shown_second = -1;
    set_status(app, TONE_INFO,
               _("Type the customer's phone number and a session id, then press Enter."));
}


/* ---- text from outside -------------------------------------------------- */

void app_clean_text(const char *in, char *out, size_t size)
{
    paynet_text_clean(in, strlen(in), out, size);
}

/* ---- countdowns --------------------------------------------------------- */

const struct app_countdown *app_countdown_of(const struct app *app, const char *gsm)
{
    for (size_t i = 0; i < app->countdown_count; i++)
        if (strcmp(app->countdowns[i].gsm, gsm) == 0)
            return &app->countdowns[i];
    return NULL;
}

static void countdown_set(struct app *app, const char *gsm, double total, int uncertain)
{
    struct app_countdown *c = (struct app_countdown *)app_countdown_of(app, gsm);
    if (c == NULL) {
        if (app->countdown_count == APP_COUNTDOWNS_MAX) {
            /* forget the oldest: the core still guards the number */
            memmove(app->countdowns, app->countdowns + 1,
                    (APP_COUNTDOWNS_MAX - 1) * sizeof app->countdowns[0]);
            app->countdown_count--;
        }
        c = &app->countdowns[app->countdown_count++];
        snprintf(c->gsm, sizeof c->gsm, "%s", gsm);
    }
    c->total = total;
    c->uncertain = uncertain;
}

/* ---- actions ------------------------------------------------------------ */

unsigned app_set_input(struct app *app, enum app_focus field, const char *text)
{
    paynet_error err;
    /* the core judges the whole text: what does not fit the field's copy
     * is too long for the core too, and is refused, never cut and sent */
    if (field == FOCUS_SESSION) {
        snprintf(app->session_input, sizeof app->session_input, "%s", text);
        app->session_problem[0] = '\0';
        if (text[0] != '\0' && paynet_session_id_check(text, &err) != PAYNET_OK)
            snprintf(app->session_problem, sizeof app->session_problem, "%s", err.message);
        return APP_REDRAW;
    }
    snprintf(app->gsm_input, sizeof app->gsm_input, "%s", text);
    app->gsm_problem[0] = '\0';
    app->gsm_valid = 0;
    app->gsm[0] = '\0';
    if (text[0] != '\0') {
        if (paynet_gsm_normalize(text, app->gsm, &err) == PAYNET_OK)
            app->gsm_valid = 1;
        else
            snprintf(app->gsm_problem, sizeof app->gsm_problem, "%s", err.message);
    }
    app->shown_second = -1; /* another number: its own countdown */
    return APP_REDRAW;
}

unsigned app_set_session(struct app *app, const char *id)
{
    return app_set_input(app, FOCUS_SESSION, id);
}

unsigned app_apply(struct app *app, enum app_action action, double now)
{
    (void)now;
    /* help covers the fields: nothing under it may change or be sent */
    if (app->help && action != ACTION_HELP && action != ACTION_CANCEL &&
        action != ACTION_QUIT && action != ACTION_REDRAW && action != ACTION_RESIZE)
        return 0;
    switch (action) {
    case ACTION_NONE:
        return 0;
    case ACTION_EDIT:
    case ACTION_RESIZE:
        return APP_REDRAW;
    case ACTION_REDRAW:
        return APP_REDRAW | APP_CLEAR;
    case ACTION_NEXT_FIELD:
    case ACTION_PREV_FIELD:
        app->focus = app->focus == FOCUS_GSM ? FOCUS_SESSION : FOCUS_GSM;
        return APP_REDRAW | APP_FOCUS;
    case ACTION_HELP:
        app->help = !app->help;
        return APP_REDRAW;
    case ACTION_NEW_ID:
        return APP_NEW_ID | APP_REDRAW;
    case ACTION_QUIT:
        return app->sending ? APP_CANCEL_SEND | APP_QUIT : APP_QUIT;
    case ACTION_CANCEL:
        if (app->sending)
            return APP_CANCEL_SEND;
        if (app->help) {
            app->help = 0;
            return APP_REDRAW;
        }
        return 0;
    case ACTION_SEND:
        if (app->sending) {
            set_status(app, TONE_WARN,
                       _("A send is in flight: wait for it, or press Esc to cancel it."));
            return APP_REDRAW;
        }
        if (app->gsm_input[0] == '\0') {
            set_status(app, TONE_ERROR, _("Not sent: type the customer's phone number first."));
            return APP_REDRAW;
        }
        if (!app->gsm_valid) {
            set_status(app, TONE_ERROR, _("Not sent: the phone number is not valid."));
            snprintf(app->detail, sizeof app->detail, "%s", app->gsm_problem);
            return APP_REDRAW;
        }
        if (app->session_problem[0] != '\0') {
            set_status(app, TONE_ERROR, _("Not sent: the session id is not valid."));
            snprintf(app->detail, sizeof app->detail, "%s", app->session_problem);
            return APP_REDRAW;
        }
        if (app->session_input[0] == '\0') {
            set_status(app, TONE_ERROR,
                       _("Not sent: the session id is empty. Type one, or press F2 for a fresh one."));
            return APP_REDRAW;
        }
        return APP_START_SEND;
    }
    return 0;
}

/* ---- outcomes ----------------------------------------------------------- */

unsigned app_send_started(struct app *app, double now)
{
    char masked[PAYNET_GSM_SIZE];
    app->sending = 1;
    app->send_started = now;
    app->spinner_frame = 0;
    app->send_elapsed = 0;
    snprintf(app->sending_gsm, sizeof app->sending_gsm, "%s", app->gsm);
    snprintf(app->sending_session, sizeof app->sending_session, "%s", app->session_input);
    paynet_mask_gsm(app->gsm, masked);
    char text[128];
    snprintf(text, sizeof text, _("Sending an OTP to %s ..."), masked);
    set_status(app, TONE_INFO, text);
    return APP_REDRAW;
}

static void format_left(double seconds, char *out, size_t size)
{
    int s = seconds > 0 ? (int)ceil(seconds < 86400 ? seconds : 86400) : 0;
    snprintf(out, size, "%02d:%02d", s / 60, s % 60);
}

unsigned app_send_refused(struct app *app, const paynet_error *err)
{
    char masked[PAYNET_GSM_SIZE], left[16], text[PAYNET_MESSAGE_SIZE];
    paynet_mask_gsm(app->gsm, masked);
    if (err->outcome == PAYNET_OUTCOME_COOLDOWN) {
        const struct app_countdown *c = app_countdown_of(app, app->gsm);
        format_left(err->retry_after, left, sizeof left);
        int uncertain = err->has_holder ? strcmp(err->holder.state, "sent") != 0
                                        : c != NULL && c->uncertain;
        if (uncertain)
            snprintf(text, sizeof text,
                     _("Not sent: an earlier send to %s may have delivered a code. "
                       "Wait %s before sending again."),
                     masked, left);
        else
            snprintf(text, sizeof text,
                     _("Not sent: the OTP sent to %s is valid for %s more. "
                       "The customer can use the code they have."),
                     masked, left);
        set_status(app, TONE_WARN, text);
        if (err->has_holder) { /* who holds it: another desk, another run */
            char line[PAYNET_MESSAGE_SIZE], both[PAYNET_MESSAGE_SIZE + 16];
            paynet_holder_describe(&err->holder, line, sizeof line);
            snprintf(both, sizeof both, "%s: %s", err->holder.masked, line);
            app_clean_text(both, app->detail, sizeof app->detail);
        }
        if (c == NULL) /* held by an earlier run, or by another sender */
            countdown_set(app, app->gsm, err->retry_after,
                          err->has_holder && strcmp(err->holder.state, "sent") != 0);
        return APP_REDRAW;
    }
    set_status(app, TONE_ERROR, app_error_advice(err));
    app_clean_text(err->message, app->detail, sizeof app->detail);
    return APP_REDRAW;
}

static void history_add(struct app *app, const char *clock_text, const char *outcome,
                        enum app_tone tone)
{
    if (app->history_count < APP_HISTORY_MAX)
        app->history_count++;
    memmove(app->history + 1, app->history,
            (app->history_count - 1) * sizeof app->history[0]);
    struct app_entry *e = &app->history[0];
    snprintf(e->time, sizeof e->time, "%s", clock_text);
    paynet_mask_gsm(app->sending_gsm, e->masked);
    app_clean_text(app->sending_session, e->session, sizeof e->session);
    snprintf(e->outcome, sizeof e->outcome, "%s", outcome);
    e->tone = tone;
}

/* The history's word for an outcome: the kind's name, in the reader's
 * language. */
static const char *kind_word(paynet_status status)
{
    switch (status) {
    case PAYNET_NETWORK: return _("network");
    case PAYNET_TIMEOUT: return _("timeout");
    case PAYNET_CANCELLED: return _("cancelled");
    case PAYNET_TLS: return _("tls");
    case PAYNET_LEDGER: return _("ledger");
    case PAYNET_NOMEM: return _("nomem");
    case PAYNET_INVALID: return _("invalid");
    case PAYNET_BUSY: return _("busy");
    default: return paynet_status_name(status);
    }
}

/* "unauthorized (code 7, HTTP 401): Geçersiz gizli anahtar" */
static void error_detail(const paynet_error *err, char *out, size_t size)
{
    char message[PAYNET_MESSAGE_SIZE];
    char where[96] = "";
    app_clean_text(err->message, message, sizeof message);
    if (err->code != PAYNET_NO_CODE && err->http_status > 0) {
        const char *name = paynet_code_name(err->code);
        snprintf(where, sizeof where, _("%s (code %d, HTTP %ld): "), name ? name : "unknown",
                 err->code, err->http_status);
    } else if (err->http_status > 0 && err->kind != PAYNET_PROTOCOL) {
        snprintf(where, sizeof where, "HTTP %ld: ", err->http_status);
    }
    snprintf(out, size, "%s%s", where, message);
}

unsigned app_send_finished(struct app *app, paynet_status status,
                           const paynet_result *res, const paynet_error *err,
                           const char *clock_text, const char *expire_text)
{
    char masked[PAYNET_GSM_SIZE], message[PAYNET_MESSAGE_SIZE];
    char text[PAYNET_MESSAGE_SIZE + 128], outcome[200];
    app->sending = 0;
    app->shown_second = -1;
    paynet_mask_gsm(app->sending_gsm, masked);
    if (status == PAYNET_OK) {
        app_clean_text(res->message, message, sizeof message);
        if (res->expires_in > 0) {
            countdown_set(app, app->sending_gsm, res->expires_in, 0);
            snprintf(text, sizeof text, _("OTP sent to %s: \"%s\". Valid until %s."), masked,
                     message, expire_text);
            snprintf(outcome, sizeof outcome, _("sent, valid until %s"), expire_text);
        } else {
            snprintf(text, sizeof text,
                     _("OTP sent to %s: \"%s\", but it has already expired (%s)."),
                     masked, message, expire_text);
            snprintf(outcome, sizeof outcome, _("sent, already expired"));
        }
        set_status(app, res->warning[0] ? TONE_WARN : TONE_OK, text);
        if (res->warning[0]) { /* sent, but the ledger could not record it */
            char warning[PAYNET_MESSAGE_SIZE + 16];
            snprintf(warning, sizeof warning, "Ledger: %s", res->warning);
            app_clean_text(warning, app->detail, sizeof app->detail);
        }
        history_add(app, clock_text, outcome, TONE_OK);
        return APP_REDRAW;
    }

    enum app_tone tone = status == PAYNET_CANCELLED ? TONE_WARN : TONE_ERROR;
    set_status(app, tone, app_error_advice(err));
    error_detail(err, app->detail, sizeof app->detail);
    if (err->retry_after > 0)
        countdown_set(app, app->sending_gsm, err->retry_after, 1);
    /* the history's words, by the verdict */
    switch (err->outcome) {
    case PAYNET_OUTCOME_REFUSED:
    case PAYNET_OUTCOME_DUPLICATE_HELD: {
        const char *name = paynet_code_name(err->code);
        snprintf(outcome, sizeof outcome, _("refused: %s (code %d)"), name ? name : "unknown",
                 err->code);
        break;
    }
    case PAYNET_OUTCOME_MAYBE_SENT:
        if (status == PAYNET_HTTP)
            snprintf(outcome, sizeof outcome, _("http: HTTP %ld%s"), err->http_status,
                     _(", may have gone out"));
        else
            snprintf(outcome, sizeof outcome, "%s, %s", kind_word(status),
                     _("may have gone out"));
        break;
    default:
        snprintf(outcome, sizeof outcome, "%s, %s", kind_word(status), _("not sent"));
        break;
    }
    history_add(app, clock_text, outcome, tone);
    return APP_REDRAW;
}

unsigned app_set_status(struct app *app, enum app_tone tone, const char *status,
                        const char *detail)
{
    set_status(app, tone, status);
    app_clean_text(detail ? detail : "", app->detail, sizeof app->detail);
    return APP_REDRAW;
}

/* ---- time --------------------------------------------------------------- */

#define SPINNER_HZ 5

unsigned app_tick(struct app *app, double now, double remaining)
{
    unsigned flags = 0;
    app->ledger_asking = remaining == HOLD_ASKING;
    app->ledger_down = remaining < 0 && !app->ledger_asking; /* the core's word */
    app->remaining = remaining > 0 ? remaining : 0;
    long second = app->ledger_asking ? -3 : app->ledger_down ? -2 : (long)ceil(app->remaining);
    if (second != app->shown_second) {
        app->shown_second = second;
        flags |= APP_REDRAW;
    }
    if (app->sending) {
        app->send_elapsed = now - app->send_started;
        int frame = (int)(app->send_elapsed * SPINNER_HZ);
        if (frame != app->spinner_frame) {
            app->spinner_frame = frame;
            flags |= APP_REDRAW;
        }
    }
    return flags;
}

unsigned app_set_holder(struct app *app, const paynet_holder *holder, double wall_now)
{
    if (holder == NULL) {
        unsigned flags = app->has_holder ? APP_REDRAW : 0;
        app->has_holder = 0;
        return flags;
    }
    const paynet_holder *was = &app->holder;
    int same = app->has_holder && strcmp(was->state, holder->state) == 0 &&
               strcmp(was->operator_name, holder->operator_name) == 0 &&
               strcmp(was->host, holder->host) == 0 &&
               strcmp(was->session_id, holder->session_id) == 0 && was->sent_at == holder->sent_at;
    app->has_holder = 1;
    app->holder = *holder;
    double since = wall_now - holder->sent_at;
    app->holder_total = holder->remaining + (since > 0 ? since : 0);
    return same ? 0 : APP_REDRAW;
}

int app_next_wake_ms(const struct app *app, double now)
{
    int wake = -1;
    if (app->sending) {
        double into = (now - app->send_started) * SPINNER_HZ;
        wake = (int)((floor(into) + 1 - into) * 1000 / SPINNER_HZ) + 1;
    }
    if (app->gsm_valid && app->remaining <= 0) {
        /* a number nobody holds yet: ask the ledger again each second, so
         * that another desk's send shows up before Enter is pressed */
        if (wake < 0 || 1000 < wake)
            wake = 1000;
    }
    if (app->remaining > 0) {
        double fraction = app->remaining - floor(app->remaining);
        int until = (int)(fraction * 1000) + 5;
        if (fraction == 0)
            until = 1000;
        if (wake < 0 || until < wake)
            wake = until;
    }
    return wake;
}

/* ---- advice ------------------------------------------------------------- */

/* The operator's next step: by the core's verdict (err->outcome), in
 * words that also say what failed (the kind) or what Paynet said (its
 * code); nothing here decides whether a code may have gone out. */
static const char *not_sent_advice(paynet_status kind)
{
    switch (kind) {
    case PAYNET_TIMEOUT:
        return _("Could not connect to Paynet in time; nothing was sent. Try again.");
    case PAYNET_TLS:
        return _("The secure connection to Paynet failed; nothing was sent. Check the "
                 "CA certificates and the system clock.");
    default:
        return _("Could not reach Paynet; nothing was sent. Check the network, "
                 "then try again.");
    }
}

static const char *maybe_sent_advice(paynet_status kind)
{
    switch (kind) {
    case PAYNET_NETWORK:
    case PAYNET_TLS:
        return _("The connection broke after the request left: a code may have gone "
                 "out. Ask the customer before sending again.");
    case PAYNET_TIMEOUT:
        return _("Paynet did not answer in time: a code may have gone out. Ask the "
                 "customer before sending again.");
    case PAYNET_HTTP:
        return _("A gateway in front of Paynet failed: a code may have gone out. "
                 "Ask the customer before sending again.");
    case PAYNET_CANCELLED:
        return _("Cancelled after the request left: a code may have gone out, so "
                 "the number is held.");
    default: /* protocol, an error object saying code 0, memory while reading */
        return _("Paynet's reply could not be read: a code may have gone out. Ask the "
                 "customer before sending again.");
    }
}

static const char *refused_advice(int code)
{
    switch (code) {
    case PAYNET_CODE_unauthorized:
        return _("Paynet refused the secret key. Check the secret key "
                 "(PAYNET_SECRET_KEY or --secret-key-file).");
    case PAYNET_CODE_companyblocked:
    case PAYNET_CODE_agentblocked:
    case PAYNET_CODE_agentnotfound:
        return _("Paynet says the merchant account is blocked or unknown. Call "
                 "Paynet support.");
    case PAYNET_CODE_servererror:
    case PAYNET_CODE_timeout:
        return _("Paynet had a problem on its side. Try again in a minute.");
    case PAYNET_CODE_badrequest:
        return _("Paynet could not accept the request. Check the number and the "
                 "session id.");
    default:
        return _("Paynet refused the request. The code and Paynet's message are below.");
    }
}

const char *app_error_advice(const paynet_error *err)
{
    switch (err->outcome) {
    case PAYNET_OUTCOME_SENT:
        return "";
    case PAYNET_OUTCOME_NOT_SENT:
        return not_sent_advice(err->kind);
    case PAYNET_OUTCOME_MAYBE_SENT:
        return maybe_sent_advice(err->kind);
    case PAYNET_OUTCOME_REFUSED:
        return refused_advice(err->code);
    case PAYNET_OUTCOME_DUPLICATE_HELD:
        return _("Paynet says a code was already sent to this number. Wait until "
                 "it expires.");
    case PAYNET_OUTCOME_COOLDOWN:
        return _("Not sent: this number's OTP is still valid. Wait for the countdown to end.");
    case PAYNET_OUTCOME_LEDGER:
        return _("The ledger of sent codes could not be used, so nothing was sent "
                 "(no code may go out unrecorded). Check the ledger (--ledger).");
    case PAYNET_OUTCOME_INVALID:
        return _("Not sent: the input is not valid. Correct it and press Enter.");
    case PAYNET_OUTCOME_CANCELLED:
        return _("Cancelled before anything was sent. You can send again.");
    case PAYNET_OUTCOME_BUSY:
        return _("A send is already in flight.");
    case PAYNET_OUTCOME_NOMEM:
        return _("Out of memory. Close other programs and try again.");
    }
    return _("Unexpected error.");
}
