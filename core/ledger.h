/*
 * ledger.h — one OTP per number per window, across calls, processes and
 * desks (doc/design.md, "The ledger").  Not installed.
 *
 * Every sender claims a number before sending and settles the claim after:
 *
 *   claim(key, record, pending)   -> granted | held (holder) | error
 *   ... send ...
 *   settle(key, token, record, seconds)
 *       sent -> held `seconds` (until otp_expire), state "sent"
 *       delivered no -> released (seconds 0)
 *       unknown -> held unknown_hold, state "uncertain"
 *
 * The claim is atomic: of two senders racing for one number, one is
 * granted and the other sees the holder.  A claim holds the number for
 * `pending` seconds (the whole call plus unknown_hold), so a sender that
 * dies between claim and settle leaves a hold that expires by itself.
 * Settle changes the record only while it still carries the claim's token.
 *
 * A backend is a table of functions chosen by the spec's scheme, as
 * SQLite chooses a VFS by name: the client never knows which one it has.
 * Keys are a keyed hash of scope "\n" number (paynet_ledger_key): the
 * ledger holds no phone number in clear, only the masked one for display.
 */
#ifndef PAYNET_LEDGER_H
#define PAYNET_LEDGER_H

#include <stdint.h>

#include "internal.h"

#define LEDGER_KEY_SIZE 65   /* 64 hex digits */
#define LEDGER_RECREATED 2   /* settle's *ours: the claim had vanished; written anew */
#define LEDGER_MAX_HOLD (366.0 * 86400) /* longer answers are clamped */
#define LEDGER_TOKEN_SIZE 33 /* 32 hex digits */

struct ledger;

struct ledger_methods {
    int version; /* 1 */
    const char *scheme;
    /* Every method returns PAYNET_OK or fills err (kind PAYNET_LEDGER,
     * delivered no) and returns it.  claim and settle may also answer
     * PAYNET_PENDING: the ledger is busy (another process holds SQLite's
     * write lock), nothing was changed, ask again (err says why). */
    paynet_status (*claim)(struct ledger *l, const char *key, const char *token,
                           const paynet_holder *record, double pending, int *granted,
                           paynet_holder *holder, paynet_error *err);
    /* *ours: 1 the claim was ours and is settled; LEDGER_RECREATED it had
     * vanished and (seconds > 0) the hold was written anew; 0 another
     * claim holds the key, left alone. */
    paynet_status (*settle)(struct ledger *l, const char *key, const char *token,
                            const paynet_holder *record, double seconds, int *ours,
                            paynet_error *err);
    paynet_status (*lookup)(struct ledger *l, const char *key, int *held,
                            paynet_holder *holder, paynet_error *err);
    /* Ends the hold on key, logging who released it and which claim's
     * hold it was (its token), so that the sender can tell its hold was
     * released from one the ledger lost. */
    paynet_status (*release)(struct ledger *l, const char *key, const paynet_holder *who,
                             int *released, paynet_error *err);
    /* *yes: the hold of claim `token` on key was released by a release. */
    paynet_status (*released)(struct ledger *l, const char *key, const char *token, int *yes,
                              paynet_error *err);
    paynet_status (*list)(struct ledger *l, int releases, paynet_holder **list,
                          size_t *count, paynet_error *err);
    void (*close)(struct ledger *l);
    /* Backends whose claim and settle answer PAYNET_PENDING while their
     * command is on the wire (Redis): the descriptor to wait on before
     * asking again (-1: none, ask again after LEDGER_RETRY) and its poll(2)
     * events; NULL for the others. */
    int (*pollfd)(struct ledger *l, int *events);
    /* The claim or settle of `token` that answered PAYNET_PENDING is not
     * asked again (its call ended): its answer is dropped when it comes,
     * and a claim granted then is given back.  NULL: nothing to do. */
    void (*abandon)(struct ledger *l, const char *token);
};

