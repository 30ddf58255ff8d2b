/*
 * lpaynet.c — luaopen_paynet: `require "paynet"` over libpaynet.
 *
 * Converts between Lua and core values, nothing else.  Runtime failures
 * return nil plus an error table (metatable "paynet.Error", whose
 * __tostring gives one readable line); misuse raises: wrong types, unknown
 * options, an invalid configuration, use after close.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdlib.h>
#include <locale.h>
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
} lclient;

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
    err.delivered = PAYNET_DELIVERED_NO;
    err.code = PAYNET_NO_CODE;
    strncpy(err.message, what, sizeof err.message - 1);
    return push_error(L, &err);
}

/* "paynet api: Geçersiz anahtar (code 7 unauthorized, HTTP 401, delivered: yes)" */
static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "name");
    lua_getfield(L, 1, "http_status");
    lua_getfield(L, 1, "delivered");
    lua_getfield(L, 1, "retry_after");
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "paynet ");
    luaL_addstring(&b, luaL_optstring(L, 2, "error"));
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, luaL_optstring(L, 3, ""));
    luaL_addstring(&b, " (");
    if (lua_isinteger(L, 4)) {
        lua_pushfstring(L, "code %d %s, ", (int)lua_tointeger(L, 4),
                        luaL_optstring(L, 5, "unknown"));
        luaL_addvalue(&b);
    }
    if (lua_isinteger(L, 6)) {
        lua_pushfstring(L, "HTTP %d, ", (int)lua_tointeger(L, 6));
        luaL_addvalue(&b);
    }
    if (lua_isnumber(L, 8)) {
        lua_pushfstring(L, "retry after %d s, ", (int)(lua_tonumber(L, 8) + 0.999));
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, "delivered: ");
    luaL_addstring(&b, luaL_optstring(L, 7, "unknown"));
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
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; allowed[i] != NULL; i++)
                if (strcmp(lua_tostring(L, -1), allowed[i]) == 0)
                    known = 1;
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

static int l_normalize_gsm(lua_State *L)
{
    char out[PAYNET_GSM_SIZE];
    int pushed = gsm_argument(L, 1, out);
    if (pushed)
        return pushed;
    lua_pushstring(L, out);
    return 1;
}

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
    lclient *self = lua_newuserdatauv(L, sizeof *self, 1);
    self->client = NULL;
    self->debug_count = 0;
    luaL_setmetatable(L, CLIENT_TYPE);
    lua_pushvalue(L, debug_index);
    lua_setiuservalue(L, -2, 1);
    if (debug_type == LUA_TFUNCTION) {
        config.debug = on_debug;
        config.debug_data = self;
    }
    if (paynet_client_new(&config, &self->client, &err) != PAYNET_OK)
        return luaL_error(L, "paynet.new: %s", err.message);
    return 1;
}

/* ---- client methods ------------------------------------------------------ */

static paynet_client *check_open(lua_State *L)
{
    lclient *self = luaL_checkudata(L, 1, CLIENT_TYPE);
    if (self->client == NULL)
        luaL_error(L, "attempt to use a closed " CLIENT_TYPE);
    self->debug_count = 0;
    return self->client;
}

/* Hands the call's debug lines to the client's `debug` function. */
static void flush_debug(lua_State *L)
{
    lclient *self = lua_touserdata(L, 1);
    int n = self->debug_count;
    self->debug_count = 0;
    if (n == 0 || lua_getiuservalue(L, 1, 1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    int f = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        lua_pushvalue(L, f);
        lua_pushstring(L, self->debug_lines[i]);
        lua_call(L, 1, 0);
    }
    lua_pop(L, 1);
}

static const char *const send_options[] = {"user_gsm", "otp_session_id", NULL};

static int l_send_otp(lua_State *L)
{
    paynet_client *client = check_open(L);
    paynet_result res;
    paynet_error err;
    size_t gsm_length, id_length;
    luaL_checktype(L, 2, LUA_TTABLE);
    check_keys(L, 2, send_options, "send_otp");
    const char *gsm = field_string(L, 2, "user_gsm", 1, &gsm_length);
    const char *id = field_string(L, 2, "otp_session_id", 1, &id_length);
    if (has_nul(gsm, gsm_length))
        return invalid_input(L, "phone number contains a NUL byte");
    if (has_nul(id, id_length))
        return invalid_input(L, "session id contains a NUL byte");
    paynet_status status = paynet_send_otp(client, gsm, id, &res, &err);
    flush_debug(L);
    if (status != PAYNET_OK)
        return push_error(L, &err);
    lua_createtable(L, 0, 9);
    set_integer(L, "code", res.code);
    set_string(L, "message", res.message);
    set_string(L, "otp_expire", res.otp_expire);
    set_number(L, "expires_at", paynet_instant_seconds(res.expires_at));
    set_number(L, "expires_in", res.expires_in);
    set_string(L, "user_gsm", res.user_gsm);
    set_integer(L, "http_status", res.http_status);
    set_number(L, "held_for", res.held_for);
    if (res.warning[0])
        set_string(L, "warning", res.warning);
    return 1;
}

/* Looks up the number argument of client:remaining or client:holder: 0,
 * or the count of values pushed for an error. */
static int lookup_argument(lua_State *L, int *held, paynet_holder *holder)
{
    paynet_client *client = check_open(L);
    char gsm[PAYNET_GSM_SIZE];
    int pushed = gsm_argument(L, 2, gsm);
    if (pushed)
        return pushed;
    paynet_error err;
    *held = 0;
    if (paynet_hold_lookup(client, gsm, held, holder, &err) != PAYNET_OK)
        return push_error(L, &err);
    return 0;
}

static int l_remaining(lua_State *L)
{
    int held;
    paynet_holder holder;
    int pushed = lookup_argument(L, &held, &holder);
    if (pushed)
        return pushed;
    lua_pushnumber(L, held ? holder.remaining : 0);
    return 1;
}

/* client:holder(number) -> the holder's table, or false when free */
static int l_holder(lua_State *L)
{
    int held;
    paynet_holder holder;
    int pushed = lookup_argument(L, &held, &holder);
    if (pushed)
        return pushed;
    if (held)
        push_holder(L, &holder);
    else
        lua_pushboolean(L, 0);
    return 1;
}

/* client:release(number, reason) -> true (a hold ended) | false (none) */
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

static int l_url(lua_State *L)
{
    lua_pushstring(L, paynet_client_url(check_open(L)));
    return 1;
}

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

/* close, __gc and __close: safe to call twice. */
static int l_close(lua_State *L)
{
    lclient *self = luaL_checkudata(L, 1, CLIENT_TYPE);
    paynet_client_free(self->client);
    self->client = NULL;
    return 0;
}

static int l_client_tostring(lua_State *L)
{
    lclient *self = luaL_checkudata(L, 1, CLIENT_TYPE);
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
