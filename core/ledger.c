/*
 * ledger.c — what every backend shares: choosing one by its spec, the
 * keyed hash of a number, claim tokens, records as JSON, the clocks, and
 * the one line that says who holds a number.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "ledger.h"

paynet_status paynet_ledger_fail(paynet_error *err, const char *format, ...)
{
    char text[PAYNET_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, paynet_gettext(format), ap);
    va_end(ap);
    return paynet_fail(err, PAYNET_LEDGER, PAYNET_DELIVERED_NO, "%s", text);
}

/* ---- choosing a backend ---------------------------------------------------- */

static paynet_status open_spec(const char *spec, double timeout, struct ledger **out,
                               paynet_error *err);

paynet_status paynet_ledger_open(const char *spec, double timeout, struct ledger **out,
                          paynet_error *err)
{
    *out = NULL;
    const char *from = "ledger";
    if (spec == NULL || spec[0] == '\0') {
        spec = getenv("PAYNET_LEDGER");
        from = "PAYNET_LEDGER";
    }
    if (spec == NULL || spec[0] == '\0')
        spec = "memory";
    paynet_status status = open_spec(spec, timeout, out, err);
    if (status == PAYNET_INVALID && strcmp(from, "ledger") != 0) {
        char text[PAYNET_MESSAGE_SIZE];
        snprintf(text, sizeof text, "%s", err->message);
        paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "%s: %s", from, text);
    }
    return status;
}

static paynet_status open_spec(const char *spec, double timeout, struct ledger **out,
                               paynet_error *err)
{
    if (strlen(spec) >= PAYNET_SCOPE_SIZE)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "ledger: the spec is longer than %d bytes", PAYNET_SCOPE_SIZE - 1);
    for (const char *p = spec; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "ledger: the spec holds a control character");
    if (strcmp(spec, "memory") == 0)
        return paynet_ledger_memory_shared(out, err);
    if (strncmp(spec, "sqlite:", 7) == 0)
        return paynet_ledger_sqlite_open(spec + 7, out, err);
    if (strncmp(spec, "redis://", 8) == 0 || strncmp(spec, "redis+unix://", 13) == 0)
        return paynet_ledger_redis_open(spec, timeout, out, err);
    return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                       "ledger must be \"memory\", \"sqlite:PATH\", "
                       "\"redis://[:PASSWORD@]HOST[:PORT][/DB]\" or "
                       "\"redis+unix:///PATH[?db=N]\"");
}

void paynet_ledger_close(struct ledger *l)
{
    if (l != NULL)
        l->methods->close(l);
}

/* ---- keys and tokens ------------------------------------------------------- */

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed
 * once: each number then costs two state copies and two short hashes,
 * instead of OpenSSL's one-shot HMAC(), which fetches the algorithm again
 * on every call.  A hasher for the in-process table keys by SipHash
 * instead (below). */
struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t tail;   /* bytes not yet a whole word, little-endian */
    unsigned filled; /* how many */
    uint64_t length;
};

struct paynet_ledger_hasher {
    EVP_MD_CTX *inner, *outer, *work;
    int in_process;
    uint64_t sip[2]; /* in_process: the SipHash key */
    /* the state after scope "\n" for the last scope (a client has one) */
    int scope_kept;
    char scope[PAYNET_SCOPE_SIZE];
    struct sip after_scope;
};

#define SHA256_BLOCK 64

static int hmac_key(struct paynet_ledger_hasher *h, const char *scope, const char *gsm,
                    unsigned char digest[32])
{
    unsigned int length = 0;
    size_t scope_length = strlen(scope);
    return EVP_MD_CTX_copy_ex(h->work, h->inner) == 1
           && EVP_DigestUpdate(h->work, scope, scope_length) == 1
           && EVP_DigestUpdate(h->work, "\n", 1) == 1
           && EVP_DigestUpdate(h->work, gsm, strlen(gsm)) == 1
           && EVP_DigestFinal_ex(h->work, digest, &length) == 1 && length == 32
           && EVP_MD_CTX_copy_ex(h->work, h->outer) == 1
           && EVP_DigestUpdate(h->work, digest, 32) == 1
           && EVP_DigestFinal_ex(h->work, digest, &length) == 1 && length == 32;
}

/* ---- SipHash-2-4 with a 128-bit result (Aumasson and Bernstein, 2012) ---- */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(struct sip *s)
{
    s->v0 += s->v1; s->v1 = ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3; s->v3 = ROTL(s->v3, 16); s->v3 ^= s->v2;
    s->v0 += s->v3; s->v3 = ROTL(s->v3, 21); s->v3 ^= s->v0;
    s->v2 += s->v1; s->v1 = ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = ROTL(s->v2, 32);
}

