/*
 * fuzz_expire.c — libFuzzer target for the otp_expire parser: any bytes
 * give an instant or a typed error; an accepted instant formats back and
 * parses to the same instant.
 */
#include <stdlib.h>
#include <string.h>

#include "paynet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    paynet_instant t, back;
    paynet_error err;
    if (paynet_expire_parse(text, size, &t, &err) == PAYNET_OK) {
        char buf[64];
        if (t.nsec < 0 || t.nsec > 999999999)
            abort();
        int n = paynet_expire_format(t, 0, 9, buf, sizeof buf);
        if (n > 0) {
            if (paynet_expire_parse(buf, (size_t)n, &back, &err) != PAYNET_OK
                || back.sec != t.sec || back.nsec != t.nsec)
                abort();
        }
    } else if (err.kind != PAYNET_INVALID) {
        abort();
    }
    free(text);
    return 0;
}
