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

/* Text for a person: _() translates now, N_() marks a string that is
 * translated where it is used (xgettext finds both, and paynet_fail's and
 * paynet_ledger_fail's formats: see the Makefile's pot target). */
#define _(s) paynet_gettext(s)
#define N_(s) (s)

/* Fills err (kind, delivered, message; no code, no HTTP status) and returns
 * kind, so that failures read `return paynet_fail(err, ...)`.  The format
 * is translated (paynet_gettext) before it is filled in. */
paynet_status paynet_fail(paynet_error *err, paynet_status kind,
                          paynet_delivered delivered, const char *format, ...)
    PAYNET_PRINTF(4, 5);

/* Whether a translation reads the same printf arguments as its msgid
 * (i18n.c; exposed for the tests). */
int paynet_same_conversions(const char *msgid, const char *translation);

/* Copies at most size-1 bytes of src, cutting only at a UTF-8 boundary. */
void paynet_copy_utf8(char *dst, size_t size, const char *src);
/* The same for the n bytes at src (no terminator needed). */
void paynet_copy_utf8n(char *dst, size_t size, const char *src, size_t n);

/* The pairs of adjacent bytes of a secret key, hashed into a bitmap: made
 * once per client, so that masking a message costs a look at each byte.
 * paynet_text_mask_with(text, secret, pairs) is paynet_text_mask_secret
 * with them made already. */
struct paynet_secret_pairs {
    uint64_t bits[4096 / 64];
};
void paynet_secret_pairs_init(struct paynet_secret_pairs *pairs, const char *secret);
void paynet_text_mask_with(char *text, const char *secret,
                           const struct paynet_secret_pairs *pairs);

/* Whether s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int paynet_utf8_valid(const unsigned char *s, size_t n);

/* {"user_gsm":"...","otp_session_id":"..."} written into out (no
 * allocation; PAYNET_BODY_SIZE always fits a checked number and session
 * id: only " and \ need escaping in them); returns its length. */
#define PAYNET_BODY_SIZE 512
size_t paynet_request_body(const char *gsm, const char *session_id, char *out, size_t size);

/* The Paynet system a base URL names, as holds are scoped (scope.c):
 * scheme and host in lower case, no credentials, no default port, no
 * trailing slash, localhost as 127.0.0.1.  0 when it does not fit or is
 * not a URL. */
int paynet_scope_of(const char *url, char *out, size_t size);

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
int64_t paynet_days_from_civil(int64_t year, int month, int day);

/* ---- the pure parts the transport uses, exposed for the tests and the
 * fuzz targets (not part of the installed header) ---- */

/* A reply header line: when it is a valid "Date:" header, its instant in
 * *date and 1; otherwise 0. */
int paynet_date_header(const char *line, size_t length, double *date);

/* "server now" from the local wall clock and the reply's Date header (a
 * Date more than a day off is ignored: paynet_date_trusted says 0). */
double paynet_server_now(double local_wall, int have_date, double date);
int paynet_date_trusted(double local_wall, double date);
/* Seconds to hold a number whose OTP expires at `expire`: the longer of
 * the desk clock's and the server clock's estimate of expire - now. */
double paynet_hold_seconds(double expire, double local_wall, int have_date, double date);

/* Decodes a reply: status, body -> result (PAYNET_OK) or err.  Pure: it
 * fills neither expires_in nor user_gsm. */
paynet_status paynet_decode_reply(long http_status, const char *body,
                                  size_t length, paynet_result *result,
                                  paynet_error *err);

/* Clocks, in seconds. */
double paynet_clock_mono(void);
double paynet_clock_wall(void);

#endif