static void sip_word(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static void sip_init(struct sip *s, const uint64_t key[2])
{
    s->v0 = key[0] ^ 0x736f6d6570736575ULL;
    s->v1 = key[1] ^ 0x646f72616e646f6dULL ^ 0xee; /* 0xee: the 128-bit variant */
    s->v2 = key[0] ^ 0x6c7967656e657261ULL;
    s->v3 = key[1] ^ 0x7465646279746573ULL;
    s->tail = 0;
    s->filled = 0;
    s->length = 0;
}

static void sip_update(struct sip *s, const unsigned char *p, size_t n)
{
    s->length += n;
    while (n > 0 && s->filled > 0) { /* finish a word begun before */
        s->tail |= (uint64_t)*p++ << (8 * s->filled);
        n--;
        if (++s->filled == 8) {
            sip_word(s, s->tail);
            s->tail = 0;
            s->filled = 0;
        }
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&m, p, 8);
#else
        m = 0;
        for (int i = 7; i >= 0; i--)
            m = m << 8 | p[i];
#endif
        sip_word(s, m);
    }
    for (; n > 0; n--)
        s->tail |= (uint64_t)*p++ << (8 * s->filled++);
}

static void sip_final(struct sip *s, unsigned char out[16])
{
    sip_word(s, s->tail | s->length << 56);
    s->v2 ^= 0xee;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    uint64_t first = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    s->v1 ^= 0xdd;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    uint64_t second = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(first >> (8 * i));
        out[8 + i] = (unsigned char)(second >> (8 * i));
    }
}

void paynet_siphash128(const uint64_t key[2], const void *data, size_t n, unsigned char out[16])
{
    struct sip s;
    sip_init(&s, key);
    sip_update(&s, data, n);
    sip_final(&s, out);
}

struct paynet_ledger_hasher *paynet_ledger_hasher_new(const char *secret, int in_process)
{
    unsigned char key[SHA256_BLOCK], pad[SHA256_BLOCK];
    unsigned int key_length = 0;
    struct paynet_ledger_hasher *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    h->work = EVP_MD_CTX_new();
    memset(key, 0, sizeof key);
    size_t n = strlen(secret);
    int ok = h->inner != NULL && h->outer != NULL && h->work != NULL;
    if (ok && n > SHA256_BLOCK) /* a long key is hashed first */
        ok = EVP_Digest(secret, n, key, &key_length, EVP_sha256(), NULL) == 1;
    else if (ok)
        memcpy(key, secret, n);
    for (int i = 0; ok && i < SHA256_BLOCK; i++)
        pad[i] = key[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(h->inner, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(h->inner, pad, sizeof pad) == 1;
    for (int i = 0; ok && i < SHA256_BLOCK; i++)
        pad[i] = key[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(h->outer, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(h->outer, pad, sizeof pad) == 1;
    if (ok && in_process) {
        /* The SipHash key comes from the secret, so that every client of
         * the process with one secret finds the others' holds. */
        unsigned char digest[32];
        ok = hmac_key(h, "paynet in-process ledger", "siphash key", digest);
        for (int i = 0; i < 16; i++)
            h->sip[i / 8] |= (uint64_t)digest[i] << (8 * (i % 8));
        OPENSSL_cleanse(digest, sizeof digest);
        h->in_process = 1;
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    if (!ok) {
        paynet_ledger_hasher_free(h);
        return NULL;
    }
    return h;
}

void paynet_ledger_hasher_free(struct paynet_ledger_hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->work);
    OPENSSL_cleanse(h, sizeof *h); /* the SipHash key and the state after the scope */
    free(h);
}

int paynet_ledger_key(struct paynet_ledger_hasher *h, const char *scope, const char *gsm,
                      char out[LEDGER_KEY_SIZE])
{
    unsigned char digest[32];
    if (h->in_process) {
        struct sip s;
        if (!h->scope_kept || strcmp(scope, h->scope) != 0) {
            size_t n = strlen(scope);
            sip_init(&s, h->sip);
            sip_update(&s, (const unsigned char *)scope, n);
            sip_update(&s, (const unsigned char *)"\n", 1);
            h->scope_kept = n < sizeof h->scope;
            if (h->scope_kept) {
                memcpy(h->scope, scope, n + 1);
                h->after_scope = s;
            }
        } else {
            s = h->after_scope;
        }
        sip_update(&s, (const unsigned char *)gsm, strlen(gsm));
        sip_final(&s, digest);
        OPENSSL_cleanse(&s, sizeof s);
        to_hex(digest, 16, out);
        return 1;
    }
    if (!hmac_key(h, scope, gsm, digest))
        return 0;
    to_hex(digest, 32, out);
    return 1;
}

void paynet_ledger_token_next(struct paynet_token_pool *pool, char out[LEDGER_TOKEN_SIZE])
{
    if (pool->used == 0 || pool->used + 16 > sizeof pool->bytes) {
        if (getrandom(pool->bytes, sizeof pool->bytes, 0) != (ssize_t)sizeof pool->bytes) {
            pool->used = 0;
            paynet_ledger_token(out);
            return;
        }
        pool->used = 0;
    }
    to_hex(pool->bytes + pool->used, 16, out);
    memset(pool->bytes + pool->used, 0, 16); /* each token once */
    pool->used += 16;
    if (pool->used == sizeof pool->bytes)
        pool->used = 0;
}

void paynet_ledger_token(char out[LEDGER_TOKEN_SIZE])
{
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        struct timespec ts; /* not secret, only unique enough */
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long mix[2] = {(unsigned long)ts.tv_nsec ^ (unsigned long)getpid(),
                                (unsigned long)ts.tv_sec};
        memcpy(bytes, mix, sizeof bytes < sizeof mix ? sizeof bytes : sizeof mix);
    }
    to_hex(bytes, sizeof bytes, out);
}

/* ---- records ----------------------------------------------------------------- */

void paynet_ledger_copy_clean(char *dst, size_t size, const char *src)
{
    if (src == NULL)
        src = "";
    paynet_text_clean(src, strlen(src), dst, size);
}

double paynet_ledger_clamp(double seconds)
{
    if (!(seconds > 0)) /* also NaN */
        return 0;
    return seconds < LEDGER_MAX_HOLD ? seconds : LEDGER_MAX_HOLD;
}

char *paynet_ledger_record_json(const paynet_holder *h)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "state", h->state)
        && cJSON_AddStringToObject(o, "masked", h->masked)
        && cJSON_AddStringToObject(o, "operator", h->operator_name)
        && cJSON_AddStringToObject(o, "host", h->host)
        && cJSON_AddStringToObject(o, "program", h->program)
        && cJSON_AddStringToObject(o, "session_id", h->session_id)
        && cJSON_AddStringToObject(o, "scope", h->scope)
        && cJSON_AddNumberToObject(o, "sent_at", h->sent_at)
        && cJSON_AddNumberToObject(o, "claim_hold", h->claim_hold)
        && cJSON_AddNumberToObject(o, "send_window", h->send_window)
        && cJSON_AddStringToObject(o, "otp_expire", h->otp_expire)
        && cJSON_AddStringToObject(o, "reason", h->reason))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void json_field(const cJSON *o, const char *name, char *dst, size_t size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);
    paynet_ledger_copy_clean(dst, size, cJSON_IsString(item) ? item->valuestring : "");
}

