/*
 * lpaynet.c — luaopen_paynet: `require "paynet"` over libpaynet.
 *
 * Converts between Lua and core values, nothing else.  Runtime failures
 * return nil plus an error table (metatable "paynet.Error", whose
 * __tostring gives one readable line); misuse raises: wrong types, unknown
 * options, an invalid configuration, use after close.
 */
/***
 * Send Paynet card-save OTPs (`POST /v1/card/send_otp`) from Lua 5.4.
 *
 * `require "paynet"` gives the functions below and `paynet.new`, which
 * makes a @{Client}.  Misuse raises a Lua error (a wrong type, an unknown
 * option, use after close); a failure at run time returns `nil` and an
 * @{Error} table.  No second OTP goes to a number before its `otp_expire`:
 * every send claims the number in a ledger first (memory, SQLite or Redis).
 * @module paynet
 * @license MIT
 */

/***
 * The module's version, "paynet 0.2.0".
 * @field _VERSION
 */

/***
 * Paynet's result codes, both ways: `codes[7]` is "unauthorized" and
 * `codes.unauthorized` is 7.
 * @table codes
 */

/***
 * One line about each result code: `meanings[7]` is "unauthorized: wrong
 * or missing secret key".
 * @table meanings
 */

/***
 * What a failed call returns after its `nil`.  `tostring(err)` gives one
 * line: kind, message, then the outcome in words ("refused by Paynet",
 * "may have been sent", "not sent"), Paynet's code, HTTP status.
 * @table Error
 * @field outcome the core's verdict, the one field to switch on:
 * "not_sent" (provably nothing left), "maybe_sent" (the request may have
 * reached Paynet and no usable answer came: the number is held),
 * "refused" (Paynet's own error), "duplicate_held" (Paynet's code 5: an
 * earlier code is still valid), "cooldown", "ledger", "invalid",
 * "cancelled" (before anything left), "busy" or "nomem"
 * @field kind "invalid", "cooldown", "ledger", "network", "timeout", "tls",
 * "http", "api", "protocol", "nomem", "busy" or "cancelled": what failed
 * @field message readable text: valid UTF-8, no control characters, never
 * the secret key
 * @field delivered did the request reach a server: "no", "yes" (a reply
 * came, which is not an SMS) or "unknown"
 * @field may_have_sent outcome == "maybe_sent"
 * @field held true when the number is held after this failure
 * @field code Paynet's result code, when it sent one
 * @field name that code's name ("duplicatedata")
 * @field http_status the reply's HTTP status, when there was one
 * @field retry_after seconds until the number may be sent again
 * @field holder for a cooldown: who holds the number (see @{Client:holder})
 */

/***
 * What a successful send returns.
 * @table Result
 * @field code 0
 * @field message Paynet's text, UTF-8
 * @field otp_expire the reply's `otp_expire`, as sent
 * @field expires_at `otp_expire` as UTC epoch seconds, with the fraction
 * @field expires_in seconds left when the reply arrived, by the server's clock
 * @field held_for seconds the ledger holds the number from the reply
 * @field user_gsm the normalised number ("5321234567")
 * @field http_status 200
 * @field warning present when the ledger could not record the hold after
 * the send (the claim's own hold still stands)
 */

#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdlib.h>
#include <locale.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "paynet.h"

#define CLIENT_TYPE "paynet.Client"
#define ERROR_TYPE "paynet.Error"

#define DEBUG_LINES 8

typedef struct {
    paynet_client *client; /* NULL once closed */
    /* the core's debug lines of the call in progress, handed to the Lua
     * function `debug` once the call has returned (never from inside it) */
    char debug_lines[DEBUG_LINES][PAYNET_MESSAGE_SIZE];
    int debug_count;
    uint64_t magic; /* LCLIENT_MAGIC: what as_client checks */
} lclient;

#define LCLIENT_MAGIC 0x706179636c69656eULL

/* ---- errors as values ---------------------------------------------------- */

static void set_string(lua_State *L, const char *key, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void set_number(lua_State *L, const char *key, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, key);
}

/* A ledger record as a table: who holds a number, and for how long. */
static void push_holder(lua_State *L, const paynet_holder *h)
{
    lua_createtable(L, 0, 11);
    set_string(L, "state", h->state);
    set_string(L, "masked", h->masked);
    set_string(L, "operator", h->operator_name);
    set_string(L, "host", h->host);
    set_string(L, "program", h->program);
    if (h->session_id[0])
        set_string(L, "session_id", h->session_id);
    set_string(L, "scope", h->scope);
    set_number(L, "sent_at", h->sent_at);
    if (h->otp_expire[0])
        set_string(L, "otp_expire", h->otp_expire);
    if (h->remaining > 0)
        set_number(L, "remaining", h->remaining);
    if (h->reason[0])
        set_string(L, "reason", h->reason);
}

static int push_error(lua_State *L, const paynet_error *err)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 8);
    set_string(L, "kind", paynet_status_name(err->kind));
    set_string(L, "outcome", paynet_outcome_name(err->outcome));
    set_string(L, "message", err->message);
    set_string(L, "delivered", paynet_delivered_name(err->delivered));
    if (err->code != PAYNET_NO_CODE) {
        const char *name = paynet_code_name(err->code);
        set_integer(L, "code", err->code);
        set_string(L, "name", name ? name : "unknown");
    }
    if (err->http_status > 0)
        set_integer(L, "http_status", err->http_status);
    if (err->retry_after > 0)
        set_number(L, "retry_after", err->retry_after);
    lua_pushboolean(L, paynet_may_have_sent(err));
    lua_setfield(L, -2, "may_have_sent");
    lua_pushboolean(L, err->held || err->has_holder);
    lua_setfield(L, -2, "held");
    if (err->has_holder) {
        push_holder(L, &err->holder);
        lua_setfield(L, -2, "holder");
    }
    luaL_setmetatable(L, ERROR_TYPE);
    return 2;
}

static int invalid_input(lua_State *L, const char *what)
{
    paynet_error err;
    memset(&err, 0, sizeof err);
    err.kind = PAYNET_INVALID;
    err.outcome = PAYNET_OUTCOME_INVALID;
    err.delivered = PAYNET_DELIVERED_NO;
    err.code = PAYNET_NO_CODE;
    strncpy(err.message, what, sizeof err.message - 1);
    return push_error(L, &err);
}

