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
    return e ? e->meaning : NULL;
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
    vsnprintf(err->message, sizeof err->message, format, ap);
    va_end(ap);
    return kind;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes), or 0 if it
 * is not a valid one. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2; min = 0x80; cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3; min = 0x800; cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4; min = 0x10000; cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int paynet_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_sequence(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

void paynet_copy_utf8(char *dst, size_t size, const char *src)
{
    if (size == 0)
        return;
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        /* back off continuation bytes so a character is never cut */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}
