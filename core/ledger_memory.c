/*
 * ledger_memory.c — a table in memory, counted down on CLOCK_MONOTONIC.
 * "memory", the module's default, is one table for the whole process,
 * shared by every client in it (behind a mutex): it keeps the promise
 * within one process (use sqlite: or redis:// across processes).  Each
 * client also keeps a private one of its own sends (hold.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define RELEASES_KEPT 100
#define SWEEP_PER_CLAIM 4 /* slots a claim looks at for an expired hold */

/* A hold.  Each lives in an allocation of its own, so that the table's
 * slots stay small (a pointer) however many holds there are. */
struct entry {
    char key[LEDGER_KEY_SIZE];
    char token[LEDGER_TOKEN_SIZE];
    uint64_t hash;
    double until; /* CLOCK_MONOTONIC seconds */
    paynet_holder record;
};

/* An open-addressing hash table (linear probing, deletion by shifting the
 * run back: no tombstones), at most half full: a claim, a lookup and a
 * settle cost the same with one live hold or a million.  Expired holds go
 * when met: a lookup that finds one, and a few slots each claim sweeps. */
struct memory {
    struct ledger base;
    struct entry **slots;
    size_t capacity, count, sweep; /* capacity: a power of two, or 0 */
    paynet_holder releases[RELEASES_KEPT]; /* a ring, newest at next - 1 */
    size_t next, release_count;
};

