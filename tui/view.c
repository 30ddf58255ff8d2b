/*
 * view.c — the operator screen, drawn from a const struct app.
 *
 *   row 0       header: program, environment (LIVE unmistakable), host
 *   rows 2-4    phone-number field, then what will be sent or why not
 *   row 5       session-id field
 *   rows 8-11   status and detail
 *   rows 13-15  spinner, or the countdown, its bar and who holds the number
 *   rows 16-    this run's history
 *   last row    key hints
 *
 * The fields belong to the form library and are never erased by a redraw:
 * every other row is cleared and drawn again, so that a redraw costs only
 * what changed (curses sends the difference).
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include <curses.h>
#include <fcntl.h>
#include <form.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "keys.h"
#include "view.h"

#define FIELD_X 17
#define GSM_ROW 2
#define SESSION_ROW 5
#define GSM_WIDTH 24
#define SESSION_WIDTH 40
#define STATUS_ROW 8
#define COUNTDOWN_ROW 13
#define HISTORY_ROW 16
#define BAR_WIDTH 30

enum { PAIR_HEADER = 1, PAIR_LIVE, PAIR_OK, PAIR_WARN, PAIR_ERROR };

struct view {
    SCREEN *screen;
    int color, utf8;
    int help_drawn; /* the help box is on the terminal */
    FORM *form;
    FIELD *fields[3];
    int lines, cols; /* the size the form was built for */
};

/* ---- terminal ------------------------------------------------------------ */

struct view *view_open(int no_color)
{
    struct view *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->screen = newterm(NULL, stdout, stdin);
    if (v->screen == NULL) {
        fprintf(stderr, _("paynet-tui: cannot use this terminal (TERM=%s)\n"),
                getenv("TERM") ? getenv("TERM") : "");
        free(v);
        return NULL;
    }
    const char *codeset = nl_langinfo(CODESET);
    v->utf8 = codeset != NULL && strcmp(codeset, "UTF-8") == 0;
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    /* Esc alone acts after ESCDELAY ms (the environment's, else 100): long
     * enough for an F-key's bytes over a slow link, short enough for Esc */
    if (getenv("ESCDELAY") == NULL)
        set_escdelay(100);
    keys_define_sequences();
    if (!no_color && has_colors() && start_color() == OK) {
        v->color = 1;
        use_default_colors();
        init_pair(PAIR_HEADER, COLOR_WHITE, COLOR_BLUE);
        init_pair(PAIR_LIVE, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_OK, COLOR_GREEN, -1);
        init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        init_pair(PAIR_ERROR, COLOR_RED, -1);
    }
    return v;
}

static void form_free(struct view *v)
{
    if (v->form != NULL) {
        unpost_form(v->form);
        free_form(v->form);
        v->form = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (v->fields[i] != NULL)
            free_field(v->fields[i]);
        v->fields[i] = NULL;
    }
}

void view_close(struct view *v)
{
    if (v == NULL)
        return;
    form_free(v);
    endwin();
    delscreen(v->screen);
    free(v);
}

/* ---- text ---------------------------------------------------------------- */

static attr_t tone_attr(const struct view *v, enum app_tone tone)
{
    switch (tone) {
    case TONE_OK: return v->color ? COLOR_PAIR(PAIR_OK) | A_BOLD : A_BOLD;
    case TONE_WARN: return v->color ? COLOR_PAIR(PAIR_WARN) | A_BOLD : A_BOLD;
    case TONE_ERROR: return v->color ? COLOR_PAIR(PAIR_ERROR) | A_BOLD : A_BOLD | A_UNDERLINE;
    case TONE_INFO: break;
    }
    return A_NORMAL;
}

