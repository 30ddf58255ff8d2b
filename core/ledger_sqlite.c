/*
 * ledger_sqlite.c — the ledger of one machine: a SQLite file that every
 * process of the desk opens (the command-line programs' default, under
 * $XDG_STATE_HOME/paynet/).
 *
 * WAL, a durable commit for each claim (synchronous=FULL), BEGIN IMMEDIATE
 * so that two claims for one number serialise, and a busy timeout so that
 * a racing process waits its turn instead of failing.  A hold ends at
 * whichever is later of a wall-clock instant and an instant on this boot's
 * CLOCK_BOOTTIME: a wall-clock jump on the desk never shortens it, and
 * after a reboot the wall clock still holds it.  The file is created mode
 * 600; SQLite gives its -wal and -shm files the same mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger.h"

#define BUSY_TIMEOUT_MS 5000
/* A send's claim and settle wait this long at most for another process's
 * write lock, then answer PAYNET_PENDING: the send retries from its loop
 * until its deadline, and the loop (the screen's keys, its countdown)
 * never waits on the file (doc/design.md, "The ledger"). */
#define STEP_BUSY_MS 10

enum { ST_FIND, ST_CLAIM, ST_UPDATE, ST_DELETE, ST_PURGE, ST_LOG, ST_LIVE, ST_LOGGED,
       ST_RELEASED, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT };

