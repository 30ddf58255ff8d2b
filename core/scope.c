/*
 * scope.c — the Paynet system a URL names, as the ledger keys holds by it
 * (doc/design.md, "The ledger").
 *
 * Holds are about a customer's number on one Paynet system, not about how
 * a desk spelled its address: "https://API.paynet.com.tr:443/" and
 * env "live" are one system, and so are "http://LOCALHOST:8080",
 * "http://127.0.0.1:8080", "http://127.1:8080" and "http://%6Cocalhost:8080"
 * (libcurl reaches the same server through each).  The scope is the URL
 * with its scheme in lower case; its host percent-decoded, in lower case,
 * without a trailing dot, an IP address in its one canonical form (IPv4
 * in every form inet_aton reads, an IPv4-mapped IPv6 address as IPv4) and
 * "localhost" as 127.0.0.1 (which it always resolves to, RFC 6761); no
 * credentials, no default port, no leading zeros in the port, no trailing
 * slashes.  Pure: no I/O.
 */
#define _DEFAULT_SOURCE /* inet_aton */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Appends n bytes of text; 0 when out of room. */
static int append(char *out, size_t size, size_t *used, const char *text, size_t n)
{
    if (*used + n >= size)
        return 0;
    memcpy(out + *used, text, n);
    *used += n;
    out[*used] = '\0';
    return 1;
}

/* The host as a server sees it, in host (its size is at least n + 1):
 * percent-decoded, in lower case, without a trailing dot; an address in
 * its canonical form.  The host's length, or 0 when it does not fit. */
static size_t canonical_host(const char *text, size_t n, char *host, size_t size)
{
    size_t m = 0;
    for (size_t i = 0; i < n && m + 1 < size; i++) {
        int high = i + 2 < n ? hex_value(text[i + 1]) : -1;
        int low = i + 2 < n ? hex_value(text[i + 2]) : -1;
        if (text[i] == '%' && high >= 0 && low >= 0) {
            host[m++] = lower((char)(high * 16 + low));
            i += 2;
        } else {
            host[m++] = lower(text[i]);
        }
    }
    host[m] = '\0';
    if (m > 1 && host[m - 1] == '.')
        host[--m] = '\0';
    char address[INET6_ADDRSTRLEN + 2];
    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, size, "127.0.0.1");
    } else if (m > 2 && host[0] == '[' && host[m - 1] == ']') {
        char inner[INET6_ADDRSTRLEN + 1];
        if (m - 2 < sizeof inner) {
            memcpy(inner, host + 1, m - 2);
            inner[m - 2] = '\0';
            if (inet_pton(AF_INET6, inner, &v6) == 1) {
                static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (memcmp(v6.s6_addr, mapped, 12) == 0) {
                    memcpy(&v4, v6.s6_addr + 12, 4);
                    inet_ntop(AF_INET, &v4, address, sizeof address);
                    snprintf(host, size, "%s", address);
                } else if (inet_ntop(AF_INET6, &v6, address, sizeof address) != NULL) {
                    snprintf(host, size, "[%s]", address);
                }
            }
        }
    } else if (m > 0 && inet_aton(host, &v4) != 0) { /* 127.1, 2130706433, 0x7f.0.0.1 */
        inet_ntop(AF_INET, &v4, address, sizeof address);
        snprintf(host, size, "%s", address);
    }
    return strlen(host);
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
    const char *at = NULL;
    for (const char *p = authority; p < path; p++)
        if (*p == '@')
            at = p;
    const char *host = at != NULL ? at + 1 : authority;
    /* the port: after the last ':' outside an IPv6 literal's brackets */
    const char *host_end = path, *close = memchr(host, ']', (size_t)(path - host));
    const char *colon = NULL;
    for (const char *p = close != NULL ? close : host; p < path; p++)
        if (*p == ':')
            colon = p;
    if (colon != NULL)
        host_end = colon;
    for (size_t i = 0; i < scheme_length + 3; i++) {
        char c = lower(url[i]);
        if (!append(out, size, &used, &c, 1))
            return 0;
    }
    char canonical[PAYNET_SCOPE_SIZE];
    size_t host_length = (size_t)(host_end - host);
    if (host_length >= sizeof canonical)
        return 0;
    host_length = canonical_host(host, host_length, canonical, sizeof canonical);
    if (!append(out, size, &used, canonical, host_length))
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
            && (!append(out, size, &used, ":", 1) || !append(out, size, &used, digits, n)))
            return 0;
    }
    size_t path_length = strlen(path);
    while (path_length > 0 && path[path_length - 1] == '/')
        path_length--;
    return append(out, size, &used, path, path_length);
}
