/*
 * ledger_redis.c — the ledger of many desks on many machines: one Redis.
 *
 * A hold is a key "paynet:hold:<hmac>" whose value is "<token>\n<record
 * JSON>" and whose lifetime is a TTL on the Redis server's own clock, so
 * the desks' clocks do not matter.  The claim is SET NX PX (the pattern of
 * Redis's documentation and redlock), run in a script that also returns
 * the holder when the number is taken, so either answer costs one round
 * trip; settle is a script that changes the value only while it still
 * starts with the claim's token (compare-then-set / compare-then-delete).
 * Releases are pushed on the list "paynet:releases" (the newest 1000).
 *
 * The connection is hiredis's asynchronous context, driven by this file
 * (its event hooks only note whether hiredis wants to write): it opens on
 * first use and again after an I/O failure, and a command on a reused
 * connection that fails is tried once more on a fresh one.  A claim tried
 * again may find its own first attempt: the token says so, and it counts
 * as granted.  Claim and settle never wait: they send their command and
 * answer PAYNET_PENDING, and the send's machine asks again when the
 * connection's descriptor (ledger pollfd) is ready; every other operation
 * sends and waits for its answer in poll(2).  Every wait ends by the
 * call's deadline, or the ledger's own timeout: past it the connection is
 * dropped (a server that trickles its answer a byte at a time is cut).
 * An operation nobody waits for any more (abandon) still lands; a claim
 * granted after its call gave up on it is given back at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <poll.h>

#include "redis_link.h"

#define KEY_PREFIX "paynet:hold:"
#define RELEASED_PREFIX "paynet:released:"
#define RELEASES_KEY "paynet:releases"
#define LIST_MAX 100000      /* holds listed at most */
#define LIST_ROUNDS_MAX 10000 /* SCAN calls at most */

/* Every script answers {status, value, pttl}: what the key held, so that
 * an answer of any other shape is an error (fail closed), never "free". */
static const char claim_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, '', 0} end "
    "return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";
/* ours: 1; vanished and written anew (or nothing to release): 2; another
 * claim's: 0, left alone */
const char redis_settle_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v and string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return {0, '', 0} end "
    "if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
    "elseif v then redis.call('DEL', KEYS[1]) end "
    "if v then return {1, '', 0} end "
    "return {2, '', 0}";
static const char lookup_script[] =
    "return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";
/* only a release that ended a hold is logged; the released claim's token
 * is kept (KEYS[3]) as long as its hold would have lasted */
static const char release_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return {0, '', 0} end "
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl < 1000 then ttl = 86400000 end "
    "local nl = string.find(v, '\\n', 1, true) "
    "redis.call('SET', KEYS[3], string.sub(v, 1, (nl or 1) - 1), 'PX', ttl) "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('LPUSH', KEYS[2], ARGV[1]) "
    "redis.call('LTRIM', KEYS[2], 0, 999) "
    "return {1, '', 0}";
static const char released_script[] =
    "return {redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0, '', 0}";

static void full_key(const char *key, char out[sizeof KEY_PREFIX + LEDGER_KEY_SIZE])
{
    snprintf(out, sizeof KEY_PREFIX + LEDGER_KEY_SIZE, "%s%s", KEY_PREFIX, key);
}

/* "<token>\n<json>"; free with free(). */
static char *value_of(const char *token, const paynet_holder *record, size_t *length)
{
    char *json = paynet_ledger_record_json(record);
    if (json == NULL)
        return NULL;
    size_t n = strlen(token) + 1 + strlen(json);
    char *v = malloc(n + 1);
    if (v != NULL)
        snprintf(v, n + 1, "%s\n%s", token, json);
    free(json);
    *length = n;
    return v;
}

/* {_, value, pttl} -> holder; 1 when held (any value there holds the
 * number: one without an expiry, held with no end), 0 when free, -1 when
 * the answer makes no sense. */
