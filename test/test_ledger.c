/*
 * test_ledger.c — the ledger's pure parts and its memory backend: the keyed
 * hash against OpenSSL's own HMAC, records as JSON and back, the holder's
 * line, and claim / settle / lookup / release semantics.
 */
#define _GNU_SOURCE
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>

#include "ledger.h"
#include "unit.h"

static void hmac_reference(const char *secret, const char *message, char out[65])
{
    unsigned char digest[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)message,
         strlen(message), digest, &n);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* SipHash-2-4-128 as OpenSSL's SIPHASH MAC computes it. */
static void siphash_reference(const unsigned char key[16], const unsigned char *data, size_t n,
                              unsigned char out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t size = 16, written = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_END};
    memset(out, 0, 16);
    if (ctx == NULL || EVP_MAC_init(ctx, key, 16, params) != 1
        || EVP_MAC_update(ctx, data, n) != 1 || EVP_MAC_final(ctx, out, &written, 16) != 1
        || written != 16)
        memset(out, 0xff, 16);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

static paynet_holder record(const char *state, const char *who)
{
    paynet_holder h;
    memset(&h, 0, sizeof h);
    snprintf(h.state, sizeof h.state, "%s", state);
    snprintf(h.masked, sizeof h.masked, "532*****67");
    snprintf(h.operator_name, sizeof h.operator_name, "%s", who);
    snprintf(h.host, sizeof h.host, "desk-3");
    snprintf(h.program, sizeof h.program, "paynet-tui");
    snprintf(h.session_id, sizeof h.session_id, "order-42");
    h.sent_at = paynet_clock_wall() - 42;
    return h;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A redis-server of the test's own on a unix socket in dir, no
 * persistence: its pid (recorded for tools/check.sh, which stops what a
 * crashed test left), or -1 when it did not start within 5 s. */
static pid_t start_redis(const char *dir, char *url, size_t size)
{
    char sock[512], command[1400];
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(url, size, "redis+unix://%s", sock);
    const char *tmp = getenv("PAYNET_SPEC_TMP");
    snprintf(command, sizeof command,
             "redis-server --port 0 --unixsocket '%s' --save '' --appendonly no --daemonize no "
             "--dir '%s' >/dev/null 2>&1 & echo $!; [ -n '%s' ] && echo $! >> '%s/pids'",
             sock, dir, tmp ? tmp : "", tmp ? tmp : "");
    FILE *p = popen(command, "r");
    long pid = -1;
    if (p == NULL)
        return -1;
    if (fscanf(p, "%ld", &pid) != 1)
        pid = -1;
    pclose(p);
    struct stat st;
    for (int i = 0; pid > 0 && i < 500; i++) {
        if (stat(sock, &st) == 0)
            return (pid_t)pid;
        sleep_seconds(0.01);
    }
    if (pid > 0)
        kill((pid_t)pid, SIGKILL);
    return -1;
}

static void stop_redis(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM); /* not our child (the shell's): wait until it is gone */
        for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
            sleep_seconds(0.01);
    }
}

/* A claim or settle asked until it answers: a pollable backend (Redis)
 * answers PAYNET_PENDING while its command is on the wire, as the send's
 * machine sees; waited for on its descriptor, at most 5 s. */
static void wait_ledger(struct ledger *l)
{
    int events = 0, fd = l->methods->pollfd != NULL ? l->methods->pollfd(l, &events) : -1;
    if (fd >= 0) {
        struct pollfd p = {fd, (short)events, 0};
        poll(&p, 1, 100);
    } else
        sleep_seconds(0.01);
}

static paynet_status claim_now(struct ledger *l, const char *key, const char *token,
                               const paynet_holder *record, double pending, int *granted,
                               paynet_holder *holder, paynet_error *err)
{
    paynet_status s = PAYNET_PENDING;
    for (int i = 0; i < 500 && s == PAYNET_PENDING; i++) {
        s = l->methods->claim(l, key, token, record, pending, granted, holder, err);
        if (s == PAYNET_PENDING)
            wait_ledger(l);
    }
    return s;
}

