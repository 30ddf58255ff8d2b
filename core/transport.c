/*
 * transport.c — libcurl, and nothing else: the request's headers, the
 * reply's body and Date header, the epoll set libcurl's sockets live in
 * (its socket and timer callbacks, curl_multi_socket_action), and whether
 * a byte of the POST left (the replay guard).
 *
 * How libcurl is kept from sending a POST twice (it replays a request by
 * itself when a kept-alive connection dies before the reply): the body
 * goes with the headers (POSTFIELDS, one write) and the pre-request
 * callback refuses the replay.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "client.h"

/* Every header is a ready line of the list: libcurl sends them as they
 * are (CURLOPT_USERAGENT would be formatted again on every request). */
struct curl_slist *transport_build_headers(const char *secret)
{
    char authorization[PAYNET_SECRET_MAX + 32], agent[96];
    struct curl_slist *list = NULL;
    snprintf(agent, sizeof agent, "User-Agent: paynet/%s libcurl/%s", PAYNET_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
    const char *fixed[] = {
        agent,
        "Content-Type: application/json; charset=UTF-8",
        "Accept: application/json; charset=UTF-8",
        "Expect:",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *next = curl_slist_append(list, fixed[i]);
        if (next == NULL)
            goto fail;
        list = next;
    }
    snprintf(authorization, sizeof authorization, "Authorization: Basic %s", secret);
    struct curl_slist *next = curl_slist_append(list, authorization);
    client_wipe(authorization);
    if (next != NULL)
        return next;
fail:
    curl_slist_free_all(list);
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t count, void *userp)
{
    struct reply *r = userp;
    size_t n = size * count;
    if (n > PAYNET_REPLY_CAP - r->length) {
        r->overflow = 1;
        return 0;
    }
    if (r->length + n + 1 > r->capacity) {
        size_t want = r->capacity ? r->capacity * 2 : 4096;
        while (want < r->length + n + 1)
            want *= 2;
        if (want > PAYNET_REPLY_CAP + 1)
            want = PAYNET_REPLY_CAP + 1;
        char *grown = realloc(r->data, want);
        if (grown == NULL) {
            r->nomem = 1;
            return 0;
        }
        r->data = grown;
        r->capacity = want;
    }
    memcpy(r->data + r->length, data, n);
    r->length += n;
    r->data[r->length] = '\0';
    return n;
}

/* The bytes of requests libcurl wrote in this transfer: a proxy's CONNECT
 * and every request it began, a replay's too.  Reset only once the
 * transfer runs: before that it is the last transfer's. */
static long request_bytes(const paynet_client *c)
{
    long n = 0;
    curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &n);
    return n;
}

/* Whether a byte of the POST itself was written in this attempt: libcurl
 * began it (the pre-request callback ran: any tunnel and TLS handshake are
 * done by then) and wrote past what it had written before it. */
int transport_request_written(const paynet_client *c)
{
    return c->prereqs > 0 && request_bytes(c) > c->request_base;
}

/* libcurl is about to send the request, on a connection it opened or
 * reused.  A second call in one transfer is libcurl replaying the POST on
 * a fresh connection after the first died without a reply: once a byte of
 * the first request left, the server may have read it, and the replay
 * could be a second SMS.  Refused: the transfer fails (delivered
 * "unknown").  A first request of which no byte left may be sent again. */
static int on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    paynet_client *c = userp;
    if (c->prereqs == 0)
        c->request_base = request_bytes(c);
    else if (transport_request_written(c))
        return CURL_PREREQFUNC_ABORT;
    c->prereqs++;
    return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t count, void *userp)
{
    paynet_client *c = userp;
    size_t n = size * count;
    if (paynet_date_header(data, n, &c->date))
        c->have_date = 1;
    return n;
}

paynet_status transport_set_options(paynet_client *c, const paynet_config *config)
{
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
#define SET(option, value) if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value)
    SET(CURLOPT_URL, c->url);
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(config->connect_timeout * 1000));
    SET(CURLOPT_POSTFIELDS, c->body); /* not copied: the client's buffer */
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, c);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &c->reply);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, c);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    if (config->cainfo != NULL)
        SET(CURLOPT_CAINFO, config->cainfo);
    if (config->proxy != NULL) /* "" turns off the environment's proxy */
        SET(CURLOPT_PROXY, config->proxy);
#undef SET
    if (rc == CURLE_OUT_OF_MEMORY)
        return PAYNET_NOMEM;
    return rc == CURLE_OK ? PAYNET_OK : PAYNET_INVALID;
}

/* libcurl says which events it wants on a socket (or none): the epoll set
 * follows.  An fd libcurl already closed is gone from the set by itself. */
int transport_on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
    (void)easy;
    (void)socketp;
    paynet_client *c = data;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = fd;
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev) != 0
        && (errno != ENOENT || epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0))
        return -1; /* libcurl fails the transfer (CURLM_ABORTED_BY_CALLBACK) */
    return 0;
}