/* The outcome in a developer's words, for tostring(err). */
static const char *outcome_words(const char *outcome)
{
    static const char *const words[][2] = {
        {"not_sent", "not sent"},
        {"maybe_sent", "may have been sent"},
        {"refused", "refused by Paynet"},
        {"duplicate_held", "refused by Paynet: an earlier code is still valid"},
        {"cooldown", "not sent: the number is held"},
        {"ledger", "not sent: the ledger could not be used"},
        {"invalid", "not sent: invalid input"},
        {"cancelled", "cancelled before it was sent"},
        {"busy", "not sent: busy"},
        {"nomem", "not sent: out of memory"},
    };
    for (size_t i = 0; outcome != NULL && i < sizeof words / sizeof words[0]; i++)
        if (strcmp(outcome, words[i][0]) == 0)
            return words[i][1];
    return "outcome unknown";
}

/* "paynet api: Geçersiz anahtar (refused by Paynet; code 7 unauthorized, HTTP 401)" */
static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "name");
    lua_getfield(L, 1, "http_status");
    lua_getfield(L, 1, "outcome");
    lua_getfield(L, 1, "retry_after");
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "paynet ");
    luaL_addstring(&b, luaL_optstring(L, 2, "error"));
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, luaL_optstring(L, 3, ""));
    luaL_addstring(&b, " (");
    luaL_addstring(&b, outcome_words(lua_tostring(L, 7)));
    if (lua_isinteger(L, 4)) {
        lua_pushfstring(L, "; code %d %s", (int)lua_tointeger(L, 4),
                        luaL_optstring(L, 5, "unknown"));
        luaL_addvalue(&b);
    }
    if (lua_isinteger(L, 6)) {
        lua_pushfstring(L, "; HTTP %d", (int)lua_tointeger(L, 6));
        luaL_addvalue(&b);
    }
    if (lua_isnumber(L, 8)) {
        lua_pushfstring(L, "; retry after %d s", (int)(lua_tonumber(L, 8) + 0.999));
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, ")");
    luaL_pushresult(&b);
    return 1;
}

/* ---- argument helpers ---------------------------------------------------- */

/* The string field `key` of table `t`, raising when it is not a string.
 * The value stays on the stack until the C function returns: a table whose
 * __index computes values holds no reference to them, and the collector
 * would free the string while C still reads it.  Without `length`, a NUL
 * byte (which C would silently cut at) raises. */
static const char *field_string(lua_State *L, int t, const char *key,
                                int required, size_t *length)
{
    size_t n = 0;
    luaL_checkstack(L, 1, "too many options");
    /* may run the caller's __index, which may do anything (close the
     * client): callers look the client up afresh afterwards */
    int type = lua_getfield(L, t, key);
    const char *s = NULL;
    if (type == LUA_TSTRING)
        s = lua_tolstring(L, -1, &n);
    else if (type != LUA_TNIL || required)
        luaL_error(L, "%s must be a string, got %s", key, lua_typename(L, type));
    if (length != NULL)
        *length = n;
    else if (s != NULL && strlen(s) != n)
        luaL_error(L, "%s contains a NUL byte", key);
    return s;
}

static double field_number(lua_State *L, int t, const char *key, double fallback)
{
    int type = lua_getfield(L, t, key);
    double v = fallback;
    if (type == LUA_TNUMBER)
        v = lua_tonumber(L, -1);
    else if (type != LUA_TNIL)
        luaL_error(L, "%s must be a number, got %s", key, lua_typename(L, type));
    lua_pop(L, 1);
    return v;
}

static void check_keys(lua_State *L, int t, const char *const allowed[],
                       const char *what)
{
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *name = lua_tostring(L, -1);
            for (int i = 0; !known && allowed[i] != NULL; i++)
                known = strcmp(name, allowed[i]) == 0;
        }
        if (!known) {
            if (lua_type(L, -1) == LUA_TSTRING)
                luaL_error(L, "%s: unknown option '%s'", what, lua_tostring(L, -1));
            luaL_error(L, "%s: option names must be strings", what);
        }
    }
}

/* A Lua string may hold NUL bytes that C would silently cut at. */
static int has_nul(const char *s, size_t length) { return strlen(s) != length; }

/* Like luaL_checklstring, but a number is a type error too: a phone number
 * given as a Lua number has already lost its leading zero or plus. */
static const char *check_string(lua_State *L, int arg, size_t *length)
{
    luaL_checktype(L, arg, LUA_TSTRING);
    return lua_tolstring(L, arg, length);
}

/* ---- module functions ---------------------------------------------------- */

/* The phone number argument at idx, normalized into out: 0, or (on a NUL
 * byte or an invalid number) the count of values pushed, nil and an error. */
static int gsm_argument(lua_State *L, int idx, char out[PAYNET_GSM_SIZE])
{
    size_t length;
    const char *input = check_string(L, idx, &length);
    paynet_error err;
    if (has_nul(input, length))
        return invalid_input(L, "phone number contains a NUL byte");
    if (paynet_gsm_normalize(input, out, &err) != PAYNET_OK)
        return push_error(L, &err);
    return 0;
}

/***
 * A Turkish mobile number in its one form.
 * @function normalize_gsm
 * @string number typed any usual way: "+90 (532) 123 45 67", "0532...", "90532..."
 * @treturn string "5321234567"
 * @return[2] nil
 * @treturn[2] Error kind "invalid", saying what is wrong ("needs 4 more digits")
 */
static int l_normalize_gsm(lua_State *L)
{
    char out[PAYNET_GSM_SIZE];
    int pushed = gsm_argument(L, 1, out);
    if (pushed)
        return pushed;
    lua_pushstring(L, out);
    return 1;
}

/***
 * A strict RFC 3339 date-time (0 to 9 fraction digits, an offset) as UTC
 * epoch seconds.
 * @function parse_expire
 * @string text "2017-07-17T15:30:15.0581408+03:00"
 * @treturn number 1500294615.0581408
 * @return[2] nil
 * @treturn[2] Error kind "invalid"
 */
static int l_parse_expire(lua_State *L)
{
    size_t length;
    const char *text = check_string(L, 1, &length);
    paynet_instant t;
    paynet_error err;
    if (paynet_expire_parse(text, length, &t, &err) != PAYNET_OK)
        return push_error(L, &err);
    lua_pushnumber(L, paynet_instant_seconds(t));
    return 1;
}

