/*
 * client.c — a client's configuration and lifetime: the checks before any
 * I/O, the URL and the scope of its holds, who sends, and what every part
 * of the client shares (client.h).
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

#include <pthread.h>
#include <pwd.h>

#include "client.h"

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

paynet_status client_invalid(paynet_error *err, const char *what)
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
        return client_invalid(err, "secret_key is required");
    if (strlen(c->secret_key) > PAYNET_SECRET_MAX)
        return client_invalid(err, "secret_key is longer than 512 bytes");
    if (!printable_ascii(c->secret_key, 0))
        return client_invalid(err, "secret_key may hold only printable ASCII without "
                            "spaces (it goes into an HTTP header)");
    if (c->env != NULL && strcmp(c->env, "test") != 0 && strcmp(c->env, "live") != 0)
        return client_invalid(err, "env must be \"test\" or \"live\"");
    if (c->base_url != NULL) {
        if (strncasecmp(c->base_url, "http://", 7) != 0 /* schemes have no case */
            && strncasecmp(c->base_url, "https://", 8) != 0)
            return client_invalid(err, "base_url must start with http:// or https://");
        if (strlen(c->base_url) > URL_MAX || !printable_ascii(c->base_url, 0))
            return client_invalid(err, "base_url is too long or holds spaces or "
                                "control characters");
        if (strpbrk(c->base_url, "?#") != NULL) /* the path would land in the query */
            return client_invalid(err, "base_url must not hold a query (?) or a fragment (#)");
        char scope[PAYNET_SCOPE_SIZE];
        if (!paynet_scope_of(c->base_url, scope, sizeof scope))
            return client_invalid(err, "base_url is longer than 255 bytes");
    }
    if (!(c->timeout > 0 && c->timeout <= 3600))
        return client_invalid(err, "timeout must be more than 0 and at most 3600 seconds");
    if (!(c->connect_timeout > 0 && c->connect_timeout <= 3600))
        return client_invalid(err, "connect_timeout must be more than 0 and at most "
                            "3600 seconds");
    if (c->retries < 0 || c->retries > 3)
        return client_invalid(err, "retries must be 0 to 3");
    if (c->proxy != NULL && c->proxy[0] != '\0') {
        static const char *const schemes[] = {"http://", "https://", "socks4://", "socks4a://",
                                              "socks5://", "socks5h://"};
        int known = 0;
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
            known |= strncmp(c->proxy, schemes[i], strlen(schemes[i])) == 0;
        if (!known || strlen(c->proxy) > URL_MAX || !printable_ascii(c->proxy, 0))
            return client_invalid(err, "proxy must be a URL: http://, https://, socks4://, socks4a://, "
                                "socks5:// or socks5h:// and a host, without spaces");
    }
    if (!(c->unknown_hold >= 0 && c->unknown_hold <= 86400))
        return client_invalid(err, "unknown_hold must be 0 to 86400 seconds");
    if (c->operator_name != NULL
        && (c->operator_name[0] == '\0' || strlen(c->operator_name) >= PAYNET_WHO_SIZE
            || !printable_ascii(c->operator_name, 1)))
        return client_invalid(err, "operator must be 1 to 63 printable ASCII characters");
    if (c->program != NULL
        && (c->program[0] == '\0' || strlen(c->program) >= PAYNET_WHO_SIZE
            || !printable_ascii(c->program, 1)))
        return client_invalid(err, "program must be 1 to 63 printable ASCII characters");
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

