/*
 * client.c — client lifetime, libcurl handles, the send state machine and
 * the per-number cooldown.
 *
 * One easy handle per client, driven through a multi handle: the multi's
 * connection cache keeps the connection alive between sends, and the same
 * start / wait / step machine serves the blocking call, the operator
 * screen's event loop and any other loop (cqueues, luv ...).
 *
 * libcurl is driven through its socket and timer callbacks
 * (curl_multi_socket_action), never by polling inside: the socket callback
 * puts the sockets libcurl wants watched into one epoll descriptor per
 * client, the timer callback records when libcurl wants to be called
 * anyway.  That descriptor (paynet_send_pollfd), its events and the time
 * left (paynet_send_timeout) are all a loop needs to wait on a send.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ledger.h"

/* The oldest libcurl this code builds and runs with: 7.41.0 has every
 * option and error code used here (CURLE_SSL_INVALIDCERTSTATUS is the
 * newest); CURLOPT_PROTOCOLS_STR (7.85.0) falls back to CURLOPT_PROTOCOLS.
 * Tested with 7.88.1 (Debian 12). */
#define CURL_MINIMUM 0x072900
#define CURL_MINIMUM_TEXT "7.41.0"
#if LIBCURL_VERSION_NUM < CURL_MINIMUM
#error "libpaynet needs libcurl 7.41.0 or newer"
#endif

/* How libcurl is kept from sending a POST twice (it replays a request by
 * itself when a kept-alive connection dies before the reply).  From
 * 7.80.0: the body goes with the headers (POSTFIELDS, one write) and the
 * pre-request callback refuses the replay.  Before (or built with
 * -DPAYNET_READ_CALLBACK, as `make check` also does): the body goes
 * through a read callback whose rewind refuses it (a second write, which
 * over TLS is a second record: about 9k instructions a send). */
#if LIBCURL_VERSION_NUM >= 0x075000 && !defined(PAYNET_READ_CALLBACK)
#define USE_PREREQ 1
#define CURL_RUNTIME_MINIMUM 0x075000
#define CURL_RUNTIME_MINIMUM_TEXT "7.80.0"
#else
#define USE_PREREQ 0
#define CURL_RUNTIME_MINIMUM CURL_MINIMUM
#define CURL_RUNTIME_MINIMUM_TEXT CURL_MINIMUM_TEXT
#endif

#define TEST_HOST "https://pts-api.paynet.com.tr"
#define LIVE_HOST "https://api.paynet.com.tr"
#define SEND_OTP_PATH "/v1/card/send_otp"
#define URL_MAX 2048
#define RETRY_DELAY 0.25
/* A claim holds its number past the call for at least this long: a code
 * Paynet sent may live this long, and when the settle after a success is
 * lost (the ledger died, the sender was killed) the claim's own hold is
 * all that keeps another desk from sending.  Paynet's codes live 180 s. */
#define CLAIM_COVERS_CODE 600.0

struct reply {
    char *data;
    size_t length, capacity;
    int overflow, nomem;
};

/* Where a send stands, as curl's CURLMstate says where a transfer does.
 * paynet_send_start claims the number (IDLE -> CLAIMED) and starts the
 * first attempt (-> TRANSFER); paynet_send_step sees an attempt end: one
 * that failed before any byte of the body left, with retries and time
 * remaining, waits (-> RETRY_WAIT -> TRANSFER); any other ends the send,
 * settled in the ledger (-> IDLE).  paynet_send_cancel ends it from any
 * state but IDLE.  The blocking paynet_send_otp is a loop over the same
 * machine. */
enum send_state {
    SEND_IDLE,       /* no send in flight; the easy handle is off the multi */
    SEND_CLAIMING,   /* the ledger was busy: the claim is asked again at retry_at */
    SEND_CLAIMED,    /* the ledger holds the number for us; no attempt running */
    SEND_TRANSFER,   /* the easy handle is on the multi: libcurl moves bytes */
    SEND_RETRY_WAIT, /* between attempts, off the multi, until retry_at */
    SEND_SETTLING    /* the outcome is known; the busy ledger is told at retry_at */
};

#define LEDGER_RETRY 0.02 /* seconds between asks of a busy ledger */

struct paynet_client {
    CURL *easy;
    CURLM *multi;
    pid_t owner;     /* the process that made it: a fork's child may not use it */
    int epfd;        /* the sockets libcurl wants watched (socket callback) */
    double timer_at; /* when libcurl wants to be called anyway; < 0: never */
    struct curl_slist *headers;
    char *url;
    char *secret;  /* kept only to scrub it from server text */
    struct paynet_secret_pairs secret_pairs; /* its pairs of bytes, for the scrub */
    double timeout, connect_timeout, unknown_hold;
    int retries;
    void (*debug)(void *data, const char *line);
    void *debug_data;

    /* the send in flight */
    enum send_state state;
    int attempts_left;
    double deadline, retry_at;
    char gsm[PAYNET_GSM_SIZE];
    char body[PAYNET_BODY_SIZE]; /* the request's JSON, written in place */
    size_t body_length, body_offset;
    int body_left; /* the request may have left on some attempt */
    int prereqs;   /* requests libcurl began in this attempt (USE_PREREQ) */
    long request_base; /* CURLINFO_REQUEST_SIZE before the first: a proxy's CONNECT */
    struct reply reply;
    int have_date;
    double date;
    int ran_out; /* the send's deadline passed before the transfer ended */
    char errbuf[CURL_ERROR_SIZE];

    /* the outcome that waits for the ledger to record it (SEND_SETTLING) */
    paynet_status final_status;
    paynet_result final_result;
    paynet_error final_err;
    char settle_state[16];
    double settle_seconds;

    /* the ledger, and this send's claim in it */
    struct ledger *ledger;
    struct ledger *local; /* this client's own sends (NULL when ledger is memory) */
    struct paynet_ledger_hasher *hasher;
    struct paynet_token_pool tokens;
    char key[LEDGER_KEY_SIZE];
    char token[LEDGER_TOKEN_SIZE];
    char last_gsm[PAYNET_GSM_SIZE]; /* key_of's one-entry cache */
    char last_key[LEDGER_KEY_SIZE];
    paynet_holder record; /* who sends: the claim's record */
};

/* ---- global init, once ------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status = CURLE_FAILED_INIT;

static void global_init(void) { global_status = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- configuration ----------------------------------------------------- */

