/*
 * limit.c — benchmark (a), the transport limit: a plain C loop of POSTs on
 * one reused libcurl easy handle, with the same headers and body paynet
 * sends, reading each reply into a buffer and nothing more.  Each call is
 * to a new number (532 and the call's 7 digits), as real traffic is: the
 * body is written again each time.
 *
 * Usage: bench-limit URL CALLS [CAINFO]   prints "<calls> <seconds> <CPU seconds>"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "paynet.h" /* PAYNET_VERSION only: (a) does not link libpaynet */

struct buffer {
    char data[65536];
    size_t length;
};

static size_t on_body(char *data, size_t size, size_t count, void *userp)
{
    struct buffer *b = userp;
    size_t n = size * count;
    if (n > sizeof b->data - b->length)
        return 0;
    memcpy(b->data + b->length, data, n);
    b->length += n;
    return n;
}

static double clock_seconds(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }

/* this process's CPU time, user and system, to the nanosecond */
static double cpu_now(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-limit URL CALLS [CAINFO]\n");
        return 2;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/card/send_otp", argv[1]);
    long calls = atol(argv[2]);
    static struct buffer reply;
    char body[128]; /* the same length every call: POSTFIELDS is not copied */
    snprintf(body, sizeof body, "{\"user_gsm\":\"5320000000\",\"otp_session_id\":\"bench\"}");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    /* paynet's User-Agent line, byte for byte: libcurl formats each header
     * line into the request, and this one costs about 5k instructions */
    char agent[96];
    snprintf(agent, sizeof agent, "User-Agent: paynet/%s libcurl/%s", PAYNET_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
    h = curl_slist_append(h, agent);
    h = curl_slist_append(h, "Content-Type: application/json; charset=UTF-8");
    h = curl_slist_append(h, "Accept: application/json; charset=UTF-8");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, "Authorization: Basic sck_sandbox");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply);
    if (argc > 3)
        curl_easy_setopt(e, CURLOPT_CAINFO, argv[3]);

    double t0 = now(), cpu0 = cpu_now();
    for (long i = 0; i < calls; i++) {
        snprintf(body, sizeof body, "{\"user_gsm\":\"532%07ld\",\"otp_session_id\":\"bench\"}",
                 i % 10000000);
        reply.length = 0;
        CURLcode rc = curl_easy_perform(e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            fprintf(stderr, "bench-limit: call %ld failed: %s, HTTP %ld\n", i,
                    curl_easy_strerror(rc), status);
            return 1;
        }
    }
    double wall = now() - t0;
    printf("%ld %.6f %.6f\n", calls, wall, cpu_now() - cpu0);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    curl_global_cleanup();
    return 0;
}
