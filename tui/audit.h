/*
 * audit.h — the operator screen's audit log (see audit.c).
 */
#ifndef PAYNET_TUI_AUDIT_H
#define PAYNET_TUI_AUDIT_H

#include <stddef.h>
#include <time.h>

#include "app.h"
#include "paynet.h"

/* t in local time with strftime's format. */
void audit_local_time(time_t t, const char *format, char *out, size_t size);

/* Appends one JSON line for the send that just ended at `at` (its reply;
 * fd < 0: no log); 0 with errno when it could not. */
int audit_write(int fd, const char *env, const char *operator_name, const struct app *app,
                time_t at, paynet_status status, const paynet_result *res,
                const paynet_error *err);

#endif
