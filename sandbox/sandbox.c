/*
 * paynet-sandbox — a local emulator of Paynet's POST /v1/card/send_otp on
 * libmicrohttpd, for the demo, the tests and the benchmarks.
 *
 * It is an independent implementation of the server side: it shares with
 * the client only the result-code table and the otp_expire formatter, so
 * that a client bug cannot hide behind a shared helper.
 *
 * One thread per connection: keep-alive clients are served by a thread
 * blocked on their socket, which is also what lets the fault scenarios
 * "never answer" or "answer slowly" without holding up anyone else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "paynet.h"

#define PATH "/v1/card/send_otp"
#define BODY_CAP (64 * 1024)
#define SCENARIO_PREFIX "50000000"  /* 50000000NN -> result code NN */
#define FAULT_PREFIX "50000001"     /* 50000001NN -> fault NN */
#define RESEND_CODE PAYNET_CODE_duplicatedata

struct options {
    unsigned port;
    const char *secret_key;
    double ttl;
    double clock_offset;
    const char *tls_cert, *tls_key;
    int quiet;
};

struct issued {
    char gsm[16];
    double expires; /* server wall clock, seconds */
};

struct sandbox {
    struct options opt;
    char *authorization; /* "Basic <key>" */
    atomic_int stopping;
    atomic_int connections;
    char redirect[96]; /* this server under another host name */
    pthread_mutex_t lock;
    struct issued *issued;
    size_t issued_count, issued_capacity;
};

/* Per connection: how many requests it has carried. */
struct link {
    unsigned requests;
};

struct request {
    char *body;
    size_t length;
    int too_large;
};

/* ---- clock and log ------------------------------------------------------- */

static double server_now(const struct sandbox *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 + s->opt.clock_offset;
}

static void log_line(const struct sandbox *s, const char *format, ...)
{
    if (s->opt.quiet)
        return;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "%s sandbox: ", stamp);
    va_list ap;
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

/* libmicrohttpd's own messages, under the same prefix and --quiet. */
static void log_mhd(void *cls, const char *format, va_list ap)
{
    const struct sandbox *s = cls;
    if (s->opt.quiet)
        return;
    char text[512];
    vsnprintf(text, sizeof text, format, ap);
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    log_line(s, "libmicrohttpd: %s", text);
}

/* "532*****67": what the log shows of a number.  Anything that is not a
 * plausible number is shown by its length only. */
static void mask_number(const char *gsm, char *out, size_t size)
{
    size_t n = strlen(gsm);
    int digits = n >= 4 && n <= 15;
    for (size_t i = 0; digits && i < n; i++)
        digits = gsm[i] >= '0' && gsm[i] <= '9';
    if (!digits) {
        snprintf(out, size, "<%zu bytes>", n);
        return;
    }
    snprintf(out, size, "%.3s%.*s%s", gsm, (int)(n - 5), "**********", gsm + n - 2);
}

/* Session ids, paths and methods are the client's text: printed with
 * anything unprintable escaped, so a hostile client can neither drive the
 * operator's terminal nor forge a log line. */
