/*
 * plain.h — paynet-tui --plain: the screen's flow as plain lines, for
 * screen readers and pipes (no cursor addressing, no escape bytes).
 */
#ifndef PAYNET_TUI_PLAIN_H
#define PAYNET_TUI_PLAIN_H

#include <signal.h>

#include "session.h"

/* Runs until end of input, "q", or a signal in *stop_signal; returns the
 * exit status (0 at end of input or "q"; 129 after SIGHUP). */
int plain_run(struct session *s, volatile sig_atomic_t *stop_signal);

#endif