static const char *const statements[ST_COUNT] = {
    [ST_FIND] = "SELECT record, until_wall, boot_id, until_boot, token FROM holds WHERE key = ?1",
    [ST_CLAIM] = "INSERT OR REPLACE INTO holds(key, token, record, until_wall, boot_id, "
                 "until_boot) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_UPDATE] = "UPDATE holds SET record = ?3, until_wall = ?4, boot_id = ?5, "
                  "until_boot = ?6 WHERE key = ?1 AND token = ?2",
    [ST_DELETE] = "DELETE FROM holds WHERE key = ?1 AND (?2 IS NULL OR token = ?2)",
    /* a claim's share of the purge, bounded whatever the table holds: of
     * the 64 holds that end first by the wall clock (the index), those
     * over by the boot clock too (a wall clock set ahead ends none) */
    [ST_PURGE] = "DELETE FROM holds WHERE key IN (SELECT key FROM (SELECT key, boot_id, "
                 "until_boot FROM holds WHERE until_wall <= ?1 ORDER BY until_wall LIMIT 64) "
                 "WHERE boot_id <> ?2 OR until_boot <= ?3 LIMIT 16)",
    [ST_LOG] = "INSERT INTO releases(at, record, key, token) VALUES(?1, ?2, ?3, ?4)",
    [ST_LIVE] = "SELECT record, until_wall, boot_id, until_boot FROM holds",
    [ST_LOGGED] = "SELECT record FROM releases ORDER BY id DESC LIMIT 1000",
    [ST_RELEASED] = "SELECT 1 FROM releases WHERE key = ?1 AND token = ?2",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "CREATE TABLE IF NOT EXISTS holds("
    "  key TEXT PRIMARY KEY,"      /* HMAC of scope and number */
    "  token TEXT NOT NULL,"       /* the claim that wrote it */
    "  record TEXT NOT NULL,"      /* who, as JSON */
    "  until_wall REAL NOT NULL,"  /* Unix time */
    "  boot_id TEXT NOT NULL,"
    "  until_boot REAL NOT NULL);" /* CLOCK_BOOTTIME of that boot */
    "CREATE TABLE IF NOT EXISTS releases("
    "  id INTEGER PRIMARY KEY, at REAL NOT NULL, record TEXT NOT NULL,"
    "  key TEXT NOT NULL, token TEXT NOT NULL);" /* the hold it ended */
    "CREATE INDEX IF NOT EXISTS releases_key ON releases(key);"
    "CREATE INDEX IF NOT EXISTS holds_until ON holds(until_wall);";

struct lite {
    struct ledger base;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

static void disconnect(struct lite *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
}

static paynet_status db_fail(struct lite *s, const char *doing, paynet_error *err)
{
    doing = paynet_gettext(doing);
    int code = s->db ? sqlite3_extended_errcode(s->db) : SQLITE_ERROR;
    const char *why = s->db ? sqlite3_errmsg(s->db) : "cannot open";
    if ((code & 0xFF) == SQLITE_BUSY)
        return paynet_ledger_fail(err, "%s is busy: another process held it for more than %d s "
                                "while %s",
                           s->path, BUSY_TIMEOUT_MS / 1000, doing);
    return paynet_ledger_fail(err, "%s: %s while %s", s->path, why, doing);
}

/* A failure while `doing`: PAYNET_PENDING (err says why) when another
 * process holds the write lock, else the ledger's error. */
static paynet_status busy_or_fail(struct lite *s, const char *doing, paynet_error *err)
{
    paynet_status status = db_fail(s, doing, err);
    return (sqlite3_extended_errcode(s->db) & 0xFF) == SQLITE_BUSY ? PAYNET_PENDING : status;
}

/* Opens the file on first use (and again after a failure). */
static paynet_status connect_db(struct lite *s, paynet_error *err)
{
    if (s->db != NULL)
        return PAYNET_OK;
    /* created private before SQLite sees it; SQLite would use 644 */
    int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return paynet_ledger_fail(err, "cannot open %s: %s", s->path, strerror(errno));
    close(fd);
    if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        paynet_status status = db_fail(s, "opening it", err);
        disconnect(s);
        return status;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* a ledger from before releases named the hold they ended gains the
     * two columns (empty for its old rows).  Asked first, by a read: an
     * ALTER that fails still waits for the write lock, and racing
     * processes opening the file would queue behind each other for it */
    sqlite3_stmt *st = NULL;
    int old_releases = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'releases'), (SELECT count(*) FROM "
                           "pragma_table_info('releases') WHERE name = 'key')",
                           -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        old_releases = sqlite3_column_int(st, 0) == 1 && sqlite3_column_int(st, 1) == 0;
    sqlite3_finalize(st);
    if (old_releases)
        (void)sqlite3_exec(s->db, "ALTER TABLE releases ADD COLUMN key TEXT NOT NULL DEFAULT '';"
                                  "ALTER TABLE releases ADD COLUMN token TEXT NOT NULL DEFAULT '';",
                           NULL, NULL, NULL);
    if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        paynet_status status = db_fail(s, "creating its tables", err);
        disconnect(s);
        return status;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            paynet_status status = db_fail(s, "preparing a statement", err);
            disconnect(s);
            return status;
        }
    return PAYNET_OK;
}

/* Runs a statement that returns no row; SQLITE_DONE or a failure. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void bind_times(sqlite3_stmt *st, double seconds)
{
    sqlite3_bind_double(st, 4, paynet_clock_wall() + seconds);
    sqlite3_bind_text(st, 5, paynet_ledger_boot_id(), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, paynet_ledger_clock_boot() + seconds);
}

/* Ends a write transaction: commits when rc says every step went well,
 * else rolls back and says what failed while `doing`. */
static paynet_status end_write(struct lite *s, int rc, const char *doing, paynet_error *err)
{
    if (rc == SQLITE_DONE && run(s->st[ST_COMMIT]) == SQLITE_DONE)
        return PAYNET_OK;
    paynet_status status = busy_or_fail(s, doing, err);
    run(s->st[ST_ROLLBACK]);
    return status;
}

/* Writes a hold (a claim, or a settled one written anew): SQLITE_DONE or
 * a failure. */
static int insert_hold(struct lite *s, const char *key, const char *token, const char *json,
                       double seconds)
{
    sqlite3_stmt *st = s->st[ST_CLAIM];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    bind_times(st, seconds);
    return run(st);
}

/* The row the statement stands on, as a holder; 0 when it has expired. */
static int live_row(sqlite3_stmt *st, paynet_holder *holder)
{
    double left = paynet_ledger_clamp(sqlite3_column_double(st, 1) - paynet_clock_wall());
    const unsigned char *boot = sqlite3_column_text(st, 2);
    if (boot != NULL && strcmp((const char *)boot, paynet_ledger_boot_id()) == 0) {
        double by_boot = paynet_ledger_clamp(sqlite3_column_double(st, 3) - paynet_ledger_clock_boot());
        if (by_boot > left)
            left = by_boot;
    }
    if (left <= 0)
        return 0;
    if (holder != NULL) {
        const void *text = sqlite3_column_text(st, 0);
        if (text == NULL || !paynet_ledger_record_parse(text, (size_t)sqlite3_column_bytes(st, 0),
                                                 holder))
            memset(holder, 0, sizeof *holder);
        holder->remaining = left;
    }
    return 1;
}

static int find_token(struct lite *s, const char *key, paynet_holder *holder, int *rc,
                      char token[LEDGER_TOKEN_SIZE])
{
    sqlite3_stmt *st = s->st[ST_FIND];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int held = 0;
    *rc = sqlite3_step(st);
    if (*rc == SQLITE_ROW) {
        held = live_row(st, holder);
        const unsigned char *t = sqlite3_column_text(st, 4);
        if (token != NULL)
            snprintf(token, LEDGER_TOKEN_SIZE, "%s", t != NULL ? (const char *)t : "");
        *rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return held;
}

static int find(struct lite *s, const char *key, paynet_holder *holder, int *rc)
{
    return find_token(s, key, holder, rc, NULL);
}

static paynet_status lite_claim(struct ledger *l, const char *key, const char *token,
                                const paynet_holder *record, double pending, int *granted,
                                paynet_holder *holder, paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    char *json = paynet_ledger_record_json(record);
    if (json == NULL)
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    int rc;
    sqlite3_busy_timeout(s->db, STEP_BUSY_MS);
    if (run(s->st[ST_BEGIN]) != SQLITE_DONE) {
        free(json);
        status = busy_or_fail(s, "claiming a number", err);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        return status;
    }
    *granted = !find(s, key, holder, &rc);
    if (rc == SQLITE_DONE && *granted) {
        sqlite3_stmt *purge = s->st[ST_PURGE];
        sqlite3_bind_double(purge, 1, paynet_clock_wall());
        sqlite3_bind_text(purge, 2, paynet_ledger_boot_id(), -1, SQLITE_STATIC);
        sqlite3_bind_double(purge, 3, paynet_ledger_clock_boot());
        rc = run(purge);
        if (rc == SQLITE_DONE) {
            rc = insert_hold(s, key, token, json, pending);
        }
    }
    free(json);
    status = end_write(s, rc, "claiming a number", err);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    return status;
}

static paynet_status lite_settle(struct ledger *l, const char *key, const char *token,
                                 const paynet_holder *record, double seconds, int *ours,
                                 paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    *ours = 0;
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    sqlite3_busy_timeout(s->db, STEP_BUSY_MS);
    if (seconds <= 0) { /* a release: only our own claim */
        sqlite3_stmt *st = s->st[ST_DELETE];
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
        status = run(st) == SQLITE_DONE ? PAYNET_OK : busy_or_fail(s, "recording a send", err);
        *ours = status == PAYNET_OK && sqlite3_changes(s->db) > 0;
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        return status;
    }
    char *json = paynet_ledger_record_json(record);
    if (json == NULL) {
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    int rc = run(s->st[ST_BEGIN]);
    if (rc != SQLITE_DONE) {
        free(json);
        status = busy_or_fail(s, "recording a send", err);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        return status;
    }
    if (rc == SQLITE_DONE) {
        sqlite3_stmt *st = s->st[ST_UPDATE];
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
        bind_times(st, seconds);
        rc = run(st);
    }
    if (rc == SQLITE_DONE && sqlite3_changes(s->db) > 0) {
        *ours = 1;
    } else if (rc == SQLITE_DONE && !find(s, key, NULL, &rc) && rc == SQLITE_DONE) {
        /* the claim vanished (it ran out, or was removed): write it anew */
        rc = insert_hold(s, key, token, json, seconds);
        *ours = LEDGER_RECREATED;
    }
    free(json);
    status = end_write(s, rc, "recording a send", err);
    if (status != PAYNET_OK)
        *ours = 0;
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    return status;
}

static paynet_status lite_lookup(struct ledger *l, const char *key, int *held,
                                 paynet_holder *holder, paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    int rc;
    *held = find(s, key, holder, &rc);
    return rc == SQLITE_DONE ? PAYNET_OK : db_fail(s, "looking a number up", err);
}

static paynet_status lite_release(struct ledger *l, const char *key, const paynet_holder *who,
                                  int *released, paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    paynet_holder held, entry = *who;
    *released = 0;
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    if (run(s->st[ST_BEGIN]) != SQLITE_DONE)
        return db_fail(s, "releasing a number", err);
    int rc;
    char token[LEDGER_TOKEN_SIZE] = "";
    if (find_token(s, key, &held, &rc, token)) {
        *released = 1;
        memcpy(entry.session_id, held.session_id, sizeof entry.session_id);
        memcpy(entry.scope, held.scope, sizeof entry.scope);
    }
    /* only a release that ended a hold is logged */
    if (rc == SQLITE_DONE && *released) {
        char *json = paynet_ledger_record_json(&entry);
        sqlite3_stmt *del = s->st[ST_DELETE];
        sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_null(del, 2);
        rc = json != NULL ? run(del) : SQLITE_NOMEM;
        if (rc == SQLITE_DONE) {
            sqlite3_stmt *log = s->st[ST_LOG];
            sqlite3_bind_double(log, 1, entry.sent_at);
            sqlite3_bind_text(log, 2, json, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 3, key, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 4, token, -1, SQLITE_STATIC);
            rc = run(log);
        }
        free(json);
    }
    status = end_write(s, rc, "releasing a number", err);
    if (status != PAYNET_OK)
        *released = 0;
    return status == PAYNET_PENDING ? PAYNET_LEDGER : status; /* busy past 5 s: an error */
}

static paynet_status lite_released(struct ledger *l, const char *key, const char *token,
                                   int *yes, paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    sqlite3_stmt *st = s->st[ST_RELEASED];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? PAYNET_OK
                                                 : db_fail(s, "reading the release log", err);
}

static paynet_status lite_list(struct ledger *l, int releases, paynet_holder **list,
                               size_t *count, paynet_error *err)
{
    struct lite *s = (struct lite *)l;
    /* listing never creates a ledger: a mistyped path is not an empty one */
    if (s->db == NULL && access(s->path, F_OK) != 0)
        return paynet_ledger_fail(err, "no ledger at %s: nothing was ever recorded there (check the "
                                "path)", s->path);
    paynet_status status = connect_db(s, err);
    if (status != PAYNET_OK)
        return status;
    sqlite3_stmt *st = s->st[releases ? ST_LOGGED : ST_LIVE];
    size_t capacity = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*count == capacity) {
            size_t want = capacity ? capacity * 2 : 16;
            paynet_holder *grown = realloc(*list, want * sizeof *grown);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            *list = grown;
            capacity = want;
        }
        paynet_holder *h = &(*list)[*count];
        if (releases) {
            const void *text = sqlite3_column_text(st, 0);
            if (text != NULL
                && paynet_ledger_record_parse(text, (size_t)sqlite3_column_bytes(st, 0), h))
                (*count)++;
        } else if (live_row(st, h)) {
            (*count)++;
        }
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return PAYNET_OK;
    free(*list);
    *list = NULL;
    *count = 0;
    return rc == SQLITE_NOMEM ? paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory")
                              : db_fail(s, "listing holds", err);
}

static void lite_close(struct ledger *l)
{
    struct lite *s = (struct lite *)l;
    disconnect(s);
    free(s->path);
    free(s);
}

static const struct ledger_methods sqlite_methods = {
    1, "sqlite", lite_claim, lite_settle, lite_lookup, lite_release, lite_released, lite_list,
    lite_close, NULL, NULL,
};

paynet_status paynet_ledger_sqlite_open(const char *path, struct ledger **out, paynet_error *err)
{
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "ledger: sqlite: needs a file that every process opens, as in "
                           "sqlite:/var/lib/paynet/ledger.db");
    struct lite *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->path = strdup(path);
    if (s == NULL || s->path == NULL) {
        free(s);
        return paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_NO, "out of memory");
    }
    s->base.methods = &sqlite_methods;
    snprintf(s->base.name, sizeof s->base.name, "sqlite:%s", path);
    *out = &s->base;
    return PAYNET_OK;
}
