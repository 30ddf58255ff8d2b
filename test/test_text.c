/*
 * test_text.c — the core's text policy: cleaning what comes from outside,
 * masking numbers and the secret key.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "unit.h"

#define FFFD "\xEF\xBF\xBD"

static int holds_window(const char *text, const char *key)
{
    size_t k = strlen(key), window = k < 8 ? k : 8;
    for (size_t j = 0; j + window <= k; j++) {
        char part[9];
        memcpy(part, key + j, window);
        part[window] = '\0';
        if (strstr(text, part) != NULL)
            return 1;
    }
    return 0;
}

/* The masking as first written: every window of the secret compared at
 * every place (slow, plainly right): the fast one must agree with it. */
static void reference_mask(char *text, const char *secret)
{
    static unsigned char hit[4096];
    size_t n = strlen(text), k = secret != NULL ? strlen(secret) : 0;
    size_t window = k < 8 ? k : 8;
    if (n > sizeof hit)
        abort(); /* the test's texts are shorter */
    if (window == 0 || n < window)
        return;
    memset(hit, 0, n);
    for (size_t i = 0; i + window <= n; i++)
        for (size_t j = 0; j + window <= k; j++)
            if (memcmp(text + i, secret + j, window) == 0) {
                memset(hit + i, 1, window);
                break;
            }
    for (size_t i = 0; i < n; i++)
        if (hit[i])
            text[i] = '*';
}

static void test_conversions(void)
{
    CASE("a translation is used only with the conversions of its msgid");
    CHECK(paynet_same_conversions("phone number is empty", "telefon numarası boş"));
    CHECK(!paynet_same_conversions("phone number is empty", "boş %p %p %s"));
    CHECK(paynet_same_conversions("needs %zu more digits", "%zu rakam eksik"));
    CHECK(!paynet_same_conversions("needs %zu more digits", "%d rakam eksik"));
    CHECK(!paynet_same_conversions("needs %zu more digits", "%s rakam eksik"));
    CHECK(paynet_same_conversions("%s: %s while %s", "%s: %s (%s)"));
    CHECK(!paynet_same_conversions("%s: %s while %s", "%s: %s"));
    CHECK(!paynet_same_conversions("%s (code %d)", "%2$d %1$s")); /* numbered: never */
    CHECK(!paynet_same_conversions("%s", "%n%s"));
    CHECK(paynet_same_conversions("no complete reply within %.0f s (%s)", "%.0f sn içinde (%s)"));
    CHECK(paynet_same_conversions("%02d:%02d", "%02d.%02d"));
    CHECK(paynet_same_conversions("100%% sure %s", "%%100 emin %s"));
    CHECK(!paynet_same_conversions("width %*d", "width %d"));
    CHECK(!paynet_same_conversions("trailing", "trailing %"));
}