/* Converts UTF-8 to wide characters; what cannot be converted becomes '?'. */
static size_t widen(const char *text, wchar_t *out, size_t size)
{
    mbstate_t state;
    memset(&state, 0, sizeof state);
    size_t n = 0, length = strlen(text);
    while (*text && n + 1 < size) {
        wchar_t wc;
        size_t used = mbrtowc(&wc, text, length, &state);
        if (used == (size_t)-1 || used == (size_t)-2 || used == 0) {
            wc = L'?';
            used = 1;
            memset(&state, 0, sizeof state);
        }
        if (wcwidth(wc) < 0)
            wc = L'?';
        out[n++] = wc;
        text += used;
        length -= used;
    }
    out[n] = L'\0';
    return n;
}

/* How many of s[0..n) fit in `width` columns. */
static size_t fit(const wchar_t *s, size_t n, int width)
{
    int used = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int w = wcwidth(s[i]);
        if (used + w > width)
            break;
        used += w;
    }
    return i;
}

static int put_text(int y, int x, int width, const char *text, attr_t attr)
{
    wchar_t wide[1024];
    if (width <= 0)
        return 0;
    size_t n = widen(text, wide, sizeof wide / sizeof wide[0]);
    size_t k = fit(wide, n, width);
    attron(attr);
    mvaddnwstr(y, x, wide, (int)k);
    attroff(attr);
    return (int)k;
}

/* Word-wraps text into at most max_lines rows of `width` columns. */
static void put_wrapped(int y, int x, int width, int max_lines, const char *text, attr_t attr)
{
    wchar_t wide[2048];
    size_t n = widen(text, wide, sizeof wide / sizeof wide[0]);
    size_t at = 0;
    attron(attr);
    for (int line = 0; line < max_lines && at < n; line++) {
        size_t k = fit(wide + at, n - at, width);
        if (at + k < n) {
            size_t space = k;
            while (space > 0 && wide[at + space] != L' ')
                space--;
            if (space > 0)
                k = space;
        }
        if (line == max_lines - 1 && at + k < n && k > 0) {
            mvaddnwstr(y + line, x, wide + at, (int)k - 1);
            addwstr(L"…");
        } else {
            mvaddnwstr(y + line, x, wide + at, (int)k);
        }
        at += k;
        while (at < n && wide[at] == L' ')
            at++;
    }
    attroff(attr);
}

static void clear_row(int y)
{
    move(y, 0);
    clrtoeol();
}

/* ---- the form ---------------------------------------------------------- */

static FIELD *field_new(int row, int width, int max, const char *text)
{
    FIELD *f = new_field(1, width, row, FIELD_X, 0, 0);
    if (f == NULL)
        return NULL;
    set_field_back(f, A_UNDERLINE);
    field_opts_off(f, O_AUTOSKIP | O_STATIC | O_BLANK);
    set_max_field(f, max);
    set_field_buffer(f, 0, text);
    return f;
}

static int form_build(struct view *v, const struct app *app)
{
    form_free(v);
    v->fields[0] = field_new(GSM_ROW, GSM_WIDTH, APP_GSM_INPUT_MAX, app->gsm_input);
    v->fields[1] = field_new(SESSION_ROW, SESSION_WIDTH, APP_SESSION_MAX, app->session_input);
    v->fields[2] = NULL;
    if (v->fields[0] == NULL || v->fields[1] == NULL)
        return 0;
    v->form = new_form(v->fields);
    if (v->form == NULL)
        return 0;
    /* Backspace at a field's start stays there (never deletes in the other) */
    form_opts_off(v->form, O_BS_OVERLOAD | O_NL_OVERLOAD);
    set_form_win(v->form, stdscr);
    set_form_sub(v->form, stdscr);
    if (post_form(v->form) != E_OK) {
        form_free(v);
        return 0;
    }
    v->lines = LINES;
    v->cols = COLS;
    set_current_field(v->form, v->fields[app->focus]);
    form_driver(v->form, REQ_END_FIELD);
    return 1;
}