struct ledger {
    const struct ledger_methods *methods;
    char name[PAYNET_SCOPE_SIZE]; /* the spec, without a password */
    /* the call's deadline (paynet_clock_mono; 0: none) that a backend's
     * operations end by: a send sets it around its claim and settle */
    double deadline;
    /* lookup and released (> 0): a pollable backend waits this long for
     * its answer, then answers PAYNET_PENDING, the command left on the
     * wire for the next ask (a loop that must not stall: the screen) */
    double patience;
};

/* Opens the ledger named by spec (NULL: $PAYNET_LEDGER, else "memory").
 * Backends connect lazily: a spec that parses opens; a server or file that
 * cannot be reached is a PAYNET_LEDGER error of the first operation. */
paynet_status paynet_ledger_open(const char *spec, double timeout, struct ledger **out,
                          paynet_error *err);
void paynet_ledger_close(struct ledger *l);

/* A private table (a client's own sends). */
paynet_status paynet_ledger_memory_open(const char *where, struct ledger **out, paynet_error *err);
/* "memory": a handle on the process's one table, shared by every client. */
paynet_status paynet_ledger_memory_shared(struct ledger **out, paynet_error *err);
/* Drops the process's table and every hold in it (the C tests, between
 * cases; no client may be using it). */
void paynet_ledger_memory_forget(void);
/* The token of the live claim a memory ledger holds on key; 0 when none. */
int paynet_ledger_memory_token(struct ledger *l, const char *key, char token[LEDGER_TOKEN_SIZE]);
paynet_status paynet_ledger_sqlite_open(const char *path, struct ledger **out, paynet_error *err);
paynet_status paynet_ledger_redis_open(const char *url, double timeout, struct ledger **out,
                                paynet_error *err);

/* The ledger key of a number, in hex; 0 when it could not.  Keys a
 * ledger shares with other processes (SQLite, Redis) are
 * HMAC-SHA256(secret, scope "\n" gsm), 64 digits, the same on every desk.
 * Keys of the in-process table (in_process: "memory", which no other
 * process reads) are SipHash-2-4-128 of the same text, 32 digits, keyed
 * with 16 bytes derived from the secret: about a ninth of the cost.  The
 * hasher holds the secret's states; NULL when out of memory. */
struct paynet_ledger_hasher;
struct paynet_ledger_hasher *paynet_ledger_hasher_new(const char *secret, int in_process);
void paynet_ledger_hasher_free(struct paynet_ledger_hasher *h);
int paynet_ledger_key(struct paynet_ledger_hasher *h, const char *scope, const char *gsm,
                      char out[LEDGER_KEY_SIZE]);
/* SipHash-2-4 with its 128-bit result, the key as two little-endian words. */
void paynet_siphash128(const uint64_t key[2], const void *data, size_t n, unsigned char out[16]);
/* 128 random bits in hex. */
void paynet_ledger_token(char out[LEDGER_TOKEN_SIZE]);
/* The same from a pool filled by one getrandom for 32 tokens (a client
 * keeps one: a syscall every 32 sends instead of every send).  Zeroed,
 * it is empty. */
struct paynet_token_pool {
    unsigned char bytes[32 * 16];
    size_t used;
};
void paynet_ledger_token_next(struct paynet_token_pool *pool, char out[LEDGER_TOKEN_SIZE]);

/* Records as JSON text (the Redis and release-log form), and back. */
char *paynet_ledger_record_json(const paynet_holder *h); /* free with free() */
int paynet_ledger_record_parse(const char *text, size_t length, paynet_holder *h);

/* Copies a field read back from a ledger, replacing control characters:
 * a ledger is shared, and what it holds reaches screens. */
void paynet_ledger_copy_clean(char *dst, size_t size, const char *src);

/* A remaining time as read back from a ledger: finite, 0..LEDGER_MAX_HOLD. */
double paynet_ledger_clamp(double seconds);

/* Seconds on a clock that wall-clock jumps do not move and that every
 * process of this machine shares (CLOCK_BOOTTIME), and this boot's id. */
double paynet_ledger_clock_boot(void);
const char *paynet_ledger_boot_id(void);

paynet_status paynet_ledger_fail(paynet_error *err, const char *format, ...) PAYNET_PRINTF(2, 3);

#endif
