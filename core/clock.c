/*
 * clock.c — the clocks behind the countdown.
 *
 * "Server now" is decided once, at the reply (DESIGN.md, "Countdown that
 * does not lie"): the Date header is truncated to the second, so the true
 * server time lies in [Date, Date + 1).  When the local wall clock falls
 * within that window widened by a second each side, the desk's clock agrees
 * with the server and is the finer estimate.  Otherwise the desk's clock is
 * wrong, and Date itself is used: the earliest instant the server could have
 * meant, so the countdown errs long (never lets a resend through early).
 * From then on the caller counts on CLOCK_MONOTONIC, which wall-clock jumps
 * do not move.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "internal.h"

#define DATE_AGREEMENT_SLACK 1.0

double paynet_server_now(double local_wall, int have_date, double date)
{
    if (!have_date)
        return local_wall;
    if (local_wall >= date - DATE_AGREEMENT_SLACK
        && local_wall < date + 1.0 + DATE_AGREEMENT_SLACK)
        return local_wall;
    return date;
}

static double clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double paynet_clock_mono(void) { return clock_read(CLOCK_MONOTONIC); }

double paynet_clock_wall(void) { return clock_read(CLOCK_REALTIME); }

int paynet_date_header(const char *line, size_t length, double *date)
{
    char value[128];
    if (length <= 5 || length >= 5 + sizeof value || strncasecmp(line, "Date:", 5) != 0)
        return 0;
    memcpy(value, line + 5, length - 5);
    value[length - 5] = '\0';
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return 0;
    *date = (double)t;
    return 1;
}
