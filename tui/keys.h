/*
 * keys.h — keys to actions, and editing keys to form requests: the one
 * table of what each key does on the operator screen.
 */
#ifndef PAYNET_TUI_KEYS_H
#define PAYNET_TUI_KEYS_H

#include "app.h"

/* is_function: get_wch returned KEY_CODE_YES; key: the code or character. */
enum app_action keys_action(int is_function, unsigned key);

/* The form request for an editing key, or 0 to insert `key` as a character,
 * or -1 to ignore it. */
int keys_form_request(int is_function, unsigned key);

struct key_hint {
    const char *key;
    const char *what;
};
/* The hint bar and the help screen, in order; ends with {NULL, NULL}. */
extern const struct key_hint keys_hints[];

#endif