/* A key or a token: hex digits the client made, copied as they are. */
static void copy_digits(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    while (n < size - 1 && src[n] != '\0')
        n++;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* FNV-1a over the key's text (the client's keys are digests already; the
 * tests' are words). */
static uint64_t hash_of(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_of(const struct memory *m, const char *key, uint64_t hash)
{
    size_t mask = m->capacity - 1, i = (size_t)hash & mask;
    while (m->slots[i] != NULL
           && (m->slots[i]->hash != hash || strcmp(m->slots[i]->key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

/* Empties slot i, moving back every entry of the run after it that may
 * sit nearer its home slot. */
static void remove_at(struct memory *m, size_t i)
{
    size_t mask = m->capacity - 1, j = i;
    free(m->slots[i]);
    m->slots[i] = NULL;
    m->count--;
    for (;;) {
        j = (j + 1) & mask;
        struct entry *e = m->slots[j];
        if (e == NULL)
            return;
        size_t home = (size_t)e->hash & mask;
        /* e may move to i when its home is not cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->slots[i] = e;
            m->slots[j] = NULL;
            i = j;
        }
    }
}

/* The live entry of key, or NULL; an expired one met here is dropped. */
static struct entry *find(struct memory *m, const char *key, double now)
{
    if (m->count == 0)
        return NULL;
    size_t i = slot_of(m, key, hash_of(key));
    struct entry *e = m->slots[i];
    if (e != NULL && e->until <= now) {
        remove_at(m, i);
        e = NULL;
    }
    return e;
}

/* A few slots more of the table, from where the last claim stopped: the
 * expired holds nobody asks about go at a bounded cost a claim. */
static void sweep(struct memory *m, double now)
{
    for (int n = 0; n < SWEEP_PER_CLAIM && m->count > 0; n++) {
        size_t i = m->sweep & (m->capacity - 1);
        if (m->slots[i] != NULL && m->slots[i]->until <= now)
            remove_at(m, i); /* slot i may hold a moved entry now: looked at next */
        else
            m->sweep++;
    }
}

/* Room for one more entry (the table at most half full). */
static int make_room(struct memory *m)
{
    if (2 * (m->count + 1) <= m->capacity)
        return 1;
    size_t want = m->capacity ? 2 * m->capacity : 16;
    struct entry **slots = calloc(want, sizeof *slots);
    if (slots == NULL)
        return 0;
    struct memory grown = *m;
    grown.slots = slots;
    grown.capacity = want;
    for (size_t i = 0; i < m->capacity; i++)
        if (m->slots[i] != NULL)
            slots[slot_of(&grown, m->slots[i]->key, m->slots[i]->hash)] = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->capacity = want;
    return 1;
}

static void holder_of(const struct entry *e, double now, paynet_holder *holder)
{
    if (holder == NULL)
        return;
    *holder = e->record;
    holder->remaining = e->until - now;
}

/* A claim makes room for its entry, so that settling never allocates: a
 * send whose hold could not be remembered does not happen at all. */
static paynet_status memory_claim(struct ledger *l, const char *key, const char *token,
                                  const paynet_holder *record, double pending, int *granted,
                                  paynet_holder *holder, paynet_error *err)
{
    struct memory *m = (struct memory *)l;
    double now = paynet_clock_mono();
    struct entry *e = find(m, key, now);
    if (e != NULL) {
        *granted = 0;
        holder_of(e, now, holder);
        return PAYNET_OK;
    }
    if (m->count > 0)
        sweep(m, now);
    e = malloc(sizeof *e);
    if (e == NULL || !make_room(m)) {
        free(e);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    copy_digits(e->key, sizeof e->key, key);
    copy_digits(e->token, sizeof e->token, token);
    e->hash = hash_of(e->key);
    e->record = *record;
    e->until = now + pending;
    m->slots[slot_of(m, e->key, e->hash)] = e;
    m->count++;
    *granted = 1;
    return PAYNET_OK;
}

static paynet_status memory_settle(struct ledger *l, const char *key, const char *token,
                                   const paynet_holder *record, double seconds, int *ours,
                                   paynet_error *err)
{
    struct memory *m = (struct memory *)l;
    (void)err;
    *ours = 0;
    if (m->count == 0)
        return PAYNET_OK;
    size_t i = slot_of(m, key, hash_of(key));
    struct entry *e = m->slots[i];
    if (e == NULL || strcmp(e->token, token) != 0)
        return PAYNET_OK; /* another claim's, or none: left alone */
    *ours = 1;
    if (seconds > 0) {
        e->record = *record;
        e->until = paynet_clock_mono() + seconds;
    } else {
        remove_at(m, i);
    }
    return PAYNET_OK;
}

static paynet_status memory_lookup(struct ledger *l, const char *key, int *held,
                                   paynet_holder *holder, paynet_error *err)
{
    struct memory *m = (struct memory *)l;
    (void)err;
    double now = paynet_clock_mono();
    struct entry *e = find(m, key, now);
    *held = e != NULL;
    if (e != NULL)
        holder_of(e, now, holder);
    return PAYNET_OK;
}

static paynet_status memory_release(struct ledger *l, const char *key, const paynet_holder *who,
                                    int *released, paynet_error *err)
{
    struct memory *m = (struct memory *)l;
    (void)err;
    double now = paynet_clock_mono();
    struct entry *e = find(m, key, now);
    *released = e != NULL;
    if (e == NULL)
        return PAYNET_OK; /* only a release that ended a hold is logged */
    paynet_holder *log = &m->releases[m->next];
    *log = *who;
    memcpy(log->session_id, e->record.session_id, sizeof log->session_id);
    remove_at(m, slot_of(m, key, e->hash));
    m->next = (m->next + 1) % RELEASES_KEPT;
    if (m->release_count < RELEASES_KEPT)
        m->release_count++;
    return PAYNET_OK;
}

static paynet_status memory_released(struct ledger *l, const char *key, const char *token,
                                     int *yes, paynet_error *err)
{
    (void)l, (void)key, (void)token, (void)err;
    *yes = 0; /* the memory ledger is one client's: its releases are its own */
    return PAYNET_OK;
}

int paynet_ledger_memory_token(struct ledger *l, const char *key, char token[LEDGER_TOKEN_SIZE])
{
    struct memory *m = (struct memory *)l;
    struct entry *e = find(m, key, paynet_clock_mono());
    if (e == NULL)
        return 0;
    memcpy(token, e->token, LEDGER_TOKEN_SIZE);
    return 1;
}

static paynet_status memory_list(struct ledger *l, int releases, paynet_holder **list,
                                 size_t *count, paynet_error *err)
{
    struct memory *m = (struct memory *)l;
    double now = paynet_clock_mono();
    size_t n = releases ? m->release_count : m->count;
    *list = calloc(n ? n : 1, sizeof **list);
    if (*list == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    *count = 0;
    if (releases) {
        for (size_t i = 0; i < n; i++)
            (*list)[(*count)++] = m->releases[(m->next + RELEASES_KEPT - 1 - i) % RELEASES_KEPT];
    } else {
        for (size_t i = 0; i < m->capacity; i++)
            if (m->slots[i] != NULL && m->slots[i]->until > now)
                holder_of(m->slots[i], now, &(*list)[(*count)++]);
    }
    return PAYNET_OK;
}

static void memory_close(struct ledger *l)
{
    struct memory *m = (struct memory *)l;
    for (size_t i = 0; i < m->capacity; i++)
        free(m->slots[i]);
    free(m->slots);
    free(m);
}

static const struct ledger_methods memory_methods = {
    1, "memory", memory_claim, memory_settle, memory_lookup, memory_release, memory_released,
    memory_list, memory_close, NULL, NULL,
};

paynet_status paynet_ledger_memory_open(const char *where, struct ledger **out, paynet_error *err)
{
    struct memory *m = calloc(1, sizeof *m);
    if (m == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    m->base.methods = &memory_methods;
    paynet_copy_utf8(m->base.name, sizeof m->base.name, where);
    *out = &m->base;
    return PAYNET_OK;
}

/* ---- "memory": the process's one table, shared by every client ---------- */

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ledger *shared_table; /* made on first use, kept until exit:
                                       a client made later still sees the
                                       holds of one closed before */

#define SHARED(call)                                                             \
    do {                                                                         \
        pthread_mutex_lock(&shared_lock);                                        \
        paynet_status status_ = (call);                                          \
        pthread_mutex_unlock(&shared_lock);                                      \
        return status_;                                                          \
    } while (0)

static paynet_status shared_claim(struct ledger *l, const char *key, const char *token,
                                  const paynet_holder *record, double pending, int *granted,
                                  paynet_holder *holder, paynet_error *err)
{
    (void)l;
    SHARED(memory_claim(shared_table, key, token, record, pending, granted, holder, err));
}

static paynet_status shared_settle(struct ledger *l, const char *key, const char *token,
                                   const paynet_holder *record, double seconds, int *ours,
                                   paynet_error *err)
{
    (void)l;
    SHARED(memory_settle(shared_table, key, token, record, seconds, ours, err));
}

static paynet_status shared_lookup(struct ledger *l, const char *key, int *held,
                                   paynet_holder *holder, paynet_error *err)
{
    (void)l;
    SHARED(memory_lookup(shared_table, key, held, holder, err));
}

static paynet_status shared_release(struct ledger *l, const char *key, const paynet_holder *who,
                                    int *released, paynet_error *err)
{
    (void)l;
    SHARED(memory_release(shared_table, key, who, released, err));
}

static paynet_status shared_released(struct ledger *l, const char *key, const char *token,
                                     int *yes, paynet_error *err)
{
    (void)l;
    SHARED(memory_released(shared_table, key, token, yes, err));
}

static paynet_status shared_list(struct ledger *l, int releases, paynet_holder **list,
                                 size_t *count, paynet_error *err)
{
    (void)l;
    SHARED(memory_list(shared_table, releases, list, count, err));
}

static void shared_close(struct ledger *l) { free(l); } /* the table stays */

static const struct ledger_methods shared_methods = {
    1, "memory", shared_claim, shared_settle, shared_lookup, shared_release, shared_released,
    shared_list, shared_close, NULL, NULL,
};

paynet_status paynet_ledger_memory_shared(struct ledger **out, paynet_error *err)
{
    struct ledger *handle = calloc(1, sizeof *handle);
    if (handle == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    pthread_mutex_lock(&shared_lock);
    paynet_status status = PAYNET_OK;
    if (shared_table == NULL)
        status = paynet_ledger_memory_open("memory", &shared_table, err);
    pthread_mutex_unlock(&shared_lock);
    if (status != PAYNET_OK) {
        free(handle);
        return status;
    }
    handle->methods = &shared_methods;
    snprintf(handle->name, sizeof handle->name, "memory");
    *out = handle;
    return PAYNET_OK;
}

/* At exit, or when a host unloads the library (Lua closing its state
 * unloads the module after collecting every client): the table goes too. */
__attribute__((destructor)) static void forget_at_unload(void) { paynet_ledger_memory_forget(); }

void paynet_ledger_memory_forget(void)
{
    pthread_mutex_lock(&shared_lock);
    if (shared_table != NULL)
        memory_close(shared_table);
    shared_table = NULL;
    pthread_mutex_unlock(&shared_lock);
}