static void printable(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 5 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c >= 0x20 && c < 0x7F && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

/* ---- responses ----------------------------------------------------------- */

static void add_date(struct MHD_Response *r, const struct sandbox *s)
{
    char date[64];
    time_t t = (time_t)floor(server_now(s));
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    MHD_add_response_header(r, MHD_HTTP_HEADER_DATE, date);
}

static enum MHD_Result queue(struct MHD_Connection *c, const struct sandbox *s,
                             unsigned status, struct MHD_Response *r,
                             const char *content_type)
{
    if (r == NULL)
        return MHD_NO;
    add_date(r, s);
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, const struct sandbox *s,
                                 unsigned status, const char *text,
                                 const char *content_type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    return queue(c, s, status, r, content_type);
}

static enum MHD_Result send_json(struct MHD_Connection *c, const struct sandbox *s,
                                 unsigned status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (text == NULL)
        return MHD_NO;
    enum MHD_Result ret = send_text(c, s, status, text, "application/json; charset=utf-8");
    cJSON_free(text);
    return ret;
}

/* The documented error object: {type, message, code (HTTP status), result_code}. */
static enum MHD_Result send_error(struct MHD_Connection *c, const struct sandbox *s,
                                  unsigned status, const char *type,
                                  const char *message, int result_code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddNumberToObject(o, "code", status);
    cJSON_AddNumberToObject(o, "result_code", result_code);
    return send_json(c, s, status, o);
}

static enum MHD_Result send_code(struct MHD_Connection *c, const struct sandbox *s,
                                 int code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", message);
    return send_json(c, s, MHD_HTTP_OK, o);
}

static void format_expire(double at, char *buf, size_t size)
{
    paynet_instant t;
    t.sec = (int64_t)floor(at);
    t.nsec = (int32_t)((at - floor(at)) * 1e9);
    if (t.nsec > 999999999)
        t.nsec = 999999999;
    if (paynet_expire_format(t, 3 * 60, 7, buf, size) < 0)
        snprintf(buf, size, "invalid");
}

static enum MHD_Result send_success(struct MHD_Connection *c, const struct sandbox *s,
                                    double expires, int code_as_string)
{
    char expire[64];
    format_expire(expires, expire, sizeof expire);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "otp_expire", expire);
    if (code_as_string)
        cJSON_AddStringToObject(o, "code", "0");
    else
        cJSON_AddNumberToObject(o, "code", 0);
    cJSON_AddStringToObject(o, "message", "Başarılı İşlem");
    return send_json(c, s, MHD_HTTP_OK, o);
}

/* ---- faults -------------------------------------------------------------- */

/* Waits up to `seconds`, returning early (0) when the sandbox stops or the
 * client hangs up; 1 when the whole time passed. */
static int hold_connection(struct MHD_Connection *c, const struct sandbox *s,
                           double seconds)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = info ? info->connect_fd : -1;
    int waited_ms = 0;
    while (waited_ms < seconds * 1000) {
        if (atomic_load(&s->stopping))
            return 0;
        if (fd >= 0) {
            struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
            if (poll(&p, 1, 100) > 0) {
                char byte;
                if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR))
                    || recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
                    return 0;
                usleep(100 * 1000);
            }
        } else {
            usleep(100 * 1000);
        }
        waited_ms += 100;
    }
    return 1;
}

struct stream {
    const struct sandbox *sandbox;
    int endless;
};

static ssize_t read_cut(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    static const char head[] = "{\"otp_expire\":\"2030-01-01T00:00:00.0000000+03:00\",\"co";
    if (pos > 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = sizeof head - 1 < max ? sizeof head - 1 : max;
    memcpy(buf, head, n);
    return (ssize_t)n;
}

static ssize_t read_endless(void *cls, uint64_t pos, char *buf, size_t max)
{
    const struct sandbox *s = cls;
    static const char head[] = "{\"code\":0,\"message\":\"";
    if (atomic_load(&s->stopping))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (pos == 0 && max >= sizeof head) {
        memcpy(buf, head, sizeof head - 1);
        return sizeof head - 1;
    }
    memset(buf, 'a', max);
    return (ssize_t)max;
}

static char *oversized_body(void)
{
    size_t n = 100 * 1024;
    char *body = malloc(n + 64);
    if (body == NULL)
        return NULL;
    int head = sprintf(body, "{\"code\":0,\"message\":\"");
    memset(body + head, 'x', n);
    strcpy(body + head + n, "\"}");
    return body;
}

/* Faults 19 and 20: on a connection that already carried a request, the
 * request is read and the connection closed (or reset) with no reply. */
static int drop_if_reused(struct MHD_Connection *c, const struct sandbox *s,
                          const char *masked, int reset)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct link *l = info ? info->socket_context : NULL;
    if (l == NULL || l->requests < 2)
        return 0;
    log_line(s, "%s request %u on this connection: %s without a reply", masked, l->requests,
             reset ? "reset" : "closed");
    info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (reset && info != NULL) {
        struct linger abort_on_close = {1, 0}; /* close sends RST */
        setsockopt(info->connect_fd, SOL_SOCKET, SO_LINGER, &abort_on_close,
                   sizeof abort_on_close);
    }
    return 1;
}

/* Each fault: (connection, sandbox, masked number) -> what MHD gets. */
typedef enum MHD_Result fault_handler(struct MHD_Connection *c, struct sandbox *s,
                                      const char *masked);