/***
 * The secret key from the first line of a file that only its owner may
 * read (a FIFO or a directory is refused).
 * @function read_key_file
 * @string path the file; "-" reads standard input
 * @treturn string the key
 * @return[2] nil
 * @treturn[2] Error
 */
static int l_read_key_file(lua_State *L)
{
    char key[PAYNET_SECRET_MAX + 1];
    paynet_error err;
    const char *path = luaL_checkstring(L, 1);
    if (paynet_read_key_file(path, key, sizeof key, &err) != PAYNET_OK)
        return push_error(L, &err);
    lua_pushstring(L, key);
    explicit_bzero(key, sizeof key);
    return 1;
}

/* paynet.load_secret([path]) -> key | nil, err: the file (- for standard
 * input), else PAYNET_SECRET_KEY, which then leaves the environment */
/***
 * The programs' way to the key: the file at `path` (as @{read_key_file}),
 * or with no path `PAYNET_SECRET_KEY`, which then leaves the environment.
 * @function load_secret
 * @string[opt] path
 * @treturn string the key
 * @return[2] nil
 * @treturn[2] Error
 */
static int l_load_secret(lua_State *L)
{
    char key[PAYNET_SECRET_MAX + 1];
    paynet_error err;
    size_t length = 0;
    const char *path = luaL_optlstring(L, 1, NULL, &length);
    if (path != NULL && strlen(path) != length)
        return luaL_argerror(L, 1, "a path with a NUL byte");
    if (paynet_secret_load(path, key, sizeof key, &err) != PAYNET_OK)
        return push_error(L, &err);
    lua_pushstring(L, key);
    explicit_bzero(key, sizeof key);
    return 1;
}

static const char *const client_options[] = {
    "secret_key", "env", "base_url", "timeout", "connect_timeout",
    "cainfo", "retries", "unknown_hold", "ledger", "operator", "program", "debug", "proxy",
    NULL};

static void on_debug(void *data, const char *line)
{
    lclient *self = data;
    if (self->debug_count < DEBUG_LINES)
        strncpy(self->debug_lines[self->debug_count++], line, PAYNET_MESSAGE_SIZE - 1);
}

/***
 * A client: one configuration, a cache of kept-alive connections that its
 * calls share (any number at once), and one ledger.
 * @function new
 * @tab options
 * @string options.secret_key required; sent as `Authorization: Basic <key>`, never printed
 * @string[opt="test"] options.env "test" (https://pts-api.paynet.com.tr) or "live"
 * @string[opt] options.base_url overrides env, e.g. "http://127.0.0.1:8080"
 * @number[opt=15] options.timeout seconds for the whole send, retries included
 * @number[opt=5] options.connect_timeout seconds
 * @string[opt] options.cainfo a CA bundle file
 * @string[opt] options.proxy "http://HOST:PORT", "socks5h://..."; "" for none
 * (nil: libcurl's `https_proxy`, `all_proxy`, `no_proxy`)
 * @int[opt=1] options.retries 0 to 3, only after failures with delivered "no"
 * @number[opt=180] options.unknown_hold seconds a number is held when an SMS may have gone out
 * @string[opt] options.ledger "memory" (one table for every client of this
 * process), "sqlite:PATH" or "redis://..." (nil: `PAYNET_LEDGER`, else "memory")
 * @string[opt] options.operator who sends, in the ledger (default `$USER`)
 * @string[opt] options.program which program sends, in the ledger (default "libpaynet")
 * @func[opt] options.debug called with each of the library's debug lines, after each call
 * @treturn Client
 * @return[2] nil when the machine refuses what a client needs (memory, a
 * descriptor: `EMFILE`)
 * @treturn[2] Error
 * @raise on a missing key, an unknown option, a value of the wrong type or range
 */
static int l_new(lua_State *L)
{
    paynet_config config;
    paynet_error err;
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, client_options, "paynet.new");
    paynet_config_init(&config);
    config.secret_key = field_string(L, 1, "secret_key", 1, NULL);
    const char *env = field_string(L, 1, "env", 0, NULL);
    if (env != NULL)
        config.env = env;
    config.base_url = field_string(L, 1, "base_url", 0, NULL);
    config.cainfo = field_string(L, 1, "cainfo", 0, NULL);
    config.timeout = field_number(L, 1, "timeout", config.timeout);
    config.connect_timeout = field_number(L, 1, "connect_timeout", config.connect_timeout);
    config.unknown_hold = field_number(L, 1, "unknown_hold", config.unknown_hold);
    if (lua_getfield(L, 1, "retries") != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "retries must be an integer from 0 to 3");
        lua_Integer r = lua_tointeger(L, -1);
        config.retries = r >= 0 && r <= 3 ? (int)r : -1;
    }
    lua_pop(L, 1);
    config.ledger = field_string(L, 1, "ledger", 0, NULL);
    config.operator_name = field_string(L, 1, "operator", 0, NULL);
    config.program = field_string(L, 1, "program", 0, NULL);
    config.proxy = field_string(L, 1, "proxy", 0, NULL);
    int debug_type = lua_getfield(L, 1, "debug");
    if (debug_type != LUA_TNIL && debug_type != LUA_TFUNCTION)
        luaL_error(L, "debug must be a function, got %s", lua_typename(L, debug_type));
    int debug_index = lua_gettop(L);

    /* the userdata exists, closed, before the client does: if anything
     * below raises, __gc finds nothing to free */
    lclient *self = lua_newuserdatauv(L, sizeof *self, 2);
    self->client = NULL;
    self->magic = LCLIENT_MAGIC;
    self->debug_count = 0;
    luaL_setmetatable(L, CLIENT_TYPE);
    lua_pushvalue(L, debug_index);
    lua_setiuservalue(L, -2, 1);
    if (debug_type == LUA_TFUNCTION) {
        config.debug = on_debug;
        config.debug_data = self;
    }
    paynet_status status = paynet_client_new(&config, &self->client, &err);
    if (status == PAYNET_INVALID) /* the caller's mistake */
        return luaL_error(L, "paynet.new: %s", err.message);
    if (status != PAYNET_OK) /* the machine's: out of memory or of descriptors */
        return push_error(L, &err);
    return 1;
}

