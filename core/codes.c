/*
 * codes.c — the result-code table, kind names and error filling.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct code_entry {
    int number;
    const char *name;
    const char *meaning;
};

static const struct code_entry code_table[] = {
#define PAYNET_CODE_ENTRY(number, name, meaning) {number, #name, meaning},
    PAYNET_CODE_LIST(PAYNET_CODE_ENTRY)
#undef PAYNET_CODE_ENTRY
};

#define CODE_COUNT (sizeof code_table / sizeof code_table[0])

static const struct code_entry *code_find(int number)
{
    for (size_t i = 0; i < CODE_COUNT; i++)
        if (code_table[i].number == number)
            return &code_table[i];
    return NULL;
}

const char *paynet_code_name(int code)
{
    const struct code_entry *e = code_find(code);
    return e ? e->name : NULL;
}

const char *paynet_code_meaning(int code)
{
    const struct code_entry *e = code_find(code);
    return e ? paynet_gettext(e->meaning) : NULL;
}

int paynet_code_from_name(const char *name)
{
    if (name == NULL)
        return PAYNET_NO_CODE;
    for (size_t i = 0; i < CODE_COUNT; i++)
        if (strcmp(code_table[i].name, name) == 0)
            return code_table[i].number;
    return PAYNET_NO_CODE;
}

size_t paynet_code_count(void) { return CODE_COUNT; }

int paynet_code_at(size_t index)
{
    return index < CODE_COUNT ? code_table[index].number : PAYNET_NO_CODE;
}

const char *paynet_status_name(paynet_status status)
{
    switch (status) {
    case PAYNET_OK: return "ok";
    case PAYNET_INVALID: return "invalid";
    case PAYNET_COOLDOWN: return "cooldown";
    case PAYNET_LEDGER: return "ledger";
    case PAYNET_NETWORK: return "network";
    case PAYNET_TIMEOUT: return "timeout";
    case PAYNET_TLS: return "tls";
    case PAYNET_HTTP: return "http";
    case PAYNET_API: return "api";
    case PAYNET_PROTOCOL: return "protocol";
    case PAYNET_NOMEM: return "nomem";
    case PAYNET_CANCELLED: return "cancelled";
    case PAYNET_BUSY: return "busy";
    case PAYNET_PENDING: return "pending";
    }
    return "unknown";
}

int paynet_may_have_sent(const paynet_error *err)
{
    return err->delivered == PAYNET_DELIVERED_UNKNOWN
           || (err->kind == PAYNET_PROTOCOL && err->http_status == 200);
}

const char *paynet_delivered_name(paynet_delivered delivered)
{
    switch (delivered) {
    case PAYNET_DELIVERED_NO: return "no";
    case PAYNET_DELIVERED_YES: return "yes";
    case PAYNET_DELIVERED_UNKNOWN: return "unknown";
    }
    return "unknown";
}

paynet_status paynet_fail(paynet_error *err, paynet_status kind,
                          paynet_delivered delivered, const char *format, ...)
{
    if (err == NULL)
        return kind;
    err->kind = kind;
    err->delivered = delivered;
    err->http_status = 0;
    err->code = PAYNET_NO_CODE;
    err->has_holder = 0;
    err->held = 0;
    err->retry_after = 0;
    va_list ap;
    va_start(ap, format);
    vsnprintf(err->message, sizeof err->message, paynet_gettext(format), ap);
    va_end(ap);
    return kind;
}


const char *paynet_version(void)
{
    return PAYNET_VERSION;
}