void paynet_config_init(paynet_config *config)
{
    memset(config, 0, sizeof *config);
    config->env = "test";
    config->timeout = 15;
    config->connect_timeout = 5;
    config->retries = 1;
    config->unknown_hold = 180;
}

static paynet_status invalid(paynet_error *err, const char *what)
{
    return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "%s", paynet_gettext(what));
}

static int printable_ascii(const char *s, int allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < (allow_space ? 0x20 : 0x21) || c > 0x7E)
            return 0;
    }
    return 1;
}

static paynet_status check_config(const paynet_config *c, paynet_error *err)
{
    if (c->secret_key == NULL || c->secret_key[0] == '\0')
        return invalid(err, "secret_key is required");
    if (strlen(c->secret_key) > PAYNET_SECRET_MAX)
        return invalid(err, "secret_key is longer than 512 bytes");
    if (!printable_ascii(c->secret_key, 0))
        return invalid(err, "secret_key may hold only printable ASCII without "
                            "spaces (it goes into an HTTP header)");
    if (c->env != NULL && strcmp(c->env, "test") != 0 && strcmp(c->env, "live") != 0)
        return invalid(err, "env must be \"test\" or \"live\"");
    if (c->base_url != NULL) {
        if (strncasecmp(c->base_url, "http://", 7) != 0 /* schemes have no case */
            && strncasecmp(c->base_url, "https://", 8) != 0)
            return invalid(err, "base_url must start with http:// or https://");
        if (strlen(c->base_url) > URL_MAX || !printable_ascii(c->base_url, 0))
            return invalid(err, "base_url is too long or holds spaces or "
                                "control characters");
        if (strpbrk(c->base_url, "?#") != NULL) /* the path would land in the query */
            return invalid(err, "base_url must not hold a query (?) or a fragment (#)");
        char scope[PAYNET_SCOPE_SIZE];
        if (!paynet_scope_of(c->base_url, scope, sizeof scope))
            return invalid(err, "base_url is longer than 255 bytes");
    }
    if (!(c->timeout > 0 && c->timeout <= 3600))
        return invalid(err, "timeout must be more than 0 and at most 3600 seconds");
    if (!(c->connect_timeout > 0 && c->connect_timeout <= 3600))
        return invalid(err, "connect_timeout must be more than 0 and at most "
                            "3600 seconds");
    if (c->retries < 0 || c->retries > 3)
        return invalid(err, "retries must be 0 to 3");
    if (c->proxy != NULL && c->proxy[0] != '\0') {
        static const char *const schemes[] = {"http://", "https://", "socks4://", "socks4a://",
                                              "socks5://", "socks5h://"};
        int known = 0;
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
            known |= strncmp(c->proxy, schemes[i], strlen(schemes[i])) == 0;
        if (!known || strlen(c->proxy) > URL_MAX || !printable_ascii(c->proxy, 0))
            return invalid(err, "proxy must be a URL: http://, https://, socks4://, socks4a://, "
                                "socks5:// or socks5h:// and a host, without spaces");
    }
    if (!(c->unknown_hold >= 0 && c->unknown_hold <= 86400))
        return invalid(err, "unknown_hold must be 0 to 86400 seconds");
    if (c->operator_name != NULL
        && (c->operator_name[0] == '\0' || strlen(c->operator_name) >= PAYNET_WHO_SIZE
            || !printable_ascii(c->operator_name, 1)))
        return invalid(err, "operator must be 1 to 63 printable ASCII characters");
    if (c->program != NULL
        && (c->program[0] == '\0' || strlen(c->program) >= PAYNET_WHO_SIZE
            || !printable_ascii(c->program, 1)))
        return invalid(err, "program must be 1 to 63 printable ASCII characters");
    return PAYNET_OK;
}

static char *build_url(const paynet_config *c)
{
    const char *base = c->base_url;
    if (base == NULL)
        base = c->env != NULL && strcmp(c->env, "live") == 0 ? LIVE_HOST : TEST_HOST;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    char *url = malloc(n + sizeof SEND_OTP_PATH);
    if (url != NULL) {
        memcpy(url, base, n);
        memcpy(url + n, SEND_OTP_PATH, sizeof SEND_OTP_PATH);
    }
    return url;
}

static void wipe(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
}

static void wipe_pairs(struct paynet_secret_pairs *pairs)
{
    volatile uint64_t *p = pairs->bits;
    for (size_t i = 0; i < sizeof pairs->bits / sizeof pairs->bits[0]; i++)
        p[i] = 0;
}

/* Every header is a ready line of the list: libcurl sends them as they
 * are (CURLOPT_USERAGENT would be formatted again on every request). */
static struct curl_slist *build_headers(const char *secret)
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
    wipe(authorization);
    if (next != NULL)
        return next;
fail:
    curl_slist_free_all(list);
    return NULL;
}

/* ---- libcurl callbacks --------------------------------------------------- */

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
 * done by then) and wrote past what it had written before it.  With the
 * read callback, on_read says instead. */
static int request_written(const paynet_client *c)
{
    return USE_PREREQ && c->prereqs > 0 && request_bytes(c) > c->request_base;
}

#if USE_PREREQ
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
    else if (request_written(c))
        return CURL_PREREQFUNC_ABORT;
    c->prereqs++;
    return CURL_PREREQFUNC_OK;
}
#else
/* The body goes to libcurl through a read callback, never as POSTFIELDS:
 * when a kept-alive connection dies after the server read the request,
 * libcurl would replay POSTFIELDS on a fresh connection by itself (a
 * second SMS).  To replay a body it read through a callback it must
 * rewind it first, and on_seek refuses: the transfer then fails with
 * CURLE_SEND_FAIL_REWIND, which we report as delivered "unknown". */
static size_t on_read(char *buffer, size_t size, size_t count, void *userp)
{
    paynet_client *c = userp;
    size_t n = size * count, left = c->body_length - c->body_offset;
    if (n > left)
        n = left;
    memcpy(buffer, c->body + c->body_offset, n);
    c->body_offset += n;
    if (n > 0)
        c->body_left = 1;
    return n;
}

static int on_seek(void *userp, curl_off_t offset, int origin)
{
    paynet_client *c = userp;
    if (offset == 0 && origin == SEEK_SET && c->body_offset == 0)
        return CURL_SEEKFUNC_OK; /* nothing was read: nothing to replay */
    return CURL_SEEKFUNC_FAIL;
}
#endif