/***
 * Every live hold of a ledger, newest first.  Needs no secret key and
 * never creates a ledger.
 * @function holds
 * @string[opt] ledger as `new`'s option (nil: `PAYNET_LEDGER`, else
 * "memory": the holds of this process's clients)
 * @treturn {Holder,...} the holds
 * @treturn string the ledger's name, without its password
 * @return[2] nil
 * @treturn[2] Error
 */

/***
 * The ledger's release log (who ended which hold, and why), newest first.
 * @function releases
 * @string[opt] ledger
 * @treturn {Holder,...} each with its `reason`
 * @treturn string the ledger's name
 * @return[2] nil
 * @treturn[2] Error
 */

/***
 * The programs' default ledger, `"sqlite:$XDG_STATE_HOME/paynet/ledger.db"`
 * (its folder is created, mode 700).
 * @function default_ledger
 * @treturn string
 * @return[2] nil
 * @treturn[2] Error
 */

/***
 * Messages in the language of the environment (`LANGUAGE`, `LC_ALL`,
 * `LC_MESSAGES`, `LANG`): sets only `LC_MESSAGES`, so Lua's numbers keep their ".".
 * @function use_locale
 * @treturn string the message locale now in use ("tr_TR.UTF-8")
 * @return[2] nil when the environment names a locale this machine lacks
 */

/***
 * A message's translation in the "paynet" catalogue.
 * @function gettext
 * @string msgid
 * @treturn string
 */

/***
 * The singular or plural translation for `n`.
 * @function ngettext
 * @string singular
 * @string plural
 * @int n
 * @treturn string
 */

/***
 * Who holds a number, as @{Client:holder}, @{holds} and an @{Error}'s
 * `holder` give it.
 * @table Holder
 * @field state "pending" (a send in flight), "sent", "uncertain" (an SMS may
 * have gone out), "duplicate" (Paynet said an earlier code is still valid);
 * "released" in the release log
 * @field masked the number with its middle five digits starred
 * (532&#42;&#42;&#42;&#42;&#42;67)
 * @field operator who sent
 * @field host where
 * @field program which program
 * @field session_id the send's session id
 * @field scope where it was sent (the URL)
 * @field sent_at Unix time of the claim (in the release log: of the release)
 * @field otp_expire once the send succeeded
 * @field remaining seconds the hold lasts
 * @field reason the release log only
 */

/***
 * A client of Paynet's API.  It runs any number of sends at once (each
 * coroutine's `send_otp`, each @{Client:start}'s @{Call}), sharing its
 * kept-alive connections.  Closed by @{Client:close}, at the end of a `<close>`
 * block, or when collected.
 * @type Client
 */

/* ---- client methods ------------------------------------------------------ */

/* The client at idx, or NULL: a full userdata of a client's size that
 * carries its mark.  No lookup (luaL_checkudata reads the registry: a
 * fifth of the module's own cost a send), and nothing the debug library
 * can point elsewhere: a light userdata, or another type's userdata given
 * the client's metatable (debug.setmetatable), is not a client. */
static lclient *as_client(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof(lclient))
        return NULL;
    lclient *self = lua_touserdata(L, idx);
    return self->magic == LCLIENT_MAGIC ? self : NULL;
}

/* The client at index 1: a method's self. */
static lclient *to_client(lua_State *L)
{
    lclient *self = as_client(L, 1);
    if (self == NULL) {
        /* a value given the client's metatable is not one: say what it is */
        if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING
            && strcmp(lua_tostring(L, -1), CLIENT_TYPE) == 0)
            luaL_argerror(L, 1, lua_pushfstring(L, CLIENT_TYPE " expected, got a %s with its "
                                                   "metatable", luaL_typename(L, 1)));
        luaL_typeerror(L, 1, CLIENT_TYPE);
    }
    return self;
}

static paynet_client *open_client(lua_State *L, lclient *self)
{
    if (self->client == NULL)
        luaL_error(L, "attempt to use a closed " CLIENT_TYPE);
    self->debug_count = 0;
    return self->client;
}

static paynet_client *check_open(lua_State *L) { return open_client(L, to_client(L)); }

/* Hands the call's debug lines to the `debug` function of the client at
 * idx.  The lines go onto the stack first: the function may do anything,
 * even put another value where the client was and let it be collected. */
