/*
 * holds.c — what a send costs with many live holds in its ledger: the
 * CPU time of paynet_send_otp per call after LIVE holds were put there
 * (a claim, a lookup and a settle should cost the same with 1 or 1 000 000).
 *
 * Usage: bench-holds URL LEDGER LIVE CALLS [sends|direct]
 *   sends   the LIVE holds are this client's own sends (the ledger and the
 *           client's private copy both hold them)
 *   direct  they are written into the ledger as other desks' holds: one
 *           SQLite transaction, one Redis script, the memory table's claims
 * Prints "<live> <calls> <CPU seconds of the calls> <seconds to fill>".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "ledger.h"

static double clock_seconds(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char record[] =
    "{\"state\":\"sent\",\"masked\":\"532*****67\",\"operator\":\"bench\",\"host\":\"desk\","
    "\"program\":\"bench\",\"session_id\":\"bench\",\"scope\":\"bench\",\"sent_at\":0,"
    "\"claim_hold\":0,\"send_window\":0,\"otp_expire\":\"\",\"reason\":\"\"}";

static int fill_sqlite(const char *path, long live)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 0;
    double wall = paynet_clock_wall(), boot = paynet_ledger_clock_boot();
    int ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
             && sqlite3_prepare_v2(db, "INSERT INTO holds(key, token, record, until_wall, boot_id, "
                                       "until_boot) VALUES(?1, 't', ?2, ?3, ?4, ?5)",
                                   -1, &st, NULL) == SQLITE_OK;
    for (long i = 0; ok && i < live; i++) {
        char key[LEDGER_KEY_SIZE];
        snprintf(key, sizeof key, "%064lx", (unsigned long)i);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, record, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, wall + 3600);
        sqlite3_bind_text(st, 4, paynet_ledger_boot_id(), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, boot + 3600);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    if (ok)
        sqlite3_finalize(st);
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

static int fill_redis(const char *socket_path, long live)
{
    redisContext *r = redisConnectUnix(socket_path);
    if (r == NULL || r->err)
        return 0;
    redisReply *reply = redisCommand(
        r, "EVAL %s 0 %ld %s",
        "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'paynet:hold:' .. "
        "string.format('%064x', i), 't\\n' .. ARGV[2], 'PX', 3600000) end return 1",
        live, record);
    int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    freeReplyObject(reply);
    redisFree(r);
    return ok;
}

static int fill_memory(long live)
{
    struct ledger *l;
    paynet_error err;
    paynet_holder h;
    memset(&h, 0, sizeof h);
    snprintf(h.state, sizeof h.state, "sent");
    if (paynet_ledger_memory_shared(&l, &err) != PAYNET_OK)
        return 0;
    int granted, ok = 1;
    for (long i = 0; ok && i < live; i++) {
        char key[LEDGER_KEY_SIZE];
        snprintf(key, sizeof key, "%032lx", (unsigned long)i);
        ok = l->methods->claim(l, key, "t", &h, 3600, &granted, &h, &err) == PAYNET_OK;
    }
    paynet_ledger_close(l);
    return ok;
}

/* each run's numbers start somewhere new: the sandbox remembers numbers
 * it sent to (its own resend rule) */
static long number_base;

static int send_one(paynet_client *c, long i)
{
    char gsm[PAYNET_GSM_SIZE + 16]; /* room for what the compiler fears a negative number writes */
    paynet_result res;
    paynet_error err;
    snprintf(gsm, sizeof gsm, "53%08d", (int)((number_base + i) % 100000000));
    if (paynet_send_otp(c, gsm, "bench", &res, &err) == PAYNET_OK)
        return 1;
    fprintf(stderr, "bench-holds: send %ld: %s: %s\n", i, paynet_status_name(err.kind),
            err.message);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench-holds URL LEDGER LIVE CALLS [sends|direct]\n");
        return 2;
    }
    const char *ledger = argv[2];
    long live = atol(argv[3]), calls = atol(argv[4]);
    int direct = argc > 5 && strcmp(argv[5], "direct") == 0;
    paynet_config config;
    paynet_client *c;
    paynet_error err;
    paynet_config_init(&config);
    config.secret_key = "sck_sandbox";
    config.base_url = argv[1];
    config.ledger = ledger;
    if (paynet_client_new(&config, &c, &err) != PAYNET_OK) {
        fprintf(stderr, "bench-holds: %s\n", err.message);
        return 1;
    }
    number_base = ((long)time(NULL) * 7919L + (long)getpid() * 104729L) % 100000000;
    if (!send_one(c, 99999999)) /* the ledger exists, its tables made */
        return 1;
    double t0 = clock_seconds(CLOCK_MONOTONIC);
    int ok = 1;
    if (!direct)
        for (long i = 0; ok && i < live; i++)
            ok = send_one(c, i);
    else if (strncmp(ledger, "sqlite:", 7) == 0)
        ok = fill_sqlite(ledger + 7, live);
    else if (strncmp(ledger, "redis+unix://", 13) == 0)
        ok = fill_redis(ledger + 13, live);
    else
        ok = fill_memory(live);
    if (!ok) {
        fprintf(stderr, "bench-holds: could not fill %s with %ld holds\n", ledger, live);
        return 1;
    }
    double filled = clock_seconds(CLOCK_MONOTONIC) - t0;
    double cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; ok && i < calls; i++)
        ok = send_one(c, 50000000 + i);
    double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    printf("%ld %ld %.6f %.3f\n", live, calls, cpu, filled);
    paynet_client_free(c);
    return ok ? 0 : 1;
}
