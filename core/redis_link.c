/*
 * redis_link.c — the connection to one Redis (doc/design.md, "The
 * ledger"): hiredis's asynchronous context driven by this file, with its
 * event hooks only noting whether hiredis wants to write.  It opens on
 * first use (AUTH and SELECT queued behind the connect) and again after
 * an I/O failure.  A command waits for its answer in poll(2)
 * (redis_command), or is sent once and looked for by its token each time
 * it is asked again (redis_pollable: the claim and settle of a call, which
 * never wait).  Every wait ends by the call's deadline, or the ledger's
 * own timeout: past it the connection is dropped, so a server that
 * trickles its answer a byte at a time is cut.  An op nobody waits for any
 * more still lands; a claim granted after its call gave up on it is given
 * back at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_link.h"

/* A Redis that went away makes the next write raise SIGPIPE, which would
 * kill a program that did not ignore it (a Lua script, paynet-otp): it is
 * blocked around each exchange, and one that arrived is taken back, as
 * libcurl does around its own writes. */
struct sigpipe_guard {
    sigset_t old;
    int was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t pipe_only, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
}

static void sigpipe_restore(const struct sigpipe_guard *g)
{
    sigset_t pipe_only, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        const struct timespec now = {0, 0};
        sigtimedwait(&pipe_only, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

void redis_link_disconnect(struct remote *r)
{
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac); /* every op in flight is answered NULL */
    }
    r->wants_write = 0;
}

const char *redis_where(const struct remote *r, char *out, size_t size)
{
    if (r->socket_path[0])
        snprintf(out, size, "%s", r->socket_path);
    else
        snprintf(out, size, "%s:%d", r->host, r->port);
    return out;
}

/* What to try when Redis answers an error a person can act on. */
static const char *hint(const redisReply *reply, const redisContext *ctx)
{
    const char *text = reply != NULL && reply->str != NULL ? reply->str
                       : ctx != NULL ? ctx->errstr : "";
    if (strncmp(text, "NOAUTH", 6) == 0 || strncmp(text, "WRONGPASS", 9) == 0)
        return " (give the password as redis://:PASSWORD@HOST:PORT)";
    if (strstr(text, "Protocol error") != NULL)
        return " (is a Redis server listening there?)";
    return "";
}

/* hiredis's event hooks: it says when it wants to write; reading is
 * always wanted while a connection is open. */
static void hook_add_write(void *data) { ((struct remote *)data)->wants_write = 1; }
static void hook_del_write(void *data) { ((struct remote *)data)->wants_write = 0; }
static void hook_none(void *data) { (void)data; }

/* The connection failed or closed: hiredis frees it itself. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    struct remote *r = ac->data;
    if (status != REDIS_OK && r != NULL && r->ac == ac) {
        r->ac = NULL;
        r->wants_write = 0;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct remote *r = ac->data;
    if (r != NULL && r->ac == ac) {
        r->ac = NULL;
        r->wants_write = 0;
    }
}


static void unlink_op(struct op *op)
{
    struct remote *r = op->r;
    for (struct op **p = &r->ops; *p != NULL; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
}

static void op_free(struct op *op)
{
    if (op->reply != NULL)
        freeReplyObject(op->reply);
    free(op);
}

/* An answer, or NULL when the connection went: kept for whoever waits
 * (hiredis frees its reply after this returns: the op takes its content). */
static void on_reply(redisAsyncContext *ac, void *reply_, void *data)
{
    struct op *op = data;
    redisReply *reply = reply_;
    op->done = 1;
    if (reply != NULL) {
        op->reply = malloc(sizeof *op->reply);
        if (op->reply != NULL) {
            *op->reply = *reply;
            reply->type = REDIS_REPLY_INTEGER; /* its strings and elements are the op's now */
        } else
            snprintf(op->why, sizeof op->why, "out of memory");
    } else
        snprintf(op->why, sizeof op->why, "%s",
                 ac->errstr[0] ? ac->errstr : "connection closed");
    if (op->kind == OP_SETUP) {
        struct remote *r = op->r;
        if (op->reply != NULL && op->reply->type == REDIS_REPLY_ERROR && r->setup_error[0] == '\0')
            snprintf(r->setup_error, sizeof r->setup_error, "%s: %s", op->token, op->reply->str);
        op_free(op);
        return;
    }
    if (!op->orphan)
        return;
    /* nobody waits: a claim granted now is given back, anything else dropped */
    unlink_op(op);
    if (op->kind == OP_CLAIM && op->reply != NULL && op->reply->type == REDIS_REPLY_ARRAY
        && op->reply->elements == 3 && op->reply->element[0]->type == REDIS_REPLY_INTEGER
        && op->reply->element[0]->integer == 1)
        redis_give_back(op->r, op->key, op->token);
    op_free(op);
}

