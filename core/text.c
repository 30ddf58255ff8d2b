/*
 * text.c — the one home of text that comes from outside (a server's
 * message, a ledger's record) on its way to a caller, and of masking.
 *
 * Every message a caller receives is valid UTF-8 without the characters
 * that let text act on a terminal or reorder what a reader sees: C0
 * controls, DEL, C1 controls (U+0080..U+009F, 8-bit CSI and OSC among
 * them), bidi embeddings, overrides and isolates, line and paragraph
 * separators.  Tab, CR and LF become a space, the others U+FFFD, and so
 * does every byte that is not part of valid UTF-8.  The module, paynet-otp
 * and the screen all print what the core hands them, so a Lua script that
 * prints err.message is as safe as the screen.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code
 * point, or 0. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len;
    unsigned min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2, min = 0x80, *cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3, min = 0x800, *cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4, min = 0x10000, *cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return len;
}

int paynet_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

void paynet_copy_utf8(char *dst, size_t size, const char *src)
{
    paynet_copy_utf8n(dst, size, src, strlen(src));
}

void paynet_copy_utf8n(char *dst, size_t size, const char *src, size_t n)
{
    if (size == 0)
        return;
    if (n >= size) {
        n = size - 1;
        /* back off continuation bytes so a character is never cut */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int unsafe_code_point(unsigned cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)
           || (cp >= 0x202A && cp <= 0x202E) /* bidi embeddings, overrides */
           || (cp >= 0x2066 && cp <= 0x2069) /* bidi isolates */
           || cp == 0x2028 || cp == 0x2029;  /* line, paragraph separators */
}

size_t paynet_text_clean(const char *in, size_t length, char *out, size_t size)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    if (size == 0)
        return 0;
    while (i < length) {
        if (s[i] >= 0x20 && s[i] < 0x7F) { /* printable ASCII: as it is */
            if (o + 1 >= size)
                break;
            out[o++] = (char)s[i++];
            continue;
        }
        /* two bytes from U+00A0 to U+07FF (Turkish letters among them): as
         * they are; C1 controls (C2 80..C2 9F) go the long way */
        if (s[i] >= 0xC2 && s[i] <= 0xDF && i + 1 < length && (s[i + 1] & 0xC0) == 0x80
            && (s[i] != 0xC2 || s[i + 1] >= 0xA0)) {
            if (o + 2 >= size)
                break;
            out[o++] = (char)s[i++];
            out[o++] = (char)s[i++];
            continue;
        }
        unsigned cp = 0;
        size_t len = utf8_decode(s + i, length - i, &cp);
        const char *put = (const char *)s + i;
        size_t put_length = len;
        if (len == 0 || unsafe_code_point(cp)) {
            int blank = len == 1 && (cp == '\t' || cp == '\r' || cp == '\n');
            put = blank ? " " : replacement;
            put_length = blank ? 1 : sizeof replacement - 1;
            if (len == 0)
                len = 1;
        }
        if (o + put_length >= size)
            break; /* never half a character */
        for (size_t b = 0; b < put_length; b++) /* 1 to 4 bytes: no call */
            out[o++] = put[b];
        i += len;
    }
    out[o] = '\0';
    return o;
}

void paynet_mask_gsm(const char *gsm, char out[PAYNET_GSM_SIZE])
{
    size_t i = 0;
    for (; i < PAYNET_GSM_SIZE - 1 && gsm[i] != '\0'; i++)
        out[i] = i >= 3 && i < 8 ? '*' : gsm[i];
    out[i] = '\0';
}

/* Overwrites with '*' every run of the text that equals 8 consecutive
 * bytes of the secret (all of it, when shorter): a server that echoes the
 * key, whole or cut anywhere, never gets more than 7 of its characters to
 * the caller.
 *
 * Every pair of adjacent bytes in such a run is a pair of the secret's: a
 * bitmap of the secret's pairs (hashed: it may say yes wrongly, never no)
 * finds the few places where a window can start, and only those are
 * compared with the secret.  Runs are marked after the comparisons that
 * read them: a match is compared on the text as it came. */
static size_t pair_bit(unsigned char a, unsigned char b) { return ((size_t)a << 6 ^ b) & 4095; }

static int has_pair(const struct paynet_secret_pairs *pairs, const unsigned char *t)
{
    size_t bit = pair_bit(t[0], t[1]);
    return pairs->bits[bit / 64] >> bit % 64 & 1;
}

void paynet_secret_pairs_init(struct paynet_secret_pairs *pairs, const char *secret)
{
    const unsigned char *s = (const unsigned char *)(secret != NULL ? secret : "");
    memset(pairs, 0, sizeof *pairs);
    for (size_t j = 0; s[j] != '\0' && s[j + 1] != '\0'; j++) {
        size_t bit = pair_bit(s[j], s[j + 1]);
        pairs->bits[bit / 64] |= (uint64_t)1 << bit % 64;
    }
}

static int window_of(const char *text, size_t window, const char *secret, size_t k)
{
    for (size_t j = 0; j + window <= k; j++)
        if (text[0] == secret[j] && memcmp(text, secret + j, window) == 0)
            return 1;
    return 0;
}

void paynet_text_mask_with(char *text, const char *secret,
                           const struct paynet_secret_pairs *pairs)
{
    size_t n = strlen(text), k = secret != NULL ? strlen(secret) : 0;
    size_t window = k < 8 ? k : 8;
    if (window == 0 || n < window)
        return;
    const unsigned char *t = (const unsigned char *)text;
    size_t from = 0, to = 0; /* the run to mark, [from, to) */
    size_t start = 0;        /* no window before it matches */
    size_t good = 0;         /* the pairs at start .. start + good - 1 are the secret's */
    while (start + window <= n) {
        /* the window's pairs, from its last down to those known: a pair
         * that is not the secret's rules out every window that holds it */
        size_t end = start + window - 1, q = end;
        while (q > start + good && has_pair(pairs, t + q - 1))
            q--;
        if (q > start + good) {
            good = end - q;
            start = q;
            continue;
        }
        if (window_of(text + start, window, secret, k)) {
            if (start > to) { /* a new run: the last is behind every later comparison */
                memset(text + from, '*', to - from);
                from = start;
            }
            to = start + window;
        }
        start++;
        good = window > 1 ? window - 2 : 0; /* the last window's pairs but its first */
    }
    if (to > from)
        memset(text + from, '*', to - from);
}

void paynet_text_mask_secret(char *text, const char *secret)
{
    struct paynet_secret_pairs pairs;
    paynet_secret_pairs_init(&pairs, secret);
    paynet_text_mask_with(text, secret, &pairs);
}