static size_t on_header(char *data, size_t size, size_t count, void *userp)
{
    paynet_client *c = userp;
    size_t n = size * count;
    if (paynet_date_header(data, n, &c->date))
        c->have_date = 1;
    return n;
}

/* ---- lifetime ------------------------------------------------------------ */

static paynet_status set_options(paynet_client *c, const paynet_config *config)
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
#if USE_PREREQ
    SET(CURLOPT_POSTFIELDS, c->body); /* not copied: the client's buffer */
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, c);
#else
    SET(CURLOPT_READFUNCTION, on_read);
    SET(CURLOPT_READDATA, c);
    SET(CURLOPT_SEEKFUNCTION, on_seek);
    SET(CURLOPT_SEEKDATA, c);
#endif
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

static void who_init(paynet_holder *who, const paynet_config *config)
{
    const char *user = config->operator_name;
    struct passwd entry, *pw = NULL;
    char buffer[4096]; /* the entry's strings: user may point here */
    if (user == NULL) {
        user = getenv("USER");
        if (user == NULL || user[0] == '\0' || strlen(user) >= PAYNET_WHO_SIZE) {
            /* getpwuid_r: clients may be made on several threads at once */
            if (getpwuid_r(getuid(), &entry, buffer, sizeof buffer, &pw) != 0)
                pw = NULL;
            user = pw != NULL ? pw->pw_name : "unknown";
        }
    }
    paynet_ledger_copy_clean(who->operator_name, sizeof who->operator_name, user);
    if (gethostname(who->host, sizeof who->host) != 0)
        snprintf(who->host, sizeof who->host, "unknown");
    who->host[sizeof who->host - 1] = '\0';
    paynet_ledger_copy_clean(who->host, sizeof who->host, who->host);
    paynet_ledger_copy_clean(who->program, sizeof who->program,
                      config->program != NULL ? config->program : "libpaynet");
}

/* ---- libcurl's socket and timer callbacks -------------------------------- */

/* libcurl says which events it wants on a socket (or none): the epoll set
 * follows.  An fd libcurl already closed is gone from the set by itself. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
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
static int on_timer(CURLM *multi, long ms, void *data)
{
    (void)multi;
    paynet_client *c = data;
    c->timer_at = ms < 0 ? -1 : paynet_clock_mono() + ms / 1000.0;
    return 0;
}

paynet_status paynet_client_new(const paynet_config *config, paynet_client **out,
                                paynet_error *err)
{
    *out = NULL;
    paynet_status status = check_config(config, err);
    if (status != PAYNET_OK)
        return status;
    pthread_once(&global_once, global_init);
    if (global_status != CURLE_OK)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not be initialised");
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    if (curl->version_num < CURL_RUNTIME_MINIMUM) /* built with a newer header */
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "libcurl %s is too old: libpaynet needs %s or newer",
                           curl->version, CURL_RUNTIME_MINIMUM_TEXT);

    paynet_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    c->owner = getpid();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    int epoll_errno = errno;
    c->timer_at = -1;
    c->timeout = config->timeout;
    c->connect_timeout = config->connect_timeout;
    c->retries = config->retries;
    c->unknown_hold = config->unknown_hold;
    c->debug = config->debug;
    c->debug_data = config->debug_data;
    who_init(&c->record, config);
    c->url = build_url(config);
    /* every hold of this client's is of the Paynet system its URL names,
     * however spelled (scope.c; check_config made sure it fits) */
    paynet_scope_of(config->base_url != NULL ? config->base_url
                    : config->env != NULL && strcmp(config->env, "live") == 0 ? LIVE_HOST
                                                                                : TEST_HOST,
                    c->record.scope, sizeof c->record.scope);
    size_t secret_size = strlen(config->secret_key) + 1;
    c->secret = malloc(secret_size);
    if (c->secret != NULL)
        memcpy(c->secret, config->secret_key, secret_size);
    paynet_secret_pairs_init(&c->secret_pairs, c->secret);
    c->headers = c->secret ? build_headers(c->secret) : NULL;
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    status = paynet_ledger_open(config->ledger, config->connect_timeout, &c->ledger, err);
    int in_process = status == PAYNET_OK && strcmp(c->ledger->methods->scheme, "memory") == 0;
    if (status == PAYNET_OK && !in_process)
        status = paynet_ledger_memory_open("memory", &c->local, err);
    if (status == PAYNET_OK && c->secret != NULL)
        c->hasher = paynet_ledger_hasher_new(c->secret, in_process);
    if (status != PAYNET_OK) {
        paynet_client_free(c);
        return status;
    }
    if (c->epfd < 0) { /* EMFILE, ENFILE: a runtime failure, like memory */
        paynet_client_free(c);
        return paynet_fail(err, epoll_errno == ENOMEM ? PAYNET_NOMEM : PAYNET_NETWORK,
                           PAYNET_DELIVERED_NO, "no descriptor to wait on: %s",
                           strerror(epoll_errno));
    }
    if (c->multi == NULL) { /* its wake-up socket pair needs two descriptors */
        paynet_client_free(c);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not make its transfer handle (out of memory or "
                           "of descriptors)");
    }
    if (c->url == NULL || c->secret == NULL || c->headers == NULL || c->hasher == NULL
        || c->easy == NULL) {
        paynet_client_free(c);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    status = set_options(c, config);
    if (status != PAYNET_OK) {
        paynet_client_free(c);
        return status == PAYNET_NOMEM
                   ? paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory")
                   : invalid(err, "libcurl refused an option (is it built with "
                                  "HTTPS support?)");
    }
    *out = c;
    return PAYNET_OK;
}

/* A forked child shares the parent's connections, epoll set and ledger
 * connection: using them would corrupt the parent's send (a cancel here
 * could even end the parent's hold).  The child gets a typed error. */
static paynet_status check_process(const paynet_client *c, paynet_error *err)
{
    if (getpid() == c->owner)
        return PAYNET_OK;
    return invalid(err, "this client was made by another process (before a fork): make a "
                        "new client in this process");
}