/* libcurl wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT) in ms
 * milliseconds (0: at once; -1: never). */
int transport_on_timer(CURLM *multi, long ms, void *data)
{
    (void)multi;
    paynet_client *c = data;
    c->timer_at = ms < 0 ? -1 : paynet_clock_mono() + ms / 1000.0;
    return 0;
}

/* A send's deadline is kept by the client, not by CURLOPT_TIMEOUT_MS
 * (libcurl's timeout costs about 1k instructions a send in its timers):
 * paynet_send_timeout wakes the caller at it, and paynet_send_step ends
 * the transfer then (libcurl closes a connection taken off mid-transfer). */
void transport_reset_attempt(paynet_client *c)
{
    c->reply.length = 0;
    c->reply.overflow = 0;
    c->reply.nomem = 0;
    c->have_date = 0;
    c->errbuf[0] = '\0';
    c->prereqs = 0;
    c->ran_out = 0;
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_length);
}

paynet_status transport_begin_attempt(paynet_client *c, paynet_error *err)
{
    transport_reset_attempt(c);
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not start the transfer");
    c->state = SEND_TRANSFER;
    return PAYNET_OK;
}

/* Hands libcurl what happened: each socket the epoll set says is ready
 * (waiting up to wait_ms for one: the blocking send's one wait), then its
 * timer when due. */
CURLMcode transport_drive(paynet_client *c, int wait_ms)
{
    struct epoll_event ready[8];
    int running, n = epoll_wait(c->epfd, ready, 8, wait_ms);
    CURLMcode mc = CURLM_OK;
    for (int i = 0; i < n && mc == CURLM_OK; i++) {
        int mask = (ready[i].events & EPOLLIN ? CURL_CSELECT_IN : 0)
                   | (ready[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                   | (ready[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        mc = curl_multi_socket_action(c->multi, ready[i].data.fd, mask, &running);
    }
    if (mc == CURLM_OK && c->timer_at >= 0 && paynet_clock_mono() >= c->timer_at) {
        c->timer_at = -1; /* libcurl sets the next one */
        mc = curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    return mc;
}

/* Whether the request may have reached the server on any attempt of this
 * send: once libcurl wrote a byte of it, it may have.  Sticky for the whole send: a later attempt that fails to
 * connect does not make it "no" again. */
int transport_request_may_have_left(const paynet_client *c)
{
    return c->body_left
           || (c->state == SEND_TRANSFER && transport_request_written(c));
}

static paynet_status transport_error(paynet_client *c, CURLcode rc, long http_status,
                                     paynet_error *err)
{
    paynet_delivered d = transport_request_may_have_left(c) ? PAYNET_DELIVERED_UNKNOWN
                                                  : PAYNET_DELIVERED_NO;
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    paynet_status kind;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        kind = PAYNET_NETWORK;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        kind = PAYNET_TIMEOUT;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        kind = PAYNET_TLS;
        break;
    case CURLE_OUT_OF_MEMORY:
        kind = PAYNET_NOMEM;
        break;
    case CURLE_ABORTED_BY_CALLBACK: /* on_prereq: the only callback that aborts */
        kind = PAYNET_NETWORK;
        detail = _("the connection closed after the request was sent, before any "
                   "reply; it was not sent again");
        break;
    case CURLE_WEIRD_SERVER_REPLY:
        kind = PAYNET_PROTOCOL;
        break;
    default:
        kind = PAYNET_NETWORK;
        break;
    }
    if (c->reply.nomem) {
        kind = PAYNET_NOMEM;
        detail = _("out of memory while reading the reply");
    }
    if (c->ran_out)
        detail = d == PAYNET_DELIVERED_NO ? _("the request had not been sent")
                                          : _("the request was sent");
    if (kind == PAYNET_TIMEOUT && !c->ran_out) /* libcurl's connect timeout */
        paynet_fail(err, kind, d, "no connection within %g s (%s)", c->connect_timeout,
                    detail);
    else if (kind == PAYNET_TIMEOUT)
        paynet_fail(err, kind, d, "no complete reply within %g s (%s)",
                    c->timeout, detail);
    else
        paynet_fail(err, kind, d, "%s", detail);
    err->http_status = http_status;
    return kind;
}

paynet_status transport_finish(paynet_client *c, CURLcode rc,
                                     paynet_result *result, paynet_error *err)
{
    long http_status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http_status);
    if (rc == CURLE_OK)
        return paynet_decode_reply(http_status, c->reply.data ? c->reply.data : "",
                                   c->reply.length, result, err);
    if (c->reply.overflow) { /* of any status: a reply came, too large to read */
        paynet_fail(err, PAYNET_PROTOCOL, PAYNET_DELIVERED_YES,
                    "unusable reply (HTTP %ld): larger than %d KiB", http_status,
                    PAYNET_REPLY_CAP / 1024);
        err->http_status = http_status;
        return PAYNET_PROTOCOL;
    }
    return transport_error(c, rc, http_status, err);
}