int paynet_ledger_record_parse(const char *text, size_t length, paynet_holder *h)
{
    memset(h, 0, sizeof *h);
    cJSON *o = cJSON_ParseWithLength(text, length);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return 0;
    }
    json_field(o, "state", h->state, sizeof h->state);
    json_field(o, "masked", h->masked, sizeof h->masked);
    json_field(o, "operator", h->operator_name, sizeof h->operator_name);
    json_field(o, "host", h->host, sizeof h->host);
    json_field(o, "program", h->program, sizeof h->program);
    json_field(o, "session_id", h->session_id, sizeof h->session_id);
    json_field(o, "scope", h->scope, sizeof h->scope);
    json_field(o, "otp_expire", h->otp_expire, sizeof h->otp_expire);
    json_field(o, "reason", h->reason, sizeof h->reason);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "sent_at");
    h->sent_at = cJSON_IsNumber(at) && isfinite(at->valuedouble) ? at->valuedouble : 0;
    const cJSON *hold = cJSON_GetObjectItemCaseSensitive(o, "claim_hold");
    const cJSON *window = cJSON_GetObjectItemCaseSensitive(o, "send_window");
    h->claim_hold = cJSON_IsNumber(hold) && isfinite(hold->valuedouble) ? hold->valuedouble : 0;
    h->send_window = cJSON_IsNumber(window) && isfinite(window->valuedouble)
                         ? window->valuedouble : 0;
    cJSON_Delete(o);
    return 1;
}

/* ---- clocks ------------------------------------------------------------------- */

double paynet_ledger_clock_boot(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char boot_id[40];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f != NULL) {
        if (fgets(boot_id, sizeof boot_id, f) == NULL)
            boot_id[0] = '\0';
        fclose(f);
    }
    boot_id[strcspn(boot_id, "\n")] = '\0';
}

const char *paynet_ledger_boot_id(void)
{
    pthread_once(&boot_once, read_boot_id);
    return boot_id;
}

/* ---- for the front ends -------------------------------------------------------- */