int view_edit(struct view *v, int is_function, unsigned key)
{
    if (v->form == NULL)
        return 0;
    int request = keys_form_request(is_function, key);
    if (request < 0)
        return 0;
    if (request == 0)
        form_driver_w(v->form, OK, (wchar_t)key);
    else
        form_driver_w(v->form, KEY_CODE_YES, (wchar_t)request);
    form_driver(v->form, REQ_VALIDATION);
    return 1;
}

void view_field_text(struct view *v, enum app_focus field, char *out, size_t size)
{
    out[0] = '\0';
    if (v->form == NULL)
        return;
    const char *text = field_buffer(v->fields[field], 0);
    if (text == NULL)
        return;
    snprintf(out, size, "%s", text);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

void view_set_field(struct view *v, enum app_focus field, const char *text)
{
    if (v->form == NULL)
        return;
    set_field_buffer(v->fields[field], 0, text);
    if (current_field(v->form) == v->fields[field])
        form_driver(v->form, REQ_END_FIELD);
}

void view_focus(struct view *v, enum app_focus field)
{
    if (v->form == NULL)
        return;
    form_driver(v->form, REQ_VALIDATION);
    set_current_field(v->form, v->fields[field]);
    form_driver(v->form, REQ_END_FIELD);
}

int view_read_key(struct view *v, int *is_function, unsigned *key)
{
    (void)v;
    wint_t ch;
    int rc = get_wch(&ch);
    if (rc == ERR)
        return 0;
    *is_function = rc == KEY_CODE_YES;
    *key = (unsigned)ch;
    return 1;
}

/* Why the keyboard is gone, or NULL while it is there: the terminal hung
 * up, or standard input reached its end (readable with nothing to read).
 * Asked only when a wake-up brought no key, so that it never spins. */
const char *view_input_gone(struct view *v)
{
    (void)v;
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0)
        return NULL;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return isatty(STDIN_FILENO) ? _("the terminal went away") : _("end of input");
    if (!(p.revents & POLLIN))
        return NULL;
    int pending = 0;
    if (ioctl(STDIN_FILENO, FIONREAD, &pending) == 0) /* a terminal, a pipe */
        return pending == 0 ? _("end of input") : NULL;
    /* a file or a device (/dev/null): read a byte, and give it back */
    unsigned char byte;
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    ssize_t n = read(STDIN_FILENO, &byte, 1);
    fcntl(STDIN_FILENO, F_SETFL, flags);
    if (n == 0)
        return _("end of input");
    if (n == 1)
        ungetch(byte);
    return NULL;
}

/* ---- drawing ------------------------------------------------------------- */

static void draw_too_small(void)
{
    char size[64];
    erase();
    snprintf(size, sizeof size, _("%dx%d, needs %dx%d"), COLS, LINES, VIEW_MIN_COLS,
             VIEW_MIN_LINES);
    const char *lines[] = {_("Terminal too small"), size, _("F10 quits")};
    for (int i = 0; i < 3 && i < LINES; i++)
        put_text(i, 0, COLS, lines[i], i == 0 ? A_BOLD : A_NORMAL);
    curs_set(0);
    refresh();
}

static void draw_header(const struct view *v, const struct app *app)
{
    char text[512];
    attr_t bar = app->live ? (v->color ? COLOR_PAIR(PAIR_LIVE) : A_REVERSE) | A_BOLD
                           : (v->color ? COLOR_PAIR(PAIR_HEADER) : A_REVERSE);
    if (app->live)
        snprintf(text, sizeof text,
                 _(" paynet-tui %s  *** LIVE: REAL SMS TO REAL CUSTOMERS ***  %s"),
                 PAYNET_VERSION, app->host);
    else
        snprintf(text, sizeof text, _(" paynet-tui %s  env: TEST  %s"), PAYNET_VERSION,
                 app->host);
    attron(bar);
    mvhline(0, 0, ' ', COLS);
    attroff(bar);
    put_text(0, 0, COLS, text, bar);
}