#define JSON_TYPE "application/json; charset=utf-8"

static enum MHD_Result error_500(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_error(c, s, 500, "server_error", "Sunucu hatası", PAYNET_CODE_servererror);
}

static enum MHD_Result html_502(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, 502,
                     "<html><head><title>502 Bad Gateway</title></head>"
                     "<body><h1>502 Bad Gateway</h1></body></html>",
                     "text/html");
}

/* Fault 24: a gateway's error page larger than any client's reply cap. */
static enum MHD_Result html_502_large(struct MHD_Connection *c, struct sandbox *s,
                                      const char *m)
{
    (void)m;
    static const char head[] = "<html><head><title>502 Bad Gateway</title></head><body>";
    size_t n = 100 * 1024;
    char *body = malloc(n + 1);
    if (body == NULL)
        return MHD_NO;
    memset(body, ' ', n);
    memcpy(body, head, sizeof head - 1);
    memcpy(body + n - 14, "</body></html>", 14);
    body[n] = '\0';
    return queue(c, s, 502, MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE),
                 "text/html");
}

/* Fault 25: an error object that says result code 0 (success) under a 500. */
static enum MHD_Result error_500_code_0(struct MHD_Connection *c, struct sandbox *s,
                                        const char *m)
{
    (void)m;
    return send_error(c, s, 500, "server_error", "İşlem tamamlanamadı", 0);
}

static enum MHD_Result never_answers(struct MHD_Connection *c, struct sandbox *s,
                                     const char *m)
{
    (void)m;
    hold_connection(c, s, 600);
    return MHD_NO;
}

static enum MHD_Result cut_body(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return queue(c, s, MHD_HTTP_OK,
                 MHD_create_response_from_callback(200, 1024, read_cut, s, NULL), JSON_TYPE);
}

static enum MHD_Result malformed_json(struct MHD_Connection *c, struct sandbox *s,
                                      const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK, "{\"code\":0,\"message\":\"Başarılı", JSON_TYPE);
}

static enum MHD_Result oversized(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    char *body = oversized_body();
    if (body == NULL)
        return MHD_NO;
    return queue(c, s, MHD_HTTP_OK,
                 MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE),
                 JSON_TYPE);
}

static enum MHD_Result endless(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return queue(c, s, MHD_HTTP_OK,
                 MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_endless, s,
                                                   NULL),
                 JSON_TYPE);
}

static enum MHD_Result code_as_string(struct MHD_Connection *c, struct sandbox *s,
                                      const char *m)
{
    (void)m;
    return send_success(c, s, server_now(s) + s->opt.ttl, 1);
}

/* to this server under another host name, "localhost": a client that
 * followed it would show up in the log */
static enum MHD_Result redirect(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                             MHD_RESPMEM_PERSISTENT);
    if (r != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, s->redirect);
    return queue(c, s, 302, r, NULL);
}

static enum MHD_Result empty_200(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK, "", JSON_TYPE);
}

static enum MHD_Result plain_ok(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK, "OK", "text/plain");
}

static enum MHD_Result json_array(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK, "[0,\"Başarılı İşlem\"]", JSON_TYPE);
}

static enum MHD_Result wrong_types(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK, "{\"code\":true,\"message\":5}", JSON_TYPE);
}

static enum MHD_Result impossible_date(struct MHD_Connection *c, struct sandbox *s,
                                       const char *m)
{
    (void)m;
    return send_text(c, s, MHD_HTTP_OK,
                     "{\"otp_expire\":\"2017-02-30T15:30:15.0581408+03:00\","
                     "\"code\":0,\"message\":\"Başarılı İşlem\"}",
                     JSON_TYPE);
}

static enum MHD_Result slow(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    if (!hold_connection(c, s, 3))
        return MHD_NO;
    return send_success(c, s, server_now(s) + s->opt.ttl, 0);
}

static enum MHD_Result empty_503(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    (void)m;
    return send_text(c, s, 503, "", "text/plain");
}

static enum MHD_Result escapes(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    char expire[64], text[512];
    (void)m;
    format_expire(server_now(s) + s->opt.ttl, expire, sizeof expire);
    snprintf(text, sizeof text,
             "{\"otp_expire\":\"%s\",\"code\":0,\"message\":"
             "\"Başarılı\\u001b[2J\\u001b]0;pwned\\u0007 İşlem\\r\\n\"}",
             expire);
    return send_text(c, s, MHD_HTTP_OK, text, JSON_TYPE);
}