void suite_text(void)
{
    test_conversions();
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Başarılı İşlem", "Başarılı İşlem"},
        {"a\x1b[2Jb", "a" FFFD "[2Jb"},
        {"a\r\nb\tc", "a  b c"},
        {"title\x1b]0;pwned\x07!", "title" FFFD "]0;pwned" FFFD "!"},
        {"c1 \xc2\x9b" "31m", "c1 " FFFD "31m"},              /* U+009B, the 8-bit CSI */
        {"rtl \xe2\x80\xae" "gnp.exe", "rtl " FFFD "gnp.exe"}, /* U+202E */
        {"iso \xe2\x81\xa6x\xe2\x81\xa9", "iso " FFFD "x" FFFD},  /* U+2066, U+2069 */
        {"bad \xff\xfe utf8", "bad " FFFD FFFD " utf8"},
        {"cut \xc3", "cut " FFFD},
        {"over \xc0\xaf", "over " FFFD FFFD},                  /* an overlong '/' */
        {"surrogate \xed\xa0\x80", "surrogate " FFFD FFFD FFFD},
        {"del \x7f", "del " FFFD},
        {"emoji \xf0\x9f\x98\x80", "emoji \xf0\x9f\x98\x80"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "text_clean case %zu", i);
        CASE(name);
        size_t n = paynet_text_clean(cases[i].in, strlen(cases[i].in), out, sizeof out);
        CHECK_STR(out, cases[i].out);
        CHECK(n == strlen(out));
        /* idempotent: clean text stays as it is */
        char again[64];
        paynet_text_clean(out, strlen(out), again, sizeof again);
        CHECK_STR(again, out);
    }
    CASE("text_clean never cuts a character, reads only the length given, always terminates");
    paynet_text_clean("şşşş", 8, out, 6);
    CHECK_STR(out, "şş");
    paynet_text_clean("abc", 3, out, 1);
    CHECK_STR(out, "");
    paynet_text_clean("a\0b", 3, out, sizeof out); /* a NUL inside: replaced */
    CHECK_STR(out, "a" FFFD "b");
    paynet_text_clean("abcdef", 2, out, sizeof out);
    CHECK_STR(out, "ab");

    CASE("mask_gsm shows the first three and the last two digits");
    char masked[PAYNET_GSM_SIZE];
    paynet_mask_gsm("5321234567", masked);
    CHECK_STR(masked, "532*****67");

    CASE("a key echoed by the server, of 8 to 512 bytes, cut at every position of the "
         "message, never reaches the caller in 8 consecutive characters");
    {
        static const size_t lengths[] = {8, 9, 16, 39, 64, 200, 512};
        char key[513], body[2048], message[PAYNET_MESSAGE_SIZE], padding[PAYNET_MESSAGE_SIZE];
        memset(padding, 'x', sizeof padding);
        int leaks = 0, runs = 0;
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            for (size_t i = 0; i < lengths[l]; i++)
                key[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"[(i * 7 + l) % 63];
            key[lengths[l]] = '\0';
            for (size_t pad = 0; pad < PAYNET_MESSAGE_SIZE; pad++) {
                /* what paynet_send_otp does with a refusal: decode, then mask */
                int n = snprintf(body, sizeof body, "{\"result_code\":11,\"message\":\"%.*s%s tail\"}",
                                 (int)pad, padding,
                                 key);
                paynet_result res;
                paynet_error err;
                if (n <= 0 || (size_t)n >= sizeof body
                    || paynet_decode_reply(400, body, (size_t)n, &res, &err) != PAYNET_API)
                    continue;
                memcpy(message, err.message, sizeof message);
                paynet_text_mask_secret(message, key);
                runs++;
                if (holds_window(message, key))
                    leaks++;
            }
        }
        CHECK(runs == 7 * PAYNET_MESSAGE_SIZE);
        CHECK(leaks == 0);
    }

    CASE("masking agrees with comparing every window everywhere, on 200000 texts");
    {
        /* few letters, so that texts hold many windows of the key, whole,
         * cut and overlapping, or more, so that most pairs of letters are
         * not the key's; the key may hold '*' and bytes >= 0x80 */
        static const char few[] = "ab*\xC3\x9F", many[] = "abcdefghijklmnopqrs*\xC3\x9F.: ";
        static char text[1200], expected[1200], original[1200], key[48];
        unsigned long seed = 12345;
        int differ = 0, changed = 0;
        for (int run = 0; run < 200000; run++) {
            const char *letters = run % 3 ? few : many;
            size_t count = run % 3 ? sizeof few - 1 : sizeof many - 1;
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            size_t k = run % 9 == 0 ? 0 : 1 + (seed >> 33) % 40;
            size_t n = (seed >> 20) % 13 == 0 ? 1030 + (seed >> 40) % 100 : (seed >> 24) % 64;
            for (size_t i = 0; i < k; i++) {
                seed = seed * 6364136223846793005UL + 1442695040888963407UL;
                key[i] = letters[(seed >> 33) % count];
            }
            key[k] = '\0';
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005UL + 1442695040888963407UL;
                /* a copy of the key now and then, else letters */
                if (k > 0 && (seed >> 40) % 16 == 0 && i + k <= n) {
                    memcpy(text + i, key, k);
                    i += k - 1;
                } else {
                    text[i] = letters[(seed >> 33) % count];
                }
            }
            text[n] = '\0';
            memcpy(expected, text, n + 1);
            memcpy(original, text, n + 1);
            reference_mask(expected, run % 9 == 0 && run % 2 ? NULL : key);
            paynet_text_mask_secret(text, run % 9 == 0 && run % 2 ? NULL : key);
            differ += memcmp(text, expected, n + 1) != 0;
            changed += memcmp(text, original, n + 1) != 0;
        }
        CHECK(differ == 0);
        CHECK(changed > 80000); /* many texts did hold windows of the key */
    }

    CASE("a key after the first 1024 bytes of a long text is masked too");
    {
        static char text[1200];
        memset(text, 'x', 1100);
        strcpy(text + 1100, "sck_sandbox");
        paynet_text_mask_secret(text, "sck_sandbox");
        CHECK(strcmp(text + 1100, "***********") == 0);
        CHECK(strspn(text, "x") == 1100);
    }

    CASE("a short key is masked whole; no key, nothing masked");
    {
        char text[64] = "key=abc, again abc";
        paynet_text_mask_secret(text, "abc");
        CHECK_STR(text, "key=***, again ***");
        paynet_text_mask_secret(text, "");
        paynet_text_mask_secret(text, NULL);
        CHECK_STR(text, "key=***, again ***");
    }
}