static void draw_fields(const struct view *v, const struct app *app)
{
    char text[PAYNET_MESSAGE_SIZE + 16];
    /* the rows of the fields: only what is left or right of the field */
    move(GSM_ROW, 0);
    addnstr("                 ", FIELD_X);
    put_text(GSM_ROW, 2, FIELD_X - 3, _("Phone number"), app->focus == FOCUS_GSM ? A_BOLD : A_NORMAL);
    move(GSM_ROW, FIELD_X + GSM_WIDTH + 1);
    clrtoeol();
    if (app->gsm_valid) {
        snprintf(text, sizeof text, "%s %s", v->utf8 ? "→" : "->", app->gsm);
        put_text(GSM_ROW, FIELD_X + GSM_WIDTH + 2, COLS - FIELD_X - GSM_WIDTH - 3, text,
                 tone_attr(v, TONE_OK));
    }
    clear_row(GSM_ROW + 1);
    clear_row(GSM_ROW + 2);
    if (app->gsm_input[0] == '\0')
        put_text(GSM_ROW + 1, FIELD_X, COLS - FIELD_X - 1,
                 _("a Turkish mobile, e.g. 0532 123 45 67"), A_DIM);
    else if (!app->gsm_valid)
        put_wrapped(GSM_ROW + 1, FIELD_X, COLS - FIELD_X - 1, 2, app->gsm_problem,
                    tone_attr(v, TONE_ERROR));

    move(SESSION_ROW, 0);
    addnstr("                 ", FIELD_X);
    put_text(SESSION_ROW, 2, FIELD_X - 3, _("Session id"),
             app->focus == FOCUS_SESSION ? A_BOLD : A_NORMAL);
    move(SESSION_ROW, FIELD_X + SESSION_WIDTH + 1);
    clrtoeol();
    put_text(SESSION_ROW, FIELD_X + SESSION_WIDTH + 2, COLS - FIELD_X - SESSION_WIDTH - 3,
             _("F2: new id"), A_DIM);
    clear_row(SESSION_ROW + 1);
}

static void draw_status(const struct view *v, const struct app *app)
{
    for (int y = STATUS_ROW - 1; y < COUNTDOWN_ROW; y++)
        clear_row(y);
    put_wrapped(STATUS_ROW, 2, COLS - 4, 2, app->status, tone_attr(v, app->tone));
    if (app->detail[0])
        put_wrapped(STATUS_ROW + 2, 4, COLS - 6, 2, app->detail, A_DIM);
}

static void draw_bar(const struct view *v, int y, int x, double fraction)
{
    int filled = (int)lround(fraction * BAR_WIDTH);
    if (filled < 0)
        filled = 0;
    if (filled > BAR_WIDTH)
        filled = BAR_WIDTH;
    move(y, x);
    addch('[');
    for (int i = 0; i < BAR_WIDTH; i++) {
        if (v->utf8)
            addwstr(i < filled ? L"█" : L"░");
        else
            addch(i < filled ? '#' : '-');
    }
    addch(']');
}

