/*
 * expire.c — otp_expire: strict RFC 3339 date-time <-> UTC instant.
 *
 * Paynet sends .NET-style timestamps ("2017-07-17T15:30:15.0581408+03:00").
 * Accepted: YYYY-MM-DD "T" HH:MM:SS, an optional "." with 1 to 9 digits,
 * then "Z" or +HH:MM / -HH:MM; "t" and "z" too, as RFC 3339 allows.  The date
 * must exist in the proleptic Gregorian calendar.  Leap seconds (":60") are
 * refused: no Paynet reply carries one, and the instant would be ambiguous.
 * Nothing is left to strtol or sscanf: each field is read by hand, so
 * signs, spaces and trailing bytes cannot slip through.
 */
#include <stdio.h>

#include "internal.h"

static int read_digits(const char *s, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 1;
}

static int is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian): count
 * whole 400-year eras from year 0 of a calendar that starts in March, so
 * that the leap day falls at the end of each year. */
int64_t paynet_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100
                         + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524
                           - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4
                                        - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

#define BAD(...) paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, __VA_ARGS__)

paynet_status paynet_expire_parse(const char *s, size_t n, paynet_instant *out,
                                  paynet_error *err)
{
    int year, month, day, hour, minute, second;
    if (s == NULL || n == 0)
        return BAD("otp_expire is empty");
    if (n < 20)
        return BAD("otp_expire is too short for an RFC 3339 date-time");
    if (!read_digits(s, 4, &year) || s[4] != '-' || !read_digits(s + 5, 2, &month)
        || s[7] != '-' || !read_digits(s + 8, 2, &day))
        return BAD("otp_expire does not start with a date YYYY-MM-DD");
    if (s[10] != 'T' && s[10] != 't')
        return BAD("otp_expire has no 'T' between date and time");
    if (!read_digits(s + 11, 2, &hour) || s[13] != ':'
        || !read_digits(s + 14, 2, &minute) || s[16] != ':'
        || !read_digits(s + 17, 2, &second))
        return BAD("otp_expire has no time HH:MM:SS after the 'T'");
    if (month < 1 || month > 12)
        return BAD("otp_expire has month %d; months are 01 to 12", month);
    if (day < 1 || day > days_in_month(year, month))
        return BAD("otp_expire has day %d, which %04d-%02d does not have", day,
                   year, month);
    if (hour > 23 || minute > 59)
        return BAD("otp_expire has time %02d:%02d; hours are 00-23, minutes "
                   "00-59", hour, minute);
    if (second > 59)
        return BAD("otp_expire has second %d; seconds are 00-59 (leap "
                   "seconds are not accepted)", second);

    size_t i = 19;
    int32_t nsec = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        size_t digits = i - start;
        if (digits == 0)
            return BAD("otp_expire has a '.' without fraction digits");
        if (digits > 9)
            return BAD("otp_expire has %zu fraction digits; at most 9 are "
                       "accepted", digits);
        for (size_t k = 0; k < 9; k++)
            nsec = nsec * 10 + (k < digits ? s[start + k] - '0' : 0);
    }

    int offset_minutes;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        offset_minutes = 0;
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (n - i < 6 || !read_digits(s + i + 1, 2, &oh) || s[i + 3] != ':'
            || !read_digits(s + i + 4, 2, &om))
            return BAD("otp_expire has a malformed UTC offset; expected "
                       "+HH:MM or -HH:MM");
        if (oh > 23 || om > 59)
            return BAD("otp_expire has UTC offset %02d:%02d out of range", oh,
                       om);
        offset_minutes = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return BAD("otp_expire has no time zone; expected 'Z' or +HH:MM");
    }
    if (i != n)
        return BAD("otp_expire has %zu unexpected bytes after the time zone",
                   n - i);

    int64_t days = paynet_days_from_civil(year, month, day);
    out->sec = days * 86400 + hour * 3600 + minute * 60 + second
               - (int64_t)offset_minutes * 60;
    out->nsec = nsec;
    return PAYNET_OK;
}

int paynet_expire_format(paynet_instant t, int offset_minutes, int digits,
                         char *buf, size_t size)
{
    if (digits < 0 || digits > 9 || offset_minutes <= -24 * 60
        || offset_minutes >= 24 * 60 || t.nsec < 0 || t.nsec > 999999999)
        return -1;
    int64_t local = t.sec + (int64_t)offset_minutes * 60;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t secs = local - days * 86400;
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999)
        return -1;

    char fraction[11] = "";
    if (digits > 0) {
        int32_t v = t.nsec;
        for (int k = 9; k > digits; k--)
            v /= 10;
        snprintf(fraction, sizeof fraction, ".%0*d", digits, (int)v);
    }
    char zone[7] = "Z";
    if (offset_minutes != 0) {
        int a = offset_minutes < 0 ? -offset_minutes : offset_minutes;
        snprintf(zone, sizeof zone, "%c%02d:%02d",
                 offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
    }
    int written = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%s%s",
                           (int)year, month, day, (int)(secs / 3600),
                           (int)(secs / 60 % 60), (int)(secs % 60), fraction,
                           zone);
    if (written < 0 || (size_t)written >= size)
        return -1;
    return written;
}

double paynet_instant_seconds(paynet_instant t)
{
    return (double)t.sec + (double)t.nsec / 1e9;
}
