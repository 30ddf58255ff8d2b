#define _POSIX_C_SOURCE 200809L
/*
 * scope.c — the Paynet system a URL names, as the ledger keys holds by it
 * (doc/design.md, "The ledger").
 *
 * Holds are about a customer's number on one Paynet system, not about how
 * a desk spelled its address: "https://API.paynet.com.tr:443/" and
 * env "live" are one system, and so are "http://LOCALHOST:8080" and
 * "http://127.0.0.1:8080".  The scope is the URL with its scheme and host
 * in lower case, without credentials, a default port, leading zeros in
 * the port or trailing slashes, and "localhost" written as 127.0.0.1
 * (which it always resolves to, RFC 6761).  Pure: no I/O.
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Appends n bytes of text (in lower case when asked); 0 when out of room. */
static int append(char *out, size_t size, size_t *used, const char *text, size_t n, int fold)
{
    if (*used + n >= size)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[*used + i] = fold ? lower(text[i]) : text[i];
    *used += n;
    out[*used] = '\0';
    return 1;
}

int paynet_scope_of(const char *url, char *out, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return 0;
    out[0] = '\0';
    const char *scheme_end = strstr(url, "://");
    if (scheme_end == NULL)
        return 0;
    size_t scheme_length = (size_t)(scheme_end - url);
    int https = scheme_length == 5 && (url[4] == 's' || url[4] == 'S');
    const char *authority = scheme_end + 3;
    const char *path = authority + strcspn(authority, "/");
    /* credentials say who calls, not which system: left out */
    const char *at = memchr(authority, '@', (size_t)(path - authority));
    const char *host = at != NULL ? at + 1 : authority;
    /* the port: after the last ':' outside an IPv6 literal's brackets */
    const char *host_end = path, *close = memchr(host, ']', (size_t)(path - host));
    const char *colon = NULL;
    for (const char *p = close != NULL ? close : host; p < path; p++)
        if (*p == ':')
            colon = p;
    if (colon != NULL)
        host_end = colon;
    if (!append(out, size, &used, url, scheme_length + 3, 1))
        return 0;
    size_t host_length = (size_t)(host_end - host);
    if (host_length == 9 && strncasecmp(host, "localhost", 9) == 0)
        host = "127.0.0.1"; /* as long, too */
    if (!append(out, size, &used, host, host_length, 1))
        return 0;
    if (colon != NULL) {
        const char *digits = colon + 1;
        size_t n = (size_t)(path - digits);
        size_t zeros = 0;
        while (zeros + 1 < n && digits[zeros] == '0')
            zeros++;
        digits += zeros;
        n -= zeros;
        int is_default = (https && n == 3 && memcmp(digits, "443", 3) == 0)
                         || (!https && n == 2 && memcmp(digits, "80", 2) == 0);
        if (n > 0 && !is_default
            && (!append(out, size, &used, ":", 1, 0) || !append(out, size, &used, digits, n, 0)))
            return 0;
    }
    size_t path_length = strlen(path);
    while (path_length > 0 && path[path_length - 1] == '/')
        path_length--;
    return append(out, size, &used, path, path_length, 0);
}
