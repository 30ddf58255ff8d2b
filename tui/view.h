/*
 * view.h — draws a const struct app with ncursesw; owns the terminal and
 * the two input fields (form library).  Everything else about the screen's
 * behaviour lives in app.c.
 */
#ifndef PAYNET_TUI_VIEW_H
#define PAYNET_TUI_VIEW_H

#include <stddef.h>

#include "app.h"

#define VIEW_MIN_LINES 24
#define VIEW_MIN_COLS 80

struct view;

/* Takes the terminal; NULL (with a message on stderr) when there is none. */
struct view *view_open(int no_color);
/* Gives the terminal back as it was and frees the view. */
void view_close(struct view *view);

void view_draw(struct view *view, const struct app *app);
/* Whether the fields are on the terminal (0: too small to show them). */
int view_usable(const struct view *view);
/* The next draw repaints the whole terminal (Ctrl-L). */
void view_clear(struct view *view);

/* Why the keyboard is gone ("end of input", "the terminal went away"), or
 * NULL while it is there.  Ask only when a wake-up brought no key. */
const char *view_input_gone(struct view *view);

/* Next key without waiting: 1 and the key, or 0 when there is none. */
int view_read_key(struct view *view, int *is_function, unsigned *key);

/* An editing key for the focused field; 1 when the field's text changed. */
int view_edit(struct view *view, int is_function, unsigned key);
/* The field's text, without the padding the form adds. */
void view_field_text(struct view *view, enum app_focus field, char *out, size_t size);
void view_set_field(struct view *view, enum app_focus field, const char *text);
void view_focus(struct view *view, enum app_focus field);

#endif
