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
#include <stdint.h>
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
static long request_bytes(const struct paynet_call *call)
{
    long n = 0;
    curl_easy_getinfo(call->easy, CURLINFO_REQUEST_SIZE, &n);
    return n;
}

/* Whether a byte of the POST itself was written in this attempt: libcurl
 * began it (the pre-request callback ran: any tunnel and TLS handshake are
 * done by then) and wrote past what it had written before it. */
int transport_request_written(const struct paynet_call *call)
{
    return call->prereqs > 0 && request_bytes(call) > call->request_base;
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
    struct paynet_call *call = userp;
    if (call->prereqs == 0)
        call->request_base = request_bytes(call);
    else if (transport_request_written(call))
        return CURL_PREREQFUNC_ABORT;
    call->prereqs++;
    return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t count, void *userp)
{
    struct paynet_call *call = userp;
    size_t n = size * count;
    if (paynet_date_header(data, n, &call->date))
        call->have_date = 1;
    return n;
}

/* The client's model handle: what every call's transfer shares. */
paynet_status transport_set_options(paynet_client *c, const paynet_config *config)
{
    CURL *e = c->model;
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
#if LIBCURL_VERSION_NUM >= 0x075700
    /* a call ended while its name is being resolved does not wait for
     * libcurl's resolver thread (curl_multi_remove_handle would join it:
     * a step, a cancel or a free blocking as long as the DNS server) */
    SET(CURLOPT_QUICK_EXIT, 1L);
#endif
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(config->connect_timeout * 1000));
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    if (config->cainfo != NULL)
        SET(CURLOPT_CAINFO, config->cainfo);
    if (config->proxy != NULL) /* "" turns off the environment's proxy */
        SET(CURLOPT_PROXY, config->proxy);
#undef SET
    if (rc == CURLE_OUT_OF_MEMORY)
        return PAYNET_NOMEM;
    return rc == CURLE_OK ? PAYNET_OK : PAYNET_INVALID;
}

/* A new call's transfer: a copy of the client's model, pointed at the
 * call's own buffers. */
paynet_status transport_call_init(struct paynet_call *call)
{
    CURL *e = curl_easy_duphandle(call->client->model);
    if (e == NULL)
        return PAYNET_NOMEM;
    call->easy = e;
    CURLcode rc = CURLE_OK;
#define SET(option, value) if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value)
    SET(CURLOPT_POSTFIELDS, call->body); /* not copied: the call's buffer */
    SET(CURLOPT_PREREQDATA, call);
    SET(CURLOPT_WRITEDATA, &call->reply);
    SET(CURLOPT_HEADERDATA, call);
    SET(CURLOPT_ERRORBUFFER, call->errbuf);
    SET(CURLOPT_PRIVATE, call);
#undef SET
    return rc == CURLE_OK ? PAYNET_OK : PAYNET_NOMEM;
}

/* libcurl says which events it wants on a socket (or none): the epoll set
 * follows.  An fd libcurl already closed is gone from the set by itself. */
int transport_on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
    paynet_client *c = data;
    /* socketp: the epoll set the socket is in, plus one (NULL: none) */
    int in = (int)(intptr_t)socketp - 1;
    if (what == CURL_POLL_REMOVE) {
        if (in >= 0)
            epoll_ctl(in, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct paynet_call *call = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
    if (call == NULL)
        return -1;
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = fd;
    if (in >= 0 && in != call->epfd) /* a kept-alive connection, another call's now */
        epoll_ctl(in, EPOLL_CTL_DEL, fd, NULL);
    if (epoll_ctl(call->epfd, EPOLL_CTL_MOD, fd, &ev) != 0
        && (errno != ENOENT || epoll_ctl(call->epfd, EPOLL_CTL_ADD, fd, &ev) != 0))
        return -1; /* libcurl fails the transfer (CURLM_ABORTED_BY_CALLBACK) */
    if (in != call->epfd)
        curl_multi_assign(c->multi, fd, (void *)(intptr_t)(call->epfd + 1));
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

/* A call's deadline is kept by the call, not by CURLOPT_TIMEOUT_MS
 * (libcurl's timeout costs about 1k instructions a send in its timers):
 * paynet_call_timeout wakes the caller at it, and paynet_call_step ends
 * the transfer then (libcurl closes a connection taken off mid-transfer). */
void transport_reset_attempt(struct paynet_call *call)
{
    call->reply.length = 0;
    call->reply.overflow = 0;
    call->reply.nomem = 0;
    call->have_date = 0;
    call->errbuf[0] = '\0';
    call->prereqs = 0;
    call->ran_out = 0;
    call->done = 0;
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_length);
}

paynet_status transport_begin_attempt(struct paynet_call *call, paynet_error *err)
{
    transport_reset_attempt(call);
    if (curl_multi_add_handle(call->client->multi, call->easy) != CURLM_OK)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not start the transfer");
    call->state = SEND_TRANSFER;
    return PAYNET_OK;
}

/* Hands libcurl what happened: each socket of this call's epoll set that
 * is ready (waiting up to wait_ms for one: the blocking send's one wait),
 * then its timer when due; then notes every transfer that ended in the
 * call it belongs to (a timer may end another call's). */
CURLMcode transport_drive(struct paynet_call *call, int wait_ms)
{
    paynet_client *c = call->client;
    struct epoll_event ready[8];
    int running, n = epoll_wait(call->epfd, ready, 8, wait_ms);
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
    int queued;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(c->multi, &queued)) != NULL) {
        struct paynet_call *ended = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ended);
        if (msg->msg == CURLMSG_DONE && ended != NULL) {
            ended->done = 1;
            ended->done_rc = msg->data.result;
        }
    }
    return mc;
}

/* Whether the request may have reached the server on any attempt of this
 * send: once libcurl wrote a byte of it, it may have.  Sticky for the whole send: a later attempt that fails to
 * connect does not make it "no" again. */
int transport_request_may_have_left(const struct paynet_call *call)
{
    return call->body_left
           || (call->state == SEND_TRANSFER && transport_request_written(call));
}

static paynet_status transport_error(struct paynet_call *call, CURLcode rc, long http_status,
                                     paynet_error *err)
{
    const paynet_client *c = call->client;
    paynet_delivered d = transport_request_may_have_left(call) ? PAYNET_DELIVERED_UNKNOWN
                                                               : PAYNET_DELIVERED_NO;
    const char *detail = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
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
    if (call->reply.nomem) {
        kind = PAYNET_NOMEM;
        detail = _("out of memory while reading the reply");
    }
    if (call->ran_out)
        detail = d == PAYNET_DELIVERED_NO ? _("the request had not been sent")
                                          : _("the request was sent");
    if (kind == PAYNET_TIMEOUT && !call->ran_out) /* libcurl's connect timeout */
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

paynet_status transport_finish(struct paynet_call *call, CURLcode rc,
                               paynet_result *result, paynet_error *err)
{
    long http_status = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &http_status);
    if (rc == CURLE_OK)
        return paynet_decode_reply(http_status, call->reply.data ? call->reply.data : "",
                                   call->reply.length, result, err);
    if (call->reply.overflow) { /* of any status: a reply came, too large to read */
        paynet_fail(err, PAYNET_PROTOCOL, PAYNET_DELIVERED_YES,
                    "unusable reply (HTTP %ld): larger than %d KiB", http_status,
                    PAYNET_REPLY_CAP / 1024);
        err->http_status = http_status;
        return PAYNET_PROTOCOL;
    }
    return transport_error(call, rc, http_status, err);
}