void paynet_client_free(paynet_client *c)
{
    if (c == NULL)
        return;
    if (getpid() != c->owner) {
        /* a fork's child: touch nothing the parent still uses (libcurl
         * would close its connections, the ledger its database); what
         * is left is freed when the child exits */
        close(c->epfd);
        wipe(c->secret);
        wipe_pairs(&c->secret_pairs);
        return;
    }
    if (c->state != SEND_IDLE) { /* settles the claim as a cancel would */
        paynet_error ignored;
        paynet_send_cancel(c, &ignored);
    }
    if (c->easy)
        curl_easy_cleanup(c->easy);
    if (c->multi)
        curl_multi_cleanup(c->multi); /* closes cached connections: callbacks run */
    if (c->epfd >= 0)
        close(c->epfd);
    for (struct curl_slist *h = c->headers; h != NULL; h = h->next)
        wipe(h->data); /* the Authorization line holds the key */
    curl_slist_free_all(c->headers);
    wipe(c->secret);
    wipe_pairs(&c->secret_pairs);
    free(c->secret);
    free(c->url);
    free(c->reply.data);
    paynet_ledger_close(c->ledger);
    paynet_ledger_close(c->local);
    paynet_ledger_hasher_free(c->hasher);
    free(c);
}

const char *paynet_client_url(const paynet_client *c) { return c->url; }

const char *paynet_client_operator(const paynet_client *c) { return c->record.operator_name; }

static void client_debug(const paynet_client *c, const char *format, ...)
    PAYNET_PRINTF(2, 3);

static void client_debug(const paynet_client *c, const char *format, ...)
{
    char line[PAYNET_MESSAGE_SIZE];
    if (c->debug == NULL)
        return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    c->debug(c->debug_data, line);
}

/* ---- the ledger ---------------------------------------------------------- */

const char *paynet_client_ledger(const paynet_client *c) { return c->ledger->name; }

/* The ledger key of a number (paynet_ledger_key: an HMAC, about 6k
 * instructions, for a ledger other processes share; SipHash, under 1k,
 * for the in-process table), kept for the last number asked about, which
 * is the next one sent (the screen asks each second while a number is
 * typed; a script resends). */
static paynet_status key_of(paynet_client *c, const char *gsm, char key[LEDGER_KEY_SIZE],
                            paynet_error *err)
{
    if (strcmp(c->last_gsm, gsm) == 0) {
        memcpy(key, c->last_key, LEDGER_KEY_SIZE);
        return PAYNET_OK;
    }
    if (!paynet_ledger_key(c->hasher, c->record.scope, gsm, key))
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "out of memory while hashing the number");
    memcpy(c->last_key, key, LEDGER_KEY_SIZE);
    memcpy(c->last_gsm, gsm, strlen(gsm) + 1); /* normalized: fits */
    return PAYNET_OK;
}

/* This client also remembers its own sends (c->local): when the shared
 * ledger cannot be reached, or says a number is free that this client
 * holds and nobody released (a Redis restarted without its data), this
 * client's memory still holds it.  *held is set when it does; a hold the
 * ledger shows released is forgotten. */
static int own_hold(paynet_client *c, const char *key, int ledger_answered,
                    paynet_holder *holder)
{
    char token[LEDGER_TOKEN_SIZE];
    int held = 0, released = 0;
    paynet_error ignored;
    if (c->local == NULL || !paynet_ledger_memory_token(c->local, key, token))
        return 0;
    if (ledger_answered
        && c->ledger->methods->released(c->ledger, key, token, &released, &ignored) == PAYNET_OK
        && released) {
        paynet_holder who;
        memset(&who, 0, sizeof who);
        c->local->methods->release(c->local, key, &who, &released, &ignored);
        return 0;
    }
    c->local->methods->lookup(c->local, key, &held, holder, &ignored);
    if (held && ledger_answered)
        client_debug(c, "the ledger %s does not hold %s, which this client sent and nobody "
                        "released (did it lose its data?): this client still holds it",
                     c->ledger->name, holder->masked);
    return held;
}

/* Who holds key: the ledger, and this client's own memory of its sends. */
static paynet_status lookup_key(paynet_client *c, const char *key, int *held,
                                paynet_holder *holder, paynet_error *err)
{
    paynet_status status = c->ledger->methods->lookup(c->ledger, key, held, holder, err);
    if (status == PAYNET_OK && *held)
        return status;
    if (own_hold(c, key, status == PAYNET_OK, holder)) {
        *held = 1;
        return PAYNET_OK;
    }
    return status;
}

paynet_status paynet_hold_lookup(paynet_client *c, const char *user_gsm, int *held,
                                 paynet_holder *holder, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE], key[LEDGER_KEY_SIZE];
    *held = 0;
    paynet_status status = check_process(c, err);
    if (status != PAYNET_OK)
        return status;
    status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = key_of(c, gsm, key, err);
    if (status == PAYNET_OK)
        status = lookup_key(c, key, held, holder, err);
    return status;
}

double paynet_remaining(paynet_client *c, const char *gsm)
{
    paynet_holder holder;
    paynet_error err;
    int held = 0;
    if (paynet_hold_lookup(c, gsm, &held, &holder, &err) != PAYNET_OK)
        return err.kind == PAYNET_INVALID ? 0 : -1;
    return held && holder.remaining > 0 ? holder.remaining : 0;
}

static void describe_hold(const paynet_holder *h, paynet_error *err, paynet_status kind,
                          const char *what)
{
    char line[PAYNET_MESSAGE_SIZE - 64];
    paynet_holder_describe(h, line, sizeof line);
    paynet_fail(err, kind, PAYNET_DELIVERED_NO, "%s %s: %s", h->masked, what, line);
    err->retry_after = h->remaining;
    err->has_holder = 1;
    err->holder = *h;
}

/* A hold on gsm under another scope of the ledger (another Paynet system,
 * or a base_url that named one): found by the scopes of the live holds,
 * each asked with the key this client's secret gives the number there.
 * A release is rare: listing the holds is its cost. */
static int other_scope_hold(paynet_client *c, const char *gsm, paynet_holder *found)
{
    paynet_holder *list = NULL;
    size_t count = 0;
    paynet_error ignored;
    int held = 0;
    if (c->ledger->methods->list(c->ledger, 0, &list, &count, &ignored) != PAYNET_OK)
        return 0;
    for (size_t i = 0; i < count && !held; i++) {
        char key[LEDGER_KEY_SIZE];
        const char *scope = list[i].scope;
        int seen = strcmp(scope, c->record.scope) == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(list[j].scope, scope) == 0;
        if (!seen && paynet_ledger_key(c->hasher, scope, gsm, key))
            c->ledger->methods->lookup(c->ledger, key, &held, found, &ignored);
    }
    free(list);
    return held;
}

