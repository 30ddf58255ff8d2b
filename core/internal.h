/*
 * internal.h — helpers shared by the core's files; not installed.
 */
#ifndef PAYNET_INTERNAL_H
#define PAYNET_INTERNAL_H

#include "paynet.h"

#if defined(__GNUC__)
#define PAYNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PAYNET_PRINTF(a, b)
#endif

/* Fills err (kind, delivered, message; no code, no HTTP status) and returns
 * kind, so that failures read `return paynet_fail(err, ...)`. */
paynet_status paynet_fail(paynet_error *err, paynet_status kind,
                          paynet_delivered delivered, const char *format, ...)
    PAYNET_PRINTF(4, 5);

/* Copies at most size-1 bytes of src, cutting only at a UTF-8 boundary. */
void paynet_copy_utf8(char *dst, size_t size, const char *src);

/* Whether s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int paynet_utf8_valid(const unsigned char *s, size_t n);

/* {"user_gsm":...,"otp_session_id":...}; NULL when out of memory.  Free
 * with cJSON_free. */
char *otp_request_body(const char *gsm, const char *session_id);

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
int64_t paynet_days_from_civil(int64_t year, int month, int day);

/* Clocks, in seconds. */
double paynet_clock_mono(void);
double paynet_clock_wall(void);

#endif
