/*
 * test_nomem.c — allocation failure at every point of a send.
 *
 * Usage: test-nomem SANDBOX_URL
 * Every allocation of the core (linked with -Wl,--wrap=malloc,...), of
 * libcurl (curl_global_init_mem) and of cJSON (cJSON_InitHooks) goes
 * through counting hooks.  One send is measured, then repeated once for
 * every k, failing its k-th allocation: each must end in success or a
 * clean PAYNET_NOMEM, and after the client is freed every block is back.
 * One exception, outside paynet's reach: libcurl's resolver reports its
 * own allocation failures as "Could not resolve host"; that arrives as
 * PAYNET_NETWORK with delivered NO, which is true (nothing was sent).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "internal.h" /* paynet_decode_reply */
#include "ledger.h" /* paynet_ledger_memory_forget */
#include "paynet.h"
#include "unit.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

static int armed;
static long seen, fail_at = -1, live;

static int fail_now(void)
{
    if (!armed)
        return 0;
    return ++seen == fail_at;
}

void *__wrap_malloc(size_t size)
{
    if (fail_now())
        return NULL;
    void *p = __real_malloc(size);
    live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t count, size_t size)
{
    if (fail_now())
        return NULL;
    void *p = __real_calloc(count, size);
    live += p != NULL;
    return p;
}

void *__wrap_realloc(void *p, size_t size)
{
    if (fail_now())
        return NULL;
    void *q = __real_realloc(p, size);
    live += p == NULL && q != NULL;
    return q;
}

void __wrap_free(void *p)
{
    live -= p != NULL;
    __real_free(p);
}

static char *counting_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void counting_free(void *p) { __wrap_free(p); }

static void unique_gsm(char out[PAYNET_GSM_SIZE])
{
    static unsigned counter;
    snprintf(out, PAYNET_GSM_SIZE, "58%08u",
             (unsigned)((getpid() * 7919u + counter++ + (unsigned)time(NULL)) % 100000000u));
}

static paynet_client *client_for(const char *url)
{
    paynet_config config;
    paynet_client *c = NULL;
    paynet_config_init(&config);
    config.secret_key = "sck_sandbox";
    config.base_url = url;
    config.timeout = 5;
    config.retries = 0;
    paynet_client_new(&config, &c, NULL);
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-nomem SANDBOX_URL\n");
        return 2;
    }
    const char *url = argv[1];
    curl_global_init_mem(CURL_GLOBAL_DEFAULT, __wrap_malloc, counting_free, __wrap_realloc,
                         counting_strdup, __wrap_calloc);
    cJSON_Hooks hooks = {__wrap_malloc, counting_free};
    cJSON_InitHooks(&hooks);

    char gsm[PAYNET_GSM_SIZE];
    paynet_result res;
    paynet_error err;

    CASE("a send measured: it succeeds and gives every block back");
    long baseline = live;
    paynet_client *c = client_for(url);
    CHECK(c != NULL);
    unique_gsm(gsm);
    seen = 0;
    fail_at = -1;
    armed = 1;
    CHECK(paynet_send_otp(c, gsm, "nomem-measure", &res, &err) == PAYNET_OK);
    armed = 0;
    long allocations = seen;
    paynet_client_free(c);
    paynet_ledger_memory_forget(); /* the process's memory ledger */
    CHECK(live == baseline);
    CHECK(allocations > 10);

    int outcomes[PAYNET_PENDING + 1] = {0};
    for (long k = 1; k <= allocations; k++) {
        char name[96];
        snprintf(name, sizeof name, "send with allocation %ld of %ld failing", k, allocations);
        CASE(name);
        c = client_for(url);
        CHECK(c != NULL);
        if (c == NULL)
            continue;
        unique_gsm(gsm);
        seen = 0;
        fail_at = k;
        armed = 1;
        paynet_status s = paynet_send_otp(c, gsm, "nomem", &res, &err);
        armed = 0;
        outcomes[s]++;
        int resolver = s == PAYNET_NETWORK && err.delivered == PAYNET_DELIVERED_NO
                       && strstr(err.message, "resolve") != NULL;
        if (s != PAYNET_OK && s != PAYNET_NOMEM)
            printf("  allocation %ld: %s, delivered %s: %s\n", k, paynet_status_name(s),
                   paynet_delivered_name(err.delivered), err.message);
        CHECK(s == PAYNET_OK || s == PAYNET_NOMEM || resolver);
        if (s == PAYNET_NOMEM) {
            CHECK(err.kind == PAYNET_NOMEM && err.message[0] != '\0');
            /* an SMS that may have gone out keeps its number held */
            CHECK(err.delivered == PAYNET_DELIVERED_NO || paynet_remaining(c, gsm) > 0);
        }
        paynet_client_free(c);
        paynet_ledger_memory_forget(); /* the process's memory ledger */
        CHECK(live == baseline);
    }
    printf("  %ld allocations along one send: %d succeeded anyway, %d gave nomem, "
           "%d network (libcurl's resolver), no leak\n",
           allocations, outcomes[PAYNET_OK], outcomes[PAYNET_NOMEM], outcomes[PAYNET_NETWORK]);

    /* Paynet's own replies are read without allocating; any other goes
     * through cJSON's tree, whose failed allocation must read as nomem
     * (held: an SMS may have gone out), never as "not JSON" */
    static const char tree_reply[] = "{\"otp_expire\":\"2030-01-01T00:00:00Z\",\"code\":0,"
                                     "\"message\":\"Ba\\u015far\\u0131l\\u0131\",\"n\":[1]}";
    CASE("a reply read through cJSON's tree: measured");
    seen = 0;
    fail_at = -1;
    armed = 1;
    CHECK(paynet_decode_reply(200, tree_reply, strlen(tree_reply), &res, &err) == PAYNET_OK);
    armed = 0;
    long tree_allocations = seen;
    CHECK(tree_allocations >= 3);
    CHECK_STR(res.message, "Başarılı");
    CHECK(live == baseline);
    for (long k = 1; k <= tree_allocations; k++) {
        char name[96];
        snprintf(name, sizeof name, "a tree-read reply with allocation %ld of %ld failing", k,
                 tree_allocations);
        CASE(name);
        seen = 0;
        fail_at = k;
        armed = 1;
        paynet_status s = paynet_decode_reply(200, tree_reply, strlen(tree_reply), &res, &err);
        armed = 0;
        CHECK(s == PAYNET_NOMEM);
        CHECK(s != PAYNET_NOMEM || err.delivered == PAYNET_DELIVERED_UNKNOWN);
        CHECK(live == baseline);
    }

    for (long k = 1;; k++) {
        char name[96];
        snprintf(name, sizeof name, "client_new with allocation %ld failing", k);
        seen = 0;
        fail_at = k;
        armed = 1;
        paynet_config config;
        paynet_config_init(&config);
        config.secret_key = "sck_sandbox";
        config.base_url = url;
        c = NULL;
        paynet_status s = paynet_client_new(&config, &c, &err);
        armed = 0;
        if (s == PAYNET_OK && seen < k) { /* k is past the last allocation */
            paynet_client_free(c);
            break;
        }
        CASE(name);
        CHECK(s == PAYNET_OK || (s == PAYNET_NOMEM && c == NULL));
        paynet_client_free(c);
        paynet_ledger_memory_forget(); /* the process's memory ledger */
        CHECK(live == baseline);
    }
    curl_global_cleanup();
    return unit_finish("C allocation-failure tests");
}