static void draw_countdown(const struct view *v, const struct app *app)
{
    char text[256], masked[PAYNET_GSM_SIZE];
    for (int y = COUNTDOWN_ROW - 1; y <= COUNTDOWN_ROW + 2; y++)
        clear_row(y);
    if (app->sending) {
        static const wchar_t *const braille = L"⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
        static const char ascii[] = "|/-\\";
        paynet_mask_gsm(app->sending_gsm, masked);
        int frame = app->spinner_frame;
        move(COUNTDOWN_ROW, 2);
        if (v->utf8)
            addnwstr(braille + frame % 10, 1);
        else
            addch((chtype)ascii[frame % 4]);
        snprintf(text, sizeof text, _(" Sending to %s ... %.1f s   (Esc cancels)"), masked,
                 app->send_elapsed);
        put_text(COUNTDOWN_ROW, 3, COLS - 5, text, A_BOLD);
        return;
    }
    if (!app->gsm_valid)
        return;
    paynet_mask_gsm(app->gsm, masked);
    const struct app_countdown *c = app_countdown_of(app, app->gsm);
    if (app->shown_second > 0) {
        long s = app->shown_second;
        if (c != NULL && c->uncertain)
            snprintf(text, sizeof text, _("%s is held   %02ld:%02ld"), masked, s / 60, s % 60);
        else
            snprintf(text, sizeof text, _("Code for %s valid   %02ld:%02ld"), masked, s / 60,
                     s % 60);
        int w = put_text(COUNTDOWN_ROW, 2, COLS - 4, text,
                         tone_attr(v, c != NULL && c->uncertain ? TONE_WARN : TONE_OK));
        double total = c != NULL && c->total > 0 ? c->total
                       : app->has_holder             ? app->holder_total
                                                     : app->remaining;
        draw_bar(v, COUNTDOWN_ROW, 2 + w + 2, total > 0 ? app->remaining / total : 0);
        if (app->has_holder) { /* who holds it, as the ledger says: the core's words */
            char line[PAYNET_MESSAGE_SIZE], clean[PAYNET_MESSAGE_SIZE];
            paynet_holder_describe(&app->holder, line, sizeof line);
            app_clean_text(line, clean, sizeof clean);
            put_wrapped(COUNTDOWN_ROW + 1, 2, COLS - 4, 2, clean, A_DIM);
        } else {
            put_text(COUNTDOWN_ROW + 1, 2, COLS - 4,
                     _("Sending to this number is blocked until the countdown ends."), A_DIM);
        }
    } else if (app->ledger_asking) {
        snprintf(text, sizeof text,
                 _("Asking the ledger whether a code for %s is still valid ..."), masked);
        put_text(COUNTDOWN_ROW, 2, COLS - 4, text, A_DIM);
    } else if (app->ledger_down) {
        snprintf(text, sizeof text,
                 _("The ledger cannot be reached: nothing is sent to %s until it can."), masked);
        put_text(COUNTDOWN_ROW, 2, COLS - 4, text, tone_attr(v, TONE_WARN));
    } else if (c != NULL) {
        snprintf(text, sizeof text,
                 _("The code for %s has expired: a new one may be sent."), masked);
        put_text(COUNTDOWN_ROW, 2, COLS - 4, text, tone_attr(v, TONE_OK));
    } else {
        snprintf(text, sizeof text, _("No code for %s is valid: it may be sent."), masked);
        put_text(COUNTDOWN_ROW, 2, COLS - 4, text, A_DIM);
    }
}

static void draw_history(const struct view *v, const struct app *app)
{
    char line[512];
    int last = LINES - 3;
    for (int y = HISTORY_ROW; y <= LINES - 2; y++)
        clear_row(y);
    put_text(HISTORY_ROW, 2, COLS - 4, _("History (this run)"), A_BOLD);
    if (app->history_count == 0)
        put_text(HISTORY_ROW + 1, 2, COLS - 4, _("nothing sent yet"), A_DIM);
    for (size_t i = 0; i < app->history_count && HISTORY_ROW + 1 + (int)i <= last; i++) {
        const struct app_entry *e = &app->history[i];
        int y = HISTORY_ROW + 1 + (int)i;
        snprintf(line, sizeof line, "%-8s  %-10s  %-16.16s", e->time, e->masked, e->session);
        int w = put_text(y, 2, COLS - 4, line, A_NORMAL);
        put_text(y, 2 + w + 2, COLS - 6 - w, e->outcome, tone_attr(v, e->tone));
    }
}

