/*
 * keys.c — the key table (see keys.h).
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include <curses.h>
#include <form.h>

#include "keys.h"

#define CTRL(c) ((c) & 0x1F)
#define ESCAPE 27
#define DELETE 127

const struct key_binding keys_table[] = {
    /* TRANSLATORS: the key bar's words are short: six must fit in 80 columns */
    {ACTION_HELP, 1, 'g', "F1, Esc 1, Ctrl-G", "F1", N_("Help"), N_("this help; again to close")},
    {ACTION_NEXT_FIELD, 0, 0, "Tab, Down", "Tab", N_("Next field"), N_("the next field")},
    {ACTION_PREV_FIELD, 0, 0, "Shift-Tab, Up", NULL, NULL, N_("the previous field")},
    {ACTION_SEND, 0, 0, "Enter", "Enter", N_("Send"), N_("send the OTP")},
    {ACTION_NEW_ID, 2, 'n', "F2, Esc 2, Ctrl-N", "F2", N_("New id"), N_("a fresh random session id")},
    {ACTION_CANCEL, 0, 0, "Esc", "Esc", N_("Cancel"), N_("cancel a send in flight; close help")},
    {ACTION_REDRAW, 0, 'l', "Ctrl-L", NULL, NULL, N_("redraw the whole screen")},
    {ACTION_QUIT, 10, 'x', "F10, Esc 0, Ctrl-X, Ctrl-C", "F10", N_("Quit"), N_("quit")},
    {ACTION_NONE, 0, 0, NULL, NULL, NULL, NULL},
};

enum app_action keys_action(struct keys *k, int is_function, unsigned key, double now)
{
    int after_esc = k->esc_at > 0 && now - k->esc_at < KEYS_ESC_DIGIT_SECONDS;
    k->esc_at = 0;
    if (is_function) {
        for (const struct key_binding *b = keys_table; b->action != ACTION_NONE; b++)
            if (b->fkey > 0 && key == (unsigned)KEY_F(b->fkey))
                return b->action;
        switch (key) {
        case KEY_BTAB:
        case KEY_UP: return ACTION_PREV_FIELD;
        case KEY_DOWN: return ACTION_NEXT_FIELD;
        case KEY_ENTER: return ACTION_SEND;
        case KEY_RESIZE: return ACTION_RESIZE;
        default: return ACTION_EDIT;
        }
    }
    if (after_esc && key >= '0' && key <= '9') {
        int n = key == '0' ? 10 : (int)(key - '0');
        for (const struct key_binding *b = keys_table; b->action != ACTION_NONE; b++)
            if (b->fkey == n)
                return b->action;
        return ACTION_NONE; /* Esc 5: no such key, and not a typed digit */
    }
    if (key > 0 && key < 0x20) {
        for (const struct key_binding *b = keys_table; b->action != ACTION_NONE; b++)
            if (b->ctrl != 0 && key == (unsigned)CTRL(b->ctrl))
                return b->action;
    }
    switch (key) {
    case '\t': return ACTION_NEXT_FIELD;
    case '\r':
    case '\n': return ACTION_SEND;
    case ESCAPE:
        k->esc_at = now;
        return ACTION_CANCEL;
    case CTRL('c'): return ACTION_QUIT;
    default: return ACTION_EDIT;
    }
}

int keys_form_request(int is_function, unsigned key)
{
    if (is_function) {
        switch (key) {
        case KEY_LEFT: return REQ_PREV_CHAR;
        case KEY_RIGHT: return REQ_NEXT_CHAR;
        case KEY_HOME: return REQ_BEG_FIELD;
        case KEY_END: return REQ_END_FIELD;
        case KEY_BACKSPACE: return REQ_DEL_PREV;
        case KEY_DC: return REQ_DEL_CHAR;
        case KEY_IC: return REQ_INS_MODE;
        default: return -1;
        }
    }
    switch (key) {
    case DELETE:
    case CTRL('h'): return REQ_DEL_PREV;
    case CTRL('a'): return REQ_BEG_FIELD;
    case CTRL('e'): return REQ_END_FIELD;
    case CTRL('u'): return REQ_CLR_FIELD;
    case CTRL('k'): return REQ_CLR_EOF;
    case CTRL('w'): return REQ_DEL_WORD;
    default: return key < 0x20 ? -1 : 0;
    }
}

void keys_define_sequences(void)
{
    static const char *const putty[] = {"\033[11~", "\033[12~", "\033[13~", "\033[14~"};
    static const char *const linux_console[] = {"\033[[A", "\033[[B", "\033[[C", "\033[[D",
                                                "\033[[E"};
    static const char *const xterm[] = {"\033OP", "\033OQ", "\033OR", "\033OS"};
    for (int i = 0; i < 4; i++) {
        define_key(putty[i], KEY_F(i + 1));
        define_key(xterm[i], KEY_F(i + 1));
    }
    for (int i = 0; i < 5; i++)
        define_key(linux_console[i], KEY_F(i + 1));
}
