/*
 * ledger_memory.c — a table in memory, counted down on CLOCK_MONOTONIC.
 * "memory", the module's default, is one table for the whole process,
 * shared by every client in it (behind a mutex): it keeps the promise
 * within one process (use sqlite: or redis:// across processes).  Each
 * client also keeps a private one of its own sends (client.c).
 *
 * A claim makes room for its entry, so that settling never allocates: a
 * send whose hold could not be remembered does not happen at all.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define RELEASES_KEPT 100

struct entry {
    char key[LEDGER_KEY_SIZE];
    char token[LEDGER_TOKEN_SIZE];
    double until; /* CLOCK_MONOTONIC seconds */
    paynet_holder record;
};

struct memory {
    struct ledger base;
    struct entry *entries;
    size_t count, capacity;
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

static struct entry *find(struct memory *m, const char *key, double now)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->entries[i].key, key) == 0)
            return m->entries[i].until > now ? &m->entries[i] : NULL;
    return NULL;
}

static void drop_expired(struct memory *m, double now)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->entries[i].until > now)
            m->entries[kept++] = m->entries[i];
    m->count = kept;
}

static void holder_of(const struct entry *e, double now, paynet_holder *holder)
{
    if (holder == NULL)
        return;
    *holder = e->record;
    holder->remaining = e->until - now;
}

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
    drop_expired(m, now);
    if (m->count == m->capacity) {
        size_t want = m->capacity ? m->capacity * 2 : 8;
        struct entry *grown = realloc(m->entries, want * sizeof *grown);
        if (grown == NULL)
            return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
        m->entries = grown;
        m->capacity = want;
    }
    e = &m->entries[m->count++];
    copy_digits(e->key, sizeof e->key, key);
    copy_digits(e->token, sizeof e->token, token);
    e->record = *record;
    e->until = now + pending;
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
    for (size_t i = 0; i < m->count; i++) {
        struct entry *e = &m->entries[i];
        if (strcmp(e->key, key) != 0 || strcmp(e->token, token) != 0)
            continue;
        *ours = 1;
        if (seconds > 0) {
            e->record = *record;
            e->until = paynet_clock_mono() + seconds;
        } else {
            *e = m->entries[--m->count];
        }
        break;
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
    *e = m->entries[--m->count];
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
        for (size_t i = 0; i < n; i++)
            if (m->entries[i].until > now)
                holder_of(&m->entries[i], now, &(*list)[(*count)++]);
    }
    return PAYNET_OK;
}

static void memory_close(struct ledger *l)
{
    struct memory *m = (struct memory *)l;
    free(m->entries);
    free(m);
}

static const struct ledger_methods memory_methods = {
    1, "memory", memory_claim, memory_settle, memory_lookup, memory_release, memory_released,
    memory_list, memory_close,
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
    shared_list, shared_close,
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