/* Sends what hiredis holds and reads what came, without waiting. */
static void service(struct remote *r)
{
    if (r->ac == NULL)
        return;
    struct pollfd p = {r->ac->c.fd, POLLIN | (r->wants_write ? POLLOUT : 0), 0};
    if (poll(&p, 1, 0) <= 0)
        return;
    if (r->ac != NULL && (p.revents & POLLOUT))
        redisAsyncHandleWrite(r->ac);
    if (r->ac != NULL && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        redisAsyncHandleRead(r->ac);
}

/* A command on the connection for a setup step (AUTH, SELECT): its
 * refusal is kept in r->setup_error. */
static int setup_command(struct remote *r, const char *step, int argc, const char **argv,
                         const size_t *argl)
{
    struct op *op = calloc(1, sizeof *op);
    if (op == NULL)
        return 0;
    op->r = r;
    op->kind = OP_SETUP;
    snprintf(op->token, sizeof op->token, "%s", step);
    if (redisAsyncCommandArgv(r->ac, on_reply, op, argc, argv, argl) != REDIS_OK) {
        free(op);
        return 0;
    }
    return 1;
}

/* Opens the connection when there is none: the connect runs on while the
 * first commands wait in hiredis's buffer. */
static paynet_status connect_redis(struct remote *r, paynet_error *err)
{
    char place[300];
    if (r->ac != NULL)
        return PAYNET_OK;
    r->setup_error[0] = '\0';
    redisAsyncContext *ac = r->socket_path[0] ? redisAsyncConnectUnix(r->socket_path)
                                              : redisAsyncConnect(r->host, r->port);
    if (ac == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    if (ac->err) {
        paynet_ledger_fail(err, "cannot reach Redis at %s: %s", redis_where(r, place, sizeof place),
                           ac->errstr);
        redisAsyncFree(ac);
        return PAYNET_LEDGER;
    }
    ac->data = r;
    ac->ev.data = r;
    ac->ev.addRead = hook_none;
    ac->ev.delRead = hook_none;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_none;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->wants_write = 1; /* the connect completes when the socket is writable */
    int ok = 1;
    if (r->password[0]) {
        const char *argv[] = {"AUTH", r->password};
        const size_t argl[] = {4, strlen(r->password)};
        ok = setup_command(r, "AUTH", 2, argv, argl);
    }
    if (ok && r->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        const char *argv[] = {"SELECT", db};
        const size_t argl[] = {6, strlen(db)};
        ok = setup_command(r, "SELECT", 2, argv, argl);
    }
    if (!ok) {
        redis_link_disconnect(r);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    return PAYNET_OK;
}

/* When a wait on Redis ends: the call's deadline, else the ledger's own
 * timeout from `from`. */
static double wait_end(const struct remote *r, double from)
{
    return r->base.deadline > 0 ? r->base.deadline : from + r->timeout;
}

void redis_eval_command(struct command *cmd, const char *script, int nkeys, int nargs,
                        const char *const *values, const size_t *lengths)
{
    snprintf(cmd->count, sizeof cmd->count, "%d", nkeys);
    cmd->argv[0] = "EVAL", cmd->argl[0] = 4;
    cmd->argv[1] = script, cmd->argl[1] = strlen(script);
    cmd->argv[2] = cmd->count, cmd->argl[2] = strlen(cmd->count);
    for (int i = 0; i < nkeys + nargs; i++)
        cmd->argv[3 + i] = values[i], cmd->argl[3 + i] = lengths[i];
    cmd->argc = 3 + nkeys + nargs;
}

static struct op *op_new(struct remote *r, enum op_kind kind, const char *token,
                         const char *key)
{
    struct op *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->r = r;
    op->kind = kind;
    if (token != NULL)
        snprintf(op->token, sizeof op->token, "%s", token);
    if (key != NULL)
        snprintf(op->key, sizeof op->key, "%s", key);
    return op;
}

/* Queues cmd on the connection for op (no I/O: hiredis writes when told);
 * 0 when hiredis refused it. */
static int queue(struct remote *r, struct op *op, struct command *cmd)
{
    if (redisAsyncCommandArgv(r->ac, on_reply, op, cmd->argc, (const char **)cmd->argv,
                              cmd->argl) != REDIS_OK)
        return 0;
    op->next = r->ops;
    r->ops = op;
    return 1;
}

/* Sends cmd: the op that waits for its answer, or NULL with err filled. */
static struct op *submit(struct remote *r, enum op_kind kind, const char *token,
                         struct command *cmd, paynet_error *err)
{
    char place[300];
    if (r->base.deadline > 0 && paynet_clock_mono() >= r->base.deadline) {
        paynet_ledger_fail(err, "no time left to ask Redis at %s (the call's timeout)",
                           redis_where(r, place, sizeof place));
        return NULL;
    }
    int fresh = r->ac == NULL;
    if (connect_redis(r, err) != PAYNET_OK)
        return NULL;
    struct op *op = op_new(r, kind, token, cmd->argc > 3 && kind == OP_CLAIM ? cmd->argv[3] : NULL);
    if (op == NULL) {
        paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
        return NULL;
    }
    op->fresh = fresh;
    op->sent_at = paynet_clock_mono();
    if (!queue(r, op, cmd)) {
        free(op);
        paynet_ledger_fail(err, "lost Redis at %s: %s", redis_where(r, place, sizeof place),
                           r->ac != NULL && r->ac->errstr[0] ? r->ac->errstr : "cannot send");
        redis_link_disconnect(r);
        return NULL;
    }
    service(r); /* out now, and perhaps the answer too */
    return op;
}

/* A claim its call gave up on was granted: released again at once (the
 * settle script deletes only while the value still carries its token). */
void redis_give_back(struct remote *r, const char *key, const char *token)
{
    char prefix[LEDGER_TOKEN_SIZE + 1];
    snprintf(prefix, sizeof prefix, "%s\n", token);
    const char *values[] = {key, prefix, "", "0"};
    const size_t lengths[] = {strlen(key), strlen(prefix), 0, 1};
    struct command cmd;
    redis_eval_command(&cmd, redis_settle_script, 1, 3, values, lengths);
    struct op *op = r->ac != NULL ? op_new(r, OP_SETTLE, token, NULL) : NULL;
    if (op == NULL)
        return; /* the claim's own hold ends by itself */
    op->orphan = 1;
    if (!queue(r, op, &cmd))
        free(op);
}

/* The answer of an op that is done: the reply (the caller frees it), or
 * NULL with err filled; an EVAL's must be one of the scripts' {status,
 * value, pttl}.  Frees the op. */
static redisReply *take(struct op *op, int is_eval, paynet_error *err)
{
    struct remote *r = op->r;
    char place[300];
    redisReply *reply = op->reply;
    op->reply = NULL;
    unlink_op(op);
    if (reply == NULL) {
        if (r->setup_error[0])
            paynet_ledger_fail(err, "Redis at %s refused %s%s", redis_where(r, place, sizeof place),
                               r->setup_error, strstr(r->setup_error, "AUTH") == r->setup_error
                               ? " (give the password as redis://:PASSWORD@HOST:PORT)" : "");
        else if (op->fresh && strstr(op->why, "refused") != NULL)
            paynet_ledger_fail(err, "cannot reach Redis at %s: %s", redis_where(r, place, sizeof place),
                               op->why);
        else
            paynet_ledger_fail(err, "lost Redis at %s: %s", redis_where(r, place, sizeof place),
                               op->why);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (r->setup_error[0])
            paynet_ledger_fail(err, "Redis at %s refused %s%s", redis_where(r, place, sizeof place),
                               r->setup_error, strstr(r->setup_error, "AUTH") == r->setup_error
                               ? " (give the password as redis://:PASSWORD@HOST:PORT)" : "");
        else
            paynet_ledger_fail(err, "Redis at %s: %s%s", redis_where(r, place, sizeof place),
                               reply->str, hint(reply, NULL));
        freeReplyObject(reply);
        reply = NULL;
    } else if (is_eval && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
                           || reply->element[0]->type != REDIS_REPLY_INTEGER)) {
        paynet_ledger_fail(err, "Redis at %s gave an answer of the wrong shape%s",
                           redis_where(r, place, sizeof place), " (is a Redis server listening there?)");
        freeReplyObject(reply);
        reply = NULL;
    }
    free(op);
    return reply;
}

/* Whether a failed op may be sent again: it failed on a reused connection
 * that went away (not on one opened for it, and not by its time). */
static int worth_again(const struct op *op)
{
    return op->reply == NULL && !op->fresh && op->r->setup_error[0] == '\0';
}

/* Waits in poll(2) for op's answer until the wait's end; past it the
 * connection is dropped (op answered NULL).  The op is done after. */
static void wait_op(struct op *op, double end)
{
    struct remote *r = op->r;
    while (!op->done) {
        double left = end - paynet_clock_mono();
        if (left <= 0 || r->ac == NULL) {
            redis_link_disconnect(r);
            if (!op->done) { /* not sent at all: no connection */
                op->done = 1;
                snprintf(op->why, sizeof op->why, "connection closed");
            }
            if (left <= 0)
                snprintf(op->why, sizeof op->why, "no answer in time");
            break;
        }
        struct pollfd p = {r->ac->c.fd, POLLIN | (r->wants_write ? POLLOUT : 0), 0};
        int ms = (int)ceil(left * 1000);
        if (poll(&p, 1, ms > 0 ? ms : 1) > 0)
            service(r);
    }
}

/* A command, waiting for the answer: tried once more on a fresh
 * connection when a reused one failed.  NULL with err filled. */
redisReply *redis_command(struct remote *r, struct command *cmd, int is_eval,
                          paynet_error *err)
{
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    redisReply *reply = NULL;
    double from = paynet_clock_mono();
    for (int attempt = 0; attempt < 2; attempt++) {
        struct op *op = submit(r, OP_WAIT, NULL, cmd, err);
        if (op == NULL)
            break;
        wait_op(op, wait_end(r, from));
        int again = worth_again(op) && strcmp(op->why, "no answer in time") != 0;
        reply = take(op, is_eval, err);
        if (reply != NULL || !again)
            break;
    }
    sigpipe_restore(&guard);
    return reply;
}

redisReply *redis_eval(struct remote *r, const char *script, int nkeys, int nargs,
                       const char *const *values, const size_t *lengths, paynet_error *err)
{
    struct command cmd;
    redis_eval_command(&cmd, script, nkeys, nargs, values, lengths);
    return redis_command(r, &cmd, 1, err);
}

/* A patient op of another id than `id` (the screen moved to another
 * number): nobody will ask for it again. */
static void drop_others(struct remote *r, enum op_kind kind, const char *id)
{
    struct op **p = &r->ops;
    while (*p != NULL) {
        struct op *op = *p;
        if (op->kind != kind || op->orphan || strcmp(op->token, id) == 0) {
            p = &op->next;
            continue;
        }
        if (!op->done) {
            op->orphan = 1;
            p = &op->next;
            continue;
        }
        *p = op->next;
        op_free(op);
    }
}

/* An op that is not asked again by its caller's loop: sent once, then
 * looked for by its id (a claim's or settle's token, a lookup's key) each
 * time it is asked again; PAYNET_PENDING until its answer came, waiting
 * for it at most `patience` seconds each time (a claim and settle: none;
 * the call waits on the ledger's descriptor), then PAYNET_OK and *reply,
 * or the failure.  Past the call's deadline (or, with none, the ledger's
 * timeout from when it was sent) the connection is dropped: a server that
 * trickles its answer holds no op and no later command. */
paynet_status redis_pollable(struct remote *r, enum op_kind kind, const char *id,
                             const char *script, int nkeys, int nargs,
                             const char *const *values, const size_t *lengths,
                             double patience, redisReply **reply, paynet_error *err)
{
    char place[300];
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    *reply = NULL;
    struct command cmd;
    redis_eval_command(&cmd, script, nkeys, nargs, values, lengths);
    struct op *op = NULL;
    for (struct op *o = r->ops; o != NULL && op == NULL; o = o->next)
        if (o->kind == kind && !o->orphan && strcmp(o->token, id) == 0)
            op = o;
    if (kind == OP_LOOKUP || kind == OP_RELEASED)
        drop_others(r, kind, id);
    paynet_status status = PAYNET_PENDING;
    if (op == NULL)
        op = submit(r, kind, id, &cmd, err);
    else
        service(r);
    if (op != NULL && !op->done && patience > 0) {
        double until = paynet_clock_mono() + patience;
        while (!op->done && r->ac != NULL) {
            int ms = (int)ceil((until - paynet_clock_mono()) * 1000);
            if (ms <= 0)
                break;
            struct pollfd p = {r->ac->c.fd, POLLIN | (r->wants_write ? POLLOUT : 0), 0};
            if (poll(&p, 1, ms) > 0)
                service(r);
        }
    }
    if (op == NULL)
        status = err->kind;
    else if (op->done && worth_again(op)) { /* a reused connection went: once more */
        take(op, 1, err);
        op = submit(r, kind, id, &cmd, err);
        if (op == NULL)
            status = err->kind;
        else
            op->fresh = 1; /* its last chance */
    }
    double limit = op == NULL ? 0 : r->base.deadline > 0 ? r->base.deadline
                                                         : op->sent_at + r->timeout;
    if (op != NULL && op->done) {
        *reply = take(op, 1, err);
        status = *reply != NULL ? PAYNET_OK : err->kind;
    } else if (op != NULL && paynet_clock_mono() >= limit) {
        op->orphan = 1; /* a claim granted as the connection goes is never told */
        redis_link_disconnect(r);
        paynet_ledger_fail(err, "lost Redis at %s: no answer in time",
                           redis_where(r, place, sizeof place));
        status = PAYNET_LEDGER;
    } else if (op != NULL)
        paynet_ledger_fail(err, "waiting for Redis at %s", redis_where(r, place, sizeof place));
    sigpipe_restore(&guard);
    return status;
}

int redis_link_pollfd(struct remote *r, int *events)
{
    if (r->ac == NULL)
        return -1;
    *events = POLLIN | (r->wants_write ? POLLOUT : 0);
    return r->ac->c.fd;
}

void redis_link_abandon(struct remote *r, const char *token)
{
    struct op **p = &r->ops;
    while (*p != NULL) {
        struct op *op = *p;
        if (op->orphan || (op->kind != OP_CLAIM && op->kind != OP_SETTLE)
            || strcmp(op->token, token) != 0) {
            p = &op->next;
            continue;
        }
        if (!op->done) { /* its answer is dropped when it comes */
            op->orphan = 1;
            p = &op->next;
            continue;
        }
        *p = op->next; /* answered, never taken */
        if (op->kind == OP_CLAIM && op->reply != NULL && op->reply->type == REDIS_REPLY_ARRAY
            && op->reply->elements == 3 && op->reply->element[0]->type == REDIS_REPLY_INTEGER
            && op->reply->element[0]->integer == 1) {
            redis_give_back(r, op->key, op->token);
            service(r);
        }
        op_free(op);
    }
}

void redis_link_close(struct remote *r)
{
    redis_link_disconnect(r); /* every op in flight answered NULL: orphans freed */
    while (r->ops != NULL) {
        struct op *op = r->ops;
        r->ops = op->next;
        op_free(op);
    }
}