void client_wipe(char *s)
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
    if (curl->version_num < CURL_MINIMUM) /* built with a newer header */
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "libcurl %s is too old: libpaynet needs %s or newer",
                           curl->version, CURL_MINIMUM_TEXT);

    paynet_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    c->owner = getpid();
    c->timer_at = -1;
    c->timeout = config->timeout;
    c->connect_timeout = config->connect_timeout;
    c->retries = config->retries;
    c->unknown_hold = config->unknown_hold;
    c->debug = config->debug;
    c->debug_data = config->debug_data;
    who_init(&c->who, config);
    c->url = build_url(config);
    /* every hold of this client's is of the Paynet system its URL names,
     * however spelled (scope.c; check_config made sure it fits) */
    paynet_scope_of(config->base_url != NULL ? config->base_url
                    : config->env != NULL && strcmp(config->env, "live") == 0 ? LIVE_HOST
                                                                                : TEST_HOST,
                    c->who.scope, sizeof c->who.scope);
    size_t secret_size = strlen(config->secret_key) + 1;
    c->secret = malloc(secret_size);
    if (c->secret != NULL)
        memcpy(c->secret, config->secret_key, secret_size);
    paynet_secret_pairs_init(&c->secret_pairs, c->secret);
    c->headers = c->secret ? transport_build_headers(c->secret) : NULL;
    c->model = curl_easy_init();
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
    if (c->multi == NULL) { /* its wake-up socket pair needs two descriptors */
        paynet_client_free(c);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO,
                           "libcurl could not make its transfer handle (out of memory or "
                           "of descriptors)");
    }
    if (c->url == NULL || c->secret == NULL || c->headers == NULL || c->hasher == NULL
        || c->model == NULL) {
        paynet_client_free(c);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, transport_on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, transport_on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* connections kept alive for the calls to come: as many as ran at once
     * (libcurl's default follows the handles on the multi, which drop to
     * none between calls) */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)CALLS_KEPT);
    /* one call, one connection: HTTP/2 would put several calls on one
     * connection, whose socket the epoll set of one call alone watches */
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    status = transport_set_options(c, config);
    if (status != PAYNET_OK) {
        paynet_client_free(c);
        return status == PAYNET_NOMEM
                   ? paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory")
                   : client_invalid(err, "libcurl refused an option (is it built with "
                                  "HTTPS support?)");
    }
    *out = c;
    return PAYNET_OK;
}

/* A forked child shares the parent's connections, epoll sets and ledger
 * connection: using them would corrupt the parent's send (a cancel here
 * could even end the parent's hold).  The child gets a typed error. */
paynet_status client_check_process(const paynet_client *c, paynet_error *err)
{
    if (getpid() == c->owner)
        return PAYNET_OK;
    return client_invalid(err, "this client was made by another process (before a fork): make a "
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
        for (struct paynet_call *call = c->live; call != NULL; call = call->next)
            close(call->epfd);
        for (struct paynet_call *call = c->kept; call != NULL; call = call->next)
            close(call->epfd);
        client_wipe(c->secret);
        wipe_pairs(&c->secret_pairs);
        return;
    }
    /* a call in flight is settled as a cancel would; each is left to its
     * caller to free, over (its client gone) */
    while (c->live != NULL) {
        struct paynet_call *call = c->live;
        if (call->state != SEND_IDLE) {
            paynet_error ignored;
            paynet_call_cancel(call, &ignored);
        }
        c->live = call->next;
        send_destroy(call);
        call->client = NULL;
    }
    while (c->kept != NULL) {
        struct paynet_call *call = c->kept;
        c->kept = call->next;
        send_destroy(call);
        free(call);
    }
    if (c->model)
        curl_easy_cleanup(c->model);
    if (c->multi)
        curl_multi_cleanup(c->multi); /* closes cached connections: callbacks run */
    for (struct curl_slist *h = c->headers; h != NULL; h = h->next)
        client_wipe(h->data); /* the Authorization line holds the key */
    curl_slist_free_all(c->headers);
    client_wipe(c->secret);
    wipe_pairs(&c->secret_pairs);
    free(c->secret);
    free(c->url);
    paynet_ledger_close(c->ledger);
    paynet_ledger_close(c->local);
    paynet_ledger_hasher_free(c->hasher);
    free(c);
}

const char *paynet_client_url(const paynet_client *c) { return c->url; }

const char *paynet_client_operator(const paynet_client *c) { return c->who.operator_name; }

void client_debug(const paynet_client *c, const char *format, ...)
    PAYNET_PRINTF(2, 3);

void client_debug(const paynet_client *c, const char *format, ...)
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
