/*
 * core.c — benchmark (b): libpaynet's blocking paynet_send_otp in a loop,
 * on one client (one reused connection), against a sandbox with --ttl 0;
 * each call to a new number (532 and the call's 7 digits), as real traffic
 * is: the number's ledger key (SipHash with the memory ledger) is computed every call.
 *
 * Usage: bench-core URL CALLS [CAINFO]   prints "<calls> <seconds> <CPU seconds>"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "paynet.h"

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
        fprintf(stderr, "usage: bench-core URL CALLS [CAINFO]\n");
        return 2;
    }
    paynet_config config;
    paynet_client *c;
    paynet_result res;
    paynet_error err;
    paynet_config_init(&config);
    config.secret_key = "sck_sandbox";
    config.base_url = argv[1];
    config.cainfo = argc > 3 ? argv[3] : NULL;
    if (paynet_client_new(&config, &c, &err) != PAYNET_OK) {
        fprintf(stderr, "bench-core: %s\n", err.message);
        return 1;
    }
    long calls = atol(argv[2]);
    double t0 = now(), cpu0 = cpu_now();
    for (long i = 0; i < calls; i++) {
        char gsm[PAYNET_GSM_SIZE];
        snprintf(gsm, sizeof gsm, "532%07ld", i % 10000000);
        if (paynet_send_otp(c, gsm, "bench", &res, &err) != PAYNET_OK) {
            fprintf(stderr, "bench-core: call %ld: %s: %s\n", i, paynet_status_name(err.kind),
                    err.message);
            return 1;
        }
    }
    double wall = now() - t0;
    printf("%ld %.6f %.6f\n", calls, wall, cpu_now() - cpu0);
    paynet_client_free(c);
    return 0;
}
