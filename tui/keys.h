/*
 * keys.h — the one table of what each key does on the operator screen
 * (as tig's request table): the key bar, the help box and the key reader
 * are all generated from keys_table, so they cannot disagree.
 *
 * Every function key has alternatives for terminals that do not send it
 * (PuTTY's defaults, a screen reader, a phone's SSH client): Esc then a
 * digit (as mc does: Esc 1 is F1, Esc 0 is F10) and a Ctrl key.
 */
#ifndef PAYNET_TUI_KEYS_H
#define PAYNET_TUI_KEYS_H

#include "app.h"

struct key_binding {
    enum app_action action;
    int fkey;          /* n: KEY_F(n) and Esc then n % 10; 0: none */
    int ctrl;          /* 'g': Ctrl-G; 0: none */
    const char *keys;  /* as the help box names them, e.g. "F1, Esc 1, Ctrl-G" */
    const char *bar;   /* the key bar's short name ("F1"), NULL: not on the bar */
    const char *label; /* the key bar's word ("Help") */
    const char *help;  /* the help box's line */
};

/* In the order the bar and the help box show them; ends with action NONE. */
extern const struct key_binding keys_table[];

/* Seconds after Esc in which a digit is Esc-digit, not a typed digit. */
#define KEYS_ESC_DIGIT_SECONDS 1.0

struct keys {
    double esc_at; /* when Esc was last pressed; 0: not pending */
};

/* The action of a key (is_function: get_wch returned KEY_CODE_YES) read at
 * `now` (seconds, monotonic); ACTION_EDIT for the focused field. */
enum app_action keys_action(struct keys *k, int is_function, unsigned key, double now);

/* The form request for an editing key, or 0 to insert `key` as a character,
 * or -1 to ignore it. */
int keys_form_request(int is_function, unsigned key);

/* Escape sequences that terminals send for F-keys which terminfo may not
 * name (PuTTY's ESC[11~ to ESC[14~, the Linux console's ESC[[A to ESC[[E,
 * xterm's ESCOP to ESCOS under another TERM):
 * taught to curses once the screen is open. */
void keys_define_sequences(void);

#endif