static enum MHD_Result echo_key(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    char text[512];
    (void)m;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    snprintf(text, sizeof text, "kabul edilmedi: %s", auth ? auth : "");
    return send_error(c, s, 400, "bad_request", text, PAYNET_CODE_badrequest);
}

static enum MHD_Result kept_alive_closed(struct MHD_Connection *c, struct sandbox *s,
                                         const char *m)
{
    if (drop_if_reused(c, s, m, 0))
        return MHD_NO;
    return send_success(c, s, server_now(s) + s->opt.ttl, 0);
}

static enum MHD_Result kept_alive_reset(struct MHD_Connection *c, struct sandbox *s,
                                        const char *m)
{
    if (drop_if_reused(c, s, m, 1))
        return MHD_NO;
    return send_success(c, s, server_now(s) + s->opt.ttl, 0);
}

static enum MHD_Result date_1970(struct MHD_Connection *c, struct sandbox *s, const char *m)
{
    char expire[64], text[512];
    (void)m;
    format_expire(server_now(s) + s->opt.ttl, expire, sizeof expire);
    snprintf(text, sizeof text,
             "{\"otp_expire\":\"%s\",\"code\":0,\"message\":\"Başarılı İşlem\"}", expire);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
                                                             MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_DATE, "Thu, 01 Jan 1970 00:00:00 GMT");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result echo_key_success(struct MHD_Connection *c, struct sandbox *s,
                                        const char *m)
{
    char expire[64], text[1024];
    (void)m;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    format_expire(server_now(s) + s->opt.ttl, expire, sizeof expire);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "otp_expire", expire);
    cJSON_AddNumberToObject(o, "code", 0);
    snprintf(text, sizeof text, "Başarılı İşlem (%s)", auth ? auth : "");
    cJSON_AddStringToObject(o, "message", text);
    return send_json(c, s, MHD_HTTP_OK, o);
}

static enum MHD_Result escapes_in_error(struct MHD_Connection *c, struct sandbox *s,
                                        const char *m)
{
    (void)m;
    return send_error(c, s, 400, "bad_request",
                      "kabul edilmedi\x1b[2J\x1b]0;pwned\x07 \xc2\x9b" "31m\xe2\x80\xae"
                      "gnp.exe\xff",
                      PAYNET_CODE_badrequest);
}

/* The one list of fault numbers (50000001NN): what each does, and how.
 * --scenarios prints it; the README's table and the man page are checked
 * against that output (spec/sandbox_spec.lua). */
static const struct fault {
    int number;
    const char *meaning;
    fault_handler *handle;
} faults[] = {
    {1, "HTTP 500 with the error object, result code 8", error_500},
    {2, "HTTP 502 with an HTML page", html_502},
    {3, "never answers (holds the connection until the client gives up)", never_answers},
    {4, "promises 200 bytes, sends part of them, closes the connection", cut_body},
    {5, "malformed JSON", malformed_json},
    {6, "a 100 KiB body", oversized},
    {7, "a body that never ends", endless},
    {8, "success with \"code\":\"0\" as a string", code_as_string},
    {9, "a 302 redirect to itself under the name localhost", redirect},
    {10, "an empty 200", empty_200},
    {11, "OK as text/plain", plain_ok},
    {12, "a JSON array", json_array},
    {13, "JSON with wrong types", wrong_types},
    {14, "an otp_expire of February 30th", impossible_date},
    {15, "success after 3 seconds", slow},
    {16, "an empty 503", empty_503},
    {17, "success whose message holds terminal escape sequences", escapes},
    {18, "a 400 error object whose message echoes the Authorization header", echo_key},
    {19, "on a kept-alive connection: reads the request, closes without a reply; "
         "on a fresh one: success", kept_alive_closed},
    {20, "on a kept-alive connection: reads the request, resets the connection; "
         "on a fresh one: success", kept_alive_reset},
    {21, "success with a Date header of 1970 (a gateway whose clock is dead)", date_1970},
    {22, "success whose message echoes the Authorization header", echo_key_success},
    {23, "a 400 error object whose message holds terminal escapes, C1, bidi and broken UTF-8",
     escapes_in_error},
    {24, "HTTP 502 with an HTML page of 100 KiB (over any reply cap)", html_502_large},
    {25, "HTTP 500 with an error object whose result code is 0", error_500_code_0},
};