/* m:ss (or h:mm:ss); round_up for time left, down for time past */
static void minutes_seconds(double seconds, int round_up, char *out, size_t size)
{
    long s = seconds > 0 ? (long)(round_up ? ceil(seconds) : floor(seconds)) : 0;
    if (s >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

int paynet_holder_stale(const paynet_holder *h)
{
    /* how long ago the claim was made, by the hold it has left: the
     * ledger's clock (Redis's TTL, this machine's boot clock, the
     * process's monotonic one), not the wall clock of whoever asks */
    return strcmp(h->state, "pending") == 0 && h->claim_hold > 0 && h->send_window > 0
           && h->claim_hold - h->remaining >= h->send_window;
}

void paynet_holder_describe(const paynet_holder *h, char *out, size_t size)
{
    char ago[24], left[24], who[3 * PAYNET_WHO_SIZE];
    double since = paynet_clock_wall() - h->sent_at;
    minutes_seconds(since, 0, ago, sizeof ago);
    minutes_seconds(h->remaining, 1, left, sizeof left);
    snprintf(who, sizeof who, "%s@%s", h->operator_name[0] ? h->operator_name : "unknown",
             h->host[0] ? h->host : "unknown");
    if (h->remaining >= LEDGER_MAX_HOLD) /* someone removed its expiry */
        snprintf(left, sizeof left, "%s", _("with no end set"));
    else {
        char clock[24];
        snprintf(clock, sizeof clock, "%s", left);
        /* TRANSLATORS: how long a hold lasts: "1:18 more" */
        snprintf(left, sizeof left, _("%s more"), clock);
    }
    if (strcmp(h->state, "sent") == 0)
        snprintf(out, size, _("sent %s ago by %s (session %s); valid %s"), ago, who,
                 h->session_id, left);
    else if (paynet_holder_stale(h))
        snprintf(out, size, _("a send by %s started %s ago and never recorded its outcome "
                              "(its sender stopped; a code may have gone out; session %s); "
                              "held %s"), who, ago, h->session_id, left);
    else if (strcmp(h->state, "pending") == 0)
        snprintf(out, size, _("a send by %s is in flight, started %s ago (session %s); "
                              "held %s"), who, ago, h->session_id, left);
    else if (strcmp(h->state, "duplicate") == 0)
        snprintf(out, size, _("Paynet said %s ago that an earlier code is still valid (tried by "
                              "%s, session %s); held %s"), ago, who, h->session_id, left);
    else
        snprintf(out, size, _("sent %s ago by %s (session %s) and may have delivered an "
                              "OTP (its outcome is unknown); held %s"),
                 ago, who, h->session_id, left);
}

int paynet_ledger_default(char *out, size_t size, paynet_error *err)
{
    char dir[4096];
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (state != NULL && state[0] == '/')
        snprintf(dir, sizeof dir, "%s/paynet", state);
    else if (home != NULL && home[0] == '/')
        snprintf(dir, sizeof dir, "%s/.local/state/paynet", home);
    else {
        paynet_ledger_fail(err, "neither XDG_STATE_HOME nor HOME names a folder for the default "
                         "ledger; give --ledger or PAYNET_LEDGER");
        return 0;
    }
    /* mkdir -p, the last part private */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            paynet_ledger_fail(err, "cannot create %s for the default ledger: %s (give --ledger or "
                             "PAYNET_LEDGER)", dir, strerror(errno));
            return 0;
        }
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        paynet_ledger_fail(err, "cannot create %s for the default ledger: %s (give --ledger or "
                         "PAYNET_LEDGER)", dir, strerror(errno));
        return 0;
    }
    int n = snprintf(out, size, "sqlite:%s/ledger.db", dir);
    if (n < 0 || (size_t)n >= size) {
        paynet_ledger_fail(err, "the path of the default ledger is too long");
        return 0;
    }
    return 1;
}

/* newest claim first (a backend lists its holds in its own order) */
static int newer_first(const void *a, const void *b)
{
    double x = ((const paynet_holder *)a)->sent_at, y = ((const paynet_holder *)b)->sent_at;
    return x < y ? 1 : x > y ? -1 : 0;
}

paynet_status paynet_ledger_list(const char *spec, int releases, paynet_holder **list,
                                 size_t *count, char *name, paynet_error *err)
{
    struct ledger *l;
    *list = NULL;
    *count = 0;
    paynet_status status = paynet_ledger_open(spec, 5, &l, err);
    if (status != PAYNET_OK)
        return status;
    if (name != NULL)
        memcpy(name, l->name, PAYNET_SCOPE_SIZE);
    status = l->methods->list(l, releases, list, count, err);
    paynet_ledger_close(l);
    if (status == PAYNET_OK && !releases && *count > 1)
        qsort(*list, *count, sizeof **list, newer_first);
    return status;
}
