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

/* ---- the verdict (doc/design.md, "One verdict") -------------------------- */

paynet_outcome paynet_verdict(paynet_status kind, paynet_delivered delivered, int code)
{
    int left = delivered != PAYNET_DELIVERED_NO; /* the request may have reached a server */
    switch (kind) {
    case PAYNET_OK:
    case PAYNET_PENDING:
        return PAYNET_OUTCOME_SENT;
    case PAYNET_INVALID:
        return PAYNET_OUTCOME_INVALID;
    case PAYNET_COOLDOWN:
        return PAYNET_OUTCOME_COOLDOWN;
    case PAYNET_LEDGER:
        return PAYNET_OUTCOME_LEDGER;
    case PAYNET_BUSY:
        return PAYNET_OUTCOME_BUSY;
    case PAYNET_API: /* Paynet's own answer: its code decides */
        if (code == PAYNET_CODE_duplicatedata)
            return PAYNET_OUTCOME_DUPLICATE_HELD;
        return code > 0 ? PAYNET_OUTCOME_REFUSED : PAYNET_OUTCOME_MAYBE_SENT;
    case PAYNET_CANCELLED:
        return left ? PAYNET_OUTCOME_MAYBE_SENT : PAYNET_OUTCOME_CANCELLED;
    case PAYNET_NOMEM:
        return left ? PAYNET_OUTCOME_MAYBE_SENT : PAYNET_OUTCOME_NOMEM;
    case PAYNET_NETWORK:
    case PAYNET_TIMEOUT:
    case PAYNET_TLS:
    case PAYNET_HTTP:     /* a reply that is not Paynet's error object */
    case PAYNET_PROTOCOL: /* a reply that cannot be read */
        return left ? PAYNET_OUTCOME_MAYBE_SENT : PAYNET_OUTCOME_NOT_SENT;
    }
    return left ? PAYNET_OUTCOME_MAYBE_SENT : PAYNET_OUTCOME_NOT_SENT;
}

struct outcome_entry {
    const char *name;
    int holds;
};

static const struct outcome_entry outcome_table[] = {
#define PAYNET_OUTCOME_ENTRY(suffix, name, holds) {name, holds},
    PAYNET_OUTCOME_LIST(PAYNET_OUTCOME_ENTRY)
#undef PAYNET_OUTCOME_ENTRY
};

#define OUTCOME_COUNT (sizeof outcome_table / sizeof outcome_table[0])

const char *paynet_outcome_name(paynet_outcome outcome)
{
    return (size_t)outcome < OUTCOME_COUNT ? outcome_table[outcome].name : "unknown";
}

int paynet_outcome_holds(paynet_outcome outcome)
{
    return (size_t)outcome < OUTCOME_COUNT && outcome_table[outcome].holds;
}

int paynet_may_have_sent(const paynet_error *err)
{
    return err->outcome == PAYNET_OUTCOME_MAYBE_SENT;
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
    err->outcome = paynet_verdict(kind, delivered, PAYNET_NO_CODE);
    err->has_holder = 0;
    err->held = 0;
    err->retry_after = 0;
    err->replied_at = 0;
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