paynet_status paynet_release(paynet_client *c, const char *user_gsm, const char *reason,
                             int *released, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE], key[LEDGER_KEY_SIZE];
    paynet_holder held;
    int is_held = 0, local_released = 0;
    *released = 0;
    if (check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID;
    if (c->state != SEND_IDLE)
        return paynet_fail(err, PAYNET_BUSY, PAYNET_DELIVERED_NO,
                           "a send is in flight on this client");
    paynet_status status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = key_of(c, gsm, key, err);
    if (status == PAYNET_OK)
        status = c->ledger->methods->lookup(c->ledger, key, &is_held, &held, err);
    if (status != PAYNET_OK)
        return status;
    /* not held here but under another Paynet system: named, never taken
     * for "not held" (the supervisor gave the wrong --base-url or --env) */
    if (!is_held && other_scope_hold(c, gsm, &held)) {
        char line[PAYNET_MESSAGE_SIZE - 64];
        paynet_holder_describe(&held, line, sizeof line);
        paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                    "%s is not held for %s but for %s (%s): release it with that system's "
                    "base_url or env", held.masked, c->record.scope, held.scope, line);
        err->has_holder = 1;
        err->holder = held;
        return PAYNET_INVALID;
    }
    /* a send in flight would settle after the release and find its claim
     * gone: its sender's outcome decides; one past its call's end never
     * will (its sender stopped), and a supervisor may end its hold */
    if (is_held && strcmp(held.state, "pending") == 0 && !paynet_holder_stale(&held)) {
        describe_hold(&held, err, PAYNET_BUSY, _("cannot be released while a send is in flight"));
        return PAYNET_BUSY;
    }
    paynet_holder who = c->record;
    snprintf(who.state, sizeof who.state, "released");
    paynet_mask_gsm(gsm, who.masked);
    who.session_id[0] = '\0';
    snprintf(who.scope, sizeof who.scope, "%s", c->record.scope);
    who.sent_at = paynet_clock_wall();
    who.otp_expire[0] = '\0';
    who.claim_hold = 0;
    who.send_window = 0;
    paynet_ledger_copy_clean(who.reason, sizeof who.reason, reason);
    status = c->ledger->methods->release(c->ledger, key, &who, released, err);
    if (status == PAYNET_OK && c->local != NULL)
        c->local->methods->release(c->local, key, &who, &local_released, err);
    if (status == PAYNET_OK && local_released)
        *released = 1;
    return status;
}

/* Claims this send's number, in this client's memory and in the ledger;
 * PAYNET_COOLDOWN with the holder when another send holds it. */
static paynet_status claim(paynet_client *c, const char *gsm, const char *session_id,
                           paynet_error *err)
{
    paynet_holder *r = &c->record, holder;
    paynet_status status = key_of(c, gsm, c->key, err);
    if (status != PAYNET_OK)
        return status;
    paynet_ledger_token_next(&c->tokens, c->token);
    paynet_copy_utf8(r->state, sizeof r->state, "pending");
    paynet_mask_gsm(gsm, r->masked);
    paynet_copy_utf8(r->session_id, sizeof r->session_id, session_id);
    r->sent_at = paynet_clock_wall();
    r->otp_expire[0] = '\0';
    r->reason[0] = '\0';
    int granted = 0;
    /* the claim covers the whole call and what may follow it that no
     * settle records: an uncertain outcome, or a code sent */
    double pending = c->timeout + fmax(c->unknown_hold, CLAIM_COVERS_CODE) + 1;
    /* its call runs at most `timeout` from the claim, and a last ledger
     * operation after it at most connect_timeout: past that and a margin
     * it is over (the window is counted from this claim, later than the
     * call's start) */
    r->claim_hold = pending;
    r->send_window = c->timeout + c->connect_timeout + 2;
    status = c->ledger->methods->claim(c->ledger, c->key, c->token, r, pending, &granted,
                                       &holder, err);
    if (status == PAYNET_PENDING) /* busy: nothing claimed, asked again later */
        return status;
    if (status == PAYNET_OK && !granted) {
        describe_hold(&holder, err, PAYNET_COOLDOWN, _("is held"));
        return PAYNET_COOLDOWN;
    }
    if (own_hold(c, c->key, status == PAYNET_OK, &holder)) {
        if (status == PAYNET_OK) { /* give back the claim just made */
            int ours;
            paynet_error ignored;
            c->ledger->methods->settle(c->ledger, c->key, c->token, r, 0, &ours, &ignored);
        }
        describe_hold(&holder, err, PAYNET_COOLDOWN, _("is held (by this client's memory)"));
        return PAYNET_COOLDOWN;
    }
    if (status != PAYNET_OK)
        return status;
    if (c->local != NULL) {
        status = c->local->methods->claim(c->local, c->key, c->token, r, pending, &granted,
                                          &holder, err);
        if (status != PAYNET_OK) { /* nothing sent: give the number back */
            int ours;
            paynet_error ignored;
            c->ledger->methods->settle(c->ledger, c->key, c->token, r, 0, &ours, &ignored);
        }
    }
    return status;
}

/* Ends this send's claim: holds the number `seconds` more in `state`, or
 * releases it (seconds <= 0).  A ledger that fails here leaves the claim's
 * own hold standing (and this client's memory holds the number); a claim
 * that vanished during the send (it ran out, or the ledger was flushed) is
 * recorded again.  warning (if given) says either.  1 when the ledger was
 * busy and nothing was recorded there: ask again, or leave the claim's
 * own hold standing. */
static int settle(paynet_client *c, const char *state, double seconds, const char *otp_expire,
                  char *warning, size_t warning_size)
{
    paynet_holder r = c->record;
    paynet_error e;
    int ours = 0, local_ours = 0;
    paynet_copy_utf8(r.state, sizeof r.state, state);
    paynet_copy_utf8(r.otp_expire, sizeof r.otp_expire, otp_expire != NULL ? otp_expire : "");
    if (c->local != NULL)
        c->local->methods->settle(c->local, c->key, c->token, &r, seconds, &local_ours, &e);
    const char *problem = NULL;
    char text[PAYNET_MESSAGE_SIZE];
    paynet_status status = c->ledger->methods->settle(c->ledger, c->key, c->token, &r, seconds,
                                                      &ours, &e);
    if (status == PAYNET_PENDING)
        return 1;
    if (status != PAYNET_OK) {
        paynet_copy_utf8(text, sizeof text - 96, e.message);
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s",
                 _("; the number stays held only until its claim runs out"));
        problem = text;
    } else if (ours == LEDGER_RECREATED && seconds > 0) {
        snprintf(text, sizeof text, _("the claim on %s had vanished from the ledger during the "
                                      "send (it ran out, or the ledger lost it); the hold was "
                                      "recorded again"), r.masked);
        problem = text;
    } else if (ours == 0 && seconds > 0) {
        snprintf(text, sizeof text, _("the claim on %s ran out during the send and another "
                                      "sender holds the number now"), r.masked);
        problem = text;
    }
    if (problem != NULL) {
        client_debug(c, "%s", problem);
        if (warning != NULL)
            paynet_copy_utf8(warning, warning_size, problem);
    }
    return 0;
}