static void print_scenarios(FILE *out)
{
    fputs("50000000NN  answers result code NN (01 to 21) with HTTP 200\n", out);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        fprintf(out, "50000001%02d  %s\n", faults[i].number, faults[i].meaning);
}

static enum MHD_Result fault(struct MHD_Connection *c, struct sandbox *s, int n,
                             const char *masked)
{
    log_line(s, "%s -> fault %02d", masked, n);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        if (faults[i].number == n)
            return faults[i].handle(c, s, masked);
    return send_error(c, s, 400, "bad_request", "bilinmeyen senaryo numarası",
                      PAYNET_CODE_badrequest);
}

/* ---- the resend rule ----------------------------------------------------- */

/* Seconds until gsm may be sent again (0 if now), recording a new OTP
 * valid until `expires` when it may. */
static double issue(struct sandbox *s, const char *gsm, double now, double expires)
{
    double wait = 0;
    pthread_mutex_lock(&s->lock);
    struct issued *slot = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < s->issued_count; i++) {
        if (s->issued[i].expires <= now)
            continue; /* forget expired ones */
        s->issued[kept] = s->issued[i];
        if (strcmp(s->issued[kept].gsm, gsm) == 0)
            slot = &s->issued[kept];
        kept++;
    }
    s->issued_count = kept;
    if (slot != NULL) {
        wait = slot->expires - now;
    } else if (expires > now) {
        if (s->issued_count == s->issued_capacity) {
            size_t want = s->issued_capacity ? s->issued_capacity * 2 : 64;
            struct issued *grown = realloc(s->issued, want * sizeof *grown);
            if (grown != NULL) {
                s->issued = grown;
                s->issued_capacity = want;
            }
        }
        if (s->issued_count < s->issued_capacity) {
            slot = &s->issued[s->issued_count++];
            snprintf(slot->gsm, sizeof slot->gsm, "%s", gsm);
            slot->expires = expires;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return wait;
}

/* ---- the request ---------------------------------------------------------- */

static int valid_gsm(const char *gsm)
{
    if (strlen(gsm) != 10 || gsm[0] != '5')
        return 0;
    for (int i = 0; i < 10; i++)
        if (gsm[i] < '0' || gsm[i] > '9')
            return 0;
    return 1;
}

static enum MHD_Result send_otp(struct MHD_Connection *c, struct sandbox *s,
                                const struct request *req)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth == NULL || strcmp(auth, s->authorization) != 0) {
        log_line(s, "refused: wrong or missing secret key -> 401");
        return send_error(c, s, 401, "unauthorized", "Geçersiz gizli anahtar",
                          PAYNET_CODE_unauthorized);
    }
    if (req->too_large) {
        log_line(s, "refused: body over 64 KiB -> 400");
        return send_error(c, s, 400, "bad_request", "istek çok büyük", PAYNET_CODE_badrequest);
    }
    cJSON *json = cJSON_ParseWithLength(req->body ? req->body : "", req->length);
    const cJSON *gsm_item = cJSON_GetObjectItemCaseSensitive(json, "user_gsm");
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(json, "otp_session_id");
    if (!cJSON_IsObject(json) || !cJSON_IsString(gsm_item) || !cJSON_IsString(id_item)
        || !valid_gsm(gsm_item->valuestring) || id_item->valuestring[0] == '\0'
        || strlen(id_item->valuestring) > 128) {
        cJSON_Delete(json);
        log_line(s, "refused: body is not {\"user_gsm\":\"5XXXXXXXXX\","
                    "\"otp_session_id\":\"...\"} -> 400");
        return send_error(c, s, 400, "bad_request",
                          "user_gsm ve otp_session_id gerekli", PAYNET_CODE_badrequest);
    }
    char gsm[16], masked[32], session[600];
    snprintf(gsm, sizeof gsm, "%s", gsm_item->valuestring);
    mask_number(gsm, masked, sizeof masked);
    printable(id_item->valuestring, session, sizeof session);
    cJSON_Delete(json);

    if (strncmp(gsm, FAULT_PREFIX, 8) == 0)
        return fault(c, s, atoi(gsm + 8), masked);
    if (strncmp(gsm, SCENARIO_PREFIX, 8) == 0 && strcmp(gsm + 8, "00") != 0) {
        int code = atoi(gsm + 8);
        const char *meaning = paynet_code_meaning(code);
        log_line(s, "%s session '%s' -> scenario code %d", masked, session, code);
        return send_code(c, s, code, meaning ? meaning : "unknown result code");
    }

    double now = server_now(s);
    double expires = now + s->opt.ttl;
    double wait = issue(s, gsm, now, expires);
    if (wait > 0) {
        log_line(s, "%s session '%s' -> %d %s: the last OTP is valid %.0f s more",
                 masked, session, RESEND_CODE, paynet_code_name(RESEND_CODE), ceil(wait));
        return send_code(c, s, RESEND_CODE,
                         "OTP zaten gönderildi; süresi dolmadan yenisi gönderilemez");
    }
    unsigned otp = 0;
    if (getrandom(&otp, sizeof otp, 0) != sizeof otp)
        otp = (unsigned)time(NULL);
    log_line(s, "%s session '%s' -> 0 successful, SMS code %06u, valid %.0f s",
             masked, session, otp % 1000000, s->opt.ttl);
    return send_success(c, s, expires, 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    struct sandbox *s = cls;
    struct request *req = *state;
    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof *req);
        if (req == NULL)
            return MHD_NO;
        *state = req;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (info != NULL && info->socket_context != NULL)
            ((struct link *)info->socket_context)->requests++;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!req->too_large && req->length + *upload_size <= BODY_CAP) {
            char *grown = realloc(req->body, req->length + *upload_size + 1);
            if (grown == NULL)
                return MHD_NO;
            req->body = grown;
            memcpy(req->body + req->length, upload, *upload_size);
            req->length += *upload_size;
            req->body[req->length] = '\0';
        } else {
            req->too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    char shown_method[64], shown_url[600]; /* the client's bytes, escaped */
    printable(method, shown_method, sizeof shown_method);
    printable(url, shown_url, sizeof shown_url);
    if (strcmp(url, PATH) != 0) {
        log_line(s, "%s %s -> 404", shown_method, shown_url);
        return send_error(c, s, 404, "not_found", "bulunamadı", PAYNET_CODE_unsuccessful);
    }
    if (strcmp(method, "POST") != 0) {
        log_line(s, "%s %s -> 405", shown_method, shown_url);
        return send_error(c, s, 405, "method_not_allowed", "yalnızca POST",
                          PAYNET_CODE_unsuccessful);
    }
    return send_otp(c, s, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    struct request *req = *state;
    if (req != NULL) {
        free(req->body);
        free(req);
        *state = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
                          enum MHD_ConnectionNotificationCode code)
{
    struct sandbox *s = cls;
    (void)c;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_state = calloc(1, sizeof(struct link)); /* NULL: fault 19 answers */
        log_line(s, "connection %d opened", atomic_fetch_add(&s->connections, 1) + 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_state);
        *socket_state = NULL;
    }
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *out)
{
    fputs("Usage: paynet-sandbox [OPTION]...\n"
          "A local emulator of Paynet's POST /v1/card/send_otp, on 127.0.0.1.\n"
          "\n"
          "  --port N            TCP port; 0 picks a free one (default 8080)\n"
          "  --secret-key KEY    the key clients must send (default sck_sandbox)\n"
          "  --ttl SECONDS       how long each OTP is valid; 0 = already expired\n"
          "                      (default 180)\n"
          "  --clock-offset S    run the server's clock S seconds ahead (or behind)\n"
          "  --tls-cert FILE     serve HTTPS with this PEM certificate...\n"
          "  --tls-key FILE      ...and this PEM private key\n"
          "  --quiet             do not log requests to stderr\n"
          "  --scenarios         list the scenario and fault numbers and exit\n"
          "  --help              show this help and exit\n"
          "  --version           show the version and exit\n"
          "\n"
          "Once ready it prints one line, 'listening on http://127.0.0.1:PORT',\n"
          "and serves until SIGINT or SIGTERM.  Numbers 50000000NN answer result\n"
          "code NN; numbers 50000001NN trigger fault NN (--scenarios lists them).\n",
          out);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *data = NULL;
    size_t length = 0, capacity = 0;
    for (;;) {
        if (length + 4096 + 1 > capacity) {
            capacity = capacity ? capacity * 2 : 8192;
            char *grown = realloc(data, capacity);
            if (grown == NULL || capacity > (1 << 20)) {
                free(grown ? grown : data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t n = fread(data + length, 1, 4096, f);
        length += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    data[length] = '\0';
    return data;
}

static int parse_number(const char *text, double low, double high, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= low && v <= high))
        return 0;
    *out = v;
    return 1;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"secret-key", required_argument, NULL, 'k'},
        {"ttl", required_argument, NULL, 't'},
        {"clock-offset", required_argument, NULL, 'o'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'K'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"scenarios", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    double v;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (!parse_number(optarg, 0, 65535, &v) || v != floor(v)) {
                fprintf(stderr, "paynet-sandbox: --port must be 0 to 65535\n");
                return 2;
            }
            o->port = (unsigned)v;
            break;
        case 'k':
            o->secret_key = optarg;
            break;
        case 't':
            if (!parse_number(optarg, 0, 86400, &o->ttl)) {
                fprintf(stderr, "paynet-sandbox: --ttl must be 0 to 86400 seconds\n");
                return 2;
            }
            break;
        case 'o':
            if (!parse_number(optarg, -1e9, 1e9, &o->clock_offset)) {
                fprintf(stderr, "paynet-sandbox: --clock-offset must be a number of seconds\n");
                return 2;
            }
            break;
        case 'c':
            o->tls_cert = optarg;
            break;
        case 'K':
            o->tls_key = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("paynet-sandbox %s\n", PAYNET_VERSION);
            return 0;
        case 'S':
            print_scenarios(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'paynet-sandbox --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "paynet-sandbox: unexpected argument '%s'\n"
                        "Try 'paynet-sandbox --help'.\n", argv[optind]);
        return 2;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "paynet-sandbox: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (o->secret_key[0] == '\0') {
        fprintf(stderr, "paynet-sandbox: --secret-key must not be empty\n");
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct sandbox s;
    memset(&s, 0, sizeof s);
    s.opt.port = 8080;
    s.opt.secret_key = "sck_sandbox";
    s.opt.ttl = 180;
    int rc = parse_options(argc, argv, &s.opt);
    if (rc >= 0)
        return rc;

    size_t n = strlen(s.opt.secret_key) + sizeof "Basic ";
    s.authorization = malloc(n);
    if (s.authorization == NULL)
        return 1;
    snprintf(s.authorization, n, "Basic %s", s.opt.secret_key);
    pthread_mutex_init(&s.lock, NULL);

    char *cert = NULL, *key = NULL;
    int status = 0;
    if (s.opt.tls_cert) {
        cert = read_file(s.opt.tls_cert);
        key = read_file(s.opt.tls_key);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "paynet-sandbox: cannot read %s\n",
                    cert == NULL ? s.opt.tls_cert : s.opt.tls_key);
            status = 1;
            goto done;
        }
    }

    /* signals are taken by sigwait below; the server's threads inherit
     * the mask and never see them */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)s.opt.port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                     | MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG;
    if (cert)
        flags |= MHD_USE_TLS;
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &s,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, &s, /* first, to catch every message */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_END);
    if (daemon == NULL) {
        fprintf(stderr, "paynet-sandbox: cannot listen on 127.0.0.1:%u%s\n",
                s.opt.port, cert ? " (check the certificate and key)" : "");
        status = 1;
        goto done;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s.redirect, sizeof s.redirect, "%s://localhost:%u" PATH,
             cert ? "https" : "http", (unsigned)info->port);
    printf("listening on %s://127.0.0.1:%u\n", cert ? "https" : "http",
           (unsigned)info->port);
    fflush(stdout);

    int signal_number;
    sigwait(&signals, &signal_number);
    atomic_store(&s.stopping, 1);
    MHD_stop_daemon(daemon);
    log_line(&s, "stopped");
done:
    free(s.issued);
    free(s.authorization);
    free(cert);
    free(key);
    pthread_mutex_destroy(&s.lock);
    return status;
}
