/*
 * fuzz_gsm.c — libFuzzer target for the phone-number normaliser and the
 * session-id check: any bytes are accepted as a valid number/id or refused
 * with a message that holds no control character; an accepted number is
 * ten digits from 5 and normalises to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "paynet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const paynet_error *err)
{
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char out[PAYNET_GSM_SIZE], again[PAYNET_GSM_SIZE];
    paynet_error err;
    if (paynet_gsm_normalize(text, out, &err) == PAYNET_OK) {
        if (strlen(out) != 10 || out[0] != '5')
            abort();
        for (int i = 0; i < 10; i++)
            if (out[i] < '0' || out[i] > '9')
                abort();
        if (paynet_gsm_normalize(out, again, &err) != PAYNET_OK || strcmp(out, again) != 0)
            abort();
    } else {
        check_message(&err);
    }
    if (paynet_session_id_check(text, &err) != PAYNET_OK)
        check_message(&err);
    free(text);
    return 0;
}