/* The send's outcome is known and the ledger was busy recording it: it
 * waits (SEND_SETTLING) and is asked again until the deadline. */
static paynet_status wait_to_settle(paynet_client *c, paynet_status status,
                                    const paynet_result *result, const paynet_error *err,
                                    const char *state, double seconds)
{
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->final_status = status;
    if (status == PAYNET_OK)
        c->final_result = *result;
    else
        c->final_err = *err;
    paynet_copy_utf8(c->settle_state, sizeof c->settle_state, state);
    c->settle_seconds = seconds;
    c->state = SEND_SETTLING;
    c->retry_at = paynet_clock_mono() + LEDGER_RETRY;
    return PAYNET_PENDING;
}

/* ---- sending ------------------------------------------------------------- */

/* A send's deadline is kept by the client, not by CURLOPT_TIMEOUT_MS
 * (libcurl's timeout costs about 1k instructions a send in its timers):
 * paynet_send_timeout wakes the caller at it, and paynet_send_step ends
 * the transfer then (libcurl closes a connection taken off mid-transfer). */
static void reset_attempt(paynet_client *c)
{
    c->reply.length = 0;
    c->reply.overflow = 0;
    c->reply.nomem = 0;
    c->have_date = 0;
    c->errbuf[0] = '\0';
    c->body_offset = 0;
    c->prereqs = 0;
    c->ran_out = 0;
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_length);
}

static paynet_status begin_attempt(paynet_client *c, paynet_error *err)
{
    reset_attempt(c);
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not start the transfer");
    c->state = SEND_TRANSFER;
    return PAYNET_OK;
}

static void end_send(paynet_client *c)
{
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->state = SEND_IDLE;
    c->retry_at = 0;
}

/* Ends a send that failed, as its verdict says: one that holds the number
 * (an SMS may have gone out, or Paynet says a code sent earlier by anyone
 * is still valid) holds it for unknown_hold; any other releases it.  A
 * busy ledger: with can_wait the failure waits to be recorded (PENDING);
 * without, the claim's own hold stands.  Else err->kind. */
static paynet_status fail_send(paynet_client *c, paynet_error *err, int can_wait)
{
    const char *state = "released";
    double seconds = 0;
    if (paynet_outcome_holds(err->outcome) && c->unknown_hold > 0) {
        state = err->outcome == PAYNET_OUTCOME_DUPLICATE_HELD ? "duplicate" : "uncertain";
        seconds = c->unknown_hold;
        err->retry_after = c->unknown_hold;
        err->held = 1;
    }
    if (settle(c, state, seconds, NULL, NULL, 0)) {
        if (can_wait)
            return wait_to_settle(c, err->kind, NULL, err, state, seconds);
        client_debug(c, "the ledger %s was busy at the end of the send: the number stays held "
                        "by its claim", c->ledger->name);
    }
    end_send(c);
    return err->kind;
}