static void flush_debug_of(lua_State *L, int idx)
{
    lclient *self = lua_touserdata(L, idx); /* checked by the caller */
    int n = self->debug_count;
    self->debug_count = 0;
    if (n == 0)
        return;
    luaL_checkstack(L, n + 3, "too many debug lines");
    if (lua_getiuservalue(L, idx, 1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    int f = lua_gettop(L);
    for (int i = 0; i < n; i++)
        lua_pushstring(L, self->debug_lines[i]);
    for (int i = 0; i < n; i++) {
        lua_pushvalue(L, f);
        lua_pushvalue(L, f + 1 + i);
        /* a debug function that fails (or yields) must not cost the
         * caller the outcome of its send: its error is dropped */
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    lua_settop(L, f - 1);
}

static void flush_debug(lua_State *L) { flush_debug_of(L, 1); }

static const char *const send_options[] = {"user_gsm", "otp_session_id", NULL};

/* The send's arguments, from the table at index 2: 0, or the count of
 * values pushed for an error (nil, err). */
static int send_arguments(lua_State *L, const char *what, const char **gsm, const char **id)
{
    size_t gsm_length, id_length;
    luaL_checktype(L, 2, LUA_TTABLE);
    check_keys(L, 2, send_options, what);
    *gsm = field_string(L, 2, "user_gsm", 1, &gsm_length);
    *id = field_string(L, 2, "otp_session_id", 1, &id_length);
    if (has_nul(*gsm, gsm_length))
        return invalid_input(L, "phone number contains a NUL byte");
    if (has_nul(*id, id_length))
        return invalid_input(L, "session id contains a NUL byte");
    return 0;
}

/* A call of client:start{}: the core's call, NULL once freed.  Its user
 * value is its client's userdata, which it keeps alive. */
#define CALL_TYPE "paynet.Call"
typedef struct {
    paynet_call *call;
    uint64_t magic; /* LCALL_MAGIC: what as_call checks */
} lcall;

#define LCALL_MAGIC 0x706179636163616cULL

/* A result's fields: a rawset (the table is new, it has no metatable)
 * skips lua_setfield's metamethod path. */
static void put_string(lua_State *L, const char *key, const char *value)
{
    lua_pushstring(L, key);
    lua_pushstring(L, value);
    lua_rawset(L, -3);
}

static void put_number(lua_State *L, const char *key, double value)
{
    lua_pushstring(L, key);
    lua_pushnumber(L, value);
    lua_rawset(L, -3);
}

static void put_integer(lua_State *L, const char *key, lua_Integer value)
{
    lua_pushstring(L, key);
    lua_pushinteger(L, value);
    lua_rawset(L, -3);
}

static int push_result(lua_State *L, const paynet_result *res)
{
    luaL_checkstack(L, 3, "no room for the result");
    lua_createtable(L, 0, 9);
    put_integer(L, "code", res->code);
    put_string(L, "message", res->message);
    put_string(L, "otp_expire", res->otp_expire);
    put_number(L, "expires_at", paynet_instant_seconds(res->expires_at));
    put_number(L, "expires_in", res->expires_in);
    put_string(L, "user_gsm", res->user_gsm);
    put_integer(L, "http_status", res->http_status);
    put_number(L, "held_for", res->held_for);
    if (res->warning[0])
        put_string(L, "warning", res->warning);
    return 1;
}

/* Starts a call and pushes it (a paynet.Call): 1, or the count of values
 * pushed for an error (nil, err).  The client is looked up after the
 * arguments are read: reading them may run the caller's code. */
static int start_call(lua_State *L, const char *what)
{
    const char *gsm, *id;
    paynet_error err;
    int pushed = send_arguments(L, what, &gsm, &id);
    if (pushed)
        return pushed;
    lclient *self = to_client(L);
    paynet_client *client = open_client(L, self);
    /* the userdata first: when it cannot be made, nothing started */
    lcall *lc = lua_newuserdatauv(L, sizeof *lc, 1);
    lc->call = NULL;
    lc->magic = LCALL_MAGIC;
    luaL_setmetatable(L, CALL_TYPE);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (paynet_send_start(client, gsm, id, &lc->call, &err) != PAYNET_OK) {
        lua_pop(L, 1);
        flush_debug(L);
        return push_error(L, &err);
    }
    /* the client's calls (weak): its close wakes whoever polls them */
    if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 2);
    }
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 1;
}

/* The call at idx, or NULL: a full userdata of a call's size that carries
 * its mark (as as_client: nothing given the metatable is taken for one). */
static lcall *as_call(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof(lcall))
        return NULL;
    lcall *lc = lua_touserdata(L, idx);
    return lc->magic == LCALL_MAGIC ? lc : NULL;
}

/* The call at idx (raises when it is not one). */
static lcall *to_call(lua_State *L, int idx)
{
    lcall *lc = as_call(L, idx);
    if (lc == NULL)
        luaL_typeerror(L, idx, CALL_TYPE);
    return lc;
}

/* The call at index 1 and its client, pushed: the client's userdata is
 * then at index top.  Raises when the client was closed. */
static paynet_call *open_call(lua_State *L, lcall **out)
{
    lcall *lc = to_call(L, 1);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1);
    lclient *self = as_client(L, 2); /* the user value may have been replaced */
    if (self == NULL || self->client == NULL)
        luaL_error(L, "attempt to use a call of a closed " CLIENT_TYPE);
    if (out != NULL)
        *out = lc;
    self->debug_count = 0;
    return lc->call;
}

/* One step of a call: 0 while it is in flight, else the values pushed
 * (the result, or nil and the error).  The call's client at index cl. */
static int step_call(lua_State *L, paynet_call *call, int cl)
{
    paynet_result res;
    paynet_error err;
    paynet_status status = paynet_call_step(call, &res, &err);
    flush_debug_of(L, cl);
    if (status == PAYNET_PENDING)
        return 0;
    return status == PAYNET_OK ? push_result(L, &res) : push_error(L, &err);
}

/* Whether this call runs in a coroutine of a cqueues controller, which a
 * send should yield to rather than block (as lua-http's calls do): cqueues
 * is loaded, cqueues.running() says this coroutine is its controller's
 * own (not a plain coroutine inside one), and the coroutine may yield.
 * Leaves cqueues.poll at index 3 when it does. */
static int under_cqueues(lua_State *L)
{
    if (!lua_isyieldable(L))
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushliteral(L, "cqueues");
    if (lua_rawget(L, -2) != LUA_TTABLE) {
        lua_settop(L, 2);
        return 0;
    }
    lua_pushliteral(L, "running");
    if (lua_rawget(L, -2) != LUA_TFUNCTION) {
        lua_settop(L, 2);
        return 0;
    }
    lua_call(L, 0, 2);
    int running = lua_toboolean(L, -2) && lua_toboolean(L, -1);
    lua_pop(L, 2);
    lua_pushliteral(L, "poll");
    if (!running || lua_rawget(L, -2) != LUA_TFUNCTION) {
        lua_settop(L, 2);
        return 0;
    }
    lua_replace(L, 3);
    lua_settop(L, 3);
    return 1;
}

/* Raises the value on top from a cqueues send, its call (index 4) closed
 * first: a coroutine that dies of an error does not close its
 * to-be-closed variables (only coroutine.close does), and its send must
 * not stay in flight. */
static int send_raise(lua_State *L)
{
    lua_closeslot(L, 4);
    return lua_error(L);
}

static int send_raise_message(lua_State *L, const char *message)
{
    luaL_where(L, 1);
    lua_pushstring(L, message);
    lua_concat(L, 2);
    return send_raise(L);
}

/* The cqueues send: step its call, and between steps cqueues.poll(call),
 * which yields this coroutine until the call's pollfd is ready or its
 * timeout passes.  Stack: 1 client, 2 arguments, 3 cqueues.poll, 4 the
 * call (to be closed: returning, raising or coroutine.close cancels a
 * call still in flight and frees it). */
static int send_continue(lua_State *L, int status, lua_KContext ctx)
{
    if (status != LUA_OK && status != LUA_YIELD)
        return send_raise(L); /* closing the call cancels the send */
    for (;;) {
        lua_settop(L, 4);
        /* index 4 again at every turn: while this coroutine waited, any
         * code may have run, debug.setlocal too */
        lcall *lc = as_call(L, 4);
        if (lc == NULL || lc->call == NULL || lc->call != (paynet_call *)ctx)
            return send_raise_message(L, "send_otp: its call was replaced during the send");
        lua_getiuservalue(L, 4, 1); /* 5: the call's client */
        lclient *self = as_client(L, 5);
        if (self == NULL || self->client == NULL)
            return send_raise_message(L, "the " CLIENT_TYPE " was closed during send_otp");
        self->debug_count = 0;
        int pushed = step_call(L, lc->call, 5);
        if (pushed)
            return pushed;
        lua_settop(L, 4);
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 4);
        status = lua_pcallk(L, 1, 0, 0, ctx, send_continue);
        if (status != LUA_OK)
            return send_continue(L, status, ctx);
    }
}