static paynet_status settle_now(struct ledger *l, const char *key, const char *token,
                                const paynet_holder *record, double seconds, int *ours,
                                paynet_error *err)
{
    paynet_status s = PAYNET_PENDING;
    for (int i = 0; i < 500 && s == PAYNET_PENDING; i++) {
        s = l->methods->settle(l, key, token, record, seconds, ours, err);
        if (s == PAYNET_PENDING)
            wait_ledger(l);
    }
    return s;
}

/* A sender whose claim ran out (it was slow, or it was stopped) settles
 * late: neither its release nor its settle may touch the hold that
 * another sender claimed since.  The token guard, on every backend. */
static void stale_sender_case(struct ledger *l)
{
    paynet_error err;
    paynet_holder slow = record("pending", "ayse"), quick = record("pending", "mehmet"), seen;
    int granted = 0, ours = -1, held = 0;
    CHECK(claim_now(l, "stale", "t-slow", &slow, 0.2, &granted, &seen, &err) == PAYNET_OK);
    CHECK(granted == 1);
    sleep_seconds(0.4);
    CHECK(claim_now(l, "stale", "t-quick", &quick, 60, &granted, &seen, &err)
          == PAYNET_OK);
    CHECK(granted == 1);
    /* the slow sender gives its number back (nothing sent) */
    CHECK(settle_now(l, "stale", "t-slow", &slow, 0, &ours, &err) == PAYNET_OK);
    CHECK(ours == 0);
    CHECK(l->methods->lookup(l, "stale", &held, &seen, &err) == PAYNET_OK);
    CHECK(held == 1 && strcmp(seen.operator_name, "mehmet") == 0);
    /* or records a send of its own */
    paynet_holder sent = record("sent", "ayse");
    ours = -1;
    CHECK(settle_now(l, "stale", "t-slow", &sent, 100, &ours, &err) == PAYNET_OK);
    CHECK(ours == 0);
    CHECK(l->methods->lookup(l, "stale", &held, &seen, &err) == PAYNET_OK);
    CHECK(held == 1 && strcmp(seen.operator_name, "mehmet") == 0
          && strcmp(seen.state, "pending") == 0 && seen.remaining <= 60);
    /* the quick sender's own settle still works */
    sent = record("sent", "mehmet");
    CHECK(settle_now(l, "stale", "t-quick", &sent, 100, &ours, &err) == PAYNET_OK);
    CHECK(ours == 1);
    CHECK(l->methods->lookup(l, "stale", &held, &seen, &err) == PAYNET_OK);
    CHECK(held == 1 && strcmp(seen.state, "sent") == 0 && seen.remaining > 99);
}