/* Checks the input and claims the number: IDLE -> CLAIMED, no attempt yet. */
static paynet_status open_send(paynet_client *c, const char *user_gsm,
                               const char *otp_session_id, paynet_error *err)
{
    char gsm[PAYNET_GSM_SIZE];
    if (check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID;
    if (c->state != SEND_IDLE)
        return paynet_fail(err, PAYNET_BUSY, PAYNET_DELIVERED_NO,
                           "a send is already in flight on this client");
    paynet_status status = paynet_gsm_normalize(user_gsm, gsm, err);
    if (status == PAYNET_OK)
        status = paynet_session_id_check(otp_session_id, err);
    if (status != PAYNET_OK)
        return status;

    c->body_length = paynet_request_body(gsm, otp_session_id, c->body, sizeof c->body);
    /* one deadline for the whole call, the ledger's work included */
    c->deadline = paynet_clock_mono() + c->timeout;
    /* no send without a claim in the ledger: one OTP per number per window */
    status = claim(c, gsm, otp_session_id, err);
    if (status != PAYNET_OK && status != PAYNET_PENDING) {
        end_send(c);
        return status;
    }
    memcpy(c->gsm, gsm, sizeof gsm);
    c->body_left = 0;
    c->attempts_left = c->retries;
    c->retry_at = 0;
    c->state = SEND_CLAIMED;
    if (status == PAYNET_PENDING) { /* busy: asked again from the loop */
        c->state = SEND_CLAIMING;
        c->retry_at = paynet_clock_mono() + LEDGER_RETRY;
    }
    return PAYNET_OK;
}

paynet_status paynet_send_start(paynet_client *c, const char *user_gsm,
                                const char *otp_session_id, paynet_error *err)
{
    paynet_status status = open_send(c, user_gsm, otp_session_id, err);
    if (status != PAYNET_OK || c->state == SEND_CLAIMING)
        return status;
    status = begin_attempt(c, err);
    if (status != PAYNET_OK)
        fail_send(c, err, 0);
    return status;
}

/* SEND_CLAIMING: the ledger is asked again; granted, the first attempt
 * starts.  Past the deadline nothing was claimed and nothing sent. */
static paynet_status step_claim(paynet_client *c, paynet_error *err)
{
    double now = paynet_clock_mono();
    if (now >= c->deadline) {
        end_send(c);
        return paynet_ledger_fail(err, "the ledger %s stayed busy for the whole call (%g s): "
                                       "nothing was sent", c->ledger->name, c->timeout);
    }
    if (now < c->retry_at)
        return PAYNET_PENDING;
    char session_id[PAYNET_SESSION_SIZE];
    memcpy(session_id, c->record.session_id, sizeof session_id);
    paynet_status status = claim(c, c->gsm, session_id, err);
    if (status == PAYNET_PENDING) {
        c->retry_at = now + LEDGER_RETRY;
        return PAYNET_PENDING;
    }
    if (status != PAYNET_OK) {
        end_send(c);
        return status;
    }
    c->state = SEND_CLAIMED;
    c->retry_at = 0;
    status = begin_attempt(c, err);
    return status == PAYNET_OK ? PAYNET_PENDING : fail_send(c, err, 1);
}

/* SEND_SETTLING: the ledger is asked again to record the outcome; past
 * the deadline the outcome stands as it is, the claim's own hold covering
 * the number (a success says so in its warning). */
static paynet_status step_settle(paynet_client *c, paynet_result *result, paynet_error *err)
{
    double now = paynet_clock_mono();
    if (now < c->retry_at && now < c->deadline)
        return PAYNET_PENDING;
    int ok = c->final_status == PAYNET_OK;
    paynet_result *r = &c->final_result;
    if (settle(c, c->settle_state, c->settle_seconds, ok ? r->otp_expire : NULL,
               ok ? r->warning : NULL, sizeof r->warning)) {
        if (now < c->deadline) {
            c->retry_at = now + LEDGER_RETRY;
            return PAYNET_PENDING;
        }
        char text[PAYNET_MESSAGE_SIZE];
        snprintf(text, sizeof text, _("the ledger %s stayed busy to the end of the call: the "
                                      "number stays held by its claim"), c->ledger->name);
        client_debug(c, "%s", text);
        if (ok)
            paynet_copy_utf8(r->warning, sizeof r->warning, text);
    }
    end_send(c);
    if (ok)
        *result = *r;
    else
        *err = c->final_err;
    return c->final_status;
}

int paynet_send_in_flight(const paynet_client *c) { return c->state != SEND_IDLE; }

int paynet_send_pollfd(const paynet_client *c) { return c->epfd; }

int paynet_send_events(const paynet_client *c)
{
    (void)c;
    return POLLIN;
}

int paynet_send_timeout(const paynet_client *c)
{
    double at;
    if (c->state == SEND_RETRY_WAIT)
        at = c->retry_at;
    else if (c->state == SEND_CLAIMING || c->state == SEND_SETTLING)
        at = c->retry_at < c->deadline ? c->retry_at : c->deadline;
    else if (c->state == SEND_TRANSFER)
        at = c->timer_at >= 0 && c->timer_at < c->deadline ? c->timer_at : c->deadline;
    else
        return -1;
    double ms = ceil((at - paynet_clock_mono()) * 1000);
    return ms <= 0 ? 0 : ms > 86400000 ? 86400000 : (int)ms;
}

paynet_status paynet_wait(paynet_client *c, int extra_fd, int timeout_ms,
                          int *extra_ready, paynet_error *err)
{
    struct pollfd fds[2] = {{c->epfd, POLLIN, 0}, {extra_fd, POLLIN, 0}};
    if (timeout_ms < 0)
        timeout_ms = 1000;
    int due = paynet_send_timeout(c);
    if (due >= 0 && due < timeout_ms)
        timeout_ms = due;
    int n = poll(fds, extra_fd >= 0 ? 2 : 1, timeout_ms);
    if (extra_ready != NULL)
        *extra_ready = n > 0 && extra_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR));
    if (n < 0 && errno != EINTR)
        return paynet_fail(err, errno == ENOMEM ? PAYNET_NOMEM : PAYNET_NETWORK,
                           PAYNET_DELIVERED_NO, "waiting failed: %s", strerror(errno));
    return PAYNET_OK;
}

/* Hands libcurl what happened: each socket the epoll set says is ready,
 * then its timer when due. */