/***
 * Sends one OTP.  The ledger is asked first: a number held by any sender
 * is refused without a request (kind "cooldown").  Inside a coroutine run
 * by a cqueues controller it yields to the controller while it waits;
 * anywhere else it blocks.  Any number of coroutines may send on one
 * client at once, sharing its kept-alive connections.  Closing a waiting
 * coroutine (`coroutine.close`) cancels its send.
 * @function Client:send_otp
 * @tab args
 * @string args.user_gsm the phone number, any usual spelling
 * @string args.otp_session_id 1 to 128 bytes of UTF-8, no control characters
 * @treturn Result
 * @return[2] nil
 * @treturn[2] Error
 * @raise when the client is closed during the send
 * @usage local res, err = client:send_otp { user_gsm = "0532 123 45 67", otp_session_id = "order-42" }
 */
static int l_send_otp(lua_State *L)
{
    to_client(L);
    lua_settop(L, 2);
    if (under_cqueues(L)) {
        int pushed = start_call(L, "send_otp");
        if (pushed != 1)
            return pushed;
        /* the call to index 4 (the arguments' strings above 3 are copied
         * by the core) */
        lua_replace(L, 4);
        lua_settop(L, 4);
        lua_toclose(L, 4);
        paynet_call *mine = ((lcall *)lua_touserdata(L, 4))->call;
        return send_continue(L, LUA_OK, (lua_KContext)mine);
    }
    /* elsewhere: block */
    const char *gsm, *id;
    paynet_result res;
    paynet_error err;
    int pushed = send_arguments(L, "send_otp", &gsm, &id);
    if (pushed)
        return pushed;
    /* after the caller's code ran, which may have closed the client or
     * put another value at index 1 (debug.setlocal) */
    paynet_client *client = check_open(L);
    paynet_status status = paynet_send_otp(client, gsm, id, &res, &err);
    flush_debug(L);
    return status == PAYNET_OK ? push_result(L, &res) : push_error(L, &err);
}

/* ---- the pollable send: client:start{} and its call ---------------------- */

/***
 * Starts a send for an event loop: validates, claims the number and
 * queues the request; never blocks on the network.  Then wait until the
 * call's @{Call:pollfd} is readable or its @{Call:timeout} passes, and
 * call @{Call:step}.  Any number of calls may run on one client at once.
 * @function Client:start
 * @tab args as @{Client:send_otp}
 * @treturn Call
 * @return[2] nil
 * @treturn[2] Error
 * @raise when the client is closed, or args is not a table (or a number is
 * given as a number: spell it as a string)
 * @usage local call = assert(client:start { user_gsm = "0532 123 45 67", otp_session_id = "order-42" })
 * local res, err
 * repeat
 *   cqueues.poll(call)        -- or any loop: wait on call:pollfd() up to call:timeout()
 *   res, err = call:step()
 * until res ~= nil or err ~= nil
 * call:close()
 */
static int l_start(lua_State *L)
{
    to_client(L);
    lua_settop(L, 2);
    return start_call(L, "start");
}

/***
 * One send started by @{Client:start}, for any event loop (the cqueues
 * convention: `pollfd`, `events`, `timeout`, `step`; `cqueues.poll(call)`
 * works).  Freed by @{Call:close}, at the end of a `<close>` block, or
 * when collected; a call still in flight then is cancelled.
 * @type Call
 */

/***
 * Moves the call on; never blocks.
 * @function Call:step
 * @return nothing while the call is in flight (see @{Call:pending})
 * @treturn[2] Result once it succeeded
 * @return[3] nil
 * @treturn[3] Error once it failed
 * @raise when the call is over, or its client closed
 */
static int l_call_step(lua_State *L)
{
    paynet_call *call = open_call(L, NULL);
    if (!paynet_call_pending(call))
        return luaL_error(L, "step: this call is over");
    return step_call(L, call, 2);
}

/***
 * Whether the call is in flight.
 * @function Call:pending
 * @treturn boolean
 */
static int l_call_pending(lua_State *L)
{
    lua_pushboolean(L, paynet_call_pending(to_call(L, 1)->call));
    return 1;
}

/***
 * The descriptor a loop waits on: readable when the call has network work.
 * The same for the call's life; never read it or close it.
 * @function Call:pollfd
 * @treturn int the descriptor; -1 once the call is closed
 */
static int l_call_pollfd(lua_State *L)
{
    lua_pushinteger(L, paynet_call_pollfd(to_call(L, 1)->call));
    return 1;
}

/***
 * The events to wait for on @{Call:pollfd}.
 * @function Call:events
 * @treturn string "r"
 */
static int l_call_events(lua_State *L)
{
    to_call(L, 1);
    lua_pushliteral(L, "r");
    return 1;
}

/***
 * How long a loop may wait before calling @{Call:step} anyway.
 * @function Call:timeout
 * @treturn number seconds (0: now)
 * @return[2] nil: wait on the descriptor alone (the call is over)
 */
static int l_call_timeout(lua_State *L)
{
    int ms = paynet_call_timeout(to_call(L, 1)->call);
    if (ms < 0)
        return 0;
    lua_pushnumber(L, ms / 1000.0);
    return 1;
}

/***
 * Abandons the call.  One whose request may have left holds the number
 * for `unknown_hold`.
 * @function Call:cancel
 * @treturn Error kind "cancelled", delivered "no" or "unknown"
 * @return[2] nil when the call was over
 */
static int l_call_cancel(lua_State *L)
{
    lcall *lc = to_call(L, 1);
    if (!paynet_call_pending(lc->call))
        return 0;
    paynet_call *call = open_call(L, NULL);
    paynet_error err;
    paynet_call_cancel(call, &err);
    flush_debug_of(L, 2);
    push_error(L, &err);
    return 1; /* the error table: what the cancel means for delivery */
}

static void cqueues_forget(lua_State *L, int fd);

/***
 * Frees the call, cancelling it first when in flight.  Safe to call twice.
 * @function Call:close
 */
