/*
 * redis_link.h — the connection to one Redis, shared by ledger_redis.c
 * (the ledger's operations) and redis_link.c (the connection, its
 * commands and their answers).  Not installed.
 */
#ifndef PAYNET_REDIS_LINK_H
#define PAYNET_REDIS_LINK_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "ledger.h"

/* One command and its answer. */
enum op_kind { OP_WAIT, OP_CLAIM, OP_SETTLE, OP_SETUP, OP_LOOKUP, OP_RELEASED };
struct op {
    struct op *next;    /* the remote's ops in flight */
    struct remote *r;
    enum op_kind kind;
    /* how its caller finds it: a claim's or settle's token, a lookup's
     * number key (the longer: a key cut to a token's size is never found
     * again, and each ask would send the question once more) */
    char token[LEDGER_KEY_SIZE > LEDGER_TOKEN_SIZE ? LEDGER_KEY_SIZE : LEDGER_TOKEN_SIZE];
    char key[sizeof "paynet:hold:" + LEDGER_KEY_SIZE]; /* a claim's: to give it back */
    int done;           /* the answer came (reply), or the connection went (why) */
    int orphan;         /* nobody waits for it: the answer is dropped */
    int fresh;          /* sent on a connection opened for it */
    double sent_at;     /* paynet_clock_mono */
    redisReply *reply;  /* taken from hiredis; NULL with why */
    char why[256];
};

struct remote {
    struct ledger base;
    char host[200];
    int port;
    char socket_path[200]; /* "" for TCP */
    char password[256];
    int db;
    double timeout;
    redisAsyncContext *ac; /* NULL: none (yet, or since it failed) */
    int wants_write;       /* hiredis has bytes to send (its addWrite hook) */
    char setup_error[300]; /* why AUTH or SELECT was refused on this connection */
    struct op *ops;        /* sent, answer not yet taken */
};

/* The argv of EVAL script with keys and arguments (binary-safe). */
struct command {
    int argc;
    const char *argv[8];
    size_t argl[8];
    char count[8];
};

/* The settle script (ledger_redis.c): a claim given back runs it. */
extern const char redis_settle_script[];

void redis_link_disconnect(struct remote *r);
/* Drops the connection and every op: the ledger closes. */
void redis_link_close(struct remote *r);
const char *redis_where(const struct remote *r, char *out, size_t size);
void redis_eval_command(struct command *cmd, const char *script, int nkeys, int nargs,
                        const char *const *values, const size_t *lengths);
/* A command, waiting for its answer (an EVAL's must have the scripts'
 * shape): NULL with err filled. */
redisReply *redis_command(struct remote *r, struct command *cmd, int is_eval,
                          paynet_error *err);
redisReply *redis_eval(struct remote *r, const char *script, int nkeys, int nargs,
                       const char *const *values, const size_t *lengths, paynet_error *err);
/* A claim, settle or patient lookup, found again by its id: PAYNET_PENDING
 * until its answer came (waited for at most `patience` seconds), then
 * PAYNET_OK and *reply, or the failure. */
paynet_status redis_pollable(struct remote *r, enum op_kind kind, const char *id,
                             const char *script, int nkeys, int nargs,
                             const char *const *values, const size_t *lengths,
                             double patience, redisReply **reply, paynet_error *err);
void redis_give_back(struct remote *r, const char *key, const char *token);
int redis_link_pollfd(struct remote *r, int *events);
void redis_link_abandon(struct remote *r, const char *token);

#endif