static CURLMcode drive(paynet_client *c)
{
    struct epoll_event ready[8];
    int running, n = epoll_wait(c->epfd, ready, 8, 0);
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
 * send: once libcurl wrote a byte of it (with the read callback: took a
 * byte of the body; without the body, Paynet cannot act on the request),
 * it may have.  Sticky for the whole send: a later attempt that fails to
 * connect does not make it "no" again. */
static int request_may_have_left(const paynet_client *c)
{
    return c->body_left
           || (c->state == SEND_TRANSFER && request_written(c));
}

static paynet_status transport_error(paynet_client *c, CURLcode rc, long http_status,
                                     paynet_error *err)
{
    paynet_delivered d = request_may_have_left(c) ? PAYNET_DELIVERED_UNKNOWN
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
    case CURLE_SEND_FAIL_REWIND:
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

/* What a caller receives: cleaned (libcurl's words may quote the server),
 * and without the secret, which a hostile or broken server could echo. */
static void for_caller(const paynet_client *c, char *message)
{
    char raw[PAYNET_MESSAGE_SIZE];
    memcpy(raw, message, PAYNET_MESSAGE_SIZE);
    raw[PAYNET_MESSAGE_SIZE - 1] = '\0';
    paynet_text_clean(raw, strlen(raw), message, PAYNET_MESSAGE_SIZE);
    paynet_text_mask_with(message, c->secret, &c->secret_pairs);
}

static paynet_status finish_transfer(paynet_client *c, CURLcode rc,
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

static int retryable(const paynet_client *c, paynet_status status, const paynet_error *err)
{
    return (status == PAYNET_NETWORK || status == PAYNET_TIMEOUT)
           && err->delivered == PAYNET_DELIVERED_NO && c->attempts_left > 0
           && paynet_clock_mono() + RETRY_DELAY < c->deadline;
}


/* An attempt ended with rc (the easy handle done or taken off the multi):
 * the result, PAYNET_PENDING when a retry waits
 * (RETRY_WAIT until retry_at), or the send's failure. */
static paynet_status end_attempt(paynet_client *c, CURLcode rc, paynet_result *result,
                                 paynet_error *err)
{
    if (request_written(c))
        c->body_left = 1;
    if (c->state == SEND_TRANSFER)
        curl_multi_remove_handle(c->multi, c->easy);
    c->state = SEND_CLAIMED;
    double replied_at = paynet_clock_wall(); /* before any ledger work */
    paynet_status status = finish_transfer(c, rc, result, err);
    if (status == PAYNET_OK)
        result->replied_at = replied_at;
    else
        err->replied_at = replied_at;
    if (status != PAYNET_OK && retryable(c, status, err)) {
        c->attempts_left--;
        c->state = SEND_RETRY_WAIT;
        c->retry_at = paynet_clock_mono() + RETRY_DELAY;
        return PAYNET_PENDING;
    }
    if (status == PAYNET_OK) {
        double wall = replied_at, expire = paynet_instant_seconds(result->expires_at);
        result->expires_in = expire - paynet_server_now(wall, c->have_date, c->date);
        result->held_for = paynet_hold_seconds(expire, wall, c->have_date, c->date);
        if (c->have_date && !paynet_date_trusted(wall, c->date)) {
            client_debug(c, "the reply's Date header is %.0f s away from this machine's "
                            "clock; it is ignored", c->date - wall);
            /* an SMS just went out, valid by the server's own clock: a hold
             * errs long, but never by more than unknown_hold */
            double by_date = expire - c->date;
            if (result->held_for <= 0 && by_date > 0) {
                result->held_for = by_date < c->unknown_hold ? by_date : c->unknown_hold;
                client_debug(c, "otp_expire is past by this machine's clock but %.0f s ahead "
                                "by the server's: the number is held %.0f s",
                             by_date, result->held_for);
            }
        }
        memcpy(result->user_gsm, c->gsm, PAYNET_GSM_SIZE);
        /* the decoder cleaned the server's words already: only the key */
        paynet_text_mask_with(result->message, c->secret, &c->secret_pairs);
        result->warning[0] = '\0';
        if (result->held_for <= 0)
            result->held_for = 0;
        if (settle(c, "sent", result->held_for, result->otp_expire, result->warning,
                   sizeof result->warning))
            return wait_to_settle(c, PAYNET_OK, result, NULL, "sent", result->held_for);
        end_send(c);
        return PAYNET_OK;
    }
    for_caller(c, err->message);
    return fail_send(c, err, 1);
}

paynet_status paynet_send_step(paynet_client *c, paynet_result *result,
                               paynet_error *err)
{
    if (c->state == SEND_IDLE)
        return invalid(err, "no send is in flight");
    if (check_process(c, err) != PAYNET_OK)
        return PAYNET_INVALID; /* the parent's send: not the child's to end */
    if (c->state == SEND_CLAIMING)
        return step_claim(c, err);
    if (c->state == SEND_SETTLING)
        return step_settle(c, result, err);
    /* A step after the deadline (the loop was busy) starts nothing: no
     * retry, and no request libcurl has not begun writing.  One that may
     * have left is driven once more: its reply may be waiting. */
    int late = paynet_clock_mono() >= c->deadline;
    if (late && (c->state == SEND_RETRY_WAIT || !request_may_have_left(c))) {
        if (c->state == SEND_RETRY_WAIT)
            reset_attempt(c); /* the last attempt's count is not this one's */
        c->ran_out = 1;
        return end_attempt(c, CURLE_OPERATION_TIMEDOUT, result, err);
    }
    if (c->state == SEND_RETRY_WAIT) {
        if (paynet_clock_mono() < c->retry_at)
            return PAYNET_PENDING;
        c->state = SEND_CLAIMED;
        c->retry_at = 0;
        if (begin_attempt(c, err) != PAYNET_OK)
            return fail_send(c, err, 1);
    }
    CURLMcode mc = drive(c);
    if (mc != CURLM_OK) {
        paynet_fail(err, mc == CURLM_OUT_OF_MEMORY ? PAYNET_NOMEM : PAYNET_NETWORK,
                    PAYNET_DELIVERED_UNKNOWN, "libcurl failed: %s",
                    curl_multi_strerror(mc));
        return fail_send(c, err, 1);
    }
    int queued;
    CURLMsg *msg;
    CURLcode rc = CURLE_OK;
    int done = 0;
    while ((msg = curl_multi_info_read(c->multi, &queued)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
            rc = msg->data.result;
            done = 1;
        }
    if (!done) {
        if (paynet_clock_mono() < c->deadline)
            return PAYNET_PENDING;
        rc = CURLE_OPERATION_TIMEDOUT;
        c->ran_out = 1;
    }

    return end_attempt(c, rc, result, err);
}

void paynet_send_cancel(paynet_client *c, paynet_error *err)
{
    if (check_process(c, err) != PAYNET_OK)
        return;
    if (c->state == SEND_IDLE) {
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO, "no send was in flight");
        return;
    }
    if (c->state == SEND_CLAIMING) { /* nothing claimed, nothing sent */
        end_send(c);
        paynet_fail(err, PAYNET_CANCELLED, PAYNET_DELIVERED_NO,
                    "cancelled before the request was sent");
        return;
    }
    int left = request_may_have_left(c);
    if (c->state == SEND_SETTLING) { /* the outcome is known: told once more */
        int sent = c->final_status == PAYNET_OK;
        settle(c, c->settle_state, c->settle_seconds, sent ? c->final_result.otp_expire : NULL,
               NULL, 0);
        end_send(c);
        paynet_fail(err, PAYNET_CANCELLED, left ? PAYNET_DELIVERED_UNKNOWN : PAYNET_DELIVERED_NO,
                    sent ? N_("cancelled while the ledger recorded the send: the OTP was sent")
                         : N_("cancelled while the ledger recorded the send's outcome"));
        return;
    }
    paynet_fail(err, PAYNET_CANCELLED,
                left ? PAYNET_DELIVERED_UNKNOWN : PAYNET_DELIVERED_NO,
                left ? N_("cancelled after the request was sent: an OTP may "
                          "have been delivered")
                     : N_("cancelled before the request was sent"));
    fail_send(c, err, 0);
}

/* The blocking send is the event-loop send and a loop that waits on it:
 * one driver, one connection cache, one deadline. */
paynet_status paynet_send_otp(paynet_client *c, const char *user_gsm,
                              const char *otp_session_id, paynet_result *result,
                              paynet_error *err)
{
    paynet_status status = paynet_send_start(c, user_gsm, otp_session_id, err);
    if (status != PAYNET_OK)
        return status;
    for (status = PAYNET_PENDING; status == PAYNET_PENDING;) {
        status = paynet_wait(c, -1, paynet_send_timeout(c), NULL, err);
        if (status == PAYNET_OK)
            status = paynet_send_step(c, result, err);
        else { /* poll itself failed: the send ends as a cancel would, saying why */
            char why[PAYNET_MESSAGE_SIZE];
            memcpy(why, err->message, sizeof why);
            paynet_send_cancel(c, err);
            memcpy(err->message, why, sizeof why);
            status = err->kind;
        }
    }
    return status;
}
