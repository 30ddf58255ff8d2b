/*
 * fuzz_text.c — libFuzzer target for the text cleaner and the secret mask:
 * whatever bytes come in, what comes out is valid UTF-8 with no C0, DEL,
 * C1 or bidi control, fits the buffer, cleans to itself again, and after
 * masking holds no 8 consecutive bytes of the key (the input's first byte
 * chooses a key length).
 */
#include <stdlib.h>
#include <string.h>

#include "paynet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (strlen(s) != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7F)
            abort();
        if (u[i] == 0xC2 && i + 1 < n && u[i + 1] <= 0x9F)
            abort(); /* C1 */
        if (u[i] == 0xE2 && i + 2 < n
            && ((u[i + 1] == 0x80 && u[i + 2] >= 0xA8 && u[i + 2] <= 0xAE)
                || (u[i + 1] == 0x81 && u[i + 2] >= 0xA6 && u[i + 2] <= 0xA9)))
            abort(); /* bidi controls, line and paragraph separators */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[PAYNET_MESSAGE_SIZE], again[PAYNET_MESSAGE_SIZE];
    size_t sizes[] = {1, 2, 7, 64, sizeof out};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = paynet_text_clean((const char *)data, size, out, sizes[k]);
        if (n >= sizes[k])
            abort();
        check_clean(out, n);
        if (paynet_text_clean(out, n, again, sizeof again) != n || memcmp(out, again, n) != 0)
            abort(); /* idempotent */
    }
    if (size > 1) {
        size_t key_length = 1 + data[0] % 40;
        char key[64];
        for (size_t i = 0; i < key_length; i++)
            key[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
                [data[(i + 1) % size] % 64]; /* as keys are (a '*' would mask to itself) */
        key[key_length] = '\0';
        paynet_text_mask_secret(out, key);
        size_t window = key_length < 8 ? key_length : 8;
        for (size_t j = 0; j + window <= key_length; j++) {
            char part[9];
            memcpy(part, key + j, window);
            part[window] = '\0';
            if (strstr(out, part) != NULL)
                abort();
        }
    }
    return 0;
}