static void draw_hints(const struct view *v)
{
    attr_t bar = v->color ? COLOR_PAIR(PAIR_HEADER) : A_REVERSE;
    int x = 0;
    clear_row(LINES - 1);
    attron(bar);
    mvhline(LINES - 1, 0, ' ', COLS);
    attroff(bar);
    for (const struct key_binding *b = keys_table; b->action != ACTION_NONE; b++) {
        if (b->bar == NULL)
            continue;
        x += put_text(LINES - 1, x + 1, COLS - x - 1, b->bar, bar | A_BOLD) + 1;
        x += put_text(LINES - 1, x + 1, COLS - x - 1, _(b->label), bar) + 2;
    }
}

#define HELP_MAX_ROWS 32

static void draw_help(const struct view *v)
{
    static const char *const before[] = {
        N_("paynet-tui sends one Paynet OTP to a customer's phone."),
        "",
        N_("Phone number  a Turkish mobile: +90, 0090, 90 or 0 in front,"),
        N_("              spaces, dashes and parentheses are fine."),
        N_("Session id    ties the OTP to the card that will be saved next."),
        "",
    };
    static const char *const after[] = {
        "",
        N_("A send cancelled after it left may still deliver a code."),
        N_("A number cannot be sent again until its code expires."),
    };
    char lines[HELP_MAX_ROWS][160];
    int n = 0;
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        snprintf(lines[n++], sizeof lines[0], "%s", before[i][0] ? _(before[i]) : "");
    for (const struct key_binding *b = keys_table; b->action != ACTION_NONE && n < HELP_MAX_ROWS - 2;
         b++)
        snprintf(lines[n++], sizeof lines[0], "%-27s %s", b->keys, _(b->help));
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++)
        snprintf(lines[n++], sizeof lines[0], "%s", after[i][0] ? _(after[i]) : "");

    int height = n + 2, width = 72;
    int top = (LINES - 1 - height) / 2, left = (COLS - width) / 2;
    if (top < 1)
        top = 1;
    for (int y = 0; y < height && top + y < LINES - 1; y++) {
        move(top + y, left);
        for (int x = 0; x < width; x++)
            addch(' ');
    }
    attron(A_BOLD);
    mvaddch(top, left, ACS_ULCORNER);
    mvhline(top, left + 1, ACS_HLINE, width - 2);
    mvaddch(top, left + width - 1, ACS_URCORNER);
    mvvline(top + 1, left, ACS_VLINE, height - 2);
    mvvline(top + 1, left + width - 1, ACS_VLINE, height - 2);
    mvaddch(top + height - 1, left, ACS_LLCORNER);
    mvhline(top + height - 1, left + 1, ACS_HLINE, width - 2);
    mvaddch(top + height - 1, left + width - 1, ACS_LRCORNER);
    attroff(A_BOLD);
    put_text(top, left + 2, width - 4, _(" Help (Esc or F1 closes) "), A_BOLD);
    for (int i = 0; i < n; i++)
        put_text(top + 1 + i, left + 2, width - 4, lines[i], A_NORMAL);
    (void)v;
}

int view_usable(const struct view *v)
{
    return v->form != NULL;
}

void view_clear(struct view *v)
{
    (void)v;
    clearok(curscr, TRUE);
}

void view_draw(struct view *v, const struct app *app)
{
    if (LINES < VIEW_MIN_LINES || COLS < VIEW_MIN_COLS) {
        form_free(v);
        draw_too_small();
        return;
    }
    if (v->help_drawn != app->help) {
        /* the box covered the fields: everything is drawn again from the
         * state, so that closing it leaves no trace */
        form_free(v);
        v->help_drawn = app->help;
    }
    if (v->form == NULL || v->lines != LINES || v->cols != COLS) {
        erase();
        if (!form_build(v, app)) {
            draw_too_small();
            return;
        }
    }
    curs_set(1);
    draw_header(v, app);
    clear_row(1);
    draw_fields(v, app);
    draw_status(v, app);
    draw_countdown(v, app);
    draw_history(v, app);
    draw_hints(v);
    if (app->help)
        draw_help(v);
    pos_form_cursor(v->form);
    refresh();
}