static int holder_from(const redisReply *reply, const char *own_token, int *own,
                       paynet_holder *holder)
{
    *own = 0;
    if (reply->element[1]->type == REDIS_REPLY_NIL)
        return 0;
    if (reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long pttl = reply->element[2]->integer;
    const char *v = reply->element[1]->str;
    size_t n = reply->element[1]->len;
    const char *newline = memchr(v, '\n', n);
    if (own_token != NULL && newline != NULL && (size_t)(newline - v) == strlen(own_token)
        && memcmp(v, own_token, strlen(own_token)) == 0)
        *own = 1;
    if (holder != NULL) {
        if (newline == NULL
            || !paynet_ledger_record_parse(newline + 1, n - (size_t)(newline + 1 - v), holder))
            memset(holder, 0, sizeof *holder);
        holder->remaining = pttl == -1 ? LEDGER_MAX_HOLD : paynet_ledger_clamp((double)pttl / 1000.0);
        if (holder->remaining <= 0)
            holder->remaining = 0.001; /* expiring this instant: still held */
    }
    return 1;
}

static long long milliseconds(double seconds)
{
    double ms = ceil(seconds * 1000);
    return ms < 1 ? 1 : (long long)ms;
}

static paynet_status remote_claim(struct ledger *l, const char *key, const char *token,
                                  const paynet_holder *record, double pending, int *granted,
                                  paynet_holder *holder, paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    char k[sizeof KEY_PREFIX + LEDGER_KEY_SIZE], ms[32];
    size_t length;
    full_key(key, k);
    char *value = value_of(token, record, &length);
    if (value == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    snprintf(ms, sizeof ms, "%lld", milliseconds(pending));
    const char *values[] = {k, value, ms};
    const size_t lengths[] = {strlen(k), length, strlen(ms)};
    redisReply *reply;
    paynet_status status = redis_pollable(r, OP_CLAIM, token, claim_script, 1, 2, values, lengths,
                                          0, &reply, err);
    free(value);
    if (status != PAYNET_OK)
        return status;
    int own = 0, held = 0;
    if (reply->element[0]->integer == 1) {
        *granted = 1;
    } else if ((held = holder_from(reply, token, &own, holder)) == 1) {
        *granted = own; /* our own first attempt, tried again */
    } else {
        freeReplyObject(reply);
        return paynet_ledger_fail(err, "Redis at %s gave an answer that makes no sense for a "
                                "claim; nothing was sent", r->base.name);
    }
    freeReplyObject(reply);
    return PAYNET_OK;
}

static paynet_status remote_settle(struct ledger *l, const char *key, const char *token,
                                   const paynet_holder *record, double seconds, int *ours,
                                   paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    char k[sizeof KEY_PREFIX + LEDGER_KEY_SIZE], ms[32], prefix[LEDGER_TOKEN_SIZE + 1];
    size_t length = 0;
    full_key(key, k);
    snprintf(prefix, sizeof prefix, "%s\n", token);
    char *value = seconds > 0 ? value_of(token, record, &length) : NULL;
    if (seconds > 0 && value == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    snprintf(ms, sizeof ms, "%lld", seconds > 0 ? milliseconds(seconds) : 0LL);
    const char *values[] = {k, prefix, value ? value : "", ms};
    const size_t lengths[] = {strlen(k), strlen(prefix), length, strlen(ms)};
    redisReply *reply;
    paynet_status status = redis_pollable(r, OP_SETTLE, token, redis_settle_script, 1, 3, values,
                                          lengths, 0, &reply, err);
    free(value);
    if (status != PAYNET_OK)
        return status;
    *ours = (int)reply->element[0]->integer;
    if (*ours == 2)
        *ours = LEDGER_RECREATED;
    freeReplyObject(reply);
    return PAYNET_OK;
}

static paynet_status remote_lookup(struct ledger *l, const char *key, int *held,
                                   paynet_holder *holder, paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    char k[sizeof KEY_PREFIX + LEDGER_KEY_SIZE];
    full_key(key, k);
    const char *values[] = {k};
    const size_t lengths[] = {strlen(k)};
    redisReply *reply = NULL;
    if (l->patience > 0) {
        paynet_status status = redis_pollable(r, OP_LOOKUP, key, lookup_script, 1, 0, values,
                                              lengths, l->patience, &reply, err);
        if (status != PAYNET_OK)
            return status;
    } else if ((reply = redis_eval(r, lookup_script, 1, 0, values, lengths, err)) == NULL)
        return PAYNET_LEDGER;
    int own;
    *held = holder_from(reply, NULL, &own, holder);
    freeReplyObject(reply);
    if (*held < 0) {
        *held = 0;
        return paynet_ledger_fail(err, "Redis at %s holds something that is not a paynet hold under "
                                "this number's key", r->base.name);
    }
    return PAYNET_OK;
}

static paynet_status remote_release(struct ledger *l, const char *key, const paynet_holder *who,
                                    int *released, paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    paynet_holder entry = *who, held;
    int was_held = 0;
    *released = 0;
    paynet_status status = remote_lookup(l, key, &was_held, &held, err);
    if (status != PAYNET_OK)
        return status;
    if (was_held) {
        memcpy(entry.session_id, held.session_id, sizeof entry.session_id);
        memcpy(entry.scope, held.scope, sizeof entry.scope);
    }
    char k[sizeof KEY_PREFIX + LEDGER_KEY_SIZE];
    full_key(key, k);
    char *json = paynet_ledger_record_json(&entry);
    if (json == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    char tomb[sizeof RELEASED_PREFIX + LEDGER_KEY_SIZE];
    snprintf(tomb, sizeof tomb, "%s%s", RELEASED_PREFIX, key);
    const char *values[] = {k, RELEASES_KEY, tomb, json};
    const size_t lengths[] = {strlen(k), strlen(RELEASES_KEY), strlen(tomb), strlen(json)};
    redisReply *reply = redis_eval(r, release_script, 3, 1, values, lengths, err);
    free(json);
    if (reply == NULL)
        return PAYNET_LEDGER;
    *released = reply->element[0]->integer == 1;
    freeReplyObject(reply);
    return PAYNET_OK;
}

static paynet_status remote_released(struct ledger *l, const char *key, const char *token,
                                     int *yes, paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    char tomb[sizeof RELEASED_PREFIX + LEDGER_KEY_SIZE];
    snprintf(tomb, sizeof tomb, "%s%s", RELEASED_PREFIX, key);
    const char *values[] = {tomb, token};
    const size_t lengths[] = {strlen(tomb), strlen(token)};
    redisReply *reply = NULL;
    if (l->patience > 0) {
        paynet_status status = redis_pollable(r, OP_RELEASED, token, released_script, 1, 1,
                                              values, lengths, l->patience, &reply, err);
        if (status != PAYNET_OK)
            return status;
    } else if ((reply = redis_eval(r, released_script, 1, 1, values, lengths, err)) == NULL)
        return PAYNET_LEDGER;
    *yes = reply->element[0]->integer == 1;
    freeReplyObject(reply);
    return PAYNET_OK;
}

static int append(paynet_holder **list, size_t *count, size_t *capacity)
{
    if (*count < *capacity)
        return 1;
    size_t want = *capacity ? *capacity * 2 : 16;
    paynet_holder *grown = realloc(*list, want * sizeof *grown);
    if (grown == NULL)
        return 0;
    *list = grown;
    *capacity = want;
    return 1;
}

static paynet_status remote_list(struct ledger *l, int releases, paynet_holder **list,
                                 size_t *count, paynet_error *err)
{
    struct remote *r = (struct remote *)l;
    char place[300];
    size_t capacity = 0;
    paynet_status status = PAYNET_OK;
    if (releases) {
        struct command cmd = {4, {"LRANGE", RELEASES_KEY, "0", "999"},
                              {6, strlen(RELEASES_KEY), 1, 3}, ""};
        redisReply *reply = redis_command(r, &cmd, 0, err);
        if (reply == NULL)
            status = PAYNET_LEDGER;
        else if (reply->type != REDIS_REPLY_ARRAY)
            status = paynet_ledger_fail(err, "Redis at %s: odd reply to LRANGE",
                                        redis_where(r, place, sizeof place));
        else {
            for (size_t i = 0; i < reply->elements && status == PAYNET_OK; i++) {
                const redisReply *e = reply->element[i];
                if (!append(list, count, &capacity))
                    status = paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
                else if (e->type == REDIS_REPLY_STRING
                         && paynet_ledger_record_parse(e->str, e->len, &(*list)[*count]))
                    (*count)++;
            }
        }
        if (reply != NULL)
            freeReplyObject(reply);
    } else {
        char cursor[32] = "0";
        int rounds = 0;
        do {
            if (++rounds > LIST_ROUNDS_MAX || *count >= LIST_MAX) {
                status = paynet_ledger_fail(err, "Redis at %s: more than %d holds, or a SCAN that never "
                                          "ends", redis_where(r, place, sizeof place), LIST_MAX);
                break;
            }
            struct command cmd = {6, {"SCAN", cursor, "MATCH", KEY_PREFIX "*", "COUNT", "500"},
                                  {4, strlen(cursor), 5, sizeof KEY_PREFIX, 5, 3}, ""};
            redisReply *reply = redis_command(r, &cmd, 0, err);
            if (reply == NULL) {
                status = PAYNET_LEDGER;
                break;
            }
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
                || reply->element[0]->type != REDIS_REPLY_STRING
                || reply->element[1]->type != REDIS_REPLY_ARRAY) {
                status = paynet_ledger_fail(err, "Redis at %s: odd reply to SCAN",
                                            redis_where(r, place, sizeof place));
                freeReplyObject(reply);
                break;
            }
            snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
            const redisReply *keys = reply->element[1];
            for (size_t i = 0; i < keys->elements && status == PAYNET_OK; i++) {
                int held = 0;
                if (keys->element[i]->type != REDIS_REPLY_STRING
                    || keys->element[i]->len != sizeof KEY_PREFIX - 1 + LEDGER_KEY_SIZE - 1)
                    continue; /* not one of ours */
                if (!append(list, count, &capacity)) {
                    status = paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
                    break;
                }
                paynet_error skipped; /* a key that is not a hold is left out */
                if (remote_lookup(l, keys->element[i]->str + sizeof KEY_PREFIX - 1, &held,
                                  &(*list)[*count], &skipped) == PAYNET_OK && held)
                    (*count)++;
                if (r->ac == NULL) { /* the connection went away */
                    *err = skipped;
                    status = PAYNET_LEDGER;
                }
            }
            freeReplyObject(reply);
        } while (status == PAYNET_OK && strcmp(cursor, "0") != 0);
    }
    if (status != PAYNET_OK) {
        free(*list);
        *list = NULL;
        *count = 0;
    }
    return status;
}

static int remote_pollfd(struct ledger *l, int *events)
{
    return redis_link_pollfd((struct remote *)l, events);
}

static void remote_abandon(struct ledger *l, const char *token)
{
    redis_link_abandon((struct remote *)l, token);
}

static void remote_close(struct ledger *l)
{
    struct remote *r = (struct remote *)l;
    redis_link_close(r);
    volatile char *p = r->password;
    while (*p)
        *p++ = 0;
    free(r);
}

static const struct ledger_methods redis_methods = {
    1,           "redis",       remote_claim, remote_settle, remote_lookup, remote_release,
    remote_released, remote_list, remote_close, remote_pollfd, remote_abandon,
};

static paynet_status bad_url(paynet_error *err, const char *why)
{
    return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "ledger: %s", why);
}

static int parse_int(const char *s, size_t n, int low, int high, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < low || v > high)
        return 0;
    *out = (int)v;
    return 1;
}

/* redis://[:PASSWORD@]HOST[:PORT][/DB] */
static paynet_status parse_tcp(struct remote *r, const char *rest, paynet_error *err)
{
    const char *at = strrchr(rest, '@');
    if (at != NULL) {
        if (rest[0] != ':')
            return bad_url(err, "a Redis URL gives a password as redis://:PASSWORD@HOST");
        size_t n = (size_t)(at - rest - 1);
        if (n == 0 || n >= sizeof r->password)
            return bad_url(err, "the Redis password is empty or too long");
        memcpy(r->password, rest + 1, n);
        r->password[n] = '\0';
        rest = at + 1;
    }
    size_t host_end = strcspn(rest, ":/");
    if (host_end == 0 || host_end >= sizeof r->host)
        return bad_url(err, "the Redis URL has no host, as in redis://127.0.0.1:6379");
    memcpy(r->host, rest, host_end);
    r->host[host_end] = '\0';
    rest += host_end;
    r->port = 6379;
    if (*rest == ':') {
        size_t n = strcspn(rest + 1, "/");
        if (!parse_int(rest + 1, n, 1, 65535, &r->port))
            return bad_url(err, "the Redis port must be 1 to 65535");
        rest += 1 + n;
    }
    if (*rest == '/' && rest[1] != '\0' && !parse_int(rest + 1, strlen(rest + 1), 0, 10000, &r->db))
        return bad_url(err, "the Redis database must be a number, as in redis://HOST:6379/2");
    return PAYNET_OK;
}

/* redis+unix:///PATH[?db=N] */
static paynet_status parse_unix(struct remote *r, const char *rest, paynet_error *err)
{
    if (rest[0] != '/')
        return bad_url(err, "a Redis socket is given as redis+unix:///PATH/TO/SOCKET");
    size_t n = strcspn(rest, "?");
    if (n >= sizeof r->socket_path)
        return bad_url(err, "the Redis socket path is too long");
    memcpy(r->socket_path, rest, n);
    r->socket_path[n] = '\0';
    if (rest[n] == '?') {
        if (strncmp(rest + n, "?db=", 4) != 0
            || !parse_int(rest + n + 4, strlen(rest + n + 4), 0, 10000, &r->db))
            return bad_url(err, "a Redis socket URL takes only ?db=N");
    }
    return PAYNET_OK;
}

paynet_status paynet_ledger_redis_open(const char *url, double timeout, struct ledger **out,
                                paynet_error *err)
{
    struct remote *r = calloc(1, sizeof *r);
    if (r == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    r->base.methods = &redis_methods;
    r->timeout = timeout > 0 ? timeout : 5;
    int is_unix = strncmp(url, "redis+unix://", 13) == 0;
    paynet_status status = is_unix ? parse_unix(r, url + 13, err) : parse_tcp(r, url + 8, err);
    if (status != PAYNET_OK) {
        remote_close(&r->base);
        return status;
    }
    if (is_unix)
        snprintf(r->base.name, sizeof r->base.name, "redis+unix://%s?db=%d", r->socket_path,
                 r->db);
    else
        snprintf(r->base.name, sizeof r->base.name, "redis://%s%s:%d/%d",
                 r->password[0] ? ":***@" : "", r->host, r->port, r->db);
    *out = &r->base;
    return PAYNET_OK;
}
