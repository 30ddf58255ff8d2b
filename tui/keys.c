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

const struct key_hint keys_hints[] = {
    {"F1", "Help"},   {"Tab", "Next field"}, {"Enter", "Send"},
    {"F2", "New id"}, {"Esc", "Cancel"},     {"F10", "Quit"},
    {NULL, NULL},
};

enum app_action keys_action(int is_function, unsigned key)
{
    if (is_function) {
        switch (key) {
        case KEY_F(1): return ACTION_HELP;
        case KEY_F(2): return ACTION_NEW_ID;
        case KEY_F(10): return ACTION_QUIT;
        case KEY_BTAB:
        case KEY_UP: return ACTION_PREV_FIELD;
        case KEY_DOWN: return ACTION_NEXT_FIELD;
        case KEY_ENTER: return ACTION_SEND;
        case KEY_RESIZE: return ACTION_RESIZE;
        default: return ACTION_EDIT;
        }
    }
    switch (key) {
    case '\t': return ACTION_NEXT_FIELD;
    case '\r':
    case '\n': return ACTION_SEND;
    case ESCAPE: return ACTION_CANCEL;
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