void suite_ledger(void)
{
    CASE("ledger key: HMAC-SHA256 of scope and number, as OpenSSL's HMAC computes it");
    {
        char long_key[520];
        memset(long_key, 'k', sizeof long_key - 1);
        long_key[sizeof long_key - 1] = '\0';
        const char *keys[] = {"Jefe", "sck_sandbox", long_key + 455 /* 64 bytes */,
                              long_key + 454 /* 65 */, long_key + 7 /* 512 */};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char mine[LEDGER_KEY_SIZE], theirs[65];
            struct paynet_ledger_hasher *h = paynet_ledger_hasher_new(keys[i], 0);
            CHECK(h != NULL);
            CHECK(paynet_ledger_key(h, "https://pts-api.paynet.com.tr/v1/card/send_otp", "5321234567", mine));
            hmac_reference(keys[i], "https://pts-api.paynet.com.tr/v1/card/send_otp\n5321234567",
                           theirs);
            CHECK_STR(mine, theirs);
            /* the same hasher, used again, gives the same key */
            CHECK(paynet_ledger_key(h, "https://pts-api.paynet.com.tr/v1/card/send_otp", "5321234567", mine));
            CHECK_STR(mine, theirs);
            paynet_ledger_hasher_free(h);
        }
        /* RFC 4231, test case 2 */
        char digest[LEDGER_KEY_SIZE];
        struct paynet_ledger_hasher *h = paynet_ledger_hasher_new("Jefe", 0);
        CHECK(paynet_ledger_key(h, "what do ya want for", "nothing?", digest)); /* "\n" between */
        char reference[65];
        hmac_reference("Jefe", "what do ya want for\nnothing?", reference);
        CHECK_STR(digest, reference);
        paynet_ledger_hasher_free(h);
    }

    CASE("ledger key: another key, scope or number gives another hash");
    {
        char a[LEDGER_KEY_SIZE], b[LEDGER_KEY_SIZE], c[LEDGER_KEY_SIZE], d[LEDGER_KEY_SIZE];
        struct paynet_ledger_hasher *h1 = paynet_ledger_hasher_new("k1", 0),
                                   *h2 = paynet_ledger_hasher_new("k2", 0);
        paynet_ledger_key(h1, "test", "5321234567", a);
        paynet_ledger_key(h2, "test", "5321234567", b);
        paynet_ledger_key(h1, "live", "5321234567", c);
        paynet_ledger_key(h1, "test", "5321234568", d);
        CHECK(strcmp(a, b) != 0 && strcmp(a, c) != 0 && strcmp(a, d) != 0);
        CHECK(strlen(a) == 64);
        paynet_ledger_hasher_free(h1);
        paynet_ledger_hasher_free(h2);
    }

    CASE("SipHash-2-4-128 as OpenSSL's SIPHASH computes it, every length 0..200");
    {
        unsigned char key[16], data[200], mine[16], theirs[16];
        uint64_t words[2] = {0, 0};
        unsigned seed = 7;
        int same = 0, all = 0;
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < 16; i++) {
                seed = seed * 1103515245u + 12345u;
                key[i] = (unsigned char)(seed >> 16);
            }
            words[0] = words[1] = 0;
            for (int i = 0; i < 16; i++)
                words[i / 8] |= (uint64_t)key[i] << (8 * (i % 8));
            for (size_t n = 0; n <= sizeof data; n++) {
                for (size_t i = 0; i < n; i++) {
                    seed = seed * 1103515245u + 12345u;
                    data[i] = (unsigned char)(seed >> 16);
                }
                paynet_siphash128(words, data, n, mine);
                siphash_reference(key, data, n, theirs);
                same += memcmp(mine, theirs, 16) == 0;
                all++;
            }
        }
        CHECK(same == all);
        CHECK(all == 20 * 201);
    }

    CASE("ledger key, in-process table: SipHash of scope and number, 32 hex digits, "
         "the same for every hasher of one secret, fed in any pieces");
    {
        char a[LEDGER_KEY_SIZE], b[LEDGER_KEY_SIZE], c[LEDGER_KEY_SIZE], d[LEDGER_KEY_SIZE],
            e[LEDGER_KEY_SIZE], durable[LEDGER_KEY_SIZE];
        struct paynet_ledger_hasher *h1 = paynet_ledger_hasher_new("sck_sandbox", 1),
                                    *h2 = paynet_ledger_hasher_new("sck_sandbox", 1),
                                    *h3 = paynet_ledger_hasher_new("sck_other", 1),
                                    *hd = paynet_ledger_hasher_new("sck_sandbox", 0);
        CHECK(paynet_ledger_key(h1, "http://127.0.0.1:1/v1/card/send_otp", "5321234567", a));
        CHECK(paynet_ledger_key(h2, "http://127.0.0.1:1/v1/card/send_otp", "5321234567", b));
        CHECK(paynet_ledger_key(h3, "http://127.0.0.1:1/v1/card/send_otp", "5321234567", c));
        CHECK(paynet_ledger_key(h1, "http://127.0.0.1:1/v1/card/send_otp", "5321234568", d));
        CHECK(paynet_ledger_key(h1, "http://127.0.0.1:2/v1/card/send_otp", "5321234567", e));
        CHECK(paynet_ledger_key(hd, "http://127.0.0.1:1/v1/card/send_otp", "5321234567", durable));
        CHECK(strlen(a) == 32);
        CHECK_STR(a, b);
        CHECK(strcmp(a, c) != 0 && strcmp(a, d) != 0 && strcmp(a, e) != 0);
        CHECK(strlen(durable) == 64);
        CHECK(strncmp(a, durable, 32) != 0);
        /* the key of the table is the digest of the whole text, in one piece */
        unsigned char secret_digest[32], whole[16];
        unsigned int n = 0;
        const char *label = "paynet in-process ledger\nsiphash key";
        HMAC(EVP_sha256(), "sck_sandbox", 11, (const unsigned char *)label, strlen(label),
             secret_digest, &n);
        uint64_t words[2] = {0, 0};
        for (int i = 0; i < 16; i++)
            words[i / 8] |= (uint64_t)secret_digest[i] << (8 * (i % 8));
        /* scopes of every length to 24, so that the pieces split words
         * everywhere */
        char scope[32], text[64], hex[33];
        int same = 0;
        for (int length = 0; length <= 24; length++) {
            memset(scope, 'a' + length % 26, (size_t)length);
            scope[length] = '\0';
            snprintf(text, sizeof text, "%s\n5321234567", scope);
            paynet_siphash128(words, text, strlen(text), whole);
            for (int i = 0; i < 16; i++)
                snprintf(hex + 2 * i, 3, "%02x", whole[i]);
            CHECK(paynet_ledger_key(h1, scope, "5321234567", d));
            same += strcmp(d, hex) == 0;
        }
        CHECK(same == 25);
        /* a new hasher's first scope may be ""; a scope too long to keep
         * its state, twice; then back to a kept one */
        struct paynet_ledger_hasher *h4 = paynet_ledger_hasher_new("sck_sandbox", 1);
        char long_scope[300];
        memset(long_scope, 's', sizeof long_scope - 1);
        long_scope[sizeof long_scope - 1] = '\0';
        const char *scopes[] = {"", long_scope, long_scope, "", scope, ""};
        char long_text[320];
        same = 0;
        for (int i = 0; i < 6; i++) {
            snprintf(long_text, sizeof long_text, "%s\n5321234567", scopes[i]);
            paynet_siphash128(words, long_text, strlen(long_text), whole);
            for (int j = 0; j < 16; j++)
                snprintf(hex + 2 * j, 3, "%02x", whole[j]);
            CHECK(paynet_ledger_key(h4, scopes[i], "5321234567", d));
            same += strcmp(d, hex) == 0;
        }
        CHECK(same == 6);
        paynet_ledger_hasher_free(h4);
        snprintf(text, sizeof text, "http://127.0.0.1:1/v1/card/send_otp\n5321234567");
        paynet_siphash128(words, text, strlen(text), whole);
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", whole[i]);
        CHECK_STR(a, hex);
        paynet_ledger_hasher_free(h1);
        paynet_ledger_hasher_free(h2);
        paynet_ledger_hasher_free(h3);
        paynet_ledger_hasher_free(hd);
    }

    CASE("claim tokens from a pool: 32 hex digits, 100 draws (three refills) all different");
    {
        struct paynet_token_pool pool;
        memset(&pool, 0, sizeof pool);
        static char tokens[100][LEDGER_TOKEN_SIZE];
        int well_formed = 0, repeats = 0;
        for (int i = 0; i < 100; i++) {
            paynet_ledger_token_next(&pool, tokens[i]);
            well_formed += strlen(tokens[i]) == 32
                           && strspn(tokens[i], "0123456789abcdef") == 32
                           && strcmp(tokens[i], "00000000000000000000000000000000") != 0;
            for (int j = 0; j < i; j++)
                repeats += strcmp(tokens[i], tokens[j]) == 0;
        }
        CHECK(well_formed == 100);
        CHECK(repeats == 0);
    }

    CASE("records: JSON and back, control characters cleaned on the way in");
    {
        paynet_holder h = record("sent", "ayşe"), back;
        snprintf(h.otp_expire, sizeof h.otp_expire, "2026-11-26T14:00:00.0000000+03:00");
        h.claim_hold = 616;
        h.send_window = 22;
        char *json = paynet_ledger_record_json(&h);
        CHECK(json != NULL);
        CHECK(paynet_ledger_record_parse(json, strlen(json), &back));
        CHECK_STR(back.state, "sent");
        CHECK_STR(back.operator_name, "ayşe");
        CHECK_STR(back.session_id, "order-42");
        CHECK_STR(back.otp_expire, h.otp_expire);
        CHECK(fabs(back.sent_at - h.sent_at) < 1e-6); /* cJSON prints 15 digits when close enough */
        CHECK(back.claim_hold == 616 && back.send_window == 22);
        free(json);
        const char *hostile = "{\"state\":\"sent\",\"operator\":\"x\\u001b[2J\",\"sent_at\":\"no\","
                              "\"session_id\":\"s\\u009b31m\\u009d0;t\\u0007\"}";
        CHECK(paynet_ledger_record_parse(hostile, strlen(hostile), &back));
        CHECK_STR(back.operator_name, "x\xEF\xBF\xBD[2J");
        /* C1 too: CSI and OSC in one character */
        CHECK_STR(back.session_id, "s\xEF\xBF\xBD" "31m\xEF\xBF\xBD" "0;t\xEF\xBF\xBD");
        CHECK(back.sent_at == 0 && back.claim_hold == 0 && back.send_window == 0);
        CHECK(!paynet_ledger_record_parse("[1]", 3, &back));
        CHECK(!paynet_ledger_record_parse("{", 1, &back));
    }

    CASE("clamping what a ledger answers");
    {
        CHECK(paynet_ledger_clamp(1.0 / 0.0) == LEDGER_MAX_HOLD && paynet_ledger_clamp(0.0 / 0.0) == 0
              && paynet_ledger_clamp(-5) == 0 && paynet_ledger_clamp(12.5) == 12.5);
    }

    CASE("holder line: sent, pending, uncertain, duplicate, no end");
    {
        char line[PAYNET_MESSAGE_SIZE];
        paynet_holder h = record("sent", "ayse");
        h.remaining = 78;
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "sent 0:42 ago by ayse@desk-3 (session order-42); valid 1:18 more");
        snprintf(h.state, sizeof h.state, "pending");
        h.claim_hold = 100; /* 22 s into the claim of 100 s, its window 30 s */
        h.send_window = 30;
        CHECK(!paynet_holder_stale(&h));
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "a send by ayse@desk-3 is in flight, started 0:42 ago (session order-42); "
                        "held 1:18 more");
        h.send_window = 22; /* past its call: its sender stopped */
        CHECK(paynet_holder_stale(&h));
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "a send by ayse@desk-3 started 0:42 ago and never recorded its outcome (its "
                        "sender stopped; a code may have gone out; session order-42); held 1:18 more");
        snprintf(h.state, sizeof h.state, "duplicate");
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "Paynet said 0:42 ago that an earlier code is still valid (tried by "
                        "ayse@desk-3, session order-42); held 1:18 more");
        snprintf(h.state, sizeof h.state, "sent");
        h.remaining = LEDGER_MAX_HOLD;
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "sent 0:42 ago by ayse@desk-3 (session order-42); valid with no end set");
        snprintf(h.state, sizeof h.state, "uncertain");
        h.remaining = 3725;
        paynet_holder_describe(&h, line, sizeof line);
        CHECK_STR(line, "sent 0:42 ago by ayse@desk-3 (session order-42) and may have delivered "
                        "an OTP (its outcome is unknown); held 1:02:05 more");
    }

    CASE("\"memory\" is one table for the process: every handle sees every hold, "
         "also after another handle closed");
    {
        struct ledger *a, *b, *c;
        paynet_error err;
        paynet_holder mine = record("pending", "ayse"), seen;
        int granted = 0, held = 0;
        CHECK(paynet_ledger_open("memory", 5, &a, &err) == PAYNET_OK);
        CHECK(paynet_ledger_open("memory", 5, &b, &err) == PAYNET_OK);
        CHECK(a->methods->claim(a, "shared-1", "t1", &mine, 10, &granted, &seen, &err) == PAYNET_OK);
        CHECK(granted == 1);
        CHECK(b->methods->claim(b, "shared-1", "t2", &mine, 10, &granted, &seen, &err) == PAYNET_OK);
        CHECK(granted == 0);
        paynet_ledger_close(a);
        paynet_ledger_close(b);
        CHECK(paynet_ledger_open("memory", 5, &c, &err) == PAYNET_OK);
        CHECK(c->methods->lookup(c, "shared-1", &held, &seen, &err) == PAYNET_OK);
        CHECK(held == 1 && seen.remaining > 9);
        paynet_ledger_close(c);
    }

    CASE("memory ledger: claim, a second claim sees the holder, settle, release");
    {
        struct ledger *l;
        paynet_error err;
        CHECK(paynet_ledger_open("memory", 5, &l, &err) == PAYNET_OK);
        paynet_holder mine = record("pending", "ayse"), seen;
        int granted = 0, ours = 0, held = 0, released = 0;
        CHECK(l->methods->claim(l, "k1", "t1", &mine, 10, &granted, &seen, &err) == PAYNET_OK);
        CHECK(granted == 1);
        paynet_holder other = record("pending", "mehmet");
        CHECK(l->methods->claim(l, "k1", "t2", &other, 10, &granted, &seen, &err) == PAYNET_OK);
        CHECK(granted == 0);
        CHECK_STR(seen.operator_name, "ayse");
        CHECK(seen.remaining > 9 && seen.remaining <= 10);
        /* a settle with another token changes nothing */
        paynet_holder sent = record("sent", "ayse");
        CHECK(l->methods->settle(l, "k1", "t2", &sent, 100, &ours, &err) == PAYNET_OK);
        CHECK(ours == 0);
        CHECK(l->methods->lookup(l, "k1", &held, &seen, &err) == PAYNET_OK);
        CHECK(held == 1 && strcmp(seen.state, "pending") == 0);
        /* ours: held 100 s, state sent */
        CHECK(l->methods->settle(l, "k1", "t1", &sent, 100, &ours, &err) == PAYNET_OK);
        CHECK(ours == 1);
        CHECK(l->methods->lookup(l, "k1", &held, &seen, &err) == PAYNET_OK);
        CHECK(held == 1 && strcmp(seen.state, "sent") == 0 && seen.remaining > 99);
        /* settle with 0 seconds releases */
        CHECK(l->methods->claim(l, "k2", "t3", &mine, 10, &granted, &seen, &err) == PAYNET_OK);
        CHECK(l->methods->settle(l, "k2", "t3", &mine, 0, &ours, &err) == PAYNET_OK);
        CHECK(l->methods->lookup(l, "k2", &held, &seen, &err) == PAYNET_OK && held == 0);
        /* release, logged */
        paynet_holder who = record("released", "supervisor");
        snprintf(who.reason, sizeof who.reason, "no SMS came");
        CHECK(l->methods->release(l, "k1", &who, &released, &err) == PAYNET_OK && released == 1);
        CHECK(l->methods->lookup(l, "k1", &held, &seen, &err) == PAYNET_OK && held == 0);
        /* a release that found nothing is not logged */
        CHECK(l->methods->release(l, "k1", &who, &released, &err) == PAYNET_OK && released == 0);
        paynet_holder *list;
        size_t count;
        CHECK(l->methods->list(l, 1, &list, &count, &err) == PAYNET_OK);
        CHECK(count == 1 && strcmp(list[0].reason, "no SMS came") == 0
              && strcmp(list[0].session_id, "order-42") == 0);
        free(list);
        paynet_ledger_close(l);
    }

    CASE("memory ledger: a hash table that agrees with a plain list through 20000 claims, "
         "settles, releases and expiries");
    {
        enum { N = 4000 };
        static int alive[N]; /* 0 none, 1 held, 2 expired by its time */
        struct ledger *l;
        paynet_error err;
        CHECK(paynet_ledger_memory_open("memory", &l, &err) == PAYNET_OK);
        paynet_holder mine = record("pending", "ayse"), seen;
        int granted, ours, held, released, agree = 1;
        char key[32], token[32];
        unsigned rng = 12345;
        for (int round = 0; round < 20000; round++) {
            rng = rng * 1103515245u + 12345u;
            int k = (int)((rng >> 8) % N), what = (int)((rng >> 20) % 4);
            snprintf(key, sizeof key, "k%d", k);
            snprintf(token, sizeof token, "t%d", k);
            if (what == 0) { /* a claim; some so short they expire at once */
                double pending = (rng >> 4) % 5 == 0 ? 1e-9 : 100;
                CHECK(l->methods->claim(l, key, token, &mine, pending, &granted, &seen, &err)
                      == PAYNET_OK);
                agree &= granted == (alive[k] != 1);
                if (granted)
                    alive[k] = pending < 1 ? 2 : 1;
            } else if (what == 1) { /* a settle: release */
                CHECK(l->methods->settle(l, key, token, &mine, 0, &ours, &err) == PAYNET_OK);
                if (alive[k] == 1)
                    agree &= ours == 1;
                alive[k] = 0;
            } else if (what == 2) { /* a supervisor's release */
                paynet_holder who = record("released", "supervisor");
                CHECK(l->methods->release(l, key, &who, &released, &err) == PAYNET_OK);
                agree &= released == (alive[k] == 1);
                alive[k] = 0;
            } else {
                CHECK(l->methods->lookup(l, key, &held, &seen, &err) == PAYNET_OK);
                agree &= held == (alive[k] == 1);
                if (alive[k] == 2)
                    alive[k] = 0;
            }
        }
        CHECK(agree);
        size_t live = 0, count = 0;
        for (int k = 0; k < N; k++)
            live += alive[k] == 1;
        paynet_holder *list;
        CHECK(l->methods->list(l, 0, &list, &count, &err) == PAYNET_OK);
        CHECK(count == live && live > 100);
        free(list);
        for (int k = 0; k < N; k++) { /* every key once more, by lookup */
            snprintf(key, sizeof key, "k%d", k);
            CHECK(l->methods->lookup(l, key, &held, &seen, &err) == PAYNET_OK);
            agree &= held == (alive[k] == 1);
        }
        CHECK(agree);
        paynet_ledger_close(l);
    }

    CASE("ledger specs: refused before any I/O");
    {
        struct ledger *l;
        paynet_error err;
        const char *bad[] = {"mysql://x", "sqlite:", "redis://", "redis://h:0", "redis://h:x",
                             "redis://user@h", "redis://:@h", "redis+unix://relative",
                             "redis+unix:///s?x=1", "redis://h/x", "memory\n"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK(paynet_ledger_open(bad[i], 5, &l, &err) == PAYNET_INVALID);
            CHECK(l == NULL);
        }
        CHECK(paynet_ledger_open("redis://:pw@127.0.0.1:6390/2", 5, &l, &err) == PAYNET_OK);
        CHECK_STR(l->name, "redis://:***@127.0.0.1:6390/2");
        paynet_ledger_close(l);
        CHECK(paynet_ledger_open("redis+unix:///run/redis.sock?db=3", 5, &l, &err) == PAYNET_OK);
        CHECK_STR(l->name, "redis+unix:///run/redis.sock?db=3");
        paynet_ledger_close(l);
    }

    CASE("a stale sender's release or settle leaves a later claim's hold: memory, SQLite, Redis");
    {
        char dir[] = "/tmp/paynet-ledger-XXXXXX", spec[600], url[600];
        CHECK(mkdtemp(dir) != NULL);
        struct ledger *l = NULL;
        paynet_error err;
        CHECK(paynet_ledger_memory_open("memory", &l, &err) == PAYNET_OK);
        stale_sender_case(l);
        paynet_ledger_close(l);
        snprintf(spec, sizeof spec, "sqlite:%s/ledger.db", dir);
        CHECK(paynet_ledger_open(spec, 5, &l, &err) == PAYNET_OK);
        stale_sender_case(l);
        paynet_ledger_close(l);
        pid_t redis = start_redis(dir, url, sizeof url);
        CHECK(redis > 0);
        if (redis > 0) {
            CHECK(paynet_ledger_open(url, 5, &l, &err) == PAYNET_OK);
            stale_sender_case(l);
            paynet_ledger_close(l);
            stop_redis(redis);
        }
        char command[700];
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        CHECK(system(command) == 0);
    }
}