static int l_call_close(lua_State *L)
{
    lcall *lc = to_call(L, 1);
    lua_settop(L, 1);
    if (lc->call == NULL)
        return 0;
    paynet_call *call = lc->call;
    lc->call = NULL;
    int fd = paynet_call_pollfd(call);
    if (fd >= 0)
        cqueues_forget(L, fd);
    paynet_call_free(call);
    return 0;
}

static int l_call_tostring(lua_State *L)
{
    lcall *lc = to_call(L, 1);
    lua_pushstring(L, paynet_call_pending(lc->call) ? CALL_TYPE " (in flight)"
                                                    : CALL_TYPE " (over)");
    return 1;
}

/***
 * (The client's lookups, its release and the rest of its methods.)
 * @type Client
 */

enum lookup_answer { ANSWER_REMAINING, ANSWER_HOLDER };

/* What client:remaining or client:holder answers for a lookup's status. */
static int push_lookup(lua_State *L, lua_KContext answer, paynet_status status, int held,
                       const paynet_holder *holder, paynet_error *err)
{
    if (status != PAYNET_OK)
        return push_error(L, err);
    if (answer == ANSWER_REMAINING)
        lua_pushnumber(L, held ? holder->remaining : 0);
    else if (held)
        push_holder(L, holder);
    else
        lua_pushboolean(L, 0);
    return 1;
}

/* A lookup in a cqueues coroutine: asked without stalling the controller
 * (paynet_hold_peek waits at most 20 ms for an answer on the wire), and
 * between asks cqueues.poll(0) lets the other coroutines run; the asks
 * end by the ledger's timeout.  Stack: 1 client, 2 number, 3 cqueues.poll. */
static int lookup_continue(lua_State *L, int status, lua_KContext answer)
{
    (void)status;
    for (;;) {
        lua_settop(L, 3);
        paynet_client *client = check_open(L); /* it may have closed meanwhile */
        char gsm[PAYNET_GSM_SIZE];
        int pushed = gsm_argument(L, 2, gsm);
        if (pushed)
            return pushed;
        int held = 0;
        paynet_holder holder;
        paynet_error err;
        paynet_status asked = paynet_hold_peek(client, gsm, &held, &holder, &err);
        if (asked != PAYNET_PENDING)
            return push_lookup(L, answer, asked, held, &holder, &err);
        lua_pushvalue(L, 3);
        lua_pushinteger(L, 0);
        lua_callk(L, 1, 0, answer, lookup_continue);
    }
}

/* client:remaining and client:holder: blocking, or under cqueues yielding */
static int lookup(lua_State *L, lua_KContext answer)
{
    paynet_client *client = check_open(L);
    lua_settop(L, 2);
    char gsm[PAYNET_GSM_SIZE];
    int pushed = gsm_argument(L, 2, gsm);
    if (pushed)
        return pushed;
    if (under_cqueues(L))
        return lookup_continue(L, LUA_OK, answer);
    client = check_open(L); /* under_cqueues ran cqueues.running */
    paynet_error err;
    paynet_holder holder;
    int held = 0;
    paynet_status status = paynet_hold_lookup(client, gsm, &held, &holder, &err);
    return push_lookup(L, answer, status, held, &holder, &err);
}

/***
 * Seconds until a number may be sent again.  Inside a cqueues coroutine
 * it yields while the ledger answers (as @{Client:send_otp} does).
 * @function Client:remaining
 * @string number any usual spelling
 * @treturn number 0 when it may be sent now
 * @return[2] nil
 * @treturn[2] Error
 */
static int l_remaining(lua_State *L)
{
    return lookup(L, ANSWER_REMAINING);
}

/* client:holder(number) -> the holder's table, or false when free */
/***
 * Who holds a number.  Inside a cqueues coroutine it yields while the
 * ledger answers.
 * @function Client:holder
 * @string number
 * @treturn Holder
 * @return[2] false when nobody does
 * @return[3] nil
 * @treturn[3] Error
 */
static int l_holder(lua_State *L)
{
    return lookup(L, ANSWER_HOLDER);
}

/* client:release(number, reason) -> true (a hold ended) | false (none) */
/***
 * Ends the hold on a number whatever its state, recording who and why in
 * the ledger's release log.
 * @function Client:release
 * @string number
 * @string reason why, for the log ("customer got no SMS")
 * @treturn boolean true, or false when the number was not held
 * @return[2] nil
 * @treturn[2] Error
 */
static int l_release(lua_State *L)
{
    paynet_client *client = check_open(L);
    size_t reason_length;
    const char *reason = check_string(L, 3, &reason_length);
    char gsm[PAYNET_GSM_SIZE];
    int pushed = gsm_argument(L, 2, gsm);
    if (pushed)
        return pushed;
    paynet_error err;
    int released = 0;
    if (reason_length == 0 || has_nul(reason, reason_length))
        return invalid_input(L, "a release needs a reason, without NUL bytes");
    if (paynet_release(client, gsm, reason, &released, &err) != PAYNET_OK)
        return push_error(L, &err);
    lua_pushboolean(L, released);
    return 1;
}

/***
 * The URL sends go to.
 * @function Client:url
 * @treturn string "https://pts-api.paynet.com.tr/v1/card/send_otp"
 */
static int l_url(lua_State *L)
{
    lua_pushstring(L, paynet_client_url(check_open(L)));
    return 1;
}

/***
 * The ledger's name, without its password.
 * @function Client:ledger
 * @treturn string "sqlite:/var/lib/paynet/ledger.db"
 */
static int l_ledger_name(lua_State *L)
{
    lua_pushstring(L, paynet_client_ledger(check_open(L)));
    return 1;
}

/* paynet.holds([spec]) / paynet.releases([spec]): a list of holder tables
 * and the ledger's name | nil, err */
