/*
 * clock.c — the clocks behind the countdown.
 *
 * "Server now" is decided once, at the reply (doc/design.md, "The clocks":
 * a countdown that does not lie): the Date header is truncated to the second, so the true
 * server time lies in [Date, Date + 1).  When the local wall clock falls
 * within that window widened by a second each side, the desk's clock agrees
 * with the server and is the finer estimate.  Otherwise the desk's clock is
 * wrong, and Date itself is used: the earliest instant the server could have
 * meant, so the countdown errs long (never lets a resend through early).
 * From then on the caller counts on CLOCK_MONOTONIC, which wall-clock jumps
 * do not move.
 *
 * A Date more than a day away from the desk's clock is not a clock that
 * drifted but a broken one (a gateway in 1970): it is ignored.  The hold is
 * the longer of the two estimates of otp_expire - now (paynet_hold_seconds):
 * when the clocks disagree nobody knows which is right, and a hold must err
 * long, never short.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "internal.h"

#define DATE_AGREEMENT_SLACK 1.0
#define DATE_TRUST_LIMIT 86400.0

int paynet_date_trusted(double local_wall, double date)
{
    return date > local_wall - DATE_TRUST_LIMIT && date < local_wall + DATE_TRUST_LIMIT;
}

double paynet_server_now(double local_wall, int have_date, double date)
{
    if (!have_date || !paynet_date_trusted(local_wall, date))
        return local_wall;
    if (local_wall >= date - DATE_AGREEMENT_SLACK
        && local_wall < date + 1.0 + DATE_AGREEMENT_SLACK)
        return local_wall;
    return date;
}

double paynet_hold_seconds(double expire, double local_wall, int have_date, double date)
{
    double hold = expire - local_wall;
    double by_server = expire - paynet_server_now(local_wall, have_date, date);
    return by_server > hold ? by_server : hold;
}

static double clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double paynet_clock_mono(void) { return clock_read(CLOCK_MONOTONIC); }

double paynet_clock_wall(void) { return clock_read(CLOCK_REALTIME); }

static int two_digits(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return 0;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

/* IMF-fixdate, the form every current server sends ("Sun, 06 Nov 1994
 * 08:49:37 GMT"), read by hand: curl_getdate, which also reads the
 * obsolete forms, costs about a tenth of a whole send on loopback. */
static int imf_fixdate(const char *s, size_t n, double *date)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, year_hi, year_lo, hour, minute, second, month = 0;
    if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' '
        || s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return 0;
    for (int m = 0; m < 12 && month == 0; m++)
        if (s[8] == months[3 * m] && s[9] == months[3 * m + 1] && s[10] == months[3 * m + 2])
            month = m + 1;
    if (month == 0 || !two_digits(s + 5, &day) || !two_digits(s + 12, &year_hi)
        || !two_digits(s + 14, &year_lo) || !two_digits(s + 17, &hour)
        || !two_digits(s + 20, &minute) || !two_digits(s + 23, &second))
        return 0;
    if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return 0;
    int64_t days = paynet_days_from_civil(year_hi * 100 + year_lo, month, day);
    *date = (double)(days * 86400 + hour * 3600 + minute * 60 + second);
    return 1;
}

int paynet_date_header(const char *line, size_t length, double *date)
{
    char value[128];
    /* most lines are not the Date: the name's letters, case folded */
    if (length <= 5 || length >= 5 + sizeof value || (line[0] | 0x20) != 'd'
        || (line[1] | 0x20) != 'a' || (line[2] | 0x20) != 't' || (line[3] | 0x20) != 'e'
        || line[4] != ':')
        return 0;
    const char *v = line + 5;
    size_t n = length - 5;
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (imf_fixdate(v, n, date))
        return 1;
    memcpy(value, v, n); /* the obsolete forms: RFC 850, asctime */
    value[n] = '\0';
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return 0;
    *date = (double)t;
    return 1;
}