static int list_ledger(lua_State *L, int releases)
{
    const char *spec = luaL_optstring(L, 1, NULL);
    paynet_holder *list;
    size_t count;
    paynet_error err;
    char name[PAYNET_SCOPE_SIZE];
    if (paynet_ledger_list(spec, releases, &list, &count, name, &err) != PAYNET_OK)
        return push_error(L, &err);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        push_holder(L, &list[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(list);
    lua_pushstring(L, name); /* the ledger, without its password */
    return 2;
}

static int l_holds(lua_State *L) { return list_ledger(L, 0); }
static int l_releases(lua_State *L) { return list_ledger(L, 1); }

static int l_default_ledger(lua_State *L)
{
    char spec[4200];
    paynet_error err;
    if (!paynet_ledger_default(spec, sizeof spec, &err))
        return push_error(L, &err);
    lua_pushstring(L, spec);
    return 1;
}

/* A descriptor about to close must leave every cqueues controller that
 * polled it first (cqueues.cancel), or the controller's next step fails
 * on it ("Bad file descriptor"). */
static void cqueues_forget(lua_State *L, int fd)
{
    int top = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "cqueues") == LUA_TTABLE
        && lua_getfield(L, -1, "cancel") == LUA_TFUNCTION) {
        lua_pushinteger(L, fd);
        lua_pcall(L, 1, 0, 0); /* an error here changes nothing: the fd closes */
    }
    lua_settop(L, top);
}

/***
 * Frees the client; its calls in flight are cancelled first (a coroutine
 * waiting in `send_otp` then raises).  Safe to call twice.
 * @function Client:close
 */
/* close, __gc and __close: safe to call twice. */
static int l_close(lua_State *L)
{
    /* not luaL_checkudata: another userdata given the client's metatable
     * (debug.setmetatable) would be freed as a client */
    lclient *self = to_client(L);
    lua_settop(L, 1);
    /* the calls of senders waiting in cqueues: woken, their descriptors
     * about to close */
    if (self->client != NULL && lua_getiuservalue(L, 1, 2) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            lua_pop(L, 1);
            lcall *lc = as_call(L, -1);
            if (lc != NULL && lc->call != NULL && paynet_call_pollfd(lc->call) >= 0)
                cqueues_forget(L, paynet_call_pollfd(lc->call));
        }
    }
    lua_settop(L, 1);
    paynet_client_free(self->client);
    self->client = NULL;
    return 0;
}

static int l_client_tostring(lua_State *L)
{
    lclient *self = to_client(L);
    if (self->client == NULL)
        lua_pushliteral(L, CLIENT_TYPE " (closed)");
    else
        lua_pushfstring(L, CLIENT_TYPE " (%s)", paynet_client_url(self->client));
    return 1;
}

/* ---- registration -------------------------------------------------------- */

/* ---- the reader's language ----------------------------------------------- */

/* paynet.use_locale() -> the message locale now in use ("tr_TR.UTF-8"), or
 * nil when the environment names one this machine lacks (English then).
 * Sets only LC_MESSAGES: Lua's numbers keep their "." */
static int l_use_locale(lua_State *L)
{
    const char *name = setlocale(LC_MESSAGES, "");
    if (name == NULL) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, name);
    return 1;
}

/* paynet.gettext(msgid) -> its translation in the "paynet" catalogue */
static int l_gettext(lua_State *L)
{
    lua_pushstring(L, paynet_gettext(luaL_checkstring(L, 1)));
    return 1;
}

/* paynet.ngettext(singular, plural, n) */
static int l_ngettext(lua_State *L)
{
    const char *one = luaL_checkstring(L, 1);
    const char *many = luaL_checkstring(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    lua_pushstring(L, paynet_ngettext(one, many, n < 0 ? 0 : (unsigned long)n));
    return 1;
}

static const luaL_Reg module_functions[] = {
    {"new", l_new},
    {"use_locale", l_use_locale},
    {"gettext", l_gettext},
    {"ngettext", l_ngettext},
    {"normalize_gsm", l_normalize_gsm},
    {"parse_expire", l_parse_expire},
    {"read_key_file", l_read_key_file},
    {"load_secret", l_load_secret},
    {"holds", l_holds},
    {"releases", l_releases},
    {"default_ledger", l_default_ledger},
    {NULL, NULL},
};

static const luaL_Reg client_methods[] = {
    {"send_otp", l_send_otp},
    {"start", l_start},
    {"remaining", l_remaining},
    {"holder", l_holder},
    {"release", l_release},
    {"ledger", l_ledger_name},
    {"url", l_url},
    {"close", l_close},
    {NULL, NULL},
};

static const luaL_Reg client_metamethods[] = {
    {"__gc", l_close},
    {"__close", l_close},
    {"__tostring", l_client_tostring},
    {"__index", NULL}, /* set below to the methods */
    {NULL, NULL},
};

static const luaL_Reg call_methods[] = {
    {"step", l_call_step},
    {"pending", l_call_pending},
    {"pollfd", l_call_pollfd},
    {"events", l_call_events},
    {"timeout", l_call_timeout},
    {"cancel", l_call_cancel},
    {"close", l_call_close},
    {NULL, NULL},
};

static const luaL_Reg call_metamethods[] = {
    {"__gc", l_call_close},
    {"__close", l_call_close},
    {"__tostring", l_call_tostring},
    {"__index", NULL}, /* set below to the methods */
    {NULL, NULL},
};

static void push_codes(lua_State *L)
{
    size_t n = paynet_code_count();
    lua_createtable(L, 0, (int)(2 * n));
    for (size_t i = 0; i < n; i++) {
        int code = paynet_code_at(i);
        lua_pushstring(L, paynet_code_name(code));
        lua_rawseti(L, -2, code);
        lua_pushinteger(L, code);
        lua_setfield(L, -2, paynet_code_name(code));
    }
}

static void push_meanings(lua_State *L)
{
    size_t n = paynet_code_count();
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        int code = paynet_code_at(i);
        lua_pushstring(L, paynet_code_meaning(code));
        lua_rawseti(L, -2, code);
    }
}

int luaopen_paynet(lua_State *L);

int luaopen_paynet(lua_State *L)
{
    luaL_newmetatable(L, CLIENT_TYPE);
    luaL_setfuncs(L, client_metamethods, 0);
    luaL_newlibtable(L, client_methods);
    luaL_setfuncs(L, client_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, CALL_TYPE);
    luaL_setfuncs(L, call_metamethods, 0);
    luaL_newlibtable(L, call_methods);
    luaL_setfuncs(L, call_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, ERROR_TYPE);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    luaL_newlib(L, module_functions);
    lua_pushliteral(L, "paynet " PAYNET_VERSION);
    lua_setfield(L, -2, "_VERSION");
    push_codes(L);
    lua_setfield(L, -2, "codes");
    push_meanings(L);
    lua_setfield(L, -2, "meanings");
    return 1;
}
